"""The monthly report from real events, its CSV/PDF/CLI forms, the fleet page, the
onboarding step, and what a commune may see."""

from __future__ import annotations

import csv
import datetime as dt
import io
import subprocess

import pytest
from click.testing import CliRunner
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from clocher.core.models import AuditEntry
from clocher.onboarding import services as onboarding
from clocher.shield import report, services
from clocher.shield.models import Box, EnrolmentToken
from tests.conftest import SYSTEM

pytestmark = pytest.mark.django_db

NOVEMBER = dt.date(2026, 11, 1)


@pytest.fixture
def traffic(commune_a, commune_b, make_box):
    """November 2026: A's box sees a Chinese scan and Russian SSH brute force, B's box a
    blocklisted Dutch prefix; one October event must stay out of November."""
    box_a, box_b = make_box(commune_a, "boitier-secret-a"), make_box(commune_b, "boitier-b")
    box_a.send(
        [
            box_a.event(
                kind="decision",
                source="203.0.113.7",
                country="CN",
                scenario="port-scan",
                at="2026-11-03T08:00:00Z",
            ),
            box_a.event(
                source="203.0.113.7",
                country="CN",
                scenario="port-scan",
                flows=120,
                at="2026-11-03T09:00:00Z",
            ),
            box_a.event(
                source="203.0.113.7",
                country="CN",
                scenario="port-scan",
                flows=30,
                at="2026-11-04T09:00:00Z",
            ),
            box_a.event(
                kind="decision",
                source="198.51.100.77",
                country="RU",
                scenario="ssh-bruteforce",
                at="2026-11-04T10:00:00Z",
            ),
            box_a.event(
                source="198.51.100.77",
                country="RU",
                scenario="ssh-bruteforce",
                flows=50,
                at="2026-11-04T11:00:00Z",
            ),
            box_a.event(
                source="192.0.2.1",
                country="CN",
                scenario="port-scan",
                flows=999,
                at="2026-10-31T12:00:00Z",
            ),
        ]
    )
    box_b.send(
        [
            box_b.event(
                source="192.0.2.0/24",
                country="NL",
                scenario="blocklist",
                flows=40,
                at="2026-11-30T22:30:00Z",
            )
        ]
    )
    return box_a, box_b


def test_report_figures_by_country_scenario_source_and_day(traffic, commune_a):
    built = report.build(NOVEMBER)
    assert (built.flows, built.blocks, built.boxes) == (240, 2, 2)
    assert [(line.key, line.label, line.flows, line.blocks) for line in built.by_country] == [
        ("CN", "Chine", 150, 1),
        ("RU", "Russie", 50, 1),
        ("NL", "Pays-Bas", 40, 0),
    ]
    assert [(line.key, line.flows) for line in built.by_scenario] == [
        ("port-scan", 150),
        ("ssh-bruteforce", 50),
        ("blocklist", 40),
    ]
    assert built.top_sources[0].key == "203.0.113.7"
    days = {line.key: line.flows for line in built.daily}
    assert days["2026-11-03"] == 120 and days["2026-11-04"] == 80
    assert days["2026-11-30"] == 40  # 22:30 UTC is still the 30th in Paris
    assert len(built.daily) == 30 and "2026-10-31" not in days
    assert built.summary().startswith("240 flux malveillants bloqués en novembre 2026")
    assert "surtout depuis : Chine (62 %)" in built.summary()
    assert [line.label for line in built.by_commune] == [commune_a.name, "Vougeot"]
    # Counted from the journal, at the time the sources were added (now).
    this_month = report.build(report.current_month())
    assert (this_month.collective_added, this_month.central_bruteforce) == (2, 0)
    assert report.build(report.current_month(), commune_a).collective_added == 2
    own = report.build(NOVEMBER, commune_a)
    assert (own.flows, own.blocks) == (200, 2) and own.by_commune == []
    assert "NL" not in [line.key for line in own.by_country]


def test_the_report_is_of_the_last_complete_month_by_default(monkeypatch):
    monkeypatch.setattr(report.timezone, "localdate", lambda: dt.date(2026, 12, 1))
    assert report.parse_month(None) == dt.date(2026, 11, 1)  # December has nothing yet
    assert report.current_month() == dt.date(2026, 12, 1)
    monkeypatch.setattr(report.timezone, "localdate", lambda: dt.date(2027, 1, 15))
    assert report.parse_month("") == dt.date(2026, 12, 1)


