"""The operator's view of every building (constant number of queries) and the
forecast of next year's consumption through the forecast app."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Max, Min, Sum

from clocher.core.audit import Actor
from clocher.energy.models import (
    Baseline,
    Building,
    DailyReading,
    Drift,
)
from clocher.energy.services.series import monthly_points


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


def forecast_next_year(actor: Actor, building: Building) -> dict[str, Any] | None:
    """Next year's consumption through the forecast app (None when it is not installed
    or the history is too short)."""
    try:
        from clocher.forecast import services as forecast
    except ImportError:  # pragma: no cover - the forecast app ships with this one
        return None
    points = monthly_points(building)
    if len(points) < 24:
        return None
    key = f"energy:building:{building.pk}"
    forecast.series_from_points(
        actor, building.commune, key, f"Consommation de {building.name}", points, unit="kWh"
    )
    made = forecast.forecast_for(building.commune, key, FORECAST_HORIZON_MONTHS, actor=actor)
    prediction = made.prediction or {}
    mean = prediction.get("mean") or []
    return {
        "kwh": float(sum(mean)),
        "low": float(sum(prediction.get("lower", {}).get("95", []) or [0])),
        "high": float(sum(prediction.get("upper", {}).get("95", []) or [0])),
        "model": made.model,
    }
