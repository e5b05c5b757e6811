"""RFC 3161 time-stamping: the client that asks the configured authority
(CLOCHER_ARCHIVE_TSA_URL), and Clocher's own embedded authority, used when no URL is set.

The embedded TSA signs with its own ECDSA P-256 key and a self-signed certificate made at
first use in ARCHIVE_DIR/tsa/. Its tokens are real RFC 3161 tokens (`openssl ts -verify`
accepts them against that certificate) but carry no legal presumption: it is not a
qualified trust service (eIDAS art. 42), and every page and document says « non
qualifié ». A département points CLOCHER_ARCHIVE_TSA_URL at a qualified TSA for that.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from asn1crypto import cms, core, tsp, x509
from cryptography import x509 as cx509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.conf import settings

# A UUID-based OID (ITU-T X.667, no registration needed) naming the embedded TSA's
# policy: « horodatage non qualifié de Clocher ».
EMBEDDED_POLICY = "2.25.318447146066530128431286349622730283823"
EMBEDDED_NAME = "Autorité d'horodatage intégrée de Clocher (non qualifiée)"
CONTENT_TYPE_QUERY = "application/timestamp-query"
CONTENT_TYPE_REPLY = "application/timestamp-reply"


class TimeStampError(Exception):
    """The authority did not grant a usable token; the message says why, in French."""


# --------------------------------------------------------------------------- embedded TSA


def tsa_dir() -> Path:
    return Path(settings.ARCHIVE_DIR) / "tsa"


@dataclass(frozen=True)
class Signer:
    key: ec.EllipticCurvePrivateKey
    certificate_pem: bytes
    certificate: x509.Certificate


_signer: tuple[Path, Signer] | None = None
_signer_lock = threading.Lock()
_serial_lock = threading.Lock()


def _write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    with contextlib.suppress(FileExistsError):  # another process made it first
        os.link(tmp, path)
    tmp.unlink()


def _create_key_and_certificate(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    operator = _operator_name()
    name = cx509.Name(
        [
            cx509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            cx509.NameAttribute(NameOID.ORGANIZATION_NAME, operator[:64]),
            cx509.NameAttribute(NameOID.COMMON_NAME, "Horodatage Clocher (non qualifié)"),
        ]
    )
    now = datetime.now(UTC)
    certificate = (
        cx509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(cx509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365 * 30))
        .add_extension(cx509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            cx509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(cx509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(cx509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Key first: a certificate on disk always has its key beside it.
    _write_private(directory / "tsa.key", key_pem)
    _write_private(
        directory / "tsa.pem", certificate.public_bytes(serialization.Encoding.PEM), 0o644
    )


def _operator_name() -> str:
    from clocher.core import scoping

    operator = scoping.get_operator()
    return operator.name if operator else "Clocher"


def embedded_signer() -> Signer:
    """The embedded TSA's key and certificate, made at first use (once per process)."""
    global _signer
    directory = tsa_dir()
    with _signer_lock:
        if _signer is None or _signer[0] != directory:
            if not (directory / "tsa.pem").exists():
                _create_key_and_certificate(directory)
            key = serialization.load_pem_private_key(
                (directory / "tsa.key").read_bytes(), password=None
            )
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise TimeStampError("La clé de l'autorité d'horodatage n'est pas une clé EC.")
            pem = (directory / "tsa.pem").read_bytes()
            certificate = x509.Certificate.load(
                cx509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
            )
            _signer = (directory, Signer(key, pem, certificate))
        return _signer[1]


def _next_serial() -> int:
    """Unique serial numbers: the time in microseconds, then 32 random bits, so two
    processes never hand out the same one."""
    with _serial_lock:
        return (int(datetime.now(UTC).timestamp() * 1_000_000) << 32) | secrets.randbits(32)


def _failure(failure: str, text: str) -> bytes:
    """A TimeStampResp without token (asn1crypto insists on one: wrap the status by
    hand in its SEQUENCE)."""
    status = tsp.PKIStatusInfo(
        {"status": "rejection", "status_string": [text], "fail_info": {failure}}
    ).dump()
    return _der_sequence(status)


