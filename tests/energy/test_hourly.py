"""CalTRACK 2 hourly model (engine): known occupancy, slopes and month-to-month changes
recovered on a generated year; storage round trip; hourly temperature from TN/TX."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clocher.energy.engine._timeutil import paris_offset_utc
from clocher.energy.engine.hourly import (
    BIN_EDGES_C,
    HourlyModel,
    avoided_energy_hourly,
    fit_hourly,
    kept_edges,
    local_month,
    time_of_week,
)
from clocher.energy.engine.weather import hourly_temperatures, parse_meteo_france_daily

FIXTURE = Path(__file__).parent / "fixtures" / "Q_21_synthetique-2022-2023_RR-T-Vent.csv"


def _hours(year: int) -> tuple[np.ndarray, np.ndarray]:
    """(UTC hour starts of a local year, °C) at the fixture's Dijon station, the hourly
    temperature interpolated from TN/TX as the app does."""
    w = parse_meteo_france_daily(FIXTURE).stations["21999001"]
    first = int(np.datetime64(f"{year - 1}-12-31T23:00", "s").astype(np.int64))
    last = int(np.datetime64(f"{year}-12-31T23:00", "s").astype(np.int64))
    start = np.arange(first, last, 3600, dtype=np.int64)
    return start, hourly_temperatures(w.days, w.tn, w.tx, w.tm, start)


def _open(start: np.ndarray) -> np.ndarray:
    """Open 8–18 h local on weekdays."""
    tow = time_of_week(start)
    return (tow // 24 < 5) & (tow % 24 >= 8) & (tow % 24 < 18)


def _truth(start: np.ndarray, t: np.ndarray, autumn: float = 0.0) -> np.ndarray:
    """5 kWh/h closed, 20 open; heating below 12.8 °C at 0.5 / 1.5 kWh/h/°C; with
    `autumn`, the open hours draw a seasonal extra, 0 in April up to `autumn` kWh/h in
    October: April and October have the same temperatures, only the months tell them
    apart."""
    occupied = _open(start)
    season = autumn / 2 * (1 - np.cos(2 * np.pi * (local_month(start) - 4) / 12))
    slope = np.where(occupied, 1.5, 0.5)
    return (
        np.where(occupied, 20.0, 5.0)
        + slope * np.maximum(0.0, 12.8 - t)
        + np.where(occupied, season, 0.0)
    )


def _fitted(autumn: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, HourlyModel]:
    start, t = _hours(2022)
    truth = _truth(start, t, autumn)
    rng = np.random.default_rng(seed)  # fixed seed: the same draw every run
    return start, t, truth, fit_hourly(start, t, truth + rng.normal(0, 1.0, t.size))


def test_hourly_model_recovers_occupancy_and_slopes_in_every_month() -> None:
    start, t, truth, m = _fitted(0.0, 12)

    expected_occ = _open(start[: 168 * 3])  # any three weeks give every hour of the week
    flags = np.zeros(168, dtype=bool)
    flags[time_of_week(start[: 168 * 3])] = expected_occ
    for segment in m.months:
        assert segment is not None
        assert (segment.occupied == flags).all(), segment.month
    # January's model: the bins below 12.8 °C carry the heating slopes (±0.1)
    jan = m.months[0]
    assert jan is not None
    for edges, coef, slope in (
        (jan.edges_occ, jan.coef_occ, 1.5),
        (jan.edges_unocc, jan.coef_unocc, 0.5),
    ):
        lows = np.r_[-np.inf, edges]
        highs = np.r_[edges, np.inf]
        below = (highs <= 12.8 + 1e-6) & (lows >= -1.2)  # bins wholly in −1.1…12.8 °C
        assert below.any()
        assert coef[below] == pytest.approx(np.full(below.sum(), -slope), abs=0.1)
    assert np.sqrt(np.nanmean((m.predict(start, t) - truth) ** 2)) < 0.3
    # G14 hourly limits (30 % / ±10 %), parameters of all twelve models counted
    assert m.metrics.granularity == "hourly" and m.metrics.fit
    assert m.metrics.p == sum(s.n_params for s in m.months if s is not None)
    assert 12 * 168 < m.metrics.p <= 12 * (168 + 14)


def test_hourly_model_weights_by_month_as_caltrack_2() -> None:
    start, t, truth, m = _fitted(8.0, 5)
    # each month's open hours at their own level; the whole-year model
    # (one intercept per hour of the week) cannot tell April from October
    pred = m.predict(start, t)
    yearly = m.year.predict(time_of_week(start), t)
    for month in range(1, 13):
        mine = _open(start) & (local_month(start) == month) & np.isfinite(t)
        assert np.mean(pred[mine] - truth[mine]) == pytest.approx(0.0, abs=0.5), month
    for month, sign in ((4, 1), (10, -1)):
        mine = _open(start) & (local_month(start) == month)
        assert sign * np.mean(yearly[mine] - truth[mine]) > 2.0
    # the noise-free truth is recovered hour by hour; one model for the year could not
    assert np.sqrt(np.nanmean((pred - truth) ** 2)) < 0.5
    assert np.sqrt(np.nanmean((yearly - truth) ** 2)) > 1.0


def test_hourly_model_round_trip_and_avoided_energy() -> None:
    start, t = _hours(2022)
    rng = np.random.default_rng(3)  # fixed seed: the same draw every run
    m = fit_hourly(start, t, _truth(start, t) + rng.normal(0, 1.0, t.size))
    again = HourlyModel.from_params(m.to_params(), m.metrics)
    ok = np.isfinite(t)
    assert again.predict(start[ok], t[ok]) == pytest.approx(m.predict(start[ok], t[ok]), abs=1e-4)
    # a year later, 10 % less at every hour: the avoided energy is 10 % ± its uncertainty
    rs, rt = _hours(2023)
    metered = 0.9 * _truth(rs, rt)
    saved = avoided_energy_hourly(again, rs, rt, metered)
    assert saved.fraction == pytest.approx(0.10, abs=0.01)
    assert 0 < saved.uncertainty_kwh < 0.5 * saved.savings_kwh


def test_hourly_model_refuses_less_than_four_weeks() -> None:
    start, t = _hours(2022)
    with pytest.raises(ValueError, match="moins de 4 semaines"):
        fit_hourly(start[:600], t[:600], np.ones(600))


def test_thin_temperature_bins_are_merged_outer_first() -> None:
    # 100 hours at 10 °C, 5 at −5 °C, 30 at 20 °C: the outer bins go two by two
    # (−1.1 and 32.2 °C, then 7.2 and 23.9 °C), then the empty inner bin 12.8–18.3 °C
    # loses its upper endpoint (merged with the 20 °C hours)
    temps = np.r_[np.full(100, 10.0), np.full(5, -5.0), np.full(30, 20.0)]
    kept = kept_edges(temps)
    assert list(np.round(kept, 1)) == [12.8]
    assert kept_edges(np.zeros(0)).size == 0
    assert len(BIN_EDGES_C) == 6


def test_hourly_temperature_from_tn_at_6h_and_tx_at_15h_across_dst() -> None:
    days = np.arange(np.datetime64("2023-03-25"), np.datetime64("2023-03-28"))
    tn, tx = np.array([0.0, 2.0, 4.0]), np.array([10.0, 12.0, 14.0])
    tm = np.full(3, np.nan)
    # 26 March 2023 is the summer-time day: local 06:00 is 04:00 UTC, 15:00 is 13:00 UTC
    at = np.array(
        [np.datetime64("2023-03-26T04:00", "s"), np.datetime64("2023-03-26T13:00", "s")]
    ).astype(np.int64)
    got = hourly_temperatures(days, tn, tx, tm, at - 1800)  # hours whose middle is at
    assert got == pytest.approx([2.0, 12.0])
    # between two knots the curve stays between them; beyond the days known: NaN
    start = np.arange(at[0], at[1], 3600)
    mid = hourly_temperatures(days, tn, tx, tm, start)
    assert (mid >= 2.0).all() and (mid <= 12.0).all() and (np.diff(mid) > 0).all()
    late = np.datetime64("2023-03-29T12:00", "s").astype(np.int64)
    assert np.isnan(hourly_temperatures(days, tn, tx, tm, np.array([late])))[0]
    assert paris_offset_utc(at)[0] == 7200
