"""The demo box: enrolled and fed through the real services, idempotent, and made of
documentation addresses only."""

from __future__ import annotations

import ipaddress

import pytest
from django.utils import timezone

from clocher.shield import demo, report
from clocher.shield.models import Box, ShieldEvent
from tests.conftest import SYSTEM

pytestmark = pytest.mark.django_db

DOCUMENTATION = [
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
]


def test_demo_box_has_a_month_of_events_once(commune_a):
    box = demo.seed_demo_box(SYSTEM, commune_a)
    assert demo.seed_demo_box(SYSTEM, commune_a) == box
    assert Box.objects.filter(commune=commune_a).count() == 1

    # The monthly report's default month is a full demo month.
    last_month = report.build(report.last_complete_month(), commune_a)
    assert last_month.blocks == demo.SOURCES_PER_MONTH
    assert abs(last_month.flows - demo.FLOWS_PER_MONTH) <= demo.SOURCES_PER_MONTH  # rounding
    assert {"US", "CN", "RU"} <= {line.key for line in last_month.by_country[:4]}
    # And the current month has its first attacks, none in the future.
    this_month = report.build(report.current_month(), commune_a)
    assert this_month.blocks >= 3 and this_month.flows >= 30
    events = ShieldEvent.objects.filter(box=box)
    assert not events.filter(at__gt=timezone.now()).exists()
    assert set(events.values_list("country", flat=True)) <= set(demo.COUNTRY_WEIGHTS)
    for source in events.values_list("source", flat=True).distinct():
        address = ipaddress.ip_address(source)
        assert any(address in network for network in DOCUMENTATION), source
    assert sorted(events.values_list("seq", flat=True)) == list(range(1, events.count() + 1))
