"""Shield: box events accepted per second through the signed API vs plain inserts of the
same rows, and the cost of a 100,000-prefix feed and its signed policy.

The API side is the whole path a box batch takes (signature check, JSON, validation of
every event, exactly-once by (box, seq) with the box row locked, collective defence)
through Django's test client, on the single-machine SQLite (WAL) database; the peer
bulk-inserts the same events with no check. A retried batch (all duplicates) is
measured too: the path a box takes after a lost answer.

Both sides are warmed up first (a running server has imported its URLconf), then run in
alternating rounds so that the load of a shared machine falls on both; each side's CPU
seconds count this process and, on PostgreSQL, the server backend serving it
(`CLOCHER_DATABASE_URL` selects PostgreSQL; `--prefixes 0` skips the feed).
"""

from __future__ import annotations

import argparse
import gzip
import ipaddress
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import django_with_fresh_db  # noqa: E402

BATCHES = 40
PER_BATCH = 1000
PREFIXES = 100_000
ROUNDS = 3


def _backend_cpu() -> float:
    """CPU seconds of the PostgreSQL backend serving this process (0 on SQLite)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return 0.0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Side:
    """Wall and CPU seconds of one side, summed over its rounds."""

    def __init__(self) -> None:
        self.wall = self.python = self.backend = 0.0
        self.events = 0

    def run(self, work, events: int) -> None:  # type: ignore[no-untyped-def]
        cpu, backend, start = time.process_time(), _backend_cpu(), time.perf_counter()
        work()
        self.wall += time.perf_counter() - start
        self.python += time.process_time() - cpu
        self.backend += _backend_cpu() - backend
        self.events += events

    @property
    def cpu(self) -> float:
        return self.python + self.backend

    def line(self) -> str:
        return (
            f"{self.rate:,.0f} events/s, {self.cpu:.2f} s CPU "
            f"({self.cpu / self.events * 1e6:.0f} µs/event: Python {self.python:.2f} s, "
            f"database server {self.backend:.2f} s)"
        )

    @property
    def rate(self) -> float:
        return self.events / self.wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prefixes", type=int, default=PREFIXES)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    django_with_fresh_db()
    from django.db import connection
    from django.test import Client

    from clocher.core import services as core
    from clocher.core.audit import Actor
    from clocher.shield import feeds, services
    from clocher.shield.models import BlockEntry, Box, Feed, ShieldEvent
    from clocher_box import protocol

    actor = Actor(label="bench")
    core.ensure_operator(actor, "Département", "communes.example.fr", "n@example.fr", "21")
    commune = core.create_commune(actor, "21271", status="active")
    key = protocol.new_private_key()
    token = services.issue_token(actor, commune).token
    box = services.enroll(token, protocol.public_key_b64(key), "bench", "0.1.0")
    client = Client(HTTP_HOST="localhost")

    def batch(first: int) -> bytes:
        events = [
            {
                "seq": seq,
                "kind": "drops" if seq % 10 else "decision",
                "at": "2026-11-10T10:00:00Z",
                "source": f"203.0.113.{seq % 250 + 1}",
                "country": "CN",
                "scenario": "port-scan",
                "duration": 0,
                "flows": 3,
                "detail": "",
            }
            for seq in range(first, first + PER_BATCH)
        ]
        return json.dumps({"events": events}).encode()

    def post(body: bytes) -> dict:
        headers = protocol.sign_request(key, str(box.pk), "POST", "/api/shield/events", body)
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
        response = client.post("/api/shield/events", body, content_type="application/json", **extra)
        assert response.status_code == 200, response.content
        return response.json()

    other = Box.objects.create(commune=commune, hostname="peer", public_key="peer")

    def rows(body: bytes) -> list[ShieldEvent]:
        return [
            ShieldEvent(
                box=other,
                commune=commune,
                seq=e["seq"],
                kind=e["kind"],
                at=e["at"],
                source=e["source"],
                country=e["country"],
                scenario=e["scenario"],
                flows=e["flows"],
            )
            for e in json.loads(body)["events"]
        ]

    # Warm-up, not counted: the URLconf and the first request's imports; the first
    # insert of each side.
    post(json.dumps({"events": []}).encode())
    post(batch(10**9))
    ShieldEvent.objects.bulk_create(rows(batch(10**9)))

    api, plain, retried = Side(), Side(), Side()
    per_round = BATCHES * PER_BATCH
    for number in range(args.rounds):
        first = 1 + number * per_round
        bodies = [batch(first + i * PER_BATCH) for i in range(BATCHES)]
        objects = [rows(body) for body in bodies]  # built outside the measure

        def through_api(bodies: list[bytes] = bodies) -> None:
            for body in bodies:
                post(body)

        def bulk(objects: list[list[ShieldEvent]] = objects) -> None:
            for chunk in objects:
                ShieldEvent.objects.bulk_create(chunk)

        def again(bodies: list[bytes] = bodies) -> None:
            for body in bodies[:10]:
                assert post(body)["duplicates"] == PER_BATCH

        # Alternate which side goes first, so neither always meets a warmer table.
        for side, work in [(api, through_api), (plain, bulk)][:: 1 if number % 2 == 0 else -1]:
            side.run(work, per_round)
        retried.run(again, 10 * PER_BATCH)

    load = os.getloadavg()[0]
    print(f"database: {connection.vendor}, {args.rounds} rounds of {BATCHES} × {PER_BATCH} events")
    print(f"load average (1 min) at the end: {load:.1f}")
    print(f"events through the signed API: {api.line()}")
    print(f"retried batches (duplicates):  {retried.rate:,.0f} events/s")
    print(f"plain bulk insert (peer):      {plain.line()}")
    print(f"ratio API/plain (wall):        {api.rate / plain.rate:.2f}")
    print(f"ratio API/plain (CPU):         {plain.cpu / api.cpu:.2f}")
    if not args.prefixes:
        return

    def prefixes(first: int) -> list[str]:
        return [
            f"{ipaddress.IPv4Address(0x0B000000 + (first + i) * 256)}/24"
            for i in range(args.prefixes)
        ]

    # The feed against the ORM's bulk_create of the same entries into another feed (no
    # parsing, no allowlist check, no journal: less work than the import), alternated
    # over the rounds. Each round a new feed with prefixes of its own, as a first
    # import is (a re-import writes only what changed), not the keys just deleted, whose
    # dead rows the unique index would still hold. The peer's feed is a C2 list, which
    # the boxes' bulk list (the import's journal) leaves out.
    peer_feed = Feed.objects.create(name="peer", kind="file", location="m", purpose="c2")
    imported, peer = Side(), Side()
    for number in range(args.rounds):
        lines = prefixes(number * args.prefixes)

        def through_import(lines: list[str] = lines, number: int = number) -> None:
            feeds.import_feed(actor, f"bench{number}", "mémoire", lines=lines)

        def bulk_entries(lines: list[str] = lines) -> None:
            BlockEntry.objects.bulk_create(
                [BlockEntry(source=p, scenario="blocklist", feed=peer_feed) for p in lines],
                batch_size=1000,
            )

        for side, work in [(imported, through_import), (peer, bulk_entries)][
            :: 1 if number % 2 == 0 else -1
        ]:
            side.run(work, len(lines))
            BlockEntry.objects.filter(feed__name__in=[f"bench{number}", "peer"]).delete()
    lines = prefixes(0)
    feeds.import_feed(actor, "bench", "mémoire", lines=lines)  # kept for the policy below
    services.signed_policy(box)  # first one parses the entries
    start = time.perf_counter()
    envelope = services.signed_policy(box)
    signed = time.perf_counter() - start

    print(
        f"feed of {args.prefixes:,} prefixes imported: {imported.wall / args.rounds:.2f} s wall, "
        f"{imported.cpu / args.rounds:.2f} s CPU per import (Python "
        f"{imported.python / args.rounds:.2f}, database server "
        f"{imported.backend / args.rounds:.2f}; mean of {args.rounds}; target "
        f"≤ 2.8 s: 10x the 27.6 s of 2026-11-25); load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"  peer, bulk_create of the same entries: {peer.wall / args.rounds:.2f} s wall, "
        f"{peer.cpu / args.rounds:.2f} s CPU; ratio import/peer {peer.wall / imported.wall:.2f} "
        f"wall, {peer.cpu / imported.cpu:.2f} CPU"
    )
    body = json.dumps(envelope).encode()
    size, packed = len(body) / 2**20, len(gzip.compress(body)) / 2**20
    print(f"signed policy of {args.prefixes:,} prefixes: {signed:.2f} s, {size:.1f} MiB")
    print(f"  sent gzip-compressed (Accept-Encoding: gzip): {packed:.1f} MiB")

    # A second blocklist feed beside "bench", half of its prefixes shared, imported and
    # then emptied: the journal's check against the other feeds, and the removal path.
    second, emptied = Side(), Side()
    shared = prefixes(args.prefixes // 2)
    second.run(lambda: feeds.import_feed(actor, "bench-b", "m", lines=shared), len(shared))
    emptied.run(lambda: feeds.import_feed(actor, "bench-b", "m", lines=[]), len(shared))
    for label, side in (("imported beside it", second), ("then emptied", emptied)):
        print(
            f"second feed of {args.prefixes:,} (half shared) {label}: {side.wall:.2f} s wall, "
            f"{side.cpu:.2f} s CPU (Python {side.python:.2f}, database server {side.backend:.2f})"
        )


if __name__ == "__main__":
    main()
