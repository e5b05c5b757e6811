"""GET /metrics: who may read it, what it says, and that a scrape costs a constant
number of queries whatever the number of communes and boxes."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from clocher.core import services
from clocher.core.models import CommuneStatus
from clocher.supervision import collect
from tests.conftest import SYSTEM

TOKEN = "jeton-de-supervision-0123456789"


def scrape(client: Client | None = None, **extra: str):
    return (client or Client()).get("/metrics", **extra)


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition (labels matched as a subset)."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        match = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
        assert match, f"malformed line: {line}"
        if match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    raise AssertionError(f"no sample {name} {labels}")


@pytest.mark.django_db
class TestAccess:
    def test_nobody_by_default(self, settings, quiet_probes):
        settings.METRICS_ALLOW, settings.METRICS_TOKEN = [], ""
        assert scrape().status_code == 404
        assert scrape(HTTP_AUTHORIZATION="Bearer n-importe-quoi").status_code == 403

    def test_allowed_address(self, settings, quiet_probes):
        settings.METRICS_ALLOW = ["10.1.2.0/24", "127.0.0.1/32"]
        assert scrape(REMOTE_ADDR="127.0.0.1").status_code == 200
        assert scrape(REMOTE_ADDR="10.1.2.9").status_code == 200
        assert scrape(REMOTE_ADDR="10.1.3.9").status_code == 404
        assert scrape(REMOTE_ADDR="::1").status_code == 404

    def test_address_through_a_proxy_is_not_enough(self, settings, quiet_probes):
        """The reverse proxy connects from 127.0.0.1: what it relays needs the token."""
        settings.METRICS_ALLOW, settings.METRICS_TOKEN = ["127.0.0.1/32"], TOKEN
        relayed = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "198.51.100.7"}
        assert scrape(**relayed).status_code == 404
        assert scrape(HTTP_AUTHORIZATION=f"Bearer {TOKEN}", **relayed).status_code == 200

    def test_token(self, settings, quiet_probes):
        settings.METRICS_ALLOW, settings.METRICS_TOKEN = [], TOKEN
        ok = scrape(REMOTE_ADDR="203.0.113.5", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert ok.status_code == 200
        assert ok["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        wrong = scrape(REMOTE_ADDR="203.0.113.5", HTTP_AUTHORIZATION=f"Bearer {TOKEN}x")
        assert wrong.status_code == 403
        assert scrape(REMOTE_ADDR="203.0.113.5").status_code == 404

    def test_operator_session_is_not_enough(self, settings, quiet_probes, client_operator):
        settings.METRICS_ALLOW, settings.METRICS_TOKEN = [], TOKEN
        assert scrape(client_operator).status_code == 404


@pytest.fixture
def allowed(settings, quiet_probes):
    settings.METRICS_ALLOW, settings.METRICS_TOKEN = ["127.0.0.1/32"], ""
    return quiet_probes


@pytest.mark.django_db
def test_content(allowed, commune_a, commune_b, make_box):
    from clocher.vault.models import CommuneUsage

    CommuneUsage.objects.update_or_create(commune=commune_a, defaults={"used_bytes": 12345})
    make_box(commune_a, "boitier-flavigny", seen_minutes_ago=3)
    make_box(commune_b, "boitier-vougeot", seen_minutes_ago=40)
    allowed["down"] = True
    text = scrape().content.decode()
    assert sample(text, "clocher_component_up", component="base de données") == 1
    assert sample(text, "clocher_component_up", component="smtp (postfix)") == 0
    assert sample(text, "clocher_vault_used_bytes", commune="21271") == 12345
    assert (
        sample(text, "clocher_vault_quota_bytes", commune="21716") == commune_b.quota_storage_bytes
    )
    assert sample(text, "clocher_archive_objects", commune="21271") == 0
    age_a = sample(text, "clocher_box_heartbeat_age_seconds", hostname="boitier-flavigny")
    age_b = sample(text, "clocher_box_heartbeat_age_seconds", hostname="boitier-vougeot")
    assert 180 <= age_a < 40 * 60 <= age_b
    assert sample(text, "clocher_box_blocked_sources", hostname="boitier-vougeot") == 7
    assert sample(text, "clocher_audit_chain_ok") == 1
    assert sample(text, "clocher_audit_chain_verified_entries") > 0
    assert sample(text, "clocher_backup_age_seconds") == float("inf")  # no backup yet
    assert sample(text, "clocher_mail_messages_total", kind="received") == 0
    assert sample(text, "clocher_disk_free_bytes") > 0
    # Every family announced once, with HELP then TYPE.
    names = re.findall(r"^# TYPE (\w+) (gauge|counter)$", text, re.M)
    assert len(names) == len({n for n, _ in names}) >= 19


@pytest.mark.django_db
def test_label_values_escaped(allowed, commune_a, make_box):
    make_box(commune_a, 'boitier "spécial"\\a', seen_minutes_ago=1)
    text = scrape().content.decode()
    assert 'hostname="boitier \\"spécial\\"\\\\a"' in text


@pytest.mark.django_db
def test_backup_age_from_hook(allowed, monkeypatch):
    import datetime as dt

    from django.utils import timezone

    when = timezone.now() - dt.timedelta(hours=30)
    monkeypatch.setattr(collect, "_backup_provider", [])
    collect.register_backup_status(lambda: collect.BackupStatus(when, None))
    text = scrape().content.decode()
    assert 30 * 3600 <= sample(text, "clocher_backup_age_seconds") < 31 * 3600
    assert sample(text, "clocher_drill_age_seconds") == float("inf")


@pytest.mark.django_db
def test_constant_query_count(allowed, make_commune, make_box):
    """One commune and one box, then six of each: the scrape runs as many queries."""

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert scrape().status_code == 200
        return len(captured)

    first = make_commune("21271")
    make_box(first, "boitier-0", seen_minutes_ago=1)
    queries()  # the chain's first check, then cached for its TTL
    few = queries()
    for n, insee in enumerate(["21716", "21231", "21054", "21425", "21603"], 1):
        commune = services.create_commune(SYSTEM, insee, status=CommuneStatus.ACTIVE)
        make_box(commune, f"boitier-{n}", seen_minutes_ago=n)
    queries()
    assert queries() == few


@pytest.mark.django_db
def test_cli_prints_the_exposition(quiet_probes):
    from click.testing import CliRunner

    from clocher.cli import main

    out = CliRunner().invoke(main, ["metrics"])
    assert out.exit_code == 0, out.output
    assert sample(out.output, "clocher_component_up", component="smtp (postfix)") == 1
