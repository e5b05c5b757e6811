"""Finance API: loans, schedule, indicators, import (all or nothing), by token and session."""

from __future__ import annotations

from decimal import Decimal

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from clocher.api.services import create_token
from clocher.finance import services
from clocher.finance.models import Loan
from tests.conftest import SYSTEM
from tests.finance.finance_data import BAD, GOOD, book


def _url(name: str, commune, **kw) -> str:  # type: ignore[no-untyped-def]
    return reverse(f"api:{name}", kwargs={"insee": commune.insee, **kw})


def test_import_list_detail_schedule_indicators(client_admin_a, commune_a):
    upload = SimpleUploadedFile("dette.csv", GOOD.encode(), content_type="text/csv")
    made = client_admin_a.post(_url("finance_loans", commune_a), {"file": upload})
    assert made.status_code == 201, made.content
    assert made.json()["created"] == ["FIX-1", "VAR-1"]
    listed = client_admin_a.get(_url("finance_loans", commune_a)).json()["results"]
    fix = next(ln for ln in listed if ln["reference"] == "FIX-1")
    assert fix["nominal"] == "100000.00" and fix["gissler"] == "1A"
    detail = client_admin_a.get(_url("finance_loan", commune_a, loan_id=fix["id"])).json()
    assert detail["indemnity_kind"] == "sans"
    schedule = client_admin_a.get(_url("finance_schedule", commune_a, loan_id=fix["id"])).json()
    assert len(schedule["rows"]) == 20 and schedule["rows"][-1]["balance"] == "0.00"
    assert sum(Decimal(r["capital"]) for r in schedule["rows"]) == Decimal("100000.00")
    years = client_admin_a.get(_url("finance_indicators", commune_a)).json()
    assert years["alert_years"] == 12
    assert any(y["year"] == 2021 and y["loans"] == 2 for y in years["years"])


def test_loan_book_is_a_page_by_start_then_reference(client_admin_a, commune_a):
    """Same envelope and parameters as every list of the API, in a stable order."""
    services.import_loans(
        SYSTEM, commune_a, book(("B-2", "1000"), ("A-2", "1000"), ("C-1", "1000")).encode()
    )
    services.import_loans(SYSTEM, commune_a, book(("Z-0", "1000"), start="01/01/2010").encode())
    url = _url("finance_loans", commune_a)
    first = client_admin_a.get(f"{url}?limit=2").json()
    rest = client_admin_a.get(first["next"]).json()
    assert first["count"] == 4 and rest["next"] is None
    references = [ln["reference"] for ln in first["results"] + rest["results"]]
    assert references == ["Z-0", "A-2", "B-2", "C-1"]
    assert client_admin_a.get(f"{url}?limit=abc").status_code == 400


def test_malformed_upload_is_refused_with_lines(client_admin_a, commune_a):
    upload = SimpleUploadedFile("dette.csv", BAD.encode(), content_type="text/csv")
    refused = client_admin_a.post(_url("finance_loans", commune_a), {"file": upload})
    assert refused.status_code == 400
    assert any("ligne 3" in e for e in refused.json()["errors"])
    assert not Loan.objects.exists()


def test_agent_reads_but_may_not_import(agent_a, commune_a, client):
    services.import_loans(SYSTEM, commune_a, GOOD.encode())
    _, token = create_token(SYSTEM, agent_a, "tableur")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert client.get(_url("finance_indicators", commune_a), **auth).status_code == 200
    upload = SimpleUploadedFile("dette.csv", GOOD.encode(), content_type="text/csv")
    assert (
        client.post(_url("finance_loans", commune_a), {"file": upload}, **auth).status_code == 403
    )


def test_other_commune_gets_404(client_admin_b, commune_a):
    services.import_loans(SYSTEM, commune_a, GOOD.encode())
    loan = Loan.objects.first()
    assert client_admin_b.get(_url("finance_loans", commune_a)).status_code == 404
    assert (
        client_admin_b.get(_url("finance_schedule", commune_a, loan_id=loan.pk)).status_code == 404
    )
