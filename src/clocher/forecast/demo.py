"""Demo series for `clocher init --demo`: for each demo commune, meals served at the
canteen (school days of zone A), water (m³) and household waste (tonnes), monthly since
January 2019, generated with a seed of the commune's own (the same on every run).

The canteen series is first stored as it stood a year ago and forecast then, so the
page shows from the first `make run` what was predicted and what happened; the current
forecasts are queued (the worker of `clocher serve` computes them).
"""

from __future__ import annotations

import datetime as dt
import math
import random
from typing import Any

from django.utils import timezone

from clocher.core.audit import Actor
from clocher.core.models import Commune
from clocher.forecast import services
from clocher.forecast.engine.calendar import is_school_holiday, public_holidays
from clocher.forecast.models import Forecast, ForecastStatus

FIRST = dt.date(2019, 1, 1)
HORIZON = 12


def months_until(last: dt.date) -> list[dt.date]:
    """First days of the months from FIRST to `last`'s month included."""
    count = (last.year - FIRST.year) * 12 + last.month - FIRST.month + 1
    return [dt.date(FIRST.year + (FIRST.month - 1 + i) // 12, (FIRST.month - 1 + i) % 12 + 1, 1)
            for i in range(count)]  # fmt: skip


def school_days(month: dt.date) -> int:
    """Days with canteen in the month: Monday, Tuesday, Thursday, Friday (the four-day
    week of most Côte-d'Or schools), outside public and zone A school holidays."""
    days = 0
    day = month
    holidays = public_holidays(month.year)
    while day.month == month.month:
        if day.weekday() in (0, 1, 3, 4) and day not in holidays and not is_school_holiday(day):
            days += 1
        day += dt.timedelta(days=1)
    return days


def demo_points(insee: str, months: list[dt.date]) -> dict[str, list[tuple[dt.date, float]]]:
    """The three series, from one random generator seeded by the commune."""
    rng = random.Random(f"prevision-{insee}")
    pupils = rng.randint(60, 220)
    water = rng.uniform(900, 4000)
    waste = rng.uniform(8, 40)
    meals: list[tuple[dt.date, float]] = []
    m3: list[tuple[dt.date, float]] = []
    tonnes: list[tuple[dt.date, float]] = []
    for index, month in enumerate(months):
        season = math.cos((month.month - 7) / 12 * 2 * math.pi)  # 1 in July, -1 in January
        eating = pupils * (1 + 0.01 * index / 12) * rng.uniform(0.86, 0.94)
        meals.append((month, float(round(eating * school_days(month)))))
        m3.append((month, float(round(water * (1 + 0.22 * season) * rng.gauss(1, 0.04)))))
        trend = 1 - 0.015 * index / 12  # a little less waste each year (sorting)
        december = 0.12 if month.month == 12 else 0.0
        tonnes.append(
            (month, round(waste * trend * (1 + 0.08 * season + december) * rng.gauss(1, 0.05), 1))
        )
    return {"cantine": meals, "eau": m3, "dechets": tonnes}


SERIES = {
    "cantine": ("Repas servis à la cantine", "repas"),
    "eau": ("Consommation d'eau des bâtiments communaux", "m³"),
    "dechets": ("Ordures ménagères collectées", "tonnes"),
}


def demo_forecasts(actor: Actor, commune: Commune, admin: Any) -> None:
    """Idempotent: the series are fed through `series_from_points` (unchanged data
    writes nothing), a forecast is queued only for a data version that has none."""
    today = timezone.localdate()
    last = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)  # last full month
    points = demo_points(commune.insee, months_until(last))
    for slug, (name, unit) in SERIES.items():
        key = f"demo:{slug}"
        if slug == "cantine" and not Forecast.objects.filter(series__commune=commune,
                                                             series__key=key).exists():  # fmt: skip
            _forecast_a_year_ago(actor, commune, key, name, unit, points[slug])
        series = services.series_from_points(
            actor, commune, key, name, points[slug], unit=unit
        ).series
        if not series.forecasts.filter(data_version=series.data_version).exists():
            services.request_run(actor, series, HORIZON)


def _forecast_a_year_ago(
    actor: Actor,
    commune: Commune,
    key: str,
    name: str,
    unit: str,
    points: list[tuple[dt.date, float]],
) -> None:
    """The series as it stood twelve months ago, forecast then (dated then)."""
    earlier = points[:-HORIZON]
    series = services.series_from_points(actor, commune, key, name, earlier, unit=unit).series
    made = services.run(actor, series, HORIZON)
    if made.status == ForecastStatus.DONE:
        then = dt.datetime.combine(
            earlier[-1][0] + dt.timedelta(days=40), dt.time(9), tzinfo=dt.UTC
        )
        Forecast.objects.filter(pk=made.pk).update(created_at=then, finished_at=then)
