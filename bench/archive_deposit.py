"""Archive: deposits per second (small PDFs, embedded TSA) vs plain vault uploads of the
same files, and integrity-audit throughput vs `sha256sum` over the same documents.

    .venv/bin/python bench/archive_deposit.py [--count 10000] [--large 40] [--rounds 5]
        [--batch 100] [--single 300]

Deposit = SHA-256 + SHA-512, FIDO identification, encrypted write-once copy, RFC 3161
token from the embedded TSA, object row + journal entry + audit entry in one
transaction. Its peer is the vault's own upload of the same bytes (encrypted chunk,
version row, audit entry). The first `--single` documents are deposited one by one
(`services.deposit`), the others in batches of `--batch` (`services.deposit_many`: copies
flushed together, one token over the batch's Merkle root, rows in bulk); both rates are
printed, the batch one against the peer; deposits and uploads alternate over `--rounds`
slices of the documents and the best rate of each side is kept.

The audit re-reads every archived copy, decrypts it (AES-GCM) and re-hashes it, then
re-hashes every journal entry, checks the chain and the seals, and journals its result;
its peer is `sha256sum` over the same documents as plain files (`find | xargs
sha256sum`, unchanged). The audit also runs on `--large` documents of 4 MiB, where the
per-file cost fades and the disk/CPU limit shows.

The audit and its peer alternate for `--rounds` rounds and the best time of each side
is kept: on a shared machine a burst of load then falls on either side, not always on
the one measured second. The headline ratio is the whole audit's; the copies alone
(`services.check_copies`) and the journal alone (`journal.verify`) are timed in the
same rounds and printed beside it, so that one can see which part costs what, never in
place of the total. The journal is sealed (as the daily task does) before the audit,
so that the seals' Merkle roots are checked too. The audit runs from the last audit
checkpoint (the daily case: journal entries since the checkpoint re-hashed, every copy
re-read) and with --full (the whole journal re-hashed); both ratios are printed.
The checkpoint audit re-reads only the copies newer than the checkpoint (none in the
rounds after the first): it shows what the daily audit costs, --full what the monthly one
does.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
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


def seconds(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


@dataclass
class AuditTimes:
    """Best time over the rounds of each side: the whole audit, its two parts, the peer."""

    audit: float = float("inf")
    full: float = float("inf")
    copies: float = float("inf")
    journal: float = float("inf")
    peer: float = float("inf")


def audit_rounds(rounds: int, audit: Callable[[bool], None], *directories: Path) -> AuditTimes:
    """Alternate the audit (from the last checkpoint, --full, then its parts) and
    `sha256sum`, keeping each best. One audit first leaves the checkpoint, as the
    previous night's audit would have."""
    from clocher.archive import journal, services

    best = AuditTimes()
    audit(True)
    os.sync()
    for _ in range(rounds):
        best.audit = min(best.audit, seconds(lambda: audit(False)))
        best.full = min(best.full, seconds(lambda: audit(True)))
        best.peer = min(best.peer, sha256sum_seconds(*directories))
        best.copies = min(best.copies, seconds(services.check_copies))
        best.journal = min(best.journal, seconds(journal.verify))
    return best


