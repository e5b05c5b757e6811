"""E-services audit: the TLS checks of N local weak sites (expired self-signed
certificate, TLS 1.0 to 1.2) by Clocher (several sites at once, as `clocher eservices
scan` does) vs testssl.sh from Debian run on each site in sequence (`--protocols
--server-defaults`, the same questions). Prints both wall times, their ratio (goal
≥ 3×) and whether both found the same TLS findings on every site.

Usage: python bench/eservices_audit.py [SITES]   (default 5: testssl.sh takes a while)
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))
# The test sites' helpers live beside the tests, whose conftest imports Django models.
os.environ.setdefault("CLOCHER_DATA_DIR", tempfile.mkdtemp(prefix="clocher-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clocher.settings")
django.setup()

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from tests.eservices.conftest import _cert, _key_pem, _tls, serving  # noqa: E402

from clocher.eservices.checks import tls  # noqa: E402

TLS_CODES = {"TLS_OLD_PROTOCOL", "TLS_CERT_EXPIRED", "TLS_CERT_SELF_SIGNED"}


def clocher_findings(url: str) -> set[str]:
    host, port = url.split("/")[2].split(":")
    found = tls.check_certificate(host, int(port)) + tls.check_protocols(host, int(port))
    return {f.code for f in found} & TLS_CODES


def testssl_findings(testssl: str, url: str, workdir: Path) -> set[str]:
    """The same three findings, read from testssl.sh's JSON."""
    out = workdir / f"{url.split(':')[-1].strip('/')}.json"
    subprocess.run(  # noqa: S603
        [testssl, "--quiet", "--warnings", "off", "--protocols", "--server-defaults",
         "--jsonfile", str(out), url],
        check=False, capture_output=True, timeout=600,
    )  # fmt: skip
    items = {item["id"]: item["finding"].lower() for item in json.loads(out.read_text())}
    codes = set()
    if items.get("TLS1", "").startswith("offered") or items.get("TLS1_1", "").startswith("offered"):
        codes.add("TLS_OLD_PROTOCOL")
    if "expired" in items.get("cert_expirationStatus", ""):
        codes.add("TLS_CERT_EXPIRED")
    if "self signed" in items.get("cert_chain_of_trust", ""):
        codes.add("TLS_CERT_SELF_SIGNED")
    return codes


def main() -> None:
    sites = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    testssl = shutil.which("testssl") or shutil.which("testssl.sh")
    if testssl is None:
        sys.exit("testssl.sh absent : apt-get install testssl.sh")
    workdir = Path(tempfile.mkdtemp(prefix="clocher-bench-eservices-"))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _cert("www.example.org", key, days=(-400, -10))
    (workdir / "weak.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (workdir / "weak.key").write_bytes(_key_pem(key))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx = _tls((workdir / "weak.pem", workdir / "weak.key"), ssl.TLSVersion.TLSv1,
                   ssl.TLSVersion.TLSv1_2)  # fmt: skip
    with ExitStack() as stack:
        urls = [stack.enter_context(serving({}, ctx)).url for _ in range(sites)]
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=8) as pool:
            ours = list(pool.map(clocher_findings, urls))
        clocher_s = time.perf_counter() - start
        start = time.perf_counter()
        theirs = [testssl_findings(testssl, url, workdir) for url in urls]
        testssl_s = time.perf_counter() - start
    same = ours == theirs
    print(f"{sites} sites faibles, constats TLS comparés : {sorted(TLS_CODES)}")
    print(f"Clocher (8 à la fois)      : {clocher_s:8.2f} s  {sorted(ours[0])}")
    print(f"testssl.sh (en séquence)   : {testssl_s:8.2f} s  {sorted(theirs[0])}")
    print(f"rapport testssl.sh/Clocher : {testssl_s / clocher_s:.1f}× (objectif ≥ 3×)")
    print(f"mêmes constats sur chaque site : {'oui' if same else 'NON'}")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
