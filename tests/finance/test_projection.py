"""Épargne brute projection: the forecast app's series and forecast, the projected capacité
de désendettement on the commune's debt page and in `clocher finance indicators --projection`,
and a clear message (no crash) when the commune has too few years."""

from __future__ import annotations

from decimal import Decimal

import pytest
from click.testing import CliRunner
from django.urls import reverse
from django.utils.html import escape

from clocher.cli import main
from clocher.finance import services
from clocher.finance.models import SavingsFigure, SavingsSource, YearIndicator
from clocher.forecast.models import Forecast, ForecastStatus, Series
from tests.conftest import SYSTEM
from tests.finance.finance_data import GOOD

pytestmark = pytest.mark.django_db


def savings(commune, years: int, first: int = 2014) -> None:
    """`years` yearly figures with a trend and a three-year wave (deterministic)."""
    services.import_loans(SYSTEM, commune, GOOD.encode(), "dette.csv")
    for i in range(years):
        amount = Decimal(100_000 + 3_000 * i + (i % 3) * 1_500)
        services.set_savings(SYSTEM, commune, first + i, amount, refresh=False)
    services.refresh_indicators(commune)


def test_projection_is_stored_in_the_forecast_app_with_the_projected_capacity(commune_a):
    savings(commune_a, 10)
    projected = services.project_savings(SYSTEM, commune_a)
    assert sorted(projected) == [2024, 2025, 2026, 2027, 2028]
    series = Series.objects.get(commune=commune_a, key=services.SAVINGS_KEY)
    assert len(series.data["values"]) == 10
    made = Forecast.objects.get(series=series)
    assert made.status == ForecastStatus.DONE and made.explanation and made.card
    stored = SavingsFigure.objects.filter(commune=commune_a, source=SavingsSource.FORECAST)
    assert dict(stored.values_list("year", "amount")) == projected
    view = services.savings_projection(commune_a)
    assert view.forecast == made and [y.year for y in view.years] == sorted(projected)
    first = view.years[0]
    assert first.low["95"] <= first.low["80"] <= first.savings <= first.high["80"]
    assert first.high["80"] <= first.high["95"]
    indicator = YearIndicator.objects.get(commune=commune_a, year=2024)
    assert first.outstanding == indicator.outstanding > 0
    assert first.capacity == (indicator.outstanding / first.savings).quantize(Decimal("0.1"))
    # The same figures again reuse the stored forecast; a new figure makes it out of date.
    services.project_savings(SYSTEM, commune_a)
    assert Forecast.objects.filter(series=series).count() == 1
    services.set_savings(SYSTEM, commune_a, 2024, Decimal("90000"))
    assert services.savings_projection(commune_a).forecast is None
    assert "chiffres actuels" in services.savings_projection(commune_a).missing


def test_debt_page_shows_the_projection_and_the_model_card_link(client_admin_a, commune_a):
    savings(commune_a, 8)
    url = reverse("finance:commune", args=[commune_a.insee])
    before = client_admin_a.get(url).content.decode()
    assert "Pas de projection sur les chiffres actuels" in before
    done = client_admin_a.post(reverse("finance:projection", args=[commune_a.insee]))
    assert done.status_code == 302 and done["Location"].endswith("#projection")
    html = client_admin_a.get(url).content.decode()
    made = Forecast.objects.get(commune=commune_a)
    card = reverse("forecast:forecast", args=[commune_a.insee, made.pk])
    for text in ("Épargne brute et capacité de désendettement projetées",
                 "Pourquoi cette projection", escape(made.explanation), "Intervalle 80 %",
                 "Intervalle 95 %", "Encours projeté", f'href="{card}"', "Fiche du modèle",
                 '<th scope="row">2026</th>'):  # fmt: skip
        assert text in html, text
    card_page = client_admin_a.get(card)
    assert card_page.status_code == 200


def test_too_few_years_say_so_without_crashing(client_admin_a, commune_a):
    savings(commune_a, 5)
    url = reverse("finance:commune", args=[commune_a.insee])
    page = client_admin_a.get(url).content.decode()
    assert escape("il faut au moins 8 années d'épargne brute saisies ou importées") in page
    assert "la commune en a 5" in page and "Projeter l'épargne brute" not in page
    refused = client_admin_a.post(reverse("finance:projection", args=[commune_a.insee]))
    assert refused.status_code == 302
    assert "la commune en a 5" in client_admin_a.get(url).content.decode()
    assert not Series.objects.filter(commune=commune_a).exists()


def test_an_agent_reads_the_projection_but_may_not_run_it(client_agent_a, commune_a):
    savings(commune_a, 8)
    response = client_agent_a.post(reverse("finance:projection", args=[commune_a.insee]))
    assert response.status_code == 404 and not Series.objects.exists()


def test_cli_indicators_with_projection(commune_a):
    env = {"COLUMNS": "220"}
    savings(commune_a, 4)
    few = CliRunner().invoke(
        main, ["finance", "indicators", commune_a.insee, "--projection"], env=env
    )
    assert few.exit_code != 0 and "la commune en a 4" in few.output
    savings(commune_a, 9, first=2014)
    done = CliRunner().invoke(
        main, ["finance", "indicators", commune_a.insee, "--projection"], env=env
    )
    assert done.exit_code == 0, done.output
    assert "Épargne brute et capacité de désendettement projetées" in done.output
    assert "Pourquoi" in done.output and "2027" in done.output