def print_audit(label: str, megabytes: float, times: AuditTimes, entries: int) -> None:
    audit, peer = megabytes / times.audit, megabytes / times.peer
    full = megabytes / times.full
    print(f"audit, {label}:{' ' * (23 - len(label))}{audit:,.1f} MB/s ({times.audit * 1e3:.1f} ms)")
    print(f"audit --full, same:            {full:,.1f} MB/s ({times.full * 1e3:.1f} ms)")
    print(f"sha256sum, same (peer):        {peer:,.1f} MB/s ({times.peer * 1e3:.1f} ms)")
    print(f"ratio audit/sha256sum:         {audit / peer:.2f} (from the last checkpoint)")
    print(f"ratio audit --full/sha256sum:  {full / peer:.2f}")
    print(
        f"  of which copies (read, decrypt, SHA-256): {times.copies * 1e3:.1f} ms "
        f"({megabytes / times.copies:,.1f} MB/s, {times.peer / times.copies:.2f}× sha256sum)"
    )
    print(
        f"  of which journal ({entries:,} entries, chain and seals): "
        f"{times.journal * 1e3:.1f} ms ({times.journal / entries * 1e6:.1f} µs/entry)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000, help="small PDFs to deposit")
    parser.add_argument("--large", type=int, default=40, help="4 MiB documents for the audit")
    parser.add_argument("--rounds", type=int, default=5, help="audit/sha256sum alternations")
    parser.add_argument("--batch", type=int, default=100, help="documents per batch deposit")
    parser.add_argument("--single", type=int, default=300, help="documents deposited alone")
    args = parser.parse_args()
    django_with_fresh_db()
    from django.db import connection

    from clocher.archive import journal, services
    from clocher.archive.models import JournalEntry, RetentionRule
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
    if connection.vendor == "sqlite":
        connection.cursor().execute("PRAGMA wal_autocheckpoint = 10000")

    def given(n: int, data: bytes) -> services.DepositInput:
        return services.DepositInput(
            f"Arrêté n°{n}", "Arrêté", date(2025, 1, 1), "Le maire", rule, f"arrete-{n}.pdf", data
        )

    def deposit(n: int, data: bytes) -> None:
        services.deposit(actor, commune, given(n, data))

    # Deposits (alone, then in batches) and vault uploads alternate over slices of the
    # documents for --rounds rounds, the best rate of each side kept, as for the audit.
    single = min(args.single, args.count)
    rounds = max(args.rounds, 1)
    root = vault.root_of(vault.ensure_commune_space(actor, commune))
    alone = [range(single)[r::rounds] for r in range(rounds)]
    step = max(args.batch, -(-(args.count - single) // rounds))
    slices = [range(f, min(f + step, args.count)) for f in range(single, args.count, step)]
    singles = deposits = uploads = 0.0
    cpu_each = float("inf")  # CPU seconds of this process per batch deposit (load aside)
    for r in range(max(rounds, len(slices))):
        if r < len(alone) and alone[r]:
            start = time.perf_counter()
            for n in alone[r]:
                deposit(n, documents[n])
            singles = max(singles, len(alone[r]) / (time.perf_counter() - start))
        if r < len(slices):
            start, cpu = time.perf_counter(), time.process_time()
            for first in range(slices[r].start, slices[r].stop, args.batch):
                batch = range(first, min(first + args.batch, slices[r].stop))
                services.deposit_many(actor, commune, [given(n, documents[n]) for n in batch])
            deposits = max(deposits, len(slices[r]) / (time.perf_counter() - start))
            cpu_each = min(cpu_each, (time.process_time() - cpu) / len(slices[r]))
            start = time.perf_counter()
            for n in slices[r]:
                vault.write_bytes(actor, root, f"arrete-{n}.pdf", documents[n])
            uploads = max(uploads, len(slices[r]) / (time.perf_counter() - start))

    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"deposit, one by one:           {singles:,.1f} deposits/s ({single} documents)")
    label = f"deposit, batches of {args.batch}:"
    print(f"{label:<31}{deposits:,.1f} deposits/s ({args.count - single} documents)")
    print(f"  CPU of this process:         {cpu_each * 1e3:.2f} ms per deposit in a batch")
    print(f"vault upload (peer):           {uploads:,.1f} files/s (the same documents)")
    print(f"ratio deposit/upload:          {deposits / uploads:.2f} (batches; best of {rounds})")
    print(f"ratio batches/one by one:      {deposits / singles:.2f}", flush=True)

    small_bytes = sum(len(d) for d in documents)
    journal.seal_pending()

    def audit(expected: int, full: bool) -> None:
        report = services.audit_integrity(actor, full=full)
        # From a checkpoint, only the copies deposited since are re-read (none here).
        assert report.ok and report.checked == (expected if full else 0)

    small = audit_rounds(args.rounds, lambda full: audit(args.count, full), plain_dir)
    small_entries = JournalEntry.objects.count()

    large_dir = Path(tempfile.mkdtemp(prefix="archive-bench-large-"))
    large_bytes = 0
    for n in range(args.large):
        data = os.urandom(4 * 1024 * 1024)
        (large_dir / f"plan-{n}.bin").write_bytes(data)
        deposit(args.count + n, data)
        large_bytes += len(data)
    journal.seal_pending()
    every = audit_rounds(
        args.rounds, lambda full: audit(args.count + args.large, full), plain_dir, large_dir
    )

    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"documents: {args.count} small PDFs of ~{small_bytes // args.count} bytes")
    print(f"audit rounds (best of each):   {args.rounds}")
    print_audit("small PDFs", small_bytes / 1e6, small, small_entries)
    if args.large:
        print_audit(
            f"+ {args.large} × 4 MiB",
            (small_bytes + large_bytes) / 1e6,
            every,
            JournalEntry.objects.count(),
        )


if __name__ == "__main__":
    main()
