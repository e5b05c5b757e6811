"""The operator's view of every building (constant number of queries) and the
forecast of next year's consumption through the forecast app's task."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Max, Min, Q, Sum

from clocher.core.audit import Actor
from clocher.energy.models import (
    Baseline,
    Building,
    DailyReading,
    Drift,
)
from clocher.energy.services.series import monthly_points
from clocher.forecast.models import Forecast, ForecastStatus, Series


def overview() -> list[dict[str, Any]]:
    """Every building of every commune with its figures, for the operator: a constant
    number of queries whatever the number of buildings (aggregates, no per-row query)."""
    last_year = (
        DailyReading.objects.values("meter__building")
        .annotate(first=Min("day"), last=Max("day"), kwh=Sum("kwh"))
        .order_by()
    )
    by_building = {row["meter__building"]: row for row in last_year}
    open_drifts = dict(
        Drift.objects.filter(acknowledged_at__isnull=True)
        .values("meter__building")
        .annotate(n=Count("id"))
        .values_list("meter__building", "n")
    )
    latest: dict[int, Any] = {}
    for b in Baseline.objects.order_by("meter__building", "-created_at").values(
        "meter__building", "fit", "cvrmse"
    ):
        latest.setdefault(b["meter__building"], b)
    rows = []
    for building in Building.objects.select_related("commune").annotate(
        meters_count=Count("meters")
    ):
        figures = by_building.get(building.pk, {})
        span = (figures["last"] - figures["first"]).days + 1 if figures else 0
        kwh_year = figures["kwh"] / span * 365 if span else None
        rows.append(
            {
                "building": building,
                "commune": building.commune,
                "meters": building.meters_count,
                "kwh_year": kwh_year,
                "kwh_m2": kwh_year / building.floor_area_m2 if kwh_year else None,
                "drifts": open_drifts.get(building.pk, 0),
                "fit": latest.get(building.pk, {}).get("fit"),
                "last": figures.get("last"),
            }
        )
    return rows


FORECAST_HORIZON_MONTHS = 12


def forecast_key(building: Building) -> str:
    return f"energy:building:{building.pk}"


def request_forecast(actor: Actor, building: Building) -> Forecast | None:
    """Next year's consumption through the forecast app's task (the backtests take
    seconds: never in the request). The building's monthly kWh feed its series; a stored
    forecast of the current data, or one already queued, is returned as it is; None
    when the history is shorter than 24 full months."""
    from clocher.forecast import services as forecast

    points = monthly_points(building)
    if len(points) < 24:
        return None
    series = forecast.series_from_points(
        actor,
        building.commune,
        forecast_key(building),
        f"Consommation de {building.name}",
        points,
        unit="kWh",
    ).series
    found = (
        series.forecasts.filter(horizon=FORECAST_HORIZON_MONTHS)
        .filter(
            Q(status=ForecastStatus.DONE, data_version=series.data_version)
            | Q(status__in=[ForecastStatus.QUEUED, ForecastStatus.RUNNING])
        )
        .order_by("-id")
        .first()
    )
    return found or forecast.request_run(actor, series, FORECAST_HORIZON_MONTHS)


@dataclass
class BuildingForecast:
    """What the building page shows of its forecast: the last one done, one under way,
    and a refusal newer than what is shown."""

    series: Series | None = None
    shown: Forecast | None = None
    pending: Forecast | None = None
    failed: Forecast | None = None

    @property
    def total(self) -> dict[str, float]:
        """The 12 months summed: kWh and the 95 % interval (sums of the bounds)."""
        p = self.shown.prediction if self.shown else {}
        return {
            "kwh": float(sum(p.get("mean", []))),
            "low": float(sum(p.get("lower", {}).get("95", []))),
            "high": float(sum(p.get("upper", {}).get("95", []))),
        }


def building_forecast(building: Building) -> BuildingForecast:
    from clocher.forecast import services as forecast

    series = Series.objects.filter(commune=building.commune, key=forecast_key(building)).first()
    if series is None:
        return BuildingForecast()
    shown = forecast.latest(series)
    mine = series.forecasts.order_by("-id")
    pending = mine.filter(status__in=[ForecastStatus.QUEUED, ForecastStatus.RUNNING]).first()
    failed = mine.filter(status=ForecastStatus.FAILED).first()
    if failed is not None and shown is not None and failed.pk < shown.pk:
        failed = None
    return BuildingForecast(series, shown, pending, failed)
