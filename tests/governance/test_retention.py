"""Retention: each data class's duration is set once and enforced by the hourly
housekeeping `clocher serve` already runs; old rows go, recent ones stay, and every purge
is journalled with its counts."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from click.testing import CliRunner
from django.utils import timezone

from clocher.accounts.models import LoginAttempt
from clocher.awareness.models import Campaign
from clocher.cli import main
from clocher.core import services as core
from clocher.core.audit import Actor
from clocher.core.models import AuditEntry, Membership, Role
from clocher.eservices.models import Scan, Target
from clocher.mail import services as mail
from clocher.mail.models import Mailbox
from clocher.shield.models import Box, ShieldEvent
from clocher.vault.hooks import vault_housekeeping

pytestmark = pytest.mark.django_db
ACTOR = Actor(label="tests")


def _ago(days: int):
    return timezone.now() - timedelta(days=days)


def _login(days: int) -> LoginAttempt:
    attempt = LoginAttempt.objects.create(email="x@y.test", ip="203.0.113.9")
    LoginAttempt.objects.filter(pk=attempt.pk).update(at=_ago(days))
    return attempt


def _event(box: Box, seq: int, days: int) -> ShieldEvent:
    return ShieldEvent.objects.create(
        box=box, commune=box.commune, seq=seq, kind="decision", at=_ago(days),
        source="198.51.100.7", scenario="port-scan",
    )  # fmt: skip


def _campaign(commune, days: int) -> Campaign:
    made = Campaign.objects.create(
        commune=commune, name="Exercice", starts_on=_ago(days).date(), created_by_label="t"
    )
    Campaign.objects.filter(pk=made.pk).update(created_at=_ago(days))
    return made


def _scan(target: Target, days: int) -> Scan:
    return Scan.objects.create(
        target=target, commune=target.commune, started_at=_ago(days), finished_at=_ago(days),
        score=50,
    )  # fmt: skip


def _agent_mailbox(commune, email: str) -> Mailbox:
    user = core.add_member(ACTOR, commune, email, Role.AGENT, invite=False).membership.user
    local = email.split("@")[0]
    box = mail.create_mailbox(ACTOR, commune, f"{local}@communes.cotedor.fr", user=user)
    home = mail.mailbox_home(box, mail.default_vmail_dir()) / "Maildir" / "cur"
    home.mkdir(parents=True, exist_ok=True)
    (home / "1.msg").write_bytes(b"Subject: ancien\r\n\r\ncorps\r\n")
    return box


def _leave(box: Mailbox, days: int) -> None:
    membership = Membership.objects.get(user=box.user, commune=box.commune)
    core.deactivate_member(ACTOR, membership)
    Membership.objects.filter(pk=membership.pk).update(deactivated_at=_ago(days))


@pytest.mark.django_db(transaction=True)  # the housekeeping closes stale connections
def test_housekeeping_deletes_what_is_past_each_duration_and_journals_it(
    commune_a, commune_b, admin_a, admin_b, settings, tmp_path
):
    settings.VAULT_DIR = tmp_path / "vault"  # the vault's part of the round: its own blobs
    old_login, new_login = _login(400), _login(10)
    box_a = Box.objects.create(commune=commune_a, hostname="b-a", public_key="a" * 43)
    box_b = Box.objects.create(commune=commune_b, hostname="b-b", public_key="b" * 43)
    old_events = [_event(box_a, 1, 400), _event(box_a, 2, 370), _event(box_b, 1, 400)]
    new_event = _event(box_a, 3, 5)
    old_campaign, new_campaign = _campaign(commune_a, 400), _campaign(commune_a, 30)
    gone = _agent_mailbox(commune_a, "partie@flavigny.test")
    _leave(gone, 100)
    recent = _agent_mailbox(commune_a, "recente@flavigny.test")
    _leave(recent, 10)
    staying = _agent_mailbox(commune_a, "restee@flavigny.test")
    site = Target.objects.create(commune=commune_a, kind="url", value="https://a.test/", token="t")
    other = Target.objects.create(commune=commune_a, kind="url", value="https://b.test/", token="u")
    old_scan, new_scan, last_of_other = _scan(site, 800), _scan(site, 3), _scan(other, 800)
    gone_home = mail.mailbox_home(gone, mail.default_vmail_dir())

    (argv,) = [child.argv for child in vault_housekeeping()]
    assert argv[-4:-2] == ["vault", "housekeeping"]
    result = CliRunner().invoke(main, argv[-4:-2])
    assert result.exit_code == 0, result.output
    assert "Conservation — journaux de connexion : 1" in result.output

    assert list(LoginAttempt.objects.values_list("pk", flat=True)) == [new_login.pk]
    assert not LoginAttempt.objects.filter(pk=old_login.pk).exists()
    assert list(ShieldEvent.objects.values_list("pk", flat=True)) == [new_event.pk]
    assert not ShieldEvent.objects.filter(pk__in=[e.pk for e in old_events]).exists()
    assert list(Campaign.objects.values_list("pk", flat=True)) == [new_campaign.pk]
    assert not Campaign.objects.filter(pk=old_campaign.pk).exists()
    assert set(Mailbox.objects.filter(kind="personal").values_list("pk", flat=True)) >= {
        recent.pk, staying.pk
    }  # fmt: skip
    assert not Mailbox.objects.filter(pk=gone.pk).exists()
    assert not gone_home.exists()
    assert set(Scan.objects.values_list("pk", flat=True)) == {new_scan.pk, last_of_other.pk}
    assert not Scan.objects.filter(pk=old_scan.pk).exists()

    journal = {
        (e.target, e.commune_insee): e.data
        for e in AuditEntry.objects.filter(action="governance.retention_purged")
    }
    assert journal[("journaux", "")]["supprimes"] == 1
    assert journal[("bouclier", commune_a.insee)] == {
        "classe": "Événements du bouclier", "jours": 365, "supprimes": 2
    }  # fmt: skip
    assert journal[("bouclier", commune_b.insee)]["supprimes"] == 1
    assert journal[("messagerie_partis", commune_a.insee)]["supprimes"] == 1
    assert journal[("eservices", commune_a.insee)]["supprimes"] == 1
    purged = AuditEntry.objects.get(action="awareness.results_purged")
    assert (purged.commune_insee, purged.data) == (commune_a.insee, {"campaigns": 1})
    # A second round finds nothing more and journals nothing more.
    count = AuditEntry.objects.count()
    assert CliRunner().invoke(main, argv[-4:-2]).exit_code == 0
    assert AuditEntry.objects.count() == count


def test_durations_are_set_once_in_settings(settings):
    settings.RETENTION_LOGS_DAYS = 0  # without limit
    settings.RETENTION_SHIELD_EVENTS_DAYS = 30
    old = _login(4000)
    result = CliRunner().invoke(main, ["governance", "retention", "--apply", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["classe"]: r for r in json.loads(result.output)}
    assert rows["journaux"]["jours"] == 0 and rows["journaux"]["supprimes"] is None
    assert rows["bouclier"]["jours"] == 30 and rows["bouclier"]["supprimes"] == 0
    assert rows["audit"]["jours"] == 3650
    assert LoginAttempt.objects.filter(pk=old.pk).exists()


def test_audit_journal_truncated_with_an_anchor_stays_verifiable(commune_a, admin_a, settings):
    from clocher.core import audit
    from clocher.supervision import chain

    settings.METRICS_CHAIN_TTL = 0
    assert chain.check().ok  # a checkpoint inside what will be deleted
    entries = list(AuditEntry.objects.order_by("seq").values_list("seq", flat=True))
    old = entries[: len(entries) // 2]
    AuditEntry.objects.filter(seq__in=old).update(at=_ago(4000))  # past the 3650 days
    result = CliRunner().invoke(main, ["governance", "retention", "--apply", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["classe"]: r for r in json.loads(result.output)}
    assert rows["audit"]["supprimes"] == len(old)
    first = AuditEntry.objects.order_by("seq").first()
    assert first.seq == old[-1] + 1
    anchor = AuditEntry.objects.get(action=audit.TRUNCATED)
    assert anchor.data["deleted"] == len(old) and anchor.data["first_kept_seq"] == first.seq
    assert audit.verify().ok
    assert chain.check(timezone.now() + timedelta(seconds=1)).ok
    result = CliRunner().invoke(main, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    # A gap that no anchor explains is still a deletion.
    AuditEntry.objects.filter(seq=first.seq + 1).delete()
    broken = audit.verify()
    assert not broken.ok and broken.first_break.seq == first.seq + 1
