"""Forecast pages as a commune's agent, an elected member and the operator: upload,
refusal, run, the fan chart and the sentence, the stored forecast seen later, progress."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from clocher.core.audit import Actor
from clocher.core.models import Role
from clocher.forecast import services
from clocher.forecast.demo import SERIES, demo_forecasts
from clocher.forecast.models import Forecast, ForecastStatus, Series
from tests.conftest import _member, logged_in
from tests.forecast.test_services import csv_of, monthly_points

ACTOR = Actor(label="tests")


def _upload(client, insee: str, name: str, data: bytes, **fields):
    return client.post(
        reverse("forecast:list", kwargs={"insee": insee}),
        {"file": SimpleUploadedFile(name, data), **fields},
    )


@pytest.mark.django_db
def test_agent_uploads_runs_and_sees_the_fan_chart_then_the_stored_forecast(
    commune_a, client_agent_a
):
    insee = commune_a.insee
    sent = _upload(client_agent_a, insee, "eau.csv", csv_of(monthly_points(48)), unit="m³")
    series = Series.objects.get()
    assert sent.status_code == 302 and sent["Location"] == reverse(
        "forecast:series", kwargs={"insee": insee, "series_id": series.pk}
    )
    page = client_agent_a.get(sent["Location"]).content.decode()
    assert "Aucune prévision pour l'instant" in page and "Calculer la prévision" in page

    ran = client_agent_a.post(
        reverse("forecast:run", kwargs={"insee": insee, "series_id": series.pk}), {"horizon": 12}
    )
    forecast = Forecast.objects.get()
    assert forecast.status == ForecastStatus.DONE  # tests run tasks in place
    assert ran["Location"] == reverse(
        "forecast:forecast", kwargs={"insee": insee, "forecast_id": forecast.pk}
    )
    page = client_agent_a.get(ran["Location"]).content.decode()
    assert "<svg" in page and 'class="band-95"' in page and 'class="band-80"' in page
    assert page.count("<polygon") == 2 and 'class="forecast-line"' in page
    assert "Pourquoi ce modèle ?" in page and forecast.explanation[:60] in page
    assert "Méthodes essayées sur le passé" in page and forecast.model in page
    assert "Fiche du modèle" in page and "temps processeur" in page
    assert page.count('<tr><th scope="row">') >= 12  # the forecast table, one row a month

    # A later look at the series shows the stored forecast and the data version it used.
    later = client_agent_a.get(sent["Location"]).content.decode()
    assert forecast.explanation[:60] in later and series.data_version[:12] in later
    assert Forecast.objects.count() == 1
    listing = client_agent_a.get(reverse("forecast:list", kwargs={"insee": insee})).content
    assert forecast.model in listing.decode()


@pytest.mark.django_db
def test_a_bad_file_is_refused_on_the_page_with_the_line_and_nothing_stored(
    commune_a, client_agent_a
):
    points = monthly_points(12)
    gap = csv_of(points[:5] + points[6:])
    answer = _upload(client_agent_a, commune_a.insee, "trou.csv", gap)
    assert answer.status_code == 400
    text = answer.content.decode()
    assert "trou.csv : Trou dans la série entre les lignes 6 et 7" in text
    assert 'role="alert"' in text or "errorlist" in text
    assert not Series.objects.exists()


@pytest.mark.django_db
def test_an_elected_member_reads_but_may_not_upload_or_run(commune_a, agent_a):
    series = services.import_series(
        ACTOR, commune_a, SimpleUploadedFile("eau.csv", csv_of(monthly_points(24)))
    ).series
    client = logged_in(_member(commune_a, "elu@flavigny.test", Role.ELECTED))
    page = client.get(reverse("forecast:list", kwargs={"insee": commune_a.insee}))
    assert page.status_code == 200 and "Envoyer une série" not in page.content.decode()
    assert _upload(client, commune_a.insee, "x.csv", csv_of(monthly_points(24))).status_code == 404
    run = reverse("forecast:run", kwargs={"insee": commune_a.insee, "series_id": series.pk})
    assert client.post(run, {"horizon": 6}).status_code == 404
    assert not Forecast.objects.exists() and Series.objects.count() == 1


@pytest.mark.django_db
def test_a_queued_forecast_shows_its_progress_until_done(commune_a, client_agent_a):
    series = services.import_series(
        ACTOR, commune_a, SimpleUploadedFile("eau.csv", csv_of(monthly_points(24)))
    ).series
    queued = Forecast.objects.create(
        commune=commune_a, series=series, data_version=series.data_version, horizon=6,
        created_by_label="agent@flavigny.test",
    )  # fmt: skip
    url = reverse("forecast:series", kwargs={"insee": commune_a.insee, "series_id": series.pk})
    page = client_agent_a.get(url).content.decode()
    status_url = reverse(
        "forecast:status", kwargs={"insee": commune_a.insee, "forecast_id": queued.pk}
    )
    assert f'hx-get="{status_url}"' in page and "<progress" in page
    services.execute(ACTOR, queued)
    polled = client_agent_a.get(status_url, HTTP_HX_REQUEST="true")
    assert polled["HX-Redirect"] == reverse(
        "forecast:forecast", kwargs={"insee": commune_a.insee, "forecast_id": queued.pk}
    )
    assert "hx-get" not in polled.content.decode()


@pytest.mark.django_db
def test_operator_sees_every_communes_series_and_the_tile(commune_a, commune_b, client_operator):
    for commune in (commune_a, commune_b):
        services.import_series(
            ACTOR,
            commune,
            SimpleUploadedFile(f"eau-{commune.insee}.csv", csv_of(monthly_points(24))),
        )
    page = client_operator.get(reverse("forecast:operator")).content.decode()
    assert "eau-21271" in page and "eau-21716" in page
    console = client_operator.get(reverse("core:operator_dashboard")).content.decode()
    assert "Prévisions" in console and reverse("forecast:operator") in console
    series = Series.objects.get(commune=commune_b)
    url = reverse("forecast:series", kwargs={"insee": commune_b.insee, "series_id": series.pk})
    assert client_operator.get(url).status_code == 200


@pytest.mark.django_db
def test_demo_series_come_with_forecasts_and_a_past_one_against_the_actuals(
    commune_a, admin_a, client_admin_a
):
    demo_forecasts(ACTOR, commune_a, admin_a)
    demo_forecasts(ACTOR, commune_a, admin_a)  # idempotent
    assert Series.objects.filter(commune=commune_a).count() == len(SERIES)
    assert Forecast.objects.filter(status=ForecastStatus.DONE).count() == len(SERIES) + 1
    canteen = Series.objects.get(key="demo:cantine")
    past = canteen.forecasts.exclude(data_version=canteen.data_version).get()
    assert past.realised["compares"] == 12
    # Meals follow the school calendar: no canteen in August.
    august = [v for d, v in zip(canteen.data["dates"], canteen.data["values"], strict=True)
              if d[5:7] == "08"]  # fmt: skip
    assert august and max(august) == 0
    url = reverse("forecast:series", kwargs={"insee": commune_a.insee, "series_id": canteen.pk})
    page = client_admin_a.get(url).content.decode()
    assert "Ce qui a été prévu, et ce qui s&#x27;est passé" in page or "ce qui s'est passé" in page
    assert len(re.findall(r'stroke="#ce0500"', page)) == 1  # the past forecast on the chart
