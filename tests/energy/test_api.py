"""The energy API with a bearer token: buildings, meters, readings upload (all or
nothing), baseline, trajectory, drifts; an agent of another commune gets 404."""

from __future__ import annotations

import json
from datetime import date

import pytest
from django.db.models import F
from django.test import Client

from clocher.api.services import create_token
from clocher.core.models import Role
from clocher.energy.models import Building, DailyReading, Drift, LoadCurveDay, Meter
from tests.conftest import _member
from tests.energy.conftest import ACTOR


def _client(user) -> Client:
    _, token = create_token(ACTOR, user, "tests")
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def _day_curve(day: str, watts: int) -> bytes:
    rows = [f"{day}T00:30:00+01:00;{watts};PT30M"]
    rows += [f"{day}T{h:02d}:{m:02d}:00+01:00;{watts};PT30M" for h in range(1, 24) for m in (0, 30)]
    return ("Horodate;Valeur;Pas\n" + "\n".join(rows) + "\n").encode()


@pytest.mark.django_db
def test_buildings_meters_and_readings_upload(commune_a, admin_a, agent_b) -> None:
    api = _client(admin_a)
    base = f"/api/v1/communes/{commune_a.insee}/energy/"
    made = api.post(
        base + "buildings/",
        json.dumps({"name": "Mairie", "floor_area_m2": 300, "use": "mairie"}),
        content_type="application/json",
    )
    assert made.status_code == 201, made.content
    building = made.json()["id"]
    meter = api.post(
        base + f"buildings/{building}/meters/",
        json.dumps({"kind": "electricite", "identifier": "12345678901234"}),
        content_type="application/json",
    ).json()["id"]
    url = base + f"meters/{meter}/readings/?kind=courbe"
    good = api.post(url, _day_curve("2024-01-10", 1000), content_type="text/csv")
    assert good.status_code == 201 and good.json()["written"] == 1
    bad = api.post(
        url, b"Horodate;Valeur;Pas\n2024-01-11T00:30:00+01:00;x;PT30M\n", content_type="text/csv"
    )
    assert bad.status_code == 400 and "ligne 2" in bad.json()["detail"]
    assert LoadCurveDay.objects.filter(meter_id=meter).count() == 1
    listed = api.get(base + "buildings/").json()
    assert listed["count"] == 1 and listed["results"][0]["meters"][0]["id"] == meter
    assert api.get(base + f"buildings/{building}/meters/").json()["results"] == [
        {"id": meter, "kind": "electricite", "identifier": "12345678901234"}
    ]
    assert _client(agent_b).get(base + "buildings/").status_code == 404


@pytest.mark.django_db
def test_baseline_trajectory_and_drifts(demo_a, admin_a) -> None:
    api = _client(admin_a)
    base = f"/api/v1/communes/{demo_a.insee}/energy/"
    school = Building.objects.get(commune=demo_a, name__startswith="École")
    gas = school.meters.get(kind="gaz")
    baseline = api.get(base + f"meters/{gas.pk}/baseline/").json()
    assert baseline["fit"] is True and baseline["model_kind"] == "hdd_only"
    refit = api.post(base + f"meters/{gas.pk}/baseline/")
    assert refit.status_code == 201 and 0 < refit.json()["cvrmse"] < 0.3
    trajectory = api.get(base + f"buildings/{school.pk}/trajectory/").json()
    assert [m["year"] for m in trajectory["milestones"]] == [2030, 2040, 2050]
    assert trajectory["reference_year"] in range(2015, 2020)
    drifts = api.get(base + "drifts/").json()["results"]
    assert any(d["kind"] == "talon_nuit" and d["building"] == "Mairie" for d in drifts)


@pytest.mark.django_db
def test_savings_after_an_action_avoided_and_normalised_with_their_uncertainty(
    demo_a, admin_a, agent_b
) -> None:
    """The school burns 30 % less gas from 1 January 2023 (its readings scaled here): the
    model of 2022 on 2023's weather finds 30 % avoided, both years' models on the
    normal year find 30 % normalised, each with its ASHRAE 14 uncertainty."""
    from clocher.energy import services

    school = Building.objects.get(commune=demo_a, name__startswith="École")
    gas = school.meters.get(kind="gaz")
    action = date(2023, 1, 1)
    DailyReading.objects.filter(meter=gas, day__gte=action).update(kwh=F("kwh") * 0.7)
    made = services.measured_savings(gas, action)
    assert made.until == date(2023, 12, 31) and made.baseline.metrics.fit
    assert made.avoided.fraction == pytest.approx(0.30, abs=0.03)
    assert made.avoided.savings_kwh == pytest.approx(
        made.avoided.baseline_kwh - made.avoided.reporting_kwh
    )
    assert 0 < made.avoided.uncertainty_kwh < 0.2 * made.avoided.savings_kwh
    assert made.normalised is not None
    assert made.normalised.fraction == pytest.approx(0.30, abs=0.03)
    assert made.normalised.uncertainty_kwh > 0

    api = _client(admin_a)
    url = f"/api/v1/communes/{demo_a.insee}/energy/meters/{gas.pk}/savings/"
    body = api.get(url, {"depuis": "2023-01-01"}).json()
    assert body["avoided"]["fraction"] == pytest.approx(made.avoided.fraction, abs=1e-4)
    assert body["normalised"]["fraction"] == pytest.approx(made.normalised.fraction, abs=1e-4)
    half = api.get(url, {"depuis": "2023-01-01", "jusqua": "2023-06-30"}).json()
    assert half["normalised"] is None and "un an de mesures" in half["why"]
    refused = api.get(url, {"depuis": "2022-03-01"})  # no 12 months before it
    assert refused.status_code == 400 and "avant l'action" in refused.json()["detail"]
    assert api.get(url, {"depuis": "hier"}).status_code == 400
    assert _client(agent_b).get(url, {"depuis": "2023-01-01"}).status_code == 404