def _der_sequence(content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return b"\x30" + bytes([size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return b"\x30" + bytes([0x80 | len(length)]) + length + content


def respond(request_der: bytes) -> bytes:
    """Answer one TimeStampReq (DER) with a TimeStampResp (DER), as RFC 3161 §2.4.2."""
    try:
        request = tsp.TimeStampReq.load(request_der)
        imprint = request["message_imprint"]
        algorithm = imprint["hash_algorithm"]["algorithm"].native
        digest = imprint["hashed_message"].native
        _ = request["version"].native
    except Exception:  # noqa: BLE001 - any malformed request gets the RFC's answer
        return _failure("bad_request", "requête d'horodatage illisible")
    if algorithm not in ("sha256", "sha384", "sha512") or len(digest) != {
        "sha256": 32,
        "sha384": 48,
        "sha512": 64,
    }.get(algorithm):
        return _failure("bad_alg", "algorithme d'empreinte non accepté (SHA-2 attendu)")
    policy = request["req_policy"].native
    if policy is not None and policy != EMBEDDED_POLICY:
        return _failure("unaccepted_policy", "politique d'horodatage inconnue")
    return build_token(
        algorithm,
        digest,
        nonce=request["nonce"].native,
        include_certificate=bool(request["cert_req"].native),
    )


def _template_token(signer: Signer, include_certificate: bool) -> bytes:
    """A complete token for a dummy digest, built field by field; `build_token` then
    only swaps in the parts that change (asn1crypto re-encodes structures built from
    Python values deeply: twenty times slower per token)."""
    algorithm, digest, nonce = "sha256", bytes(32), 1
    certificate_der = signer.certificate.dump()
    certificate = x509.Certificate.load(certificate_der)
    subject = x509.Name.load(certificate.subject.dump())
    issuer = x509.Name.load(certificate.issuer.dump())
    serial = certificate.serial_number
    now = datetime.now(UTC)
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)
    tst_fields = {
        "version": "v1",
        "policy": EMBEDDED_POLICY,
        "message_imprint": {
            "hash_algorithm": {"algorithm": algorithm},
            "hashed_message": digest,
        },
        "serial_number": _next_serial(),
        "gen_time": now,
        "accuracy": {"seconds": 1},
        "ordering": False,
        "tsa": x509.GeneralName(name="directory_name", value=subject),
    }
    if nonce is not None:
        tst_fields["nonce"] = nonce
    tst_info = tsp.TSTInfo(tst_fields)
    tst_der = tst_info.dump()
    certificate_hash = hashlib.sha256(certificate_der).digest()
    signed_attributes = cms.CMSAttributes(
        [
            {"type": "content_type", "values": ["tst_info"]},
            {"type": "signing_time", "values": [cms.Time(name="utc_time", value=now)]},
            {"type": "message_digest", "values": [hashlib.sha256(tst_der).digest()]},
            {
                "type": "signing_certificate_v2",
                "values": [
                    {
                        "certs": [
                            {
                                "hash_algorithm": {"algorithm": "sha256"},
                                "cert_hash": certificate_hash,
                                "issuer_serial": {
                                    "issuer": [
                                        x509.GeneralName(
                                            name="directory_name",
                                            value=x509.Name.load(issuer.dump()),
                                        )
                                    ],
                                    "serial_number": serial,
                                },
                            }
                        ]
                    }
                ],
            },
        ]
    )
    signature = signer.key.sign(signed_attributes.dump(), ec.ECDSA(hashes.SHA256()))
    signed_data = {
        "version": "v3",
        "digest_algorithms": [{"algorithm": "sha256"}],
        "encap_content_info": {
            "content_type": "tst_info",
            "content": core.ParsableOctetString(tst_der),
        },
        "signer_infos": [
            {
                "version": "v1",
                "sid": cms.SignerIdentifier(
                    name="issuer_and_serial_number",
                    value={"issuer": issuer, "serial_number": serial},
                ),
                "digest_algorithm": {"algorithm": "sha256"},
                "signed_attrs": signed_attributes,
                "signature_algorithm": {"algorithm": "sha256_ecdsa"},
                "signature": signature,
            }
        ],
    }
    if include_certificate:
        signed_data["certificates"] = [certificate]
    token = cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData(signed_data)})
    return tsp.TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token}).dump()


@dataclass(frozen=True)
class _Templates:
    with_certificate: bytes
    without_certificate: bytes
    tst_info: bytes
    signed_attributes: bytes


_templates: dict[bytes, _Templates] = {}


def _templates_for(signer: Signer) -> _Templates:
    key = signer.certificate_pem
    if key not in _templates:
        with_certificate = _template_token(signer, True)
        token = tsp.TimeStampResp.load(with_certificate)["time_stamp_token"]["content"]
        _templates[key] = _Templates(
            with_certificate,
            _template_token(signer, False),
            token["encap_content_info"]["content"].parsed.dump(),
            token["signer_infos"][0]["signed_attrs"].untag().dump(),
        )
    return _templates[key]


