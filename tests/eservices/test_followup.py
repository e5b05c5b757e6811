"""What follows the audits: the weekly audit by `clocher serve`'s scheduler, the
commune's score trend (history kept), the monthly PDF, the operator's view (worst
communes first, confirmation from the page) and the JSON API."""

from __future__ import annotations

import datetime as dt
import subprocess

import pytest
from click.testing import CliRunner
from django.test import Client
from django.utils import timezone

from clocher.api.services import create_token
from clocher.cli import main
from clocher.core import supervisor
from clocher.core.models import AuditEntry
from clocher.eservices import services
from clocher.eservices.models import CommuneScore, Scan, Target
from tests.conftest import SYSTEM, logged_in
from tests.eservices.test_audit import confirmed


def _age(scan: Scan, days: int) -> None:
    """As if `scan` had been made `days` days ago."""
    Scan.objects.filter(pk=scan.pk).update(started_at=timezone.now() - dt.timedelta(days=days))


@pytest.mark.django_db
def test_scheduler_audits_what_is_due_weekly(commune_a, plain_site, strong_site):
    old = confirmed(commune_a, plain_site.url)
    fresh = confirmed(commune_a, strong_site.url)
    never = services.add_target(SYSTEM, commune_a, "https://jamais.example/")  # unconfirmed
    _age(services.scan_target(SYSTEM, old), 8)
    _age(services.scan_target(SYSTEM, fresh), 2)
    assert services.due_targets() == [old]
    plain_site.requests.clear()
    done = CliRunner().invoke(main, ["eservices", "schedule", "--once"])
    assert done.exit_code == 0, done.output
    assert "1 cible(s) auditée(s)" in done.output
    assert Scan.objects.filter(target=old).count() == 2
    assert Scan.objects.filter(target=fresh).count() == 1
    assert not Scan.objects.filter(target=never).exists()
    assert plain_site.requests == ["/", "/readme.html"]
    assert services.due_targets() == []
    # A week later, both are due again.
    assert services.due_targets(timezone.now() + dt.timedelta(days=7, hours=1)) == [old, fresh]
    entry = AuditEntry.objects.filter(action="eservices.scan").order_by("-seq").first()
    assert entry is not None and entry.actor_label == "planificateur des e-services"


@pytest.mark.django_db
def test_clocher_serve_runs_the_scheduler():
    children = [c for factory in supervisor._factories for c in factory()]
    scheduler = next(c for c in children if c.name == "e-services : audit hebdomadaire")
    assert scheduler.argv[-4:] == ["eservices", "schedule", "--every", "3600"]


@pytest.mark.django_db
def test_trend_keeps_one_point_per_day(commune_a, weak_site, strong_site):
    strong = services.scan_target(SYSTEM, confirmed(commune_a, strong_site.url))
    assert [(p.day, p.score) for p in services.trend(commune_a)] == [(timezone.localdate(), 100)]
    # The first point was a week ago; today a weak site joins: the weakest link counts.
    CommuneScore.objects.filter(commune=commune_a).update(
        day=timezone.localdate() - dt.timedelta(days=7)
    )
    services.scan_target(SYSTEM, confirmed(commune_a, weak_site.url))
    services.scan_target(SYSTEM, strong.target)  # a second audit the same day: one point
    made = services.report(commune_a)
    assert made.as_dict()["tendance"] == [
        {"jour": (timezone.localdate() - dt.timedelta(days=7)).isoformat(), "score": 100},
        {"jour": timezone.localdate().isoformat(), "score": 0},
    ]
    assert made.score == 0


@pytest.mark.django_db
def test_monthly_pdf(commune_a, plain_site, tmp_path):
    services.scan_target(SYSTEM, confirmed(commune_a, plain_site.url))
    pdf = tmp_path / "audit.pdf"
    done = CliRunner().invoke(main, ["eservices", "report", "21271", "--pdf", str(pdf)])
    assert done.exit_code == 0, done.output
    assert pdf.read_bytes().startswith(b"%PDF")
    text = subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Audit des e-services" in text and "Tendance du score" in text
    assert "servi sans chiffrement" in text  # HTTP_NO_TLS, the worst finding
    assert f"{services.commune_score(commune_a)}/100" in text


