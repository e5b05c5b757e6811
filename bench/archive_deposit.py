"""Archive: deposits per second (small PDFs, embedded TSA) vs plain vault uploads of the
same files, and integrity-audit throughput vs `sha256sum` over the same documents.

    .venv/bin/python bench/archive_deposit.py [--count 10000] [--large 40]

Deposit = SHA-256 + SHA-512, FIDO identification, encrypted write-once copy, RFC 3161
token from the embedded TSA, object row + journal entry + audit entry in one
transaction. Its peer is the vault's own upload of the same bytes (encrypted chunk,
version row, audit entry). The audit re-reads every archived copy, decrypts it
(AES-GCM) and re-hashes it; its peer is `sha256sum` over the same documents as plain
files. The audit also runs on `--large` documents of 4 MiB, where the per-file cost
fades and the disk/CPU limit shows.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import django_with_fresh_db  # noqa: E402


def small_pdf(n: int) -> bytes:
    """A ~3 KB one-page PDF, different for each n."""
    text = f"Arrêté du maire n°{n} portant réglementation de la circulation. ".encode("latin-1")
    stream = b"BT /F1 11 Tf 72 720 Td (" + text * 40 + b") Tj ET"
    return (
        b"%%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
        b"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n"
        b"3 0 obj\n<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>\nendobj\n"
        b"4 0 obj\n<< /Length %d >>\nstream\n%s\nendstream\nendobj\n"
        b"trailer\n<< /Root 1 0 R >>\n%%%%EOF\n" % (len(stream), stream)
    )


def sha256sum_seconds(*directories: Path) -> float:
    """Time `sha256sum` takes over every file of the directories (xargs batches)."""
    start = time.perf_counter()
    for directory in directories:
        subprocess.run(  # noqa: S602 - fixed command over our own temp directory
            f"find {directory} -type f -print0 | xargs -0 sha256sum > /dev/null",
            shell=True,
            check=True,
        )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000, help="small PDFs to deposit")
    parser.add_argument("--large", type=int, default=40, help="4 MiB documents for the audit")
    args = parser.parse_args()
    django_with_fresh_db()
    from django.db import connection

    from clocher.archive import services
    from clocher.archive.models import RetentionRule
    from clocher.core import services as core
    from clocher.core.audit import Actor
    from clocher.vault import services as vault

    actor = Actor(label="bench")
    core.ensure_operator(actor, "Département", "communes.example.fr", "", "21")
    commune = core.create_commune(actor, "21271", status="active")
    rule = RetentionRule.objects.get(code="arretes")
    documents = [small_pdf(n) for n in range(args.count)]
    plain_dir = Path(tempfile.mkdtemp(prefix="archive-bench-"))
    for n, data in enumerate(documents):
        (plain_dir / f"arrete-{n}.pdf").write_bytes(data)
    connection.cursor().execute("PRAGMA wal_autocheckpoint = 10000")

    def deposit(n: int, data: bytes) -> None:
        services.deposit(
            actor,
            commune,
            services.DepositInput(
                f"Arrêté n°{n}", "Arrêté", date(2025, 1, 1), "Le maire", rule,
                f"arrete-{n}.pdf", data,
            ),
        )  # fmt: skip

    start = time.perf_counter()
    for n, data in enumerate(documents):
        deposit(n, data)
    deposits = args.count / (time.perf_counter() - start)

    root = vault.root_of(vault.ensure_commune_space(actor, commune))
    start = time.perf_counter()
    for n, data in enumerate(documents):
        vault.write_bytes(actor, root, f"arrete-{n}.pdf", data)
    uploads = args.count / (time.perf_counter() - start)

    small_bytes = sum(len(d) for d in documents)
    os.sync()
    start = time.perf_counter()
    report = services.audit_integrity(actor)
    audit_small = small_bytes / 1e6 / (time.perf_counter() - start)
    assert report.ok and report.checked == args.count
    peer_small = small_bytes / 1e6 / sha256sum_seconds(plain_dir)

    large_dir = Path(tempfile.mkdtemp(prefix="archive-bench-large-"))
    large_bytes = 0
    for n in range(args.large):
        data = os.urandom(4 * 1024 * 1024)
        (large_dir / f"plan-{n}.bin").write_bytes(data)
        deposit(args.count + n, data)
        large_bytes += len(data)
    start = time.perf_counter()
    report = services.audit_integrity(actor)
    audit_all = (small_bytes + large_bytes) / 1e6 / (time.perf_counter() - start)
    assert report.ok
    os.sync()
    peer_all = (small_bytes + large_bytes) / 1e6 / sha256sum_seconds(plain_dir, large_dir)

    print(f"documents: {args.count} small PDFs of ~{small_bytes // args.count} bytes")
    print(f"deposit (seal + embedded TSA): {deposits:,.1f} deposits/s")
    print(f"vault upload (peer):           {uploads:,.1f} files/s")
    print(f"ratio deposit/upload:          {deposits / uploads:.2f}")
    print(f"audit, small PDFs:             {audit_small:,.1f} MB/s")
    print(f"sha256sum, same files (peer):  {peer_small:,.1f} MB/s")
    print(f"ratio audit/sha256sum:         {audit_small / peer_small:.2f}")
    print(f"audit, + {args.large} × 4 MiB:      {audit_all:,.1f} MB/s")
    print(f"sha256sum, same (peer):        {peer_all:,.1f} MB/s")
    print(f"ratio audit/sha256sum:         {audit_all / peer_all:.2f}")


if __name__ == "__main__":
    main()