@pytest.mark.django_db
def test_bodies_and_queries_are_typed_and_refusals_named(commune_a, admin_a) -> None:
    """A value of the wrong JSON type or out of range is a 400 naming the field, in
    French; nothing is written; a member who may read but not write gets 403."""
    api = _client(admin_a)
    base = f"/api/v1/communes/{commune_a.insee}/energy/"

    def post(url: str, body: dict) -> object:
        return api.post(base + url, json.dumps(body), content_type="application/json")

    as_text = post("buildings/", {"name": "Mairie", "floor_area_m2": "300"})
    assert as_text.status_code == 400 and "nombre" in as_text.json()["floor_area_m2"][0]
    unknown_use = post("buildings/", {"name": "Mairie", "floor_area_m2": 300, "use": "château"})
    assert unknown_use.status_code == 400 and "use" in unknown_use.json()
    half = post("buildings/", {"name": "Mairie", "floor_area_m2": 300, "lat": 47.5})
    assert half.status_code == 400 and "latitude" in half.json()["detail"]
    assert not Building.objects.exists()
    building = post("buildings/", {"name": "Mairie", "floor_area_m2": 300}).json()["id"]
    bad_pdl = post(f"buildings/{building}/meters/", {"kind": "electricite", "identifier": "12"})
    assert bad_pdl.status_code == 400 and "14 chiffres" in bad_pdl.json()["detail"]
    meter = post(
        f"buildings/{building}/meters/", {"kind": "electricite", "identifier": "12345678901234"}
    ).json()["id"]
    weather = api.post(base + f"meters/{meter}/readings/?kind=meteo", b"", content_type="text/csv")
    assert weather.status_code == 400 and "météo" in weather.json()["kind"][0]
    as_json = api.post(base + f"meters/{meter}/readings/", b"{}", content_type="application/json")
    assert as_json.status_code == 415
    long_ago = api.get(base + f"meters/{meter}/savings/", {"depuis": "0001-01-01"})
    assert long_ago.status_code == 400 and "1990" in long_ago.json()["depuis"][0]
    unknown = api.get(base + f"buildings/{building}/trajectory/").json()
    assert unknown["reason"] and unknown["milestones"] == [] and unknown["reduction"] is None
    elected = _member(commune_a, "elu@flavigny.test", Role.ELECTED)
    reader = _client(elected)
    assert reader.get(base + "buildings/").json()["count"] == 1
    refused = reader.post(
        base + "buildings/", json.dumps({"name": "École"}), content_type="application/json"
    )
    assert refused.status_code == 403 and "administrateurs" in refused.json()["detail"]


@pytest.mark.django_db
def test_drifts_list_open_ones_first_by_page(commune_a, admin_a) -> None:
    """Open drifts come first on SQLite and PostgreSQL alike (nulls sort last there)."""
    from django.utils import timezone

    building = Building.objects.create(commune=commune_a, name="Mairie", floor_area_m2=300)
    meter = Meter.objects.create(
        commune=commune_a, building=building, kind="electricite", identifier="12345678901234"
    )
    for day, seen in ((date(2024, 3, 1), timezone.now()), (date(2024, 1, 1), None)):
        Drift.objects.create(
            commune=commune_a, meter=meter, kind="talon_nuit", start=day, end=day,
            value=2.0, expected=1.0, text=f"talon du {day}", acknowledged_at=seen,
        )  # fmt: skip
    api = _client(admin_a)
    url = f"/api/v1/communes/{commune_a.insee}/energy/drifts/"
    page = api.get(url, {"limit": 1}).json()
    assert page["count"] == 2
    assert [d["acknowledged"] for d in page["results"]] == [False]
    assert api.get(url, {"limit": 1, "offset": 1}).json()["results"][0]["acknowledged"]
