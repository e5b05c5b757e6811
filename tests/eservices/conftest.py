"""Local websites for the audit, started on free ports: a weak one (expired self-signed
certificate for another name, TLS 1.0, no security headers, a loose cookie, WordPress
5.0, Google Analytics and Fonts, mixed content), a strong one (certificate from a test
authority, TLS 1.2+, every header), and a loopback DNS server answering from a zone."""

from __future__ import annotations

import datetime as dt
import itertools
import ssl
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# The mail tests' loopback DNS server (function scope, cheap), under the name `zone`.
from tests.mail.conftest import dns_server as zone  # noqa: F401

Route = tuple[int, list[tuple[str, str]], str]  # status, headers, body


@dataclass
class Site:
    url: str
    routes: dict[str, Route]
    requests: list[str] = field(default_factory=list)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    *,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None = None,
    san: x509.GeneralName | list[x509.GeneralName] | None = None,
    days: tuple[int, int] = (-1, 365),
    ca: bool = False,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, signer = issuer or (name, key)
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + dt.timedelta(days=days[0]))
        .not_valid_after(now + dt.timedelta(days=days[1]))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san is not None:
        names = san if isinstance(san, list) else [san]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(signer, hashes.SHA256())


@dataclass
class Pki:
    ca_file: Path
    strong: tuple[Path, Path]  # cert, key
    weak: tuple[Path, Path]
    policy: tuple[Path, Path]  # the MTA-STS policy host of solide.test and essai.test


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> Pki:
    root = tmp_path_factory.mktemp("eservices-pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("Autorité de test Clocher", ca_key, ca=True)
    (root / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    import ipaddress

    paths = {}
    for name, cert_key, made in (
        (
            "strong",
            (key := ec.generate_private_key(ec.SECP256R1())),
            _cert(
                "127.0.0.1", key, issuer=(ca.subject, ca_key),
                san=x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            ),
        ),
        (
            "weak",
            (weak_key := ec.generate_private_key(ec.SECP256R1())),
            _cert("www.example.org", weak_key, san=x509.DNSName("www.example.org"),
                  days=(-400, -10)),
        ),
        (
            "policy",
            (policy_key := ec.generate_private_key(ec.SECP256R1())),
            _cert("mta-sts.solide.test", policy_key, issuer=(ca.subject, ca_key),
                  san=[x509.DNSName("mta-sts.solide.test"), x509.DNSName("mta-sts.essai.test")]),
        ),
    ):  # fmt: skip
        cert_path, key_path = root / f"{name}.pem", root / f"{name}.key"
        cert_path.write_bytes(made.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(_key_pem(cert_key))
        paths[name] = (cert_path, key_path)
    return Pki(root / "ca.pem", paths["strong"], paths["weak"], paths["policy"])


@contextmanager
def serving(routes: dict[str, Route], tls: ssl.SSLContext | None) -> Iterator[Site]:
    site = Site("", routes)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            site.requests.append(self.path)
            status, headers, body = site.routes.get(self.path, (404, [], "introuvable"))
            data = body.encode()
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def get_request(self):  # noqa: ANN202 - the handshake runs in the handler's thread
            sock, address = self.socket.accept()
            if tls is not None:
                sock = tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
            return sock, address

        def finish_request(self, request, client_address) -> None:  # noqa: ANN001
            if tls is not None:
                try:
                    request.do_handshake()
                except (OSError, ssl.SSLError):
                    return  # a refused protocol version: the audit asked on purpose
            super().finish_request(request, client_address)

    server = Server(("127.0.0.1", 0), Handler)
    scheme = "https" if tls is not None else "http"
    site.url = f"{scheme}://127.0.0.1:{server.server_address[1]}/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()


def _tls(cert_key: tuple[Path, Path], oldest: ssl.TLSVersion, newest: ssl.TLSVersion):  # noqa: ANN202
    """A server context; below TLS 1.2 every suite, anonymous and NULL ones too (the weak
    site), else Python's own choice (forward secret AEAD suites only)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if oldest < ssl.TLSVersion.TLSv1_2:
            ctx.set_ciphers("ALL:eNULL:@SECLEVEL=0")
        ctx.minimum_version, ctx.maximum_version = oldest, newest
    ctx.load_cert_chain(*cert_key)
    return ctx


WEAK_PAGE = """<!doctype html><html><head>
<meta name="generator" content="WordPress 5.0">
<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Open+Sans">
<script async src="https://www.google-analytics.com/analytics.js"></script>
</head><body><h1>Mairie</h1><img src="http://{host}/logo.png"></body></html>"""

STRONG_PAGE = """<!doctype html><html><head>
<link rel="stylesheet" href="/static/site.css"><script src="/static/site.js"></script>
</head><body><h1>Mairie</h1><img src="/static/logo.png">
<a href="https://www.youtube.com/@mairie">notre chaîne</a></body></html>"""

STRONG_HEADERS = [
    ("Content-Type", "text/html; charset=utf-8"),
    ("Strict-Transport-Security", "max-age=31536000; includeSubDomains"),
    ("Content-Security-Policy", "default-src 'self'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("Set-Cookie", "sessionid=abc; Path=/; Secure; HttpOnly; SameSite=Lax"),
]


@pytest.fixture
def weak_site(pki) -> Iterator[Site]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx = _tls(pki.weak, ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_2)
    with serving({}, ctx) as site:
        host = site.url.split("/")[2]
        site.routes["/"] = (
            200, [("Content-Type", "text/html"), ("Set-Cookie", "PHPSESSID=abc; path=/")],
            WEAK_PAGE.format(host=host),
        )  # fmt: skip
        site.routes["/readme.html"] = (200, [], "<h1>WordPress</h1><p>Version 5.0</p>")
        yield site


@pytest.fixture
def strong_site(pki, settings) -> Iterator[Site]:
    settings.ESERVICES_CA_FILE = str(pki.ca_file)
    ctx = _tls(pki.strong, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3)
    with serving({"/": (200, STRONG_HEADERS, STRONG_PAGE)}, ctx) as site:
        yield site


MTA_STS_POLICY = "/.well-known/mta-sts.txt"


@pytest.fixture
def mta_sts(pki, settings, monkeypatch) -> Iterator[Site]:
    """The HTTPS host of the MTA-STS policies (certificate of the test authority for
    mta-sts.solide.test and mta-sts.essai.test), on a free port the check is pointed at;
    the zone sends those names to 127.0.0.1."""
    from clocher.eservices.checks import mail

    settings.ESERVICES_CA_FILE = str(pki.ca_file)
    ctx = _tls(pki.policy, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3)
    policy = "version: STSv1\r\nmode: enforce\r\nmx: mx.solide.test\r\nmax_age: 604800\r\n"
    with serving({MTA_STS_POLICY: (200, [("Content-Type", "text/plain")], policy)}, ctx) as site:
        monkeypatch.setattr(mail, "MTA_STS_PORT", int(site.url.rstrip("/").rsplit(":", 1)[1]))
        yield site


@pytest.fixture
def plain_site() -> Iterator[Site]:
    with serving({"/": (200, [("Content-Type", "text/html")], "<p>Mairie</p>")}, None) as site:
        yield site


@pytest.fixture
def signed_dns(settings, tmp_path) -> Iterator[Callable[..., object]]:
    """start(text, apex, …): `text`'s records served with `apex`'s zone signed by BIND's
    tools and its DS published; `broken` forges the signature of (name, type), `validity`
    dates the signatures, `foreign_ds` publishes the DS of another key instead."""
    from tests.eservices import dnssec

    calls = itertools.count()
    with ExitStack() as servers:

        def start(text, apex, broken=None, validity=None, foreign_ds=False):  # noqa: ANN001, ANN202
            own, others = dnssec.split(text, apex)
            workdir = tmp_path / f"dnssec-{next(calls)}"
            signed, ds = dnssec.sign(apex, own, workdir / "zone", validity)
            if foreign_ds:  # the DS of a key the zone does not use (a botched rollover)
                ds = dnssec.sign(apex, own, workdir / "other")[1]
            records = dnssec.parse(signed, apex, f"$TTL 60\n{ds}\n{others}\n")
            if broken:
                dnssec.break_signature(records, *broken)
            settings.DNS_RESOLVER = servers.enter_context(dnssec.serving(records))
            return records

        yield start


@pytest.fixture(autouse=True)
def loopback_targets(settings) -> None:
    """The test sites live on 127.0.0.1, which production refuses as a target."""
    settings.ESERVICES_ALLOW_PRIVATE = True
