"""The API's PATCH routes each call one service: several changes, one transaction."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from clocher.core import services
from clocher.core.models import AuditEntry, CommuneStatus, Membership, Role
from tests.conftest import SYSTEM


def test_refused_status_keeps_the_quotas(commune_a):
    before = commune_a.quota_mailboxes
    with pytest.raises(ValidationError, match="Passage impossible"):
        services.update_commune(
            SYSTEM, commune_a, mailboxes=before + 5, status=CommuneStatus.PROSPECT
        )
    commune_a.refresh_from_db()
    assert commune_a.quota_mailboxes == before
    assert not AuditEntry.objects.filter(action="commune.quotas_changed").exists()


def test_quotas_and_status_together(commune_a):
    services.update_commune(SYSTEM, commune_a, members=40, status=CommuneStatus.SUSPENDED)
    commune_a.refresh_from_db()
    assert (commune_a.quota_members, commune_a.status) == (40, CommuneStatus.SUSPENDED)


def test_refused_reactivation_keeps_the_role(commune_a, admin_a, agent_a):
    services.deactivate_member(SYSTEM, Membership.objects.get(user=agent_a, commune=commune_a))
    services.update_quotas(SYSTEM, commune_a, members=1)  # only the admin is active
    membership = Membership.objects.get(user=agent_a, commune=commune_a)
    with pytest.raises(ValidationError, match="Quota de membres atteint"):
        services.update_member(SYSTEM, membership, role=Role.ELECTED, is_active=True)
    membership.refresh_from_db()
    assert (membership.role, membership.is_active) == (Role.AGENT, False)
    assert not AuditEntry.objects.filter(action="member.role_changed").exists()
