"""The audit against nginx from Debian in a network namespace: a weak site (TLS 1.0 and
1.1, expired self-signed certificate for another name, no security header, a loose
cookie, WordPress 5.0, Google Analytics and Fonts, mixed content) on an address that also
leaves remote desktop (3389) open, and a strong site. Every expected finding is there,
none on the strong site, and a target not confirmed receives not a single packet."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.exceptions import ValidationError

from clocher.eservices import services
from clocher.eservices.checks import ports
from clocher.eservices.models import Scan
from tests.conftest import SYSTEM
from tests.eservices import nginx
from tests.eservices.conftest import _cert, _key_pem
from tests.eservices.test_audit import WEAK_SITE_FINDINGS, codes, confirmed

pytestmark = pytest.mark.slow


@dataclass
class Sites:
    web: nginx.WebLab
    weak: str  # address of the weak site (and of the open RDP port)
    strong: str
    ca_file: Path


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> tuple[str, str]:
    path.with_suffix(".pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(_key_pem(key))
    return str(path.with_suffix(".pem")), str(path.with_suffix(".key"))


@pytest.fixture(scope="module")
def sites(tmp_path_factory) -> Iterator[Sites]:
    root = tmp_path_factory.mktemp("eservices-nginx")
    with nginx.web_lab(2) as web:
        weak, strong = web.addresses
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _cert("Autorité de test Clocher", ca_key, ca=True)
        (root / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        weak_key, strong_key = (
            ec.generate_private_key(ec.SECP256R1()),
            ec.generate_private_key(ec.SECP256R1()),
        )
        weak_cert, weak_cert_key = _write(
            root / "weak",
            _cert("www.example.org", weak_key, san=x509.DNSName("www.example.org"),
                  days=(-400, -10)),
            weak_key,
        )  # fmt: skip
        strong_cert, strong_cert_key = _write(
            root / "strong",
            _cert(strong, strong_key, issuer=(ca.subject, ca_key),
                  san=x509.IPAddress(ipaddress.ip_address(strong))),
            strong_key,
        )  # fmt: skip
        servers = nginx.WEAK_SERVER.format(
            address=weak, port=443, cert=weak_cert, key=weak_cert_key,
            page=nginx.WEAK_PAGE.format(host=weak), readme=nginx.WP_README,
        ) + nginx.RDP_SERVER.format(address=weak) + nginx.STRONG_SERVER.format(
            address=strong, cert=strong_cert, key=strong_cert_key, page=nginx.STRONG_PAGE
        )  # fmt: skip
        with nginx.nginx(web, root / "run", servers):
            yield Sites(web, weak, strong, root / "ca.pem")


@pytest.fixture(autouse=True)
def test_authority(settings, sites) -> None:
    settings.ESERVICES_CA_FILE = str(sites.ca_file)


@pytest.mark.django_db
def test_weak_nginx_site_every_finding(commune_a, sites):
    scan = services.scan_target(SYSTEM, confirmed(commune_a, f"https://{sites.weak}/"))
    assert codes(scan) == WEAK_SITE_FINDINGS
    by_code = {f.code: f for f in scan.findings.all()}
    # Debian's OpenSSL 3 still completes TLS 1.0/1.1 at security level 0, on both sides.
    assert "TLS 1.0 et TLS 1.1" in by_code["TLS_OLD_PROTOCOL"].title
    assert "WordPress 5.0" in by_code["CMS_OUTDATED"].title
    # Seen by nmap's ssl-enum-ciphers: ECDSA certificate, so the NULL suite is ECDHE's.
    assert "TLS_ECDHE_ECDSA_WITH_NULL_SHA" in by_code["TLS_CIPHER_NULL"].title
    assert "TLS_ECDH_anon_WITH_AES_128_CBC_SHA" in by_code["TLS_CBC_OLD_PROTOCOL"].title
    assert any("GET /readme.html" in line for line in sites.web.requests())


@pytest.mark.django_db
def test_town_hall_address_exposes_remote_desktop(commune_a, sites):
    scan = services.scan_target(SYSTEM, confirmed(commune_a, sites.weak))
    assert codes(scan) == {"PORT_OPEN_3389"}
    assert scan.findings.get().severity == "critique"
    # Seen by nmap (-T2, connect scan), which names the service from its port table.
    assert ports.nmap_open_ports(sites.weak, [22, 443, 3389]) == {
        443: "https",
        3389: "ms-wbt-server",
    }


@pytest.mark.django_db
def test_strong_nginx_site_no_false_finding(commune_a, sites):
    site = services.scan_target(SYSTEM, confirmed(commune_a, f"https://{sites.strong}/"))
    address = services.scan_target(SYSTEM, confirmed(commune_a, sites.strong))
    assert (codes(site), site.score) == (set(), 100)
    assert (codes(address), address.score) == (set(), 100)


@pytest.mark.django_db
def test_unconfirmed_targets_receive_no_packet(commune_a, sites):
    packets, requests = sites.web.packets_from_root(), len(sites.web.requests())
    waiting = [
        services.add_target(SYSTEM, commune_a, value)
        for value in (f"https://{sites.weak}/", sites.weak, f"https://{sites.strong}/")
    ]
    assert services.scan_all(SYSTEM) == [] and services.scan_all(SYSTEM, commune_a) == []
    for target in waiting:
        with pytest.raises(ValidationError, match="pas confirmée"):
            services.scan_target(SYSTEM, target)
    assert not Scan.objects.exists()
    assert sites.web.packets_from_root() == packets
    assert len(sites.web.requests()) == requests
