"""Demo data for the shield: each demo commune gets a box that has run since the start
of the previous month.

The box is enrolled and its events received through the same services as a real box's
(one-time token, Ed25519 key, `receive_events` exactly once), so the fleet page, the
commune page and the monthly report show something worth looking at from the first
`make run`. Sources are taken from the documentation ranges (RFC 5737): a demo must not
name real hosts as attackers.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from django.utils import timezone

from clocher.core.audit import Actor
from clocher.core.models import Commune
from clocher.shield import services
from clocher.shield.models import Box
from clocher_box import protocol

DOCUMENTATION_RANGES = ("192.0.2.", "198.51.100.", "203.0.113.")
# Where the month's attacks come from, as the brief's example has it: mostly the US,
# China and Russia.
COUNTRY_WEIGHTS = {"US": 30, "CN": 26, "RU": 20, "NL": 7, "DE": 5, "BR": 4, "IN": 4, "KP": 4}
SCENARIO_WEIGHTS = {
    "blocklist": 40,
    "port-scan": 25,
    "ssh-bruteforce": 15,
    "country-policy": 12,
    "dns-sinkhole": 5,
    "c2-outbound": 3,
}
SOURCES_PER_MONTH = 60
FLOWS_PER_MONTH = 1000


def _period_events(
    rng: random.Random, begin: dt.datetime, end: dt.datetime, sources: int, flows: int
) -> list[dict[str, Any]]:
    """`sources` attackers between `begin` and `end`, each a decision then its drops,
    sharing `flows` blocked flows the way real traffic does (a few sources make most)."""
    countries, country_weights = zip(*COUNTRY_WEIGHTS.items(), strict=True)
    scenarios, scenario_weights = zip(*SCENARIO_WEIGHTS.items(), strict=True)
    events: list[dict[str, Any]] = []
    shares = [rng.paretovariate(1.2) for _ in range(sources)]
    span = (end - begin).total_seconds()
    for share in shares:
        source = f"{rng.choice(DOCUMENTATION_RANGES)}{rng.randint(1, 254)}"
        country = rng.choices(countries, country_weights)[0]
        scenario = rng.choices(scenarios, scenario_weights)[0]
        start = begin + dt.timedelta(seconds=rng.uniform(0, span * 0.9))
        common = {"source": source, "country": country, "scenario": scenario}
        events.append(
            common
            | {"kind": "decision", "at": start, "duration": 4 * 3600, "flows": 0, "detail": ""}
        )
        dropped = start + min(dt.timedelta(hours=1), (end - start) / 2)  # never in the future
        share_flows = max(1, round(flows * share / sum(shares)))
        events.append(
            common | {"kind": "drops", "at": dropped, "duration": 0, "flows": share_flows}
        )
    return events


def _events(rng: random.Random, now: dt.datetime) -> list[dict[str, Any]]:
    """The last complete month in full (what the monthly report shows by default), and
    the current month so far at the same pace (the commune page, "today" on the fleet)."""
    this_month = timezone.localtime(now).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    last_month = (this_month - dt.timedelta(days=1)).replace(day=1)
    events = _period_events(rng, last_month, this_month, SOURCES_PER_MONTH, FLOWS_PER_MONTH)
    fraction = (now - this_month) / (this_month - last_month)
    events += _period_events(
        rng,
        this_month,
        now,
        max(3, round(SOURCES_PER_MONTH * fraction)),
        max(30, round(FLOWS_PER_MONTH * fraction)),
    )
    events.sort(key=lambda e: e["at"])
    for seq, event in enumerate(events, start=1):
        event["seq"] = seq
        event["at"] = event["at"].isoformat()
    return events


def seed_demo_box(actor: Actor, commune: Commune) -> Box:
    """Idempotent: the commune's demo box, enrolled and with a month of events."""
    hostname = f"boitier-{commune.insee}.demo"
    existing = Box.objects.filter(commune=commune, hostname=hostname).first()
    if existing is not None:
        return existing
    token = services.issue_token(actor, commune).token
    key = protocol.new_private_key()
    box = services.enroll(token, protocol.public_key_b64(key), hostname, "0.1.0 (démo)")
    rng = random.Random(commune.insee)  # the same demo month on every `make run`
    events = _events(rng, timezone.now())
    for start in range(0, len(events), services.MAX_EVENTS_PER_BATCH):
        services.receive_events(box, events[start : start + services.MAX_EVENTS_PER_BATCH])
    return box
