"""Engine: Enedis/GRDF index files (kWh, Wh, m3 with GRDF's coefficient, a meter
changed), invoices (inclusive end, overlap), a day far outside the model, a building
whose consumption jumps and a weekend base load that rises."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from clocher.energy.engine._timeutil import paris_offset_utc
from clocher.energy.engine.drifts import base_load_drifts, outlier_days, residual_jump
from clocher.energy.engine.loadcurve import parse_index_csv, parse_invoices_csv


def test_daily_and_monthly_indexes_in_kwh_wh_and_m3() -> None:
    monthly = parse_index_csv(
        "Date de relevé;Index (kWh)\n01/03/2024;1500\n01/01/2024;1000\n01/02/2024;1200\n"
    )
    assert [(p.start, p.end, p.kwh) for p in monthly.periods] == [
        (date(2024, 1, 1), date(2024, 2, 1), 200.0),
        (date(2024, 2, 1), date(2024, 3, 1), 300.0),
    ]  # unsorted readings sorted, consumption = difference
    daily_wh = parse_index_csv("Date;Valeur;Unité\n2024-01-01;1000000;Wh\n2024-01-02;1250500;Wh\n")
    assert daily_wh.periods[0].kwh == pytest.approx(250.5)
    gas = parse_index_csv(
        "Date;Index;Unité;Coefficient\n"
        "2024-01-01;100;m3;11,2\n2024-01-02;110;m3;11,2\n"
        "2024-01-03;5;m3;11,2\n2024-01-04;25;m3;11,2\n"
    )
    # 10 m3 × 11.2 kWh/m3; the falling index (meter changed) breaks the series, named
    assert [p.kwh for p in gas.periods] == pytest.approx([112.0, 224.0])
    assert [(i.line, i.code) for i in gas.issues] == [(4, "index")]
    bad = parse_index_csv("Date;Index;Unité\n2024-01-01;100;m3\n")
    assert bad.issues[0].line == 2 and "coefficient" in bad.issues[0].message


def test_invoices_end_is_inclusive_and_an_overlap_is_not_counted_twice() -> None:
    report = parse_invoices_csv(
        "debut;fin;kwh;montant\n"
        "2023-01-01;2023-01-31;3100;620,50\n"
        "2023-02-01;2023-02-28;2800;\n"
        "2023-02-15;2023-03-14;2700;540\n"
        "2023-04-01;2023-03-01;10;2\n"
    )
    assert [(p.start, p.end, p.kwh, p.amount_eur) for p in report.periods] == [
        (date(2023, 1, 1), date(2023, 2, 1), 3100.0, 620.5),
        (date(2023, 2, 1), date(2023, 3, 1), 2800.0, None),
    ]
    assert [(i.line, i.code) for i in report.issues][0] == (4, "chevauchement")
    assert report.issues[1].line == 5 and "fin avant début" in report.issues[1].message


def test_a_day_far_outside_the_model_and_a_jump_are_drifts() -> None:
    rng = np.random.default_rng(4)  # fixed seed: the same draw every run
    days = np.arange(np.datetime64("2024-01-01"), np.datetime64("2024-03-01"))
    expected = np.full(days.size, 100.0)
    kwh = expected + rng.normal(0, 3.0, days.size)
    kwh[10] = 180.0  # a day far above
    found = outlier_days(days, kwh, expected - 10, expected + 10)
    assert [(d.kind, d.start) for d in found] == [("jour_hors_modele", date(2024, 1, 11))]
    assert "au-dessus" in found[0].text
    assert residual_jump(days, kwh - expected) is None  # one day is no jump
    kwh[35:] += 25.0  # from 5 February on, 25 kWh/day more for good
    jump = residual_jump(days, kwh - expected)
    assert jump is not None and jump.kind == "rupture"
    assert jump.start == date(2024, 2, 5) and "hausse" in jump.text


def test_a_weekend_base_load_that_rises_is_a_drift_and_the_nights_stay_quiet() -> None:
    # 12 weeks of half-hours, no heating: 1 kW, 6 kW on weekday daytimes; over the
    # last 4 weeks 1.5 kW more on Saturdays and Sundays between 8 h and 18 h (the
    # ventilation of a school left running at the weekend)
    first = np.datetime64("2024-04-01T00:00", "s").astype(np.int64) - 7200
    starts = first + 1800 * np.arange(84 * 48, dtype=np.int64)
    local = starts + paris_offset_utc(starts)
    day, hour = local // 86_400, (local % 86_400) // 3600
    weekday = (day + 3) % 7
    daytime = (hour >= 8) & (hour < 18)
    kw = 1.0 + np.where((weekday < 5) & daytime, 5.0, 0.0)
    kw += np.where((day > day.max() - 28) & (weekday >= 5) & daytime, 1.5, 0.0)
    found = base_load_drifts(starts, kw * 0.5, 1800)
    assert [d.kind for d in found] == ["talon_weekend"]
    assert found[0].expected == pytest.approx(1.0, abs=0.01)
    assert found[0].value == pytest.approx(1.0 + 1.5 * 10 / 24, abs=0.05)
    assert "le week-end" in found[0].text