def build_token(
    algorithm: str, digest: bytes, *, nonce: int | None, include_certificate: bool
) -> bytes:
    """A granted TimeStampResp (DER) over `digest`, signed by the embedded TSA."""
    signer = embedded_signer()
    templates = _templates_for(signer)
    now = datetime.now(UTC)
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)
    tst_info = tsp.TSTInfo.load(templates.tst_info)
    tst_info["message_imprint"] = tsp.MessageImprint(
        {"hash_algorithm": {"algorithm": algorithm}, "hashed_message": digest}
    )
    tst_info["serial_number"] = _next_serial()
    tst_info["gen_time"] = now
    tst_info["nonce"] = nonce
    tst_der = tst_info.dump()
    attributes = cms.CMSAttributes.load(templates.signed_attributes)
    for attribute in attributes:
        kind = attribute["type"].native
        if kind == "signing_time":
            attribute["values"] = [cms.Time(name="utc_time", value=now)]
        elif kind == "message_digest":
            attribute["values"] = [hashlib.sha256(tst_der).digest()]
    signature = signer.key.sign(attributes.dump(), ec.ECDSA(hashes.SHA256()))
    response = tsp.TimeStampResp.load(
        templates.with_certificate if include_certificate else templates.without_certificate
    )
    signed = response["time_stamp_token"]["content"]
    signed["encap_content_info"]["content"] = core.ParsableOctetString(tst_der)
    signer_info = signed["signer_infos"][0]
    signer_info["signed_attrs"] = attributes
    signer_info["signature"] = signature
    return bytes(response.dump())


# --------------------------------------------------------------------------- client


@dataclass(frozen=True)
class Stamp:
    """A granted token: the TimeStampResp as received (`.tsr`), and what it says."""

    response: bytes
    gen_time: datetime
    tsa_name: str
    qualified: bool


def tsa_label() -> tuple[str, bool]:
    """(name shown to people, qualified?) of the configured authority."""
    if not settings.ARCHIVE_TSA_URL:
        return EMBEDDED_NAME, False
    qualified = bool(settings.ARCHIVE_TSA_QUALIFIED)
    name = settings.ARCHIVE_TSA_NAME or settings.ARCHIVE_TSA_URL
    return (name if qualified else f"{name} (non qualifiée)"), qualified


def stamp(sha256_digest: bytes) -> Stamp:
    """Ask the configured authority (the embedded one when no URL is set) to time-stamp
    a SHA-256 digest; checks the answer before returning it."""
    nonce = secrets.randbits(63)
    if settings.ARCHIVE_TSA_URL:
        response = _ask_remote(sha256_digest, nonce)
    else:
        response = build_token("sha256", sha256_digest, nonce=nonce, include_certificate=True)
    info = check_response(response, sha256_digest, nonce=nonce)
    name, qualified = tsa_label()
    return Stamp(response, info.gen_time, name, qualified)


def _ask_remote(digest: bytes, nonce: int) -> bytes:
    import requests

    query = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {
                "hash_algorithm": {"algorithm": "sha256"},
                "hashed_message": digest,
            },
            "nonce": nonce,
            "cert_req": True,
        }
    ).dump()
    try:
        answer = requests.post(
            settings.ARCHIVE_TSA_URL,
            data=query,
            headers={"Content-Type": CONTENT_TYPE_QUERY},
            timeout=30,
        )
    except requests.RequestException as exc:
        raise TimeStampError(f"Autorité d'horodatage injoignable : {exc}") from exc
    if answer.status_code != 200:
        raise TimeStampError(f"Autorité d'horodatage : réponse HTTP {answer.status_code}.")
    return answer.content


@dataclass(frozen=True)
class TokenInfo:
    gen_time: datetime
    serial: int
    policy: str
    algorithm: str
    digest: bytes
    certificates: list[x509.Certificate]


def response_status(response: bytes) -> tuple[str, str]:
    """(status, text) of a TimeStampResp, granted or not (a refusal has no token,
    which asn1crypto's TimeStampResp cannot parse: read the PKIStatusInfo alone)."""
    try:
        outer = core.Asn1Value.load(response)
        info = tsp.PKIStatusInfo.load(outer.contents, strict=False)
        return info["status"].native, " ".join(info["status_string"].native or [])
    except Exception as exc:  # noqa: BLE001
        raise TimeStampError("Réponse d'horodatage illisible.") from exc


