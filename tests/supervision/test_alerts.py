"""The platform's own alert mail: one mail when an alert starts, none while it lasts,
one when it recovers (Django's locmem outbox)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from clocher.core.models import AuditEntry
from clocher.supervision import alerts, collect
from clocher.supervision.models import FiringAlert


@pytest.fixture
def recent_backups(monkeypatch):
    now = timezone.now()
    monkeypatch.setattr(collect, "_backup_provider", [])
    collect.register_backup_status(
        lambda: collect.BackupStatus(now - dt.timedelta(hours=1), now - dt.timedelta(days=2))
    )


@pytest.mark.django_db
def test_mailed_once_then_once_on_recovery(operator, quiet_probes, recent_backups):
    assert alerts.check_and_mail(collect.snapshot()).started == []
    assert mail.outbox == []

    quiet_probes["down"] = True
    outcome = alerts.check_and_mail(collect.snapshot())
    assert len(outcome.started) == 1
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["numerique@cotedor.fr"]
    assert message.subject.startswith("[Clocher] ALERTE : smtp (postfix) en panne")

    for _ in range(3):  # still down: nothing more
        alerts.check_and_mail(collect.snapshot())
    assert len(mail.outbox) == 1

    quiet_probes["down"] = False
    outcome = alerts.check_and_mail(collect.snapshot())
    assert len(outcome.recovered) == 1
    assert len(mail.outbox) == 2
    assert mail.outbox[1].subject.startswith("[Clocher] RÉTABLI : smtp (postfix)")
    alerts.check_and_mail(collect.snapshot())
    assert len(mail.outbox) == 2
    assert FiringAlert.objects.count() == 0
    actions = list(
        AuditEntry.objects.filter(action__startswith="supervision.")
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions == ["supervision.alert", "supervision.recovery"]


@pytest.mark.django_db
def test_a_second_node_does_not_mail_again(operator, quiet_probes, recent_backups):
    """Two nodes evaluating the same state: the alert row exists, the second sends nothing."""
    quiet_probes["down"] = True
    snap = collect.snapshot()
    alerts.check_and_mail(snap)
    alerts.check_and_mail(snap)
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_conditions(operator, commune_a, quiet_probes, make_box, monkeypatch):
    """Each condition of rules.yml, as the platform evaluates it."""
    monkeypatch.setattr(collect, "_backup_provider", [])
    make_box(commune_a, "boitier-muet", seen_minutes_ago=16)
    make_box(commune_a, "boitier-vivant", seen_minutes_ago=14)
    snap = collect.snapshot()
    snap.mail_queue = {"deferred": 150, "active": 1}
    snap.disk_size, snap.disk_free = 100, 5
    snap.volumes[0].vault_used = int(snap.volumes[0].vault_quota * 0.95)
    snap.archive_audit_ok = False
    snap.chain_ok, snap.chain_detail = False, "entrée n°3 modifiée"
    found = alerts.firing(snap)
    messages = "\n".join(found.values())
    assert {key.split(":")[0] for key in found} == {
        "file-postfix", "sauvegarde", "exercice", "boitier", "disque", "quota",
        "audit-archives", "chaine-audit",
    }  # fmt: skip
    assert "boitier-muet" in messages and "boitier-vivant" not in messages
    assert "jamais" in found["sauvegarde"]
