"""Sobriety figures: storage before and after deduplication, mail held, the analytics'
measured CPU time and the energy estimate whose method is stated, per commune and in all."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from django.urls import reverse

from clocher.cli import main
from clocher.core.audit import Actor
from clocher.forecast.models import Forecast, Series
from clocher.governance import sobriety
from clocher.mail import services as mail
from clocher.vault import services as vault

pytestmark = pytest.mark.django_db
ACTOR = Actor(label="tests")
CONTENT = b"compte rendu du conseil " * 4000  # 96,000 bytes


def _forecast(commune, cpu: float) -> None:
    series = Series.objects.create(
        commune=commune, key="upload:eau", name="Eau", frequency="MS", source="upload",
        data_version="v1", points=24, created_by_label="t",
    )  # fmt: skip
    Forecast.objects.create(
        commune=commune, series=series, data_version="v1", horizon=12, cpu_seconds=cpu,
        created_by_label="t",
    )  # fmt: skip


def test_figures_per_commune_and_total(commune_a, commune_b, agent_a, settings):
    root = vault.root_of(vault.ensure_commune_space(ACTOR, commune_a))
    vault.write_bytes(ACTOR, root, "original.txt", CONTENT)
    vault.write_bytes(ACTOR, root, "copie.txt", CONTENT)  # same content: stored once
    box = mail.create_mailbox(ACTOR, commune_a, "agent.a@communes.cotedor.fr", user=agent_a)
    maildir = mail.mailbox_home(box, mail.default_vmail_dir()) / "Maildir"
    maildir.mkdir(parents=True, exist_ok=True)
    (maildir / "maildirsize").write_text("0S\n5000 2\n1500 1\n")
    _forecast(commune_a, 2.5)

    made = sobriety.figures()
    a = next(f for f in made.communes if f.insee == commune_a.insee)
    b = next(f for f in made.communes if f.insee == commune_b.insee)
    assert a.used_bytes == 2 * len(CONTENT)
    assert 0 < a.stored_bytes < a.used_bytes  # deduplicated (and sealed: a little more)
    assert a.dedup_saved_bytes == a.used_bytes - a.stored_bytes
    assert (a.mailboxes, a.mail_bytes) == (1, 6500)
    assert a.analytics_cpu_seconds == 2.5
    assert (b.used_bytes, b.stored_bytes, b.mail_bytes) == (0, 0, 0)
    assert made.total.used_bytes == a.used_bytes + b.used_bytes
    # The estimate follows its written method: W per TB all year, W per core per CPU second.
    settings.SOBRIETY_WATTS_PER_TB, settings.SOBRIETY_WATTS_PER_CPU = 10, 36
    held = a.stored_bytes + a.mail_bytes
    assert a.storage_kwh_per_year == pytest.approx(held / 1e12 * 10 * 8760 / 1000)
    assert a.analytics_kwh == pytest.approx(2.5 * 36 / 3_600_000)
    assert "10 W par téraoctet" in sobriety.method()

    only_a = sobriety.figures(commune_a)
    assert [f.insee for f in only_a.communes] == [commune_a.insee]


def test_cli_and_operator_console(client_operator, commune_a, admin_a):
    _forecast(commune_a, 1.5)
    result = CliRunner().invoke(main, ["governance", "sobriety", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["total"]["analytics_cpu_seconds"] == 1.5
    assert "W par téraoctet" in data["method"] and data["not_measured"] == []  # all measured
    assert data["total"]["cpu_by_analytic"] == {"prévisions": 1.5}
    plain = CliRunner().invoke(main, ["governance", "sobriety"])
    assert "Méthode" in plain.output and "Total" in plain.output
    page = client_operator.get(reverse("governance:operator")).content.decode()
    assert "Sobriété" in page and "1,5 s CPU" in page and "Méthode de l" in page
    dashboard = client_operator.get(reverse("core:operator_dashboard")).content.decode()
    assert "Gouvernance des données" in dashboard and "Algorithmes publics décrits" in dashboard
