"""Shield: box events accepted per second through the signed API vs plain inserts of the
same rows, and the cost of a 100,000-prefix feed and its signed policy.

The API side is the whole path a box batch takes (signature check, JSON, validation of
every event, exactly-once by (box, seq) with the box row locked, collective defence)
through Django's test client, on the single-machine SQLite (WAL) database; the peer
bulk-inserts the same events with no check. A retried batch (all duplicates) is
measured too: the path a box takes after a lost answer.
"""

from __future__ import annotations

import gzip
import ipaddress
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import django_with_fresh_db  # noqa: E402

BATCHES = 40
PER_BATCH = 1000
PREFIXES = 100_000


def main() -> None:
    django_with_fresh_db()
    from django.test import Client

    from clocher.core import services as core
    from clocher.core.audit import Actor
    from clocher.shield import feeds, services
    from clocher.shield.models import Box, ShieldEvent
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

    bodies = [batch(1 + i * PER_BATCH) for i in range(BATCHES)]

    def post(body: bytes) -> dict:
        headers = protocol.sign_request(key, str(box.pk), "POST", "/api/shield/events", body)
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
        response = client.post("/api/shield/events", body, content_type="application/json", **extra)
        assert response.status_code == 200, response.content
        return response.json()

    start = time.perf_counter()
    for body in bodies:
        post(body)
    api = BATCHES * PER_BATCH / (time.perf_counter() - start)
    start = time.perf_counter()
    for body in bodies[:10]:
        assert post(body)["duplicates"] == PER_BATCH
    retried = 10 * PER_BATCH / (time.perf_counter() - start)

    other = Box.objects.create(commune=commune, hostname="peer", public_key="peer")
    rows = [
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
        for body in bodies
        for e in json.loads(body)["events"]
    ]
    start = time.perf_counter()
    for first in range(0, len(rows), PER_BATCH):
        ShieldEvent.objects.bulk_create(rows[first : first + PER_BATCH])
    plain = len(rows) / (time.perf_counter() - start)

    lines = [f"{ipaddress.IPv4Address(0x0B000000 + i * 256)}/24" for i in range(PREFIXES)]
    start = time.perf_counter()
    feeds.import_feed(actor, "bench", "mémoire", lines=lines)
    imported = time.perf_counter() - start
    services.signed_policy(box)  # first one parses the entries
    start = time.perf_counter()
    envelope = services.signed_policy(box)
    signed = time.perf_counter() - start

    print(f"events through the signed API: {api:,.0f} events/s (batches of {PER_BATCH})")
    print(f"retried batches (duplicates):  {retried:,.0f} events/s")
    print(f"plain bulk insert (peer):      {plain:,.0f} events/s")
    print(f"ratio API/plain:               {api / plain:.2f}")
    print(f"feed of {PREFIXES:,} prefixes imported in {imported:.1f} s")
    body = json.dumps(envelope).encode()
    size, packed = len(body) / 2**20, len(gzip.compress(body)) / 2**20
    print(f"signed policy of {PREFIXES:,} prefixes: {signed:.2f} s, {size:.1f} MiB")
    print(f"  sent gzip-compressed (Accept-Encoding: gzip): {packed:.1f} MiB")


if __name__ == "__main__":
    main()
