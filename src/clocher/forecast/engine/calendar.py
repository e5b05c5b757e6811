"""French public holidays and zone A school holidays (Dijon), as regressors per period.

Public holidays are computed (fixed days + the three Easter-based ones), so they are
right for any year. School holidays come from a committed table (`data/zone_a.json`,
2014-12 → 2030): the official calendar up to August 2028, then periods derived from the
usual pattern and flagged `estime` — to be replaced when the ministry publishes them.
Nothing is fetched at run time.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import numpy as np

from clocher.forecast.engine.series import FloatArray, period_end

ZONE_A_FILE = Path(__file__).with_name("data") / "zone_a.json"
HOLIDAYS = "jours_feries"
SCHOOL_HOLIDAYS = "vacances_scolaires"
CALENDAR_REGRESSORS = (HOLIDAYS, SCHOOL_HOLIDAYS)


def easter(year: int) -> date:
    """Easter Sunday in the Gregorian calendar (anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month, day = divmod(h + ell - 7 * m + 114, 31)
    return date(year, month, day + 1)


@cache
def public_holidays(year: int) -> dict[date, str]:
    """The 11 public holidays of metropolitan France (Alsace-Moselle's two extra days aside)."""
    sunday = easter(year)
    return {
        date(year, 1, 1): "Jour de l'an",
        sunday + timedelta(days=1): "Lundi de Pâques",
        date(year, 5, 1): "Fête du Travail",
        date(year, 5, 8): "Victoire 1945",
        sunday + timedelta(days=39): "Ascension",
        sunday + timedelta(days=50): "Lundi de Pentecôte",
        date(year, 7, 14): "Fête nationale",
        date(year, 8, 15): "Assomption",
        date(year, 11, 1): "Toussaint",
        date(year, 11, 11): "Armistice 1918",
        date(year, 12, 25): "Noël",
    }


@cache
def _zone_a() -> tuple[tuple[date, date, str, bool], ...]:
    doc = json.loads(ZONE_A_FILE.read_text(encoding="utf-8"))
    return tuple(
        (date.fromisoformat(p["debut"]), date.fromisoformat(p["fin"]), p["nom"], p["estime"])
        for p in doc["periodes"]
    )


def school_holiday_periods() -> list[tuple[date, date, str, bool]]:
    """(first day, last day, name, estimated) of every zone A holiday in the table."""
    return list(_zone_a())


def school_table_covers(start: date, end: date) -> bool:
    periods = _zone_a()
    return periods[0][0] - timedelta(days=200) <= start and end <= date(2030, 12, 31)


def is_school_holiday(day: date) -> bool:
    return any(first <= day <= last for first, last, _, _ in _zone_a())


def count_days(first: date, last: date) -> tuple[int, int]:
    """(public holidays, school-holiday days) between two days, both included."""
    holidays = sum(
        1
        for year in range(first.year, last.year + 1)
        for day in public_holidays(year)
        if first <= day <= last
    )
    school = 0
    for start, end, _, _ in _zone_a():
        lo, hi = max(start, first), min(end, last)
        if lo <= hi:
            school += (hi - lo).days + 1
    return holidays, school


def calendar_regressors(dates: list[date] | tuple[date, ...], freq: str) -> dict[str, FloatArray]:
    """Per period starting at each date: number of public holidays and school-holiday days."""
    counts = [count_days(day, period_end(day, freq)) for day in dates]
    return {
        HOLIDAYS: np.array([c[0] for c in counts], dtype=float),
        SCHOOL_HOLIDAYS: np.array([c[1] for c in counts], dtype=float),
    }
