"""The forecast API with real tokens: list, upload (good and bad), run, get the forecast
with its intervals and card; another commune's people get 404, a reader 403."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clocher.core.models import Role
from clocher.forecast import services as forecast_services
from clocher.forecast.models import Forecast, Series
from tests.api.test_api import client_for, openapi_schema
from tests.conftest import SYSTEM, _member
from tests.forecast.test_services import csv_of, monthly_points


def _base(insee: str) -> str:
    return f"/api/v1/communes/{insee}/forecast"


@pytest.mark.django_db
def test_agent_uploads_runs_and_reads_the_forecast_by_token(commune_a, agent_a):
    client = client_for(agent_a)
    base = _base(commune_a.insee)
    data = csv_of(monthly_points(36))
    sent = client.post(
        f"{base}/series/",
        {"file": SimpleUploadedFile("eau.csv", data), "unit": "m³"},
        format="multipart",
    )
    assert sent.status_code == 201, sent.content
    body = sent.json()
    assert (body["name"], body["points"], body["frequency"]) == ("eau", 36, "MS")
    again = client.post(
        f"{base}/series/", {"file": SimpleUploadedFile("eau.csv", data)}, format="multipart"
    )
    assert again.status_code == 200 and again.json()["data_version"] == body["data_version"]
    listed = client.get(f"{base}/series/").json()["results"]
    assert [s["id"] for s in listed] == [body["id"]] and listed[0]["latest_forecast"] is None
    detail = client.get(f"{base}/series/{body['id']}/").json()
    assert len(detail["dates"]) == 36 and detail["dates"][0] == "2019-01-01"

    ran = client.post(f"{base}/series/{body['id']}/run/", {"horizon": 6}, format="json")
    assert ran.status_code == 201, ran.content
    forecast = client.get(f"{base}/forecasts/{ran.json()['id']}/").json()
    assert forecast["status"] == "done" and forecast["data_version"] == body["data_version"]
    prediction = forecast["prediction"]
    assert len(prediction["dates"]) == 6 and set(prediction["lower"]) == {"80", "95"}
    assert forecast["card"]["methode"]["modele_retenu"] == forecast["model"]
    assert forecast["explanation"] and forecast["cpu_seconds"] > 0 and forecast["scores"]
    listed = client.get(f"{base}/series/").json()["results"]
    assert listed[0]["latest_forecast"] == forecast["id"]


@pytest.mark.django_db
def test_series_list_is_a_page_in_name_order_counted_in_one_query(commune_a, agent_a):
    """Same envelope and parameters as every list of the API; the latest forecast of each
    series is read with the page, not once a series."""
    client, base = client_for(agent_a), _base(commune_a.insee)
    for key, name in (("eau", "Eau"), ("cantine", "Cantine"), ("dechets", "Déchets")):
        forecast_services.series_from_points(
            SYSTEM, commune_a, f"test:{key}", name, monthly_points(24)
        )
    page = client.get(f"{base}/series/?limit=2&offset=1").json()
    assert page["count"] == 3 and page["next"] is None and page["previous"]
    assert [s["name"] for s in page["results"]] == ["Déchets", "Eau"]
    assert client.get(f"{base}/series/?offset=abc").status_code == 400
    with CaptureQueriesContext(connection) as three:
        client.get(f"{base}/series/")
    forecast_services.series_from_points(
        SYSTEM, commune_a, "test:voirie", "Voirie", monthly_points(24)
    )
    with CaptureQueriesContext(connection) as four:
        assert client.get(f"{base}/series/").json()["count"] == 4
    # The app's own queries (the token's `last_used_at` is written at most once a minute).
    ours = [[q for q in run.captured_queries if "forecast_" in q["sql"]] for run in (three, four)]
    assert len(ours[1]) == len(ours[0]) <= 3


@pytest.mark.django_db
def test_bad_upload_and_bad_horizon_get_a_french_400_and_store_nothing(commune_a, agent_a):
    client = client_for(agent_a)
    base = _base(commune_a.insee)
    points = monthly_points(12)
    refused = client.post(
        f"{base}/series/",
        {"file": SimpleUploadedFile("double.csv", csv_of(points + points[-1:]))},
        format="multipart",
    )
    assert refused.status_code == 400
    assert refused.json()["detail"].startswith("double.csv : Date en double : 01/12/2019")
    assert not Series.objects.exists()
    sent = client.post(
        f"{base}/series/",
        {"file": SimpleUploadedFile("eau.csv", csv_of(points))},
        format="multipart",
    ).json()
    as_text = client.post(f"{base}/series/{sent['id']}/run/", {"horizon": "6"}, format="json")
    assert as_text.status_code == 400 and "entier" in as_text.json()["horizon"][0]
    too_long = client.post(f"{base}/series/{sent['id']}/run/", {"horizon": 24}, format="json")
    assert too_long.status_code == 400 and "Horizon trop long" in too_long.json()["detail"]
    zero = client.post(f"{base}/series/{sent['id']}/run/", {"horizon": 0}, format="json")
    assert zero.status_code == 400


@pytest.mark.django_db
def test_other_commune_gets_404_and_a_reader_403(commune_a, commune_b, agent_a, admin_b):
    base = _base(commune_a.insee)
    sent = client_for(agent_a).post(
        f"{base}/series/",
        {"file": SimpleUploadedFile("eau.csv", csv_of(monthly_points(24)))},
        format="multipart",
    )
    series_id = sent.json()["id"]
    other = client_for(admin_b)
    assert other.get(f"{base}/series/").status_code == 404
    assert other.get(f"{base}/series/{series_id}/").status_code == 404
    # A's series id under B's own URL: not found either.
    assert other.get(f"{_base(commune_b.insee)}/series/{series_id}/").status_code == 404
    reader = client_for(_member(commune_a, "elu@flavigny.test", Role.ELECTED))
    assert reader.get(f"{base}/series/").status_code == 200
    assert reader.post(f"{base}/series/{series_id}/run/", {"horizon": 3}).status_code == 403
    assert not Forecast.objects.exists()


def test_schema_documents_the_forecast_routes(tmp_path):
    text = openapi_schema(tmp_path)
    assert "/api/v1/communes/{insee}/forecast/series/{series_id}/run/" in text
    assert "/api/v1/communes/{insee}/forecast/forecasts/{forecast_id}/" in text
