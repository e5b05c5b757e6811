"""Cipher suites and TLS flaws seen by nmap's NSE scripts: a site that still offers
static RSA key exchange and a 1024-bit Diffie-Hellman group (RFC 2409's, shared by
millions of servers: Logjam) is told so with the fix; flaws Debian's OpenSSL can no
longer reproduce (Heartbleed, POODLE, CCS injection) are read from nmap's own XML."""

from __future__ import annotations

import ssl
import warnings
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dh, rsa

from clocher.eservices import services
from clocher.eservices.checks import ciphers
from tests.conftest import SYSTEM
from tests.eservices.conftest import _cert, serving
from tests.eservices.test_audit import confirmed

# RFC 2409's second Oakley group: 1024 bits, generator 2.
OAKLEY_2 = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A0879"
    "8E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B"
    "0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF",
    16,
)


@pytest.fixture
def rsa_site(tmp_path: Path, pki, settings):  # noqa: ANN201
    """TLS 1.2 only, a certificate of the test authority, but static RSA and DHE-1024."""
    settings.ESERVICES_CA_FILE = str(pki.ca_file)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = _cert("127.0.0.1", key, san=x509.DNSName("localhost"))
    (tmp_path / "rsa.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "rsa.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # finite-field DH is deprecated: the point here
        params = dh.DHParameterNumbers(OAKLEY_2, 2).parameters()
    (tmp_path / "dh.pem").write_bytes(
        params.parameter_bytes(serialization.Encoding.PEM, serialization.ParameterFormat.PKCS3)
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.set_ciphers("AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0")
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(tmp_path / "rsa.pem", tmp_path / "rsa.key")
    ctx.load_dh_params(str(tmp_path / "dh.pem"))
    with serving({"/": (200, [], "<p>Mairie</p>")}, ctx) as site:
        yield site


@pytest.mark.django_db
def test_static_rsa_and_weak_dh_group(commune_a, rsa_site):
    scan = services.scan_target(SYSTEM, confirmed(commune_a, rsa_site.url))
    found = {f.code: f for f in scan.findings.all()}
    assert {"TLS_NO_FORWARD_SECRECY", "TLS_DH_WEAK"} <= set(found)
    assert not {"TLS_CIPHER_NULL", "TLS_CIPHER_ANONYMOUS", "TLS_CBC_OLD_PROTOCOL"} & set(found)
    assert "TLS_RSA_WITH_AES_128_GCM_SHA256" in found["TLS_NO_FORWARD_SECRECY"].title
    assert "ECDHE" in found["TLS_NO_FORWARD_SECRECY"].fix
    assert "ssl_dhparam" in found["TLS_DH_WEAK"].fix


@pytest.mark.django_db
def test_strong_site_offers_no_weak_suite(strong_site):
    host, port = strong_site.url.split("/")[2].split(":")
    seen = ciphers.nmap_tls(host, int(port))
    assert set(seen.suites) == {"TLSv1.2", "TLSv1.3"}  # what nmap saw, so it did look
    assert ciphers.findings(seen, "x") == []


def _script(sid: str, title: str, state: str) -> str:
    return (
        f'<script id="{sid}" output="…"><table key="NMAP-1">'
        f'<elem key="title">{title}</elem><elem key="state">{state}</elem>'
        "</table></script>"
    )


def test_known_flaws_read_from_nmap_xml():
    """nmap's XML for a server with OpenSSL 1.0.1f and SSL 3.0 (the scripts' own titles)."""
    xml = (
        '<nmaprun><host><ports><port protocol="tcp" portid="443">'
        '<script id="ssl-enum-ciphers" output="…"><table key="SSLv3"><table key="ciphers">'
        '<table><elem key="name">TLS_RSA_WITH_3DES_EDE_CBC_SHA</elem>'
        '<elem key="strength">C</elem></table>'
        '<table><elem key="name">TLS_RSA_WITH_RC4_128_SHA</elem>'
        '<elem key="strength">C</elem></table>'
        '<table><elem key="name">TLS_RSA_EXPORT_WITH_RC4_40_MD5</elem>'
        '<elem key="strength">E</elem></table>'
        "</table></table></script>"
        + _script("ssl-heartbleed", "The Heartbleed Bug is a serious vulnerability", "VULNERABLE")
        + _script("ssl-poodle", "SSL POODLE information leak", "VULNERABLE")
        + _script("ssl-ccs-injection", "SSL/TLS MITM vulnerability (CCS Injection)",
                  "NOT VULNERABLE")
        + _script("ssl-dh-params", "Diffie-Hellman Key Exchange Insufficient Group Strength",
                  "LIKELY VULNERABLE")
        + "</port></ports></host></nmaprun>"
    )  # fmt: skip
    found = {f.code: f for f in ciphers.findings(ciphers.parse(xml), "mairie.example:443")}
    assert set(found) == {
        "TLS_CIPHER_EXPORT", "TLS_CIPHER_RC4", "TLS_CIPHER_3DES", "TLS_NO_FORWARD_SECRECY",
        "TLS_SSLV3", "TLS_CBC_OLD_PROTOCOL", "TLS_HEARTBLEED", "TLS_POODLE", "TLS_DH_WEAK",
    }  # fmt: skip
    assert found["TLS_HEARTBLEED"].severity == "critique"
    assert "SWEET32" in found["TLS_CIPHER_3DES"].title
    assert all(f.explanation and f.fix and len(f.title) <= 300 for f in found.values())


def test_an_option_is_never_passed_as_host():
    with pytest.raises(ValueError, match="hôte invalide"):
        ciphers.nmap_tls("--script=exploit", 443)