@pytest.mark.django_db
def test_commune_page_trend_and_pdf(commune_a, admin_a, admin_b, plain_site):
    services.scan_target(SYSTEM, confirmed(commune_a, plain_site.url))
    client = logged_in(admin_a)
    page = client.get("/c/21271/e-services/").content.decode()
    assert "Tendance du score" in page and timezone.localdate().strftime("%d/%m/%Y") in page
    assert "/c/21271/e-services/rapport.pdf" in page
    pdf = client.get("/c/21271/e-services/rapport.pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert logged_in(admin_b).get("/c/21271/e-services/rapport.pdf").status_code == 404


@pytest.mark.django_db
def test_operator_view_worst_first_and_confirmation(
    commune_a, commune_b, admin_a, operator_admin, weak_site, strong_site
):
    services.scan_target(SYSTEM, confirmed(commune_b, strong_site.url))
    services.scan_target(SYSTEM, confirmed(commune_a, weak_site.url))
    waiting = services.add_target(SYSTEM, commune_b, "https://attente.example/")
    client = logged_in(operator_admin)
    page = client.get("/operateur/e-services/").content.decode()
    assert page.index("(21271)") < page.index("(21716)")  # A (0/100) before B (100/100)
    assert "clocher-verification=" + waiting.token in page
    url = f"/operateur/e-services/cibles/{waiting.pk}/confirmer/"
    refused = client.post(url, follow=True).content.decode()
    assert "Preuve introuvable" in refused
    waiting.refresh_from_db()
    assert not waiting.is_confirmed
    assert client.post(url, {"attestation": "site vu en mairie"}).status_code == 302
    waiting.refresh_from_db()
    assert waiting.confirmed_how == "attestation de l'opérateur : site vu en mairie"
    assert logged_in(admin_a).get("/operateur/e-services/").status_code == 404
    assert logged_in(admin_a).post(url).status_code == 404


@pytest.mark.django_db
def test_api(commune_a, admin_a, agent_a, admin_b, plain_site):
    def api(user) -> Client:  # noqa: ANN001
        _, token = create_token(SYSTEM, user, "tests")
        return Client(HTTP_AUTHORIZATION=f"Bearer {token}")

    client = api(admin_a)
    made = client.post(
        "/api/v1/communes/21271/eservices/targets/", {"cible": plain_site.url},
        content_type="application/json",
    )  # fmt: skip
    assert made.status_code == 201, made.content
    target = Target.objects.get()
    assert made.json() == {
        "id": target.pk, "type": "url", "cible": plain_site.url, "confirmee": False,
        "preuve": services.proof_text(target), "dkim": [],
    }  # fmt: skip
    bad = client.post(
        "/api/v1/communes/21271/eservices/targets/", {"cible": "pas une cible"},
        content_type="application/json",
    )  # fmt: skip
    assert bad.status_code == 400 and "ni une adresse de site" in bad.json()["detail"]
    services.confirm_target(SYSTEM, target, attestation="test")
    services.scan_target(SYSTEM, target)
    report = client.get("/api/v1/communes/21271/eservices/").json()
    assert report["score"] == services.commune_score(commune_a)
    assert "HTTP_NO_TLS" in {f["code"] for f in report["constats"]}
    assert report["tendance"] == [
        {"jour": timezone.localdate().isoformat(), "score": report["score"]}
    ]
    listed = client.get("/api/v1/communes/21271/eservices/targets/").json()
    assert listed["count"] == 1 and [t["confirmee"] for t in listed["results"]] == [True]
    typed = client.post(
        "/api/v1/communes/21271/eservices/targets/", {"cible": 1},
        content_type="application/json",
    )  # fmt: skip
    assert typed.status_code == 400 and "texte" in typed.json()["cible"][0]
    assert api(agent_a).get("/api/v1/communes/21271/eservices/").status_code == 403
    assert api(admin_b).get("/api/v1/communes/21271/eservices/").status_code == 404
    assert Target.objects.count() == 1
