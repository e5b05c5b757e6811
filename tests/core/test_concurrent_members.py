"""Limits on a commune's people, under changes made at the same moment (two admins'
pages, an import and a page): on PostgreSQL each counted before the other committed,
and both passed."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from clocher.core import services
from clocher.core.models import Membership, Role
from tests.concurrency import at_once, raised
from tests.conftest import SYSTEM

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_last_place_of_the_quota_goes_to_one_person(commune_a, admin_a):
    def add(email: str):
        return lambda _round: (
            services.add_member(
                SYSTEM, commune_a, email, Role.AGENT, invite=False
            ).membership.user.email
        )

    for attempt in range(10):
        services.update_quotas(SYSTEM, commune_a, members=2 + attempt)  # one place left
        both = at_once([add(f"un{attempt}@flavigny.test"), add(f"deux{attempt}@flavigny.test")], 1)
        refused = raised(both)
        assert len(refused) == 1 and "Quota de membres" in str(refused[0]), both
    assert Membership.objects.filter(commune=commune_a, is_active=True).count() == 1 + 10


def test_two_admins_stepping_down_at_once_leave_one(commune_a, admin_a):
    second = services.add_member(
        SYSTEM, commune_a, "maire@flavigny.test", Role.COMMUNE_ADMIN, invite=False
    ).membership
    first = Membership.objects.get(user=admin_a, commune=commune_a)

    def step_down(membership: Membership):
        def one(_round: int) -> str:
            services.change_role(SYSTEM, Membership.objects.get(pk=membership.pk), Role.AGENT)
            return "agent"

        return one

    results = at_once([step_down(first), step_down(second)], rounds=1)
    refused = raised(results)
    assert len(refused) == 1 and isinstance(refused[0], ValidationError)
    assert "dernier administrateur" in str(refused[0])
    admins = Membership.objects.filter(commune=commune_a, role=Role.COMMUNE_ADMIN)
    assert admins.count() == 1