def token_info(response: bytes) -> TokenInfo:
    """What a TimeStampResp says (raises TimeStampError if not granted or unreadable)."""
    status, text = response_status(response)
    if status not in ("granted", "granted_with_mods"):
        raise TimeStampError(f"Horodatage refusé ({status}) : {text}")
    parsed = tsp.TimeStampResp.load(response)
    signed = parsed["time_stamp_token"]["content"]
    tst = signed["encap_content_info"]["content"].parsed
    imprint = tst["message_imprint"]
    return TokenInfo(
        gen_time=tst["gen_time"].native,
        serial=tst["serial_number"].native,
        policy=tst["policy"].native,
        algorithm=imprint["hash_algorithm"]["algorithm"].native,
        digest=imprint["hashed_message"].native,
        certificates=[c.chosen for c in signed["certificates"] or []],
    )


def check_response(
    response: bytes,
    sha256_digest: bytes,
    *,
    nonce: int | None = None,
    trusted_pem: bytes | None = None,
) -> TokenInfo:
    """The token is granted, covers exactly this digest, and its signature verifies
    under the signer certificate (the embedded TSA's, `trusted_pem`, or the one in the
    token when checking an external authority's answer at deposit)."""
    info = token_info(response)
    if info.algorithm != "sha256" or info.digest != sha256_digest:
        raise TimeStampError("Le jeton d'horodatage ne porte pas sur ce document.")
    parsed = tsp.TimeStampResp.load(response)
    signed = parsed["time_stamp_token"]["content"]
    if nonce is not None:
        tst = signed["encap_content_info"]["content"].parsed
        if tst["nonce"].native != nonce:
            raise TimeStampError("Réponse d'horodatage rejouée (nonce différent).")
    _verify_signature(signed, trusted_pem)
    return info


def _verify_signature(signed: cms.SignedData, trusted_pem: bytes | None) -> None:
    signer_info = signed["signer_infos"][0]
    tst_der = signed["encap_content_info"]["content"].contents
    attributes = {a["type"].native: a["values"][0] for a in signer_info["signed_attrs"]}
    if (
        attributes.get("message_digest") is None
        or attributes["message_digest"].native != hashlib.sha256(tst_der).digest()
    ):
        raise TimeStampError("Jeton d'horodatage altéré (empreinte du contenu).")
    if trusted_pem is not None:
        certificate = cx509.load_pem_x509_certificate(trusted_pem)
    elif not settings.ARCHIVE_TSA_URL:
        certificate = cx509.load_pem_x509_certificate(embedded_signer().certificate_pem)
    else:
        certificates = [c.chosen for c in signed["certificates"] or []]
        if not certificates:
            raise TimeStampError("Le jeton ne contient pas le certificat de l'autorité.")
        certificate = cx509.load_der_x509_certificate(certificates[0].dump())
    data = signer_info["signed_attrs"].dump()
    data = b"\x31" + data[1:]  # signed as a SET OF, stored [0] IMPLICIT
    public_key = certificate.public_key()
    signature = signer_info["signature"].native
    algorithm = signer_info["digest_algorithm"]["algorithm"].native
    chosen = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}
    digest_algorithm = chosen.get(algorithm)
    if digest_algorithm is None:
        raise TimeStampError(f"Algorithme de signature non pris en charge : {algorithm}.")
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(digest_algorithm))
        elif isinstance(public_key, rsa.RSAPublicKey):
            if signer_info["signature_algorithm"].signature_algo == "rsassa_pss":
                raise TimeStampError("Signature RSA-PSS non prise en charge ici.")
            public_key.verify(signature, data, padding.PKCS1v15(), digest_algorithm)
        else:
            raise TimeStampError("Type de clé de l'autorité non pris en charge.")
    except InvalidSignature as exc:
        raise TimeStampError("Signature du jeton d'horodatage invalide.") from exc


def certificate_pem() -> bytes:
    """The certificate (chain) to check tokens with: the embedded TSA's, or the file
    CLOCHER_ARCHIVE_TSA_CA_FILE names for an external authority."""
    if settings.ARCHIVE_TSA_URL:
        if settings.ARCHIVE_TSA_CA_FILE:
            return Path(settings.ARCHIVE_TSA_CA_FILE).read_bytes()
        return b""
    return embedded_signer().certificate_pem
