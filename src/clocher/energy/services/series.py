"""Series read from the stored readings for the models and the charts: daily kWh,
the station's temperatures and degree-days, the load curve, monthly totals."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

import numpy as np
from django.db.models import Max

from clocher.energy.engine import weather as wx
from clocher.energy.engine._timeutil import paris_offset_utc
from clocher.energy.imports import day_bounds_utc
from clocher.energy.models import (
    METER_ENERGY,
    Building,
    DailyReading,
    LoadCurveDay,
    Meter,
    WeatherDay,
    WeatherStation,
)


def daily_series(
    meter: Meter, start: date | None = None, end: date | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(days as datetime64[D], kWh) of the meter's daily readings in [start, end]."""
    rows = DailyReading.objects.filter(meter=meter)
    if start:
        rows = rows.filter(day__gte=start)
    if end:
        rows = rows.filter(day__lte=end)
    pairs = list(rows.order_by("day").values_list("day", "kwh"))
    days = np.array([d for d, _ in pairs], dtype="datetime64[D]")
    return days, np.array([k for _, k in pairs], dtype=np.float64)


def temperatures(station: WeatherStation | None, days: np.ndarray) -> np.ndarray:
    """The station's mean daily temperature on `days` (TM, else (TN+TX)/2; NaN if none)."""
    result = np.full(days.shape, np.nan)
    if station is None or days.size == 0:
        return result
    rows = WeatherDay.objects.filter(
        station=station, day__gte=days.min().astype(object), day__lte=days.max().astype(object)
    ).values_list("day", "tn", "tx", "tm")
    known = {}
    for day, tn, tx, tm in rows:
        if tm is not None:
            known[day] = tm
        elif tn is not None and tx is not None:
            known[day] = (tn + tx) / 2
    for i, day in enumerate(days.astype(object)):
        result[i] = known.get(day, np.nan)
    return result


def yearly_dju(station: WeatherStation | None) -> dict[int, tuple[float, float]]:
    """Heating and cooling degree-days (COSTIC, base 18 °C) per complete year."""
    if station is None:
        return {}
    rows = list(
        WeatherDay.objects.filter(station=station, tn__isnull=False, tx__isnull=False)
        .order_by("day")
        .values_list("day", "tn", "tx")
    )
    if not rows:
        return {}
    years = np.array([d.year for d, _, _ in rows])
    heating, cooling = wx.dju_costic(
        np.array([r[1] for r in rows], dtype=float), np.array([r[2] for r in rows], dtype=float)
    )
    result = {}
    for year in np.unique(years):
        mine = years == year
        if mine.sum() >= 360:
            result[int(year)] = (float(heating[mine].sum()), float(cooling[mine].sum()))
    return result


def curve_arrays(
    meter: Meter, since: date | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(UTC starts, kWh, step s) of the stored load curve, NaN steps left out."""
    rows = LoadCurveDay.objects.filter(meter=meter)
    if since:
        rows = rows.filter(day__gte=since)
    starts, kwh, steps = [], [], []
    for first, step, values in rows.order_by("day").values_list("first", "step_s", "values"):
        wh = np.frombuffer(bytes(values), dtype="<f4").astype(np.float64)
        ok = np.isfinite(wh)
        starts.append((first + step * np.arange(wh.size))[ok])
        kwh.append(wh[ok] / 1000)
        steps.append(np.full(int(ok.sum()), step))
    if not starts:
        empty = np.zeros(0)
        return empty.astype(np.int64), empty, empty.astype(np.int64)
    return np.concatenate(starts), np.concatenate(kwh), np.concatenate(steps)


def heatmap(meter: Meter, days: int = 91) -> tuple[list[date], np.ndarray]:
    """Local days × 24 hours of mean power in kW (NaN where not measured), last `days`."""
    last = LoadCurveDay.objects.filter(meter=meter).aggregate(last=Max("day"))["last"]
    if last is None:
        return [], np.zeros((0, 24))
    rows = list(
        LoadCurveDay.objects.filter(meter=meter, day__gt=last - timedelta(days=days))
        .order_by("day")
        .values_list("day", "first", "step_s", "values")
    )
    grid = np.full((len(rows), 24), np.nan)
    for i, (day, first, step, values) in enumerate(rows):
        wh = np.frombuffer(bytes(values), dtype="<f4").astype(np.float64)
        d_start, _ = day_bounds_utc(np.datetime64(day, "D"))
        starts = first + step * np.arange(wh.size)
        hour = ((starts + paris_offset_utc(starts)) % 86400) // 3600
        for h in range(24):
            mine = (hour == h) & np.isfinite(wh)
            if mine.any():
                grid[i, h] = wh[mine].sum() / 1000 / (mine.sum() * step / 3600)
    return [r[0] for r in rows], grid


def monthly_points(building: Building) -> list[tuple[date, float]]:
    """The building's monthly kWh (all energies), full months only."""
    totals: dict[date, float] = defaultdict(float)
    counts: dict[date, int] = defaultdict(int)
    for day, kwh in DailyReading.objects.filter(
        meter__building=building, meter__kind__in=list(METER_ENERGY)
    ).values_list("day", "kwh"):
        month = day.replace(day=1)
        totals[month] += kwh
        counts[month] += 1
    return [(m, totals[m]) for m in sorted(totals) if counts[m] >= 27]


def hourly_series(meter: Meter, start: date, end: date) -> tuple[np.ndarray, np.ndarray]:
    """(UTC hour starts, kWh) of the stored load curve over the local days [start, end]:
    the steps (10, 30 or 60 min) summed into their hour, complete hours only (an hour
    with a missing step is left out rather than read as a saving)."""
    starts, kwh, steps = curve_arrays(meter, start)
    if starts.size:
        last = day_bounds_utc(np.datetime64(end, "D"))[1]
        keep = starts < last
        starts, kwh, steps = starts[keep], kwh[keep], steps[keep]
    if starts.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    hour = starts - starts % 3600
    hours, idx = np.unique(hour, return_inverse=True)
    total = np.bincount(idx, weights=kwh)
    covered = np.bincount(idx, weights=steps.astype(float))
    full = covered >= 3600
    return hours[full], total[full]


def hourly_temperatures(station: WeatherStation | None, starts_utc: np.ndarray) -> np.ndarray:
    """°C of each hour, interpolated from the station's daily TN/TX (the engine's
    `weather.hourly_temperatures`: TN at 06 h, TX at 15 h local); NaN without weather."""
    starts = np.asarray(starts_utc, dtype=np.int64)
    if station is None or starts.size == 0:
        return np.full(starts.shape, np.nan)
    first = starts.min().astype("datetime64[s]").astype("datetime64[D]") - 1
    last = starts.max().astype("datetime64[s]").astype("datetime64[D]") + 1
    rows = list(
        WeatherDay.objects.filter(
            station=station, day__gte=first.astype(object), day__lte=last.astype(object)
        )
        .order_by("day")
        .values_list("day", "tn", "tx", "tm")
    )
    if not rows:
        return np.full(starts.shape, np.nan)

    def column(i: int) -> np.ndarray:
        return np.array([np.nan if r[i] is None else r[i] for r in rows], dtype=float)

    days = np.array([r[0] for r in rows], dtype="datetime64[D]")
    return wx.hourly_temperatures(days, column(1), column(2), column(3), starts)
