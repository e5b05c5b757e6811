"""French public holidays (computed) and zone A school holidays (committed table)."""

from __future__ import annotations

from datetime import date

from clocher.forecast.engine.calendar import (
    calendar_regressors,
    count_days,
    easter,
    is_school_holiday,
    public_holidays,
    school_holiday_periods,
)


def test_easter_and_the_movable_holidays() -> None:
    assert [easter(y) for y in (2019, 2024, 2025, 2038)] == [
        date(2019, 4, 21),
        date(2024, 3, 31),
        date(2025, 4, 20),
        date(2038, 4, 25),
    ]
    days = public_holidays(2025)
    assert len(days) == 11
    assert days[date(2025, 4, 21)] == "Lundi de Pâques"
    assert days[date(2025, 5, 29)] == "Ascension"
    assert days[date(2025, 6, 9)] == "Lundi de Pentecôte"


def test_zone_a_table() -> None:
    assert is_school_holiday(date(2024, 2, 20))  # hiver 2024, zone A : 17/02 → 03/03
    assert not is_school_holiday(date(2024, 3, 5))
    assert is_school_holiday(date(2025, 12, 25))
    periods = school_holiday_periods()
    years = {p[0].year for p in periods}
    assert set(range(2015, 2031)) <= years
    assert not any(p[3] for p in periods if p[1] < date(2028, 9, 1)), "official up to 2028"


def test_regressors_per_period() -> None:
    assert count_days(date(2024, 5, 1), date(2024, 5, 31)) == (4, 0)  # 1, 8, 9 and 20 May
    regs = calendar_regressors([date(2024, 7, 1), date(2024, 8, 1)], "MS")
    assert regs["vacances_scolaires"].tolist() == [26, 31]
    assert regs["jours_feries"].tolist() == [1, 1]
