"""Audit journal: hash-chained appends per second vs plain inserts of the same rows.

Both sides write one row per transaction into the same SQLite (WAL) database, the
configuration a single-machine installation runs; the ratio is the price of the chain
(lock, read of the previous hash, SHA-256 of the canonical encoding).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import django_with_fresh_db  # noqa: E402

N = 3000


def main() -> None:
    django_with_fresh_db()
    from django.db import transaction
    from django.utils import timezone

    from clocher.core import audit
    from clocher.core.models import AuditEntry

    actor = audit.Actor(label="bench")
    start = time.perf_counter()
    for i in range(N):
        with transaction.atomic():
            audit.record(actor, "bench.event", target=f"objet {i}", data={"i": i})
    chained = N / (time.perf_counter() - start)

    start = time.perf_counter()
    for i in range(N):
        with transaction.atomic():
            AuditEntry.objects.create(
                seq=10_000_000 + i,
                at=timezone.now(),
                actor_label="bench",
                action="bench.plain",
                target=f"objet {i}",
                data={"i": i},
                prev_hash="-",
                hash=f"plain-{i}",
            )
    plain = N / (time.perf_counter() - start)

    AuditEntry.objects.filter(action="bench.plain").delete()
    verify_start = time.perf_counter()
    result = audit.verify()
    verify_rate = result.checked / (time.perf_counter() - verify_start)
    assert result.ok
    print(f"audit append, chained: {chained:,.0f} entries/s")
    print(f"plain insert (peer):   {plain:,.0f} rows/s")
    print(f"ratio chained/plain:   {chained / plain:.2f}")
    print(f"audit verify:          {verify_rate:,.0f} entries/s")


if __name__ == "__main__":
    main()
