"""Vectorised civil-date and Europe/Paris offset arithmetic (no per-row Python)."""

from __future__ import annotations

import numpy as np

DAY = 86_400
HOUR = 3_600


def days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates (H. Hinnant's algorithm)."""
    y = y.astype(np.int64) - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    mp = (m.astype(np.int64) + 9) % 12
    doy = (153 * mp + 2) // 5 + d.astype(np.int64) - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468


def days_in_month(y: np.ndarray, m: np.ndarray) -> np.ndarray:
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    table = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
    return table[np.clip(m, 0, 12)] + (leap & (m == 2))


def _last_sunday(y: np.ndarray, month: int) -> np.ndarray:
    d31 = days_from_civil(y, np.full_like(y, month), np.full_like(y, 31))
    return d31 - (d31 + 4) % 7  # 1970-01-01 was a Thursday: (day + 4) % 7 == 0 on Sundays


def paris_transitions(year: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """UTC epoch seconds of the EU summer-time start and end (01:00 UTC, since 1996)."""
    return _last_sunday(year, 3) * DAY + HOUR, _last_sunday(year, 10) * DAY + HOUR


def year_of_epoch(t: np.ndarray) -> np.ndarray:
    return t.astype("datetime64[s]").astype("datetime64[Y]").astype(np.int64) + 1970


def _transitions_of(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Summer-time start and end of each instant's year (epoch seconds, same shape).

    Computed once per calendar year in the range, then looked up: a load curve's half
    million rows span one or two years, and per-row calendar arithmetic was a fifth of
    the parser's time.
    """
    t = np.asarray(t, dtype=np.int64)
    if t.size < 64:
        return paris_transitions(year_of_epoch(t))
    lo, hi = year_of_epoch(np.array([t.min(), t.max()]))
    years = np.arange(lo, hi + 2, dtype=np.int64)
    year_start = days_from_civil(years, np.ones_like(years), np.ones_like(years)) * DAY
    idx = np.searchsorted(year_start, t, side="right") - 1
    start, end = paris_transitions(years)
    return start[idx], end[idx]


def paris_offset_utc(t_utc: np.ndarray) -> np.ndarray:
    """Europe/Paris UTC offset in seconds (3600 or 7200) at UTC instants."""
    start, end = _transitions_of(t_utc)
    return np.where((t_utc >= start) & (t_utc < end), 2 * HOUR, HOUR)


def paris_local_kind(naive: np.ndarray) -> np.ndarray:
    """For local wall times (seconds as if UTC): 0 winter, 1 summer, 2 nonexistent, 3 ambiguous."""
    start, end = _transitions_of(naive)
    gap0 = start + HOUR  # 02:00 local, winter time, on the last Sunday of March
    amb0 = end + HOUR  # 02:00 local, winter time, on the last Sunday of October
    kind = np.zeros(naive.shape, dtype=np.int8)
    kind[(naive >= gap0 + HOUR) & (naive < amb0)] = 1
    kind[(naive >= gap0) & (naive < gap0 + HOUR)] = 2
    kind[(naive >= amb0) & (naive < amb0 + HOUR)] = 3
    return kind


def local_days_paris(t_utc: np.ndarray) -> np.ndarray:
    """Local (Europe/Paris) day number since 1970-01-01 of UTC instants."""
    return (t_utc + paris_offset_utc(t_utc)) // DAY
