"""Debt pages: the commune's book, a loan and its schedule, the import report, the
operator's consolidated view and own debt, the ROB annex as PDF and CSV."""

from __future__ import annotations

import subprocess
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from clocher.finance import services
from clocher.finance.models import Loan
from tests.conftest import SYSTEM
from tests.finance.finance_data import BAD, GOOD, STRUCTURED

pytestmark = pytest.mark.django_db


def test_book_page_shows_loans_matrix_indicators_and_scenarios(client_agent_a, commune_a):
    services.import_loans(SYSTEM, commune_a, (GOOD + STRUCTURED.split("\n", 1)[1]).encode())
    services.set_savings(SYSTEM, commune_a, 2021, Decimal("10000"))
    page = client_agent_a.get(reverse("finance:commune", args=[commune_a.insee]), {"annee": "2022"})
    html = page.content.decode()
    assert page.status_code == 200
    for text in ("FIX-1", "VAR-1", "Charte Gissler", "Profil d'extinction", "+100 pb",
                 "Capacité de désendettement", "4E", "classe 3E ou au-delà"):  # fmt: skip
        assert text in html, text
    assert "Enregistrer l'épargne brute" not in html  # an agent reads, does not write


def test_loan_page_paginates_and_answers_the_refinancing_what_if(client_admin_a, commune_a):
    services.import_loans(SYSTEM, commune_a, GOOD.encode())
    loan = Loan.objects.get(reference="VAR-1")
    url = reverse("finance:loan", args=[commune_a.insee, loan.pk])
    first = client_admin_a.get(url).content.decode()
    assert "Page 1 sur 1" in first and "01/04/2021" in first
    fixed = Loan.objects.get(reference="FIX-1")
    url = reverse("finance:loan", args=[commune_a.insee, fixed.pk])
    what_if = client_admin_a.get(url, {"on": "2025-01-01", "new_rate": "1", "fees": "500"})
    html = what_if.content.decode()
    assert "Gain net" in html and "Point mort" in html


def test_import_page_reports_each_bad_line_and_writes_nothing(
    client_admin_a, client_agent_a, commune_a
):
    url = reverse("finance:import", args=[commune_a.insee])
    upload = SimpleUploadedFile("dette.csv", BAD.encode(), content_type="text/csv")
    page = client_admin_a.post(url, {"file": upload})
    assert page.status_code == 400
    html = page.content.decode()
    assert "ligne 3 (FIX-3)" in html and "rien n&#x27;a été importé" in html
    assert not Loan.objects.exists()
    good = SimpleUploadedFile("dette.csv", GOOD.encode(), content_type="text/csv")
    assert client_admin_a.post(url, {"file": good}).status_code == 302
    assert Loan.objects.count() == 2
    assert client_agent_a.get(url).status_code == 404


def test_savings_form_and_accounts_file(client_admin_a, commune_a):
    url = reverse("finance:savings", args=[commune_a.insee])
    client_admin_a.post(url, {"year": "2023", "amount": "12345,67"})
    accounts = SimpleUploadedFile("comptes.csv", "Année;Épargne brute\n2024;20 000\n".encode())
    client_admin_a.post(url, {"file": accounts})
    assert services.savings_of(commune_a) == {2023: Decimal("12345.67"), 2024: Decimal("20000.00")}


def test_operator_consolidated_view_sorts_and_alerts(client_operator, commune_a, commune_b):
    services.import_loans(SYSTEM, commune_a, STRUCTURED.encode())
    services.import_loans(SYSTEM, commune_b, GOOD.encode())
    url = reverse("finance:operator")
    html = client_operator.get(
        url, {"annee": "2022", "tri": "encours", "ordre": "desc"}
    ).content.decode()
    assert html.index(commune_a.name) < html.index(commune_b.name)
    assert "classe 3E ou au-delà" in html
    ascending = client_operator.get(
        url, {"annee": "2022", "tri": "encours", "ordre": "asc"}
    ).content.decode()
    body = ascending[ascending.index("Toutes les communes") :]
    assert body.index(commune_b.name) < body.index(commune_a.name)


def test_operator_own_debt_is_operator_only(client_operator, client_admin_a, commune_a):
    services.import_loans(SYSTEM, None, GOOD.encode())
    own = client_operator.get(reverse("finance:own")).content.decode()
    assert "dette propre de l&#x27;opérateur" in own and "FIX-1" in own
    assert client_admin_a.get(reverse("finance:own")).status_code == 404
    loan = Loan.objects.get(reference="FIX-1")
    assert client_admin_a.get(reverse("finance:own_loan", args=[loan.pk])).status_code == 404
    # Its loans never show in a commune's book.
    book = client_admin_a.get(reverse("finance:commune", args=[commune_a.insee])).content.decode()
    assert "FIX-1" not in book


def test_rob_annex_pdf_and_csv(client_admin_a, commune_a, tmp_path):
    services.import_loans(SYSTEM, commune_a, GOOD.encode())
    pdf = client_admin_a.get(
        reverse("finance:report_pdf", args=[commune_a.insee]), {"annee": "2023"}
    )
    assert pdf["Content-Type"] == "application/pdf"
    assert f"dette-{commune_a.insee}-rob-2023.pdf" in pdf["Content-Disposition"]
    path = tmp_path / "rob.pdf"
    path.write_bytes(pdf.content)
    text = subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert commune_a.name in text and "31/12/2022" in text and "VAR-1" in text
    csv_text = client_admin_a.get(
        reverse("finance:report_csv", args=[commune_a.insee]), {"annee": "2023"}
    )
    assert "emprunt;FIX-1" in csv_text.content.decode("utf-8-sig")


def test_market_page_imports_history_and_curve(client_operator):
    url = reverse("finance:market")
    history = SimpleUploadedFile("emmi.csv", b"Date,3M\n2024-01-01,3.9\n2024-02-01,3.8\n")
    assert client_operator.post(url, {"index-file": history}).status_code == 302
    page = client_operator.post(url, {"courbe-name": "Fin 2025", "courbe-as_of": "2025-12-31",
                                      "courbe-points": "EURIBOR_3M;2026-01-01;2,1"})  # fmt: skip
    assert page.status_code == 302
    html = client_operator.get(url).content.decode()
    assert "EURIBOR_3M" in html and "Fin 2025" in html
