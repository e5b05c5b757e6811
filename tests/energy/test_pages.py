"""Energy pages: charts and verdicts shown, the import page's progress, the operator's
view with a constant number of queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clocher.energy.models import Building
from tests.conftest import logged_in


@pytest.mark.django_db
def test_buildings_and_building_pages_show_charts_verdict_and_trajectory(demo_a, admin_a) -> None:
    client = logged_in(admin_a)
    page = client.get(reverse("energy:buildings", args=[demo_a.insee])).content.decode()
    assert "Mairie" in page and "Trajectoire de la commune" in page
    school = Building.objects.get(commune=demo_a, name__startswith="École")
    page = client.get(reverse("energy:building", args=[demo_a.insee, school.pk])).content.decode()
    assert "Consommation journalière selon la température extérieure" in page  # scatter
    assert "<polyline" in page and "Apte à mesurer des économies" in page  # model + verdict
    assert "CV(RMSE)" in page and "Trajectoire du bâtiment" in page
    assert "Puissance moyenne par jour" in page  # heat map
    assert page.count("<rect") >= 24 * 30


@pytest.mark.django_db
def test_operat_download_and_what_if_form(demo_a, admin_a) -> None:
    client = logged_in(admin_a)
    response = client.get(reverse("energy:operat", args=[demo_a.insee]), {"annee": 2023})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "Mairie" in response.content.decode()
    school = Building.objects.get(commune=demo_a, name__startswith="École")
    response = client.post(reverse("energy:simulate", args=[demo_a.insee, school.pk]), follow=True)
    assert "Simulation faite" in response.content.decode()
    assert school.actions.count() >= 3


@pytest.mark.django_db
def test_import_page_runs_the_file_and_shows_the_report(
    commune_a, admin_a, django_capture_on_commit_callbacks
) -> None:
    from clocher.energy import services
    from tests.energy.conftest import ACTOR

    building = services.create_building(
        ACTOR, commune_a, services.BuildingInput("Mairie", floor_area_m2=300.0)
    )
    meter = services.add_meter(ACTOR, building, "electricite", "12345678901234")
    client = logged_in(admin_a)
    bad = (
        b"Horodate;Valeur;Pas\n2024-01-10T00:30:00+01:00;100;PT30M\n"
        b"2024-01-10T01:00:00+01:00;abc;PT30M\n"
    )
    from django.core.files.uploadedfile import SimpleUploadedFile

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("energy:import", args=[commune_a.insee]),
            {"kind": "courbe", "meter": meter.pk, "file": SimpleUploadedFile("c.csv", bad)},
        )
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "Refusé" in page and "Rapport ligne à ligne" in page and "Rien n&#x27;a été" in page


@pytest.mark.django_db
def test_operator_view_lists_every_building_in_constant_queries(
    demo_a, client_operator, make_commune
) -> None:
    from clocher.energy import services
    from tests.energy.conftest import ACTOR

    url = reverse("energy:operator")
    client_operator.get(url)
    with CaptureQueriesContext(connection) as few:
        page = client_operator.get(url + "?tri=conso").content.decode()
    assert page.count("<tr>") >= 3
    other = make_commune("21716")
    for n in range(5):
        services.create_building(
            ACTOR, other, services.BuildingInput(f"Gymnase {n}", floor_area_m2=500.0)
        )
    with CaptureQueriesContext(connection) as more:
        page = client_operator.get(url + "?tri=conso").content.decode()
    assert "Gymnase 4" in page
    assert len(more.captured_queries) == len(few.captured_queries)


@pytest.mark.slow
@pytest.mark.django_db
def test_forecast_of_next_year_is_queued_and_shown_on_the_building_page(
    demo_a, admin_a, settings
) -> None:
    """The forecast app's backtests take seconds: the request only queues its task, the
    page polls a progress line, then shows the stored forecast with its fan chart."""
    from clocher.forecast import services as forecast
    from clocher.forecast.models import Forecast, Series
    from tests.energy.conftest import ACTOR

    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    mairie = Building.objects.get(commune=demo_a, name="Mairie")
    client = logged_in(admin_a)
    page_url = reverse("energy:building", args=[demo_a.insee, mairie.pk])
    response = client.post(reverse("energy:forecast", args=[demo_a.insee, mairie.pk]))
    assert response.status_code == 302 and response["Location"].endswith("#prevision")
    queued = Forecast.objects.get(series__key=f"energy:building:{mairie.pk}")
    assert queued.status == "queued"  # nothing computed inside the request
    status_url = reverse("energy:forecast_status", args=[demo_a.insee, mairie.pk, queued.pk])
    page = client.get(page_url).content.decode()
    assert f'hx-get="{status_url}"' in page and "<progress" in page
    client.post(reverse("energy:forecast", args=[demo_a.insee, mairie.pk]))
    assert Forecast.objects.filter(series=queued.series).count() == 1  # not queued twice
    forecast.execute(ACTOR, queued)
    polled = client.get(status_url, HTTP_HX_REQUEST="true")
    assert polled["HX-Redirect"] == page_url + "#prevision"
    page = client.get(page_url).content.decode()
    assert "<progress" not in page and 'class="fan"' in page
    assert "kWh sur 12 mois" in page and "intervalle à 95 % de" in page
    series = Series.objects.get(commune=demo_a, key=f"energy:building:{mairie.pk}")
    assert series.forecasts.filter(status="done").count() == 1
    other = Building.objects.get(commune=demo_a, name__startswith="École")
    wrong = reverse("energy:forecast_status", args=[demo_a.insee, other.pk, queued.pk])
    assert client.get(wrong).status_code == 404
