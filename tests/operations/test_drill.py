"""The drill restores the last snapshot with the real `clocher restore`, serves it on
another port, checks it, and records RPO and RTO; the schedule says what is due."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from clocher.accounts.models import AppPassword
from clocher.core.models import AuditEntry
from clocher.operations.hooks import operations_tile
from clocher.operations.models import Backup, Drill
from clocher.operations.services import drill, schedule, snapshot
from clocher.vault import services as vault
from tests.operations.conftest import ACTOR

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("data_dir")]


def test_drill_restores_serves_checks_and_records_rpo_rto(commune_a, agent_a, data_dir):
    root = vault.root_of(vault.ensure_commune_space(ACTOR, commune_a))
    folder = vault.create_folder(ACTOR, root, "Conseil 2026")
    vault.write_bytes(ACTOR, folder, "pv séance.txt", b"proces-verbal", "text/plain")
    snapshot.take(ACTOR)
    passwords = AppPassword.objects.count()

    result = drill.run_drill(ACTOR)

    names = {c["name"]: c for c in result.checks}
    assert set(names) == {
        "restauration",
        "web",
        "journal d'audit",
        "archive (audit d'intégrité)",
        "coffre (fsck)",
        "courriel lu en IMAP",
        "fichier lu en WebDAV",
    }
    assert result.ok, result.checks
    # Read over WebDAV from the copy by a member (drill-only password in the copy only),
    # compared with the source; this platform has no mail yet: nothing to read, said so.
    assert "lu en WebDAV, identique à la source" in names["fichier lu en WebDAV"]["detail"]
    assert names["courriel lu en IMAP"]["detail"] == "aucun message à relire"
    assert AppPassword.objects.count() == passwords
    assert result.rto_seconds is not None and result.rto_seconds > 0
    assert result.rpo_seconds >= 0
    row = Drill.objects.get()
    assert row.ok and row.rto_seconds == result.rto_seconds
    entry = AuditEntry.objects.filter(action="operations.drill").get()
    assert entry.data["reussi"] is True
    # The scratch copy and its kit are gone; the live data was not touched.
    assert not any((data_dir / "drill").iterdir())
    assert vault.fsck().ok
    tile = operations_tile()
    figures = {f.label: f.value for f in tile.figures}
    assert "réussi" in figures["Dernier exercice"] and "RPO / RTO" in figures


def test_schedule_backs_up_nightly_checks_weekly_drills_monthly(settings):
    # A fixed noon: the nightly slot (2 a.m.) is behind it whatever the hour of the run.
    now = timezone.make_aware(datetime(2026, 3, 10, 12, 0))
    assert schedule.due(now) == ["backup"]
    Backup.objects.create(
        started_at=now - timedelta(hours=1), repository="x", snapshot_id="abc", ok=True
    )
    assert schedule.due(now) == ["check", "drill"]
    settings.BACKUP_REPOSITORY = ""
    assert schedule.due(now) == []
    settings.BACKUP_REPOSITORY = "/ailleurs"
    Drill.objects.create(
        started_at=now - timedelta(days=2),
        snapshot_id="abc",
        snapshot_time=now - timedelta(days=2),
        rpo_seconds=10,
        ok=True,
    )
    assert schedule.due(now) == ["check"]
    assert schedule.due(now + timedelta(days=2)) == ["backup", "check"]
