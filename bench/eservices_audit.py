"""E-services audit of N local weak sites served by nginx from Debian in a network
namespace (expired self-signed certificate, TLS 1.0 to 1.2, no security header,
WordPress 5.0…): Clocher's whole audit of each site (TLS, headers, cookies, mixed
content, CMS, third parties, cipher suites by nmap's NSE scripts;
CLOCHER_ESERVICES_PARALLEL sites at once, as `clocher eservices scan` does) vs testssl.sh
from Debian run on each site in sequence (`--protocols --server-defaults --std`, the TLS
questions only). Prints the wall and CPU seconds of each side (children included: nmap
on ours, openssl on theirs), the load average, their ratio (goal ≥ 3×) and whether both
found the same TLS findings on every site.

testssl.sh takes about 30 s a site: `--peer-sample K` runs it on K of the sites only
(evenly spread) and extrapolates its time to all N, said so in the output.

Usage (root, for the namespace): python bench/eservices_audit.py [SITES] [--peer-sample K]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))
# The test sites' helpers live beside the tests, whose conftest imports Django models.
os.environ.setdefault("CLOCHER_DATA_DIR", tempfile.mkdtemp(prefix="clocher-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clocher.settings")
# The weak sites are on the namespace's private addresses: the audit refuses those unless
# told (the SSRF guard, docs/eservices.md); without this it measured refusals, 0.01 s.
os.environ["CLOCHER_ESERVICES_ALLOW_PRIVATE"] = "1"
django.setup()

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from django.conf import settings  # noqa: E402
from tests.eservices import nginx  # noqa: E402
from tests.eservices.conftest import _cert, _key_pem  # noqa: E402

from clocher.eservices import services  # noqa: E402
from clocher.eservices.models import Kind, Target  # noqa: E402

TLS_CODES = {
    "TLS_OLD_PROTOCOL", "TLS_NO_TLS13", "TLS_CERT_EXPIRED", "TLS_CERT_SELF_SIGNED",
    "TLS_CIPHER_NULL", "TLS_CIPHER_ANONYMOUS",
}  # fmt: skip
FIRST_PORT = 20_000


def clocher_findings(url: str) -> set[str]:
    """The whole audit of the site (network checks, no database), its TLS findings."""
    return {f.code for f in services.run_checks(Target(kind=Kind.URL, value=url))} & TLS_CODES


def testssl_findings(testssl: str, url: str, workdir: Path) -> set[str]:
    """The same TLS findings, read from testssl.sh's JSON."""
    out = workdir / f"{url.rstrip('/').rsplit(':', 1)[1]}.json"
    subprocess.run(  # noqa: S603
        [testssl, "--quiet", "--warnings", "off", "--protocols", "--server-defaults",
         "--std", "--jsonfile", str(out), url],
        check=False, capture_output=True, timeout=600,
    )  # fmt: skip
    items = {item["id"]: item["finding"].lower() for item in json.loads(out.read_text())}
    codes = set()
    if items.get("TLS1", "").startswith("offered") or items.get("TLS1_1", "").startswith("offered"):
        codes.add("TLS_OLD_PROTOCOL")
    if items.get("TLS1_3", "").startswith("not offered"):
        codes.add("TLS_NO_TLS13")
    if "expired" in items.get("cert_expirationStatus", ""):
        codes.add("TLS_CERT_EXPIRED")
    if "self signed" in items.get("cert_chain_of_trust", ""):
        codes.add("TLS_CERT_SELF_SIGNED")
    if items.get("cipherlist_NULL", "").startswith("offered"):
        codes.add("TLS_CIPHER_NULL")
    if items.get("cipherlist_aNULL", "").startswith("offered"):
        codes.add("TLS_CIPHER_ANONYMOUS")
    return codes


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("sites", nargs="?", type=int, default=100)
    parser.add_argument("--peer-sample", type=int, default=0, help="testssl.sh sur K sites")
    args = parser.parse_args()
    testssl = shutil.which("testssl") or shutil.which("testssl.sh")
    if testssl is None:
        sys.exit("testssl.sh absent : apt-get install testssl.sh")
    workdir = Path(tempfile.mkdtemp(prefix="clocher-bench-eservices-"))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _cert("www.example.org", key, san=x509.DNSName("www.example.org"), days=(-400, -10))
    (workdir / "weak.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (workdir / "weak.key").write_bytes(_key_pem(key))
    with nginx.web_lab(1) as web:
        address = web.addresses[0]
        servers = "".join(
            nginx.WEAK_SERVER.format(
                address=address, port=FIRST_PORT + i, cert=workdir / "weak.pem",
                key=workdir / "weak.key", page=nginx.WEAK_PAGE.format(host=address),
                readme=nginx.WP_README,
            )
            for i in range(args.sites)
        )  # fmt: skip
        with nginx.nginx(web, workdir / "nginx", servers):
            urls = [f"https://{address}:{FIRST_PORT + i}/" for i in range(args.sites)]
            load = os.getloadavg()[0]
            cpu, start = time.process_time() + children_cpu(), time.perf_counter()
            with ThreadPoolExecutor(max_workers=settings.ESERVICES_PARALLEL) as pool:
                ours = list(pool.map(clocher_findings, urls))
            clocher_s = time.perf_counter() - start
            clocher_cpu = time.process_time() + children_cpu() - cpu  # nmap's CPU too
            sample = args.peer_sample or args.sites
            step = max(1, args.sites // sample)
            picked = list(range(0, args.sites, step))[:sample]
            cpu, start = children_cpu(), time.perf_counter()
            theirs = {i: testssl_findings(testssl, urls[i], workdir) for i in picked}
            testssl_s, testssl_cpu = time.perf_counter() - start, children_cpu() - cpu
    scale = args.sites / len(picked)
    same = all(ours[i] == found for i, found in theirs.items())
    extrapolated = f" (extrapolé de {len(picked)} sites)" if scale != 1 else ""
    print(f"{args.sites} sites faibles (nginx), constats TLS comparés : {sorted(TLS_CODES)}")
    print(f"charge moyenne (1 min) au départ : {load:.1f}")
    print(
        f"Clocher, audit complet, {settings.ESERVICES_PARALLEL} à la fois : "
        f"{clocher_s:8.2f} s, CPU {clocher_cpu:.2f} s  {sorted(ours[0])}"
    )
    print(
        f"testssl.sh en séquence{extrapolated} : {testssl_s * scale:8.2f} s, "
        f"CPU {testssl_cpu * scale:.2f} s  {sorted(theirs[picked[0]])}"
    )
    print(
        f"rapport testssl.sh/Clocher, temps : {testssl_s * scale / clocher_s:.1f}× (objectif ≥ 3×)"
    )
    print(
        f"rapport testssl.sh/Clocher, CPU   : {testssl_cpu * scale / max(clocher_cpu, 1e-9):.1f}×"
    )
    print(f"mêmes constats TLS sur chaque site comparé : {'oui' if same else 'NON'}")
    shutil.rmtree(workdir, ignore_errors=True)
    if not same:  # a ratio against findings that differ says nothing: `make bench` stops
        sys.exit(1)


if __name__ == "__main__":
    main()
