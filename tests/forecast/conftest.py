"""Synthetic series with known structure (fixed seeds) for the forecast engine's tests."""

from __future__ import annotations

from datetime import date

import numpy as np

from clocher.forecast.engine import Series
from clocher.forecast.engine.calendar import calendar_regressors
from clocher.forecast.engine.series import shift


def monthly(seed: int, n: int, start: date = date(2012, 1, 1)) -> Series:
    """Trend + yearly season + Gaussian noise: what ETS/ARIMA/regression should catch."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    level = 500 + 200 * rng.random()
    slope = rng.uniform(-1.5, 3.0)
    amplitude = rng.uniform(30, 80)
    phase = rng.uniform(0, 2 * np.pi)
    values = (
        level + slope * t + amplitude * np.sin(2 * np.pi * t / 12 + phase) + rng.normal(0, 12, n)
    )
    return Series.build([shift(start, "MS", k) for k in range(n)], values)


def canteen_weekly(seed: int, n: int, start: date = date(2016, 1, 4)) -> Series:
    """Meals per week driven by school holidays and public holidays (zone A calendar)."""
    rng = np.random.default_rng(seed)
    dates = [shift(start, "W", k) for k in range(n)]
    calendar = calendar_regressors(dates, "W")
    values = (
        1000
        - 110 * calendar["vacances_scolaires"]
        - 150 * calendar["jours_feries"]
        + rng.normal(0, 20, n)
    )
    return Series.build(dates, np.maximum(values, 0))


def cut(series: Series, n: int) -> Series:
    """The first n points as a series of their own (the rest is held out)."""
    return Series.build(list(series.dates[:n]), series.values[:n], series.freq)