def test_csv_and_pdf_exports(traffic, client_operator):
    response = client_operator.get(reverse("shield:report_csv") + "?mois=2026-11")
    assert response["Content-Disposition"].endswith('bouclier-departement-2026-11.csv"')
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["section", "clé", "libellé", "flux bloqués", "blocages décidés"]
    assert ["pays", "CN", "Chine", "150", "1"] in rows
    assert ["scénario", "ssh-bruteforce", "Force brute SSH", "50", "1"] in rows
    pdf = client_operator.get(reverse("shield:report_pdf") + "?mois=2026-11")
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    text = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=pdf.content, capture_output=True, check=True
    ).stdout.decode()
    assert "240 flux malveillants bloqués en novembre 2026" in text
    assert "Chine" in text and "Balayage de ports" in text and "203.0.113.7" in text
    page = client_operator.get(reverse("shield:report") + "?mois=2026-11")
    assert page.status_code == 200 and "<svg" in page.content.decode()
    assert client_operator.get(reverse("shield:report") + "?mois=novembre").status_code == 404


def test_cli_report_prints_the_summary_and_writes_files(traffic, commune_a, tmp_path):
    from clocher.cli import main

    pdf, table = tmp_path / "r.pdf", tmp_path / "r.csv"
    result = CliRunner().invoke(
        main,
        [
            "shield",
            "report",
            "--month",
            "2026-11",
            "--commune",
            commune_a.insee,
            "--pdf",
            str(pdf),
            "--csv",
            str(table),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "200 flux malveillants bloqués en novembre 2026" in result.output
    assert "Chine" in result.output
    assert pdf.read_bytes().startswith(b"%PDF") and "Russie" in table.read_text("utf-8-sig")
    bad = CliRunner().invoke(main, ["shield", "report", "--month", "11/2026"])
    assert bad.exit_code == 1 and "AAAA-MM" in bad.output


def test_fleet_offline_after_an_hour_and_spike_alert(traffic, client_operator):
    box_a, box_b = traffic
    Box.objects.filter(pk=box_a.box_id).update(last_seen=timezone.now() - dt.timedelta(minutes=61))
    Box.objects.filter(pk=box_b.box_id).update(last_seen=timezone.now() - dt.timedelta(minutes=59))
    box_b.send([box_b.event(flows=5000, at=timezone.now().isoformat())])
    rows, alerts = services.fleet(Box.objects.all())
    state = {row.box.hostname: (row.online, row.flows_today) for row in rows}
    assert state == {"boitier-secret-a": (False, 0), "boitier-b": (True, 5000)}
    messages = sorted((a.box.hostname, a.message.split(" ")[0]) for a in alerts)
    assert messages == [("boitier-b", "pic"), ("boitier-secret-a", "silencieux")]
    page = client_operator.get(reverse("shield:fleet")).content.decode()
    assert "hors ligne" in page and "pic d&#x27;attaque" in page
    tile = client_operator.get(reverse("core:operator_dashboard")).content.decode()
    assert "Boîtiers de sécurité" in tile


def test_operator_issues_a_token_once_and_revokes_a_box(client_operator, commune_a, make_box):
    response = client_operator.post(reverse("shield:token_issue"), {"insee": commune_a.insee})
    body = response.content.decode()
    token = body.split('class="secret">')[1].split("<")[0]
    assert token.startswith("clb_") and response["Cache-Control"] == "no-store"
    assert token not in client_operator.get(reverse("shield:fleet")).content.decode()
    box = make_box(commune_a)
    client_operator.post(reverse("shield:box_revoke", kwargs={"box_id": box.box_id}))
    assert Box.objects.get(pk=box.box_id).revoked
    assert box.signed("GET", "/api/shield/policy").status_code == 401
    detail = client_operator.get(reverse("shield:box", kwargs={"box_id": box.box_id}))
    assert "révoqué le" in detail.content.decode()


def test_onboarding_step_issues_the_token_idempotently(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    from clocher.core import services as core_services

    core_services.ensure_operator(
        SYSTEM, "Département", "communes.cotedor.fr", "n@cotedor.fr", "21"
    )
    application = onboarding.submit_application(
        SYSTEM,
        onboarding.ApplicationInput(
            insee="21425",
            contact_name="Claire",
            contact_email="claire@montbard.test",
            agents_count=3,
            services=["shield"],
        ),
    )
    run = onboarding.approve(SYSTEM, application)
    step = run.steps.get(name="shield")
    assert step.status == "done", step.error
    assert "valable jusqu'au" in step.detail
    token = EnrolmentToken.objects.get(commune=run.commune)
    assert token.used_at is None and token.token_hash not in step.detail
    from clocher.shield.hooks import issue_enrolment_token

    issue_enrolment_token(run, SYSTEM)  # a retry keeps the usable token
    assert EnrolmentToken.objects.filter(commune=run.commune).count() == 1
    assert AuditEntry.objects.filter(action="shield.token_issued", commune=run.commune).count() == 1


def test_commune_admin_sees_only_their_own(
    traffic, commune_a, commune_b, client_admin_a, client_admin_b, client_agent_a
):
    own = client_admin_a.get(reverse("shield:commune", kwargs={"insee": commune_a.insee}))
    assert own.status_code == 200 and "boitier-secret-a" in own.content.decode()
    assert "boitier-b" not in own.content.decode()
    last_month = report.build(report.last_complete_month(), commune_a).summary()
    assert "Le mois dernier" in own.content.decode() and escape(last_month) in own.content.decode()
    own_report = client_admin_a.get(
        reverse("shield:commune_report", kwargs={"insee": commune_a.insee}) + "?mois=2026-11"
    )
    assert "200 flux malveillants" in own_report.content.decode()
    for name in (
        "shield:commune",
        "shield:commune_report",
        "shield:commune_report_csv",
        "shield:commune_report_pdf",
    ):
        url = reverse(name, kwargs={"insee": commune_a.insee}) + "?mois=2026-11"
        refused = client_admin_b.get(url)
        assert refused.status_code == 404, url
        assert "boitier-secret-a" not in refused.content.decode()
    assert (
        client_agent_a.get(reverse("shield:commune", kwargs={"insee": commune_a.insee})).status_code
        == 404
    )
    for name in ("shield:fleet", "shield:lists", "shield:report"):
        assert client_admin_a.get(reverse(name)).status_code == 404
    # B's report holds nothing of A.
    b_csv = client_admin_b.get(
        reverse("shield:commune_report_csv", kwargs={"insee": commune_b.insee}) + "?mois=2026-11"
    )
    assert "203.0.113.7" not in b_csv.content.decode() and "192.0.2.0/24" in b_csv.content.decode()


def test_commune_admin_sets_blocked_countries(client_admin_a, commune_a, make_box):
    box = make_box(commune_a)
    url = reverse("shield:commune_countries", kwargs={"insee": commune_a.insee})
    client_admin_a.post(url, {"countries": "kp, ir"})
    assert box.policy()["countries_blocked"] == ["IR", "KP"]
    response = client_admin_a.post(url, {"countries": "Corée"}, follow=True)
    assert "invalide" in response.content.decode()
    assert box.policy()["countries_blocked"] == ["IR", "KP"]


def test_alerts_are_mailed_to_the_operator_once(commune_a, make_box, settings):
    from django.core import mail

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    box = make_box(commune_a, "boitier-muet")
    assert services.send_alerts() == [] and not mail.outbox
    hour_ago = timezone.now() - dt.timedelta(minutes=61)
    Box.objects.filter(pk=box.box_id).update(last_seen=hour_ago)
    assert [a.kind for a in services.send_alerts()] == ["silent"]
    assert mail.outbox[0].to == ["numerique@cotedor.fr"]
    assert "boitier-muet" in mail.outbox[0].body and "silencieux" in mail.outbox[0].body
    assert services.send_alerts() == []  # told once
    box.signed("POST", "/api/shield/heartbeat", {"version": "1", "health": {}})  # back
    assert services.send_alerts() == []
    # Later: told 3 h ago, back 2 h ago, silent since: a new silence, told again.
    Box.objects.filter(pk=box.box_id).update(
        silence_alerted_at=timezone.now() - dt.timedelta(hours=3),
        last_seen=timezone.now() - dt.timedelta(hours=2),
    )
    assert [a.kind for a in services.send_alerts()] == ["silent"]
    box.signed("POST", "/api/shield/heartbeat", {"version": "1", "health": {}})
    box.send([box.event(flows=2000, at=timezone.now().isoformat())])
    assert [a.kind for a in services.send_alerts()] == ["spike"]
    assert services.send_alerts() == [] and len(mail.outbox) == 3
