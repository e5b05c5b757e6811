"""TLS of a website: which protocol versions it offers and what its certificate says,
with Python's own ssl (sslyze/testssl.sh would see more, docs/eservices.md)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import warnings

from cryptography import x509
from cryptography.x509.oid import NameOID

from clocher.eservices.checks import Finding, reach

TIMEOUT = 10.0
EXPIRY_WARNING = dt.timedelta(days=14)


def _context(version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if version is not None:
        # OpenSSL's default security level refuses TLS 1.0/1.1 on our side; level 0
        # lets us ask whether the server would still accept them.
        ctx.set_ciphers("ALL:@SECLEVEL=0")
        ctx.minimum_version = ctx.maximum_version = version
    return ctx


def _handshake(host: str, port: int, ctx: ssl.SSLContext, server_name: str | None) -> bytes:
    address = reach.checked_address(host, port)
    with (
        socket.create_connection((address, port), timeout=TIMEOUT) as sock,
        ctx.wrap_socket(sock, server_hostname=server_name) as tls,
    ):
        return tls.getpeercert(binary_form=True) or b""


def offered_versions(host: str, port: int) -> list[str]:
    """The protocol versions the server completes a handshake with."""
    offered = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLSv1/TLSv1_1 themselves
        versions = [
            ("TLS 1.0", ssl.TLSVersion.TLSv1),
            ("TLS 1.1", ssl.TLSVersion.TLSv1_1),
            ("TLS 1.2", ssl.TLSVersion.TLSv1_2),
            ("TLS 1.3", ssl.TLSVersion.TLSv1_3),
        ]
        for label, version in versions:
            try:
                _handshake(host, port, _context(version), reach.server_name(host))
            except (OSError, ssl.SSLError):
                continue
            offered.append(label)
    return offered


def check_protocols(host: str, port: int) -> list[Finding]:
    offered = offered_versions(host, port)
    findings = []
    old = [v for v in offered if v in ("TLS 1.0", "TLS 1.1")]
    if old:
        findings.append(
            Finding(
                "TLS_OLD_PROTOCOL",
                "haute",
                f"Le site accepte encore {' et '.join(old)}.",
                "Ces versions du chiffrement sont cassées ou affaiblies et interdites par "
                "le référentiel de l'ANSSI : un attaquant placé sur le réseau peut forcer "
                "leur usage pour lire ou modifier les échanges.",
                "Dans la configuration du serveur web, n'autorisez que TLS 1.2 et TLS 1.3 "
                "(nginx : ssl_protocols TLSv1.2 TLSv1.3;).",
            )
        )
    if offered and "TLS 1.3" not in offered:
        findings.append(
            Finding(
                "TLS_NO_TLS13",
                "faible",
                "Le site ne propose pas TLS 1.3.",
                "TLS 1.3 est la version actuelle du chiffrement, plus sûre et plus rapide.",
                "Activez TLS 1.3 sur le serveur web (nginx : ssl_protocols TLSv1.2 TLSv1.3;).",
            )
        )
    return findings


def _names(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return [str(a.value) for a in cns], []
    return (
        san.get_values_for_type(x509.DNSName),
        [str(ip) for ip in san.get_values_for_type(x509.IPAddress)],
    )


def name_matches(cert: x509.Certificate, host: str) -> bool:
    """RFC 6125: an exact name, or a wildcard standing for exactly one left-most label."""
    dns_names, ips = _names(cert)
    if reach.server_name(host) is None:
        return str(ipaddress.ip_address(host)) in ips
    host = host.lower().rstrip(".")
    for name in (n.lower().rstrip(".") for n in dns_names):
        if name == host:
            return True
        if name.startswith("*.") and "." in host and host.split(".", 1)[1] == name[2:]:
            return True
    return False


def check_certificate(
    host: str, port: int, cafile: str = "", now: dt.datetime | None = None
) -> list[Finding]:
    """Expired, soon expired, self-signed, for another name, or not from a trusted
    authority (CAFILE adds trust anchors, e.g. a private PKI)."""
    der = _handshake(host, port, _context(), reach.server_name(host))
    if not der:
        raise ssl.SSLError("le serveur n'a présenté aucun certificat")
    cert = x509.load_der_x509_certificate(der)
    now = now or dt.datetime.now(dt.UTC)
    findings = []
    if cert.not_valid_after_utc < now:
        findings.append(
            Finding(
                "TLS_CERT_EXPIRED",
                "critique",
                f"Le certificat du site a expiré le {cert.not_valid_after_utc:%d/%m/%Y}.",
                "Les navigateurs affichent une alerte de sécurité : les usagers ne peuvent "
                "plus distinguer le vrai site d'une imitation.",
                "Renouvelez le certificat (Let's Encrypt/certbot le fait automatiquement).",
            )
        )
    elif cert.not_valid_after_utc - now < EXPIRY_WARNING:
        findings.append(
            Finding(
                "TLS_CERT_EXPIRING",
                "moyenne",
                f"Le certificat du site expire le {cert.not_valid_after_utc:%d/%m/%Y}.",
                "Dans moins de deux semaines, le site affichera une alerte de sécurité.",
                "Renouvelez le certificat et automatisez son renouvellement.",
            )
        )
    self_signed = cert.issuer == cert.subject
    if self_signed:
        findings.append(
            Finding(
                "TLS_CERT_SELF_SIGNED",
                "haute",
                "Le certificat du site est auto-signé.",
                "Aucune autorité ne garantit qu'il appartient à la commune : les usagers "
                "voient une alerte et prennent l'habitude de l'ignorer.",
                "Installez un certificat d'une autorité reconnue (Let's Encrypt, gratuit).",
            )
        )
    if not name_matches(cert, host):
        findings.append(
            Finding(
                "TLS_CERT_NAME_MISMATCH",
                "haute",
                f"Le certificat n'est pas établi pour {host}.",
                "Le navigateur refuse le site ou affiche une alerte de sécurité.",
                f"Demandez un certificat qui couvre {host}.",
            )
        )
    if not findings and not _trusted(host, port, cafile):
        findings.append(
            Finding(
                "TLS_CERT_UNTRUSTED",
                "haute",
                "Le certificat du site n'est pas reconnu par les navigateurs.",
                "La chaîne de certification est incomplète ou vient d'une autorité inconnue.",
                "Installez la chaîne complète (fullchain) fournie par l'autorité.",
            )
        )
    return findings


def _trusted(host: str, port: int, cafile: str) -> bool:
    ctx = ssl.create_default_context(cafile=cafile or None)
    ctx.check_hostname = False  # the name is judged above, with IP addresses too
    try:
        _handshake(host, port, ctx, reach.server_name(host))
    except ssl.SSLCertVerificationError:
        return False
    return True
