"""The hourly model in the app: chosen from a load curve (or forced), stored and read
back, G14 hourly verdict, savings on hours, drifts, page chart, CLI and API."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from click.testing import CliRunner
from django.core.exceptions import ValidationError
from django.db.models import F
from django.test import Client
from django.urls import reverse

from clocher.api.services import create_token
from clocher.cli import main as cli
from clocher.energy import services
from clocher.energy.engine.baseline import DailyModel
from clocher.energy.engine.hourly import HourlyModel
from clocher.energy.models import Baseline, Building, DailyReading, LoadCurveDay
from tests.conftest import logged_in
from tests.energy.conftest import ACTOR


def _meters(commune, name: str):  # type: ignore[no-untyped-def]
    building = Building.objects.get(commune=commune, name__startswith=name)
    return (
        building,
        building.meters.get(kind="electricite"),
        building.meters.filter(kind="gaz").first(),
    )


@pytest.mark.django_db
def test_load_curve_meters_get_the_hourly_model_others_the_daily(demo_a) -> None:
    school, elec, gas = _meters(demo_a, "École")
    hourly = services.latest_baseline(elec)
    assert hourly is not None and hourly.granularity == "hourly"
    assert hourly.model_kind == "caltrack_hourly" and hourly.fit
    assert hourly.cvrmse <= 0.30 and abs(hourly.nmbe) <= 0.10  # G14 hourly limits
    assert 300 * 24 < hourly.n <= 366 * 24  # hours, not days
    assert "modèle horaire" in hourly.verdict and "au plus 30%" in services.verdict_words(hourly)
    model = services.model_of(hourly)
    assert isinstance(model, HourlyModel) and model.metrics.p == hourly.params["n_params"]
    # the stored model predicts the demo's generator: 4 kW base, 35 % when closed
    hours, kwh = services.hourly_series(elec, hourly.start, hourly.end)
    temp = services.hourly_temperatures(school.station, hours)
    pred = model.predict(hours, temp)
    ok = np.isfinite(pred)
    assert abs(pred[ok].sum() / kwh[ok].sum() - 1) < 0.01
    daily = services.latest_baseline(gas)
    assert daily is not None and daily.granularity == "daily"
    assert isinstance(services.model_of(daily), DailyModel)
    forced = services.fit_baseline(ACTOR, elec, granularity="daily")
    assert forced.granularity == "daily" and forced.n <= 366
    with pytest.raises(ValidationError, match="courbe de charge"):
        services.fit_baseline(ACTOR, gas, granularity="hourly")
    with pytest.raises(ValidationError, match="Granularité"):
        services.fit_baseline(ACTOR, gas, granularity="weekly")


@pytest.mark.django_db
def test_hourly_savings_after_an_action_and_drift_days(demo_a) -> None:
    _, elec, _ = _meters(demo_a, "Salle")
    action = date(2023, 1, 1)
    # from the action on, every step of the curve and every day 15 % lower
    for row in LoadCurveDay.objects.filter(meter=elec, day__gte=action):
        row.values = (np.frombuffer(bytes(row.values), dtype="<f4") * 0.85).astype("<f4").tobytes()
        row.save(update_fields=["values"])
    DailyReading.objects.filter(meter=elec, day__gte=action).update(kwh=F("kwh") * 0.85)
    made = services.measured_savings(elec, action)
    assert isinstance(made.baseline, HourlyModel) and made.baseline.metrics.fit
    assert made.avoided.fraction == pytest.approx(0.15, abs=0.03)
    assert 0 < made.avoided.uncertainty_kwh < 0.5 * made.avoided.savings_kwh
    assert made.normalised is not None
    assert made.normalised.fraction == pytest.approx(0.15, abs=0.03)
    # the outlier-day detector reads the hourly model's daily totals and their interval
    services.fit_baseline(ACTOR, elec, end=date(2022, 12, 31))
    model = services.model_of(services.latest_baseline(elec))
    days = np.arange(np.datetime64("2022-11-01"), np.datetime64("2022-11-15"))
    temp = services.temperatures(elec.building.station, days)
    expected, low, high = services.expected_days(elec, model, days, temp, 0.99)
    _, metered = services.daily_series(elec, date(2022, 11, 1), date(2022, 11, 14))
    assert (low < expected).all() and (expected < high).all()
    inside = (metered >= low) & (metered <= high)
    assert inside.mean() >= 0.9


@pytest.mark.django_db
def test_hourly_model_on_the_page_cli_and_api(demo_a, admin_a) -> None:
    school, elec, _ = _meters(demo_a, "École")
    page = logged_in(admin_a).get(
        reverse("energy:building", args=[demo_a.insee, school.pk]), {"compteur": elec.pk}
    )
    text = page.content.decode()
    assert "Semaine type : consommation mesurée et modèle horaire" in text
    assert "Modèle horaire CalTRACK 2" in text and "Apte à mesurer des économies" in text
    assert text.count('fill="#ce0500"') >= 300  # each day's modelled total on the scatter
    runner = CliRunner()
    out = runner.invoke(cli, ["energy", "baseline", str(school.pk), "--daily"])
    assert out.exit_code == 0, out.output
    assert "jours" in out.output and "caltrack_hourly" not in out.output
    out = runner.invoke(cli, ["energy", "baseline", str(school.pk)])
    assert out.exit_code == 0, out.output
    assert "caltrack_hourly sur" in out.output and "heures" in out.output
    out = runner.invoke(cli, ["energy", "baseline", str(school.pk), "--hourly"])
    assert out.exit_code == 1 and "courbe de charge" in out.output  # the gas meter
    _, token = create_token(ACTOR, admin_a, "tests")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    url = f"/api/v1/communes/{demo_a.insee}/energy/meters/{elec.pk}/baseline/"
    got = api.get(url).json()
    assert got["granularity"] == "hourly" and got["model_kind"] == "caltrack_hourly"
    made = api.post(url + "?granularity=daily")
    assert made.status_code == 201 and made.json()["granularity"] == "daily"
    assert api.post(url + "?granularity=weekly").status_code == 400
    assert Baseline.objects.filter(meter=elec, granularity="hourly").count() == 3


def test_model_card_states_the_hourly_model_and_its_g14_limits() -> None:
    from clocher.energy.modelcard import model_cards

    card = next(c for c in model_cards() if c["nom"].startswith("Référence"))
    assert "horaire" in card["version"] and "un modèle par mois" in card["logique"]
    assert card["parametres"]["seuil G14 horaire (CV(RMSE), |NMBE|)"] == [0.30, 0.10]
    assert any("interpolée" in limit for limit in card["limites"])
