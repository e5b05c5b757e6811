"""The demo box: enrolled and fed through the real services, idempotent, and made of
documentation addresses only."""

from __future__ import annotations

import ipaddress

import pytest

from clocher.shield import demo
from clocher.shield.models import Box, EventKind, ShieldEvent
from tests.conftest import SYSTEM

pytestmark = pytest.mark.django_db

DOCUMENTATION = [
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
]


def test_demo_box_has_a_month_of_events_once(commune_a):
    box = demo.seed_demo_box(SYSTEM, commune_a)
    assert demo.seed_demo_box(SYSTEM, commune_a) == box
    assert Box.objects.filter(commune=commune_a).count() == 1

    events = ShieldEvent.objects.filter(box=box)
    assert events.filter(kind=EventKind.DECISION).count() == demo.SOURCES_PER_MONTH
    flows = sum(events.values_list("flows", flat=True))
    assert abs(flows - demo.FLOWS_PER_MONTH) <= demo.SOURCES_PER_MONTH  # rounding only
    assert set(events.values_list("country", flat=True)) <= set(demo.COUNTRY_WEIGHTS)
    for source in events.values_list("source", flat=True).distinct():
        address = ipaddress.ip_address(source)
        assert any(address in network for network in DOCUMENTATION), source
    assert sorted(events.values_list("seq", flat=True)) == list(range(1, events.count() + 1))
