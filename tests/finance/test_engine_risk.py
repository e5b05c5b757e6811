"""Gissler classes, indicators and rate scenarios of the finance engine."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import numpy_financial as npf
import pytest

from clocher.finance.engine import (
    Curve,
    DayCount,
    Deferral,
    DeferralKind,
    EarlyRepayment,
    IndemnityKind,
    Index,
    IndexHistory,
    Loan,
    Periodicity,
    Profile,
    Rate,
    Structure,
    StructureKind,
    build_schedule,
)
from clocher.finance.engine.gissler import at_least, classify
from clocher.finance.engine.indicators import (
    _dec31_time,
    actuarial_rate,
    book_indicators,
    year_fraction,
)
from clocher.finance.engine.loans import UnderlyingKind
from clocher.finance.engine.scenarios import (
    early_repayment_indemnity,
    refinance,
    replay_curve,
    scenario_costs,
    standard_scenarios,
)
from tests.finance.loans import make_loan

D = Decimal
AS_OF = date(2025, 12, 31)
CURVE = Curve.flat_scenario(AS_OF, {Index.EURIBOR_3M: D("0.021"), Index.LIVRET_A: D("0.017")})


def fixed(ref="F", nominal="1000000.00", rate="0.035", **kw) -> Loan:
    return Loan(ref, D(nominal), date(2020, 1, 1), 80, Rate(D(rate)), **kw)


def variable(ref="V", nominal="1000000.00") -> Loan:
    return Loan(
        ref, D(nominal), date(2020, 1, 1), 80, Rate(D("0.008"), Index.EURIBOR_3M, floor=D(0))
    )


@pytest.mark.parametrize(
    ("loan_kw", "code", "computed"),
    [
        ({"rate": Rate(D("0.03"))}, "1A", True),
        ({"rate": Rate(D("0.01"), Index.EURIBOR_3M, floor=D(0), cap=D("0.05"))}, "1A", True),
        ({"rate": Rate(D("0.006"), Index.LIVRET_A)}, "1A", True),
        ({"rate": Rate(D("0.01"), Index.INFLATION)}, "2A", True),
        ({"rate": Rate(D("0.04")), "structure": Structure(StructureKind.BARRIER)}, "1B", False),
        (
            {
                "rate": Rate(D("0.04")),
                "structure": Structure(StructureKind.MULTIPLIER, UnderlyingKind.EURO_SPREAD, D(5)),
                "gissler": "3E",
            },
            "3E",
            False,
        ),
        (
            {
                "rate": Rate(D("0.04")),
                "structure": Structure(StructureKind.OTHER, UnderlyingKind.OTHER),
                "gissler": "6F",
            },
            "6F",
            False,
        ),
    ],
)
def test_gissler_classes(loan_kw, code, computed):
    loan = Loan("G", D("100000.00"), date(2020, 1, 1), 20, **loan_kw)
    result = classify(loan)
    assert (result.code, result.computed) == (code, computed)
    assert bool(result.warning) is (not computed)


def test_gissler_declared_class_that_disagrees_is_kept_with_a_warning():
    loan = make_loan(
        "G",
        "100000.00",
        date(2020, 1, 1),
        20,
        "0.04",
        structure=Structure(StructureKind.MULTIPLIER, UnderlyingKind.NON_EURO, D(3)),
        gissler="1B",
    )
    result = classify(loan)
    assert result.code == "1B" and "donnerait 4D" in result.warning
    assert at_least("3E") and at_least("4F") and at_least("6A") and at_least("1F")
    assert not at_least("1E") and not at_least("4A") and not at_least("2D")


def test_indicators_of_a_small_book():
    loans = [fixed(), variable()]
    schedules = [build_schedule(ln, CURVE) for ln in loans]
    book = book_indicators(schedules, [2025, 2026], gross_savings={2025: D("150000")})
    y = book.year(2025)
    enc = sum((s.outstanding_at(date(2025, 12, 31)) for s in schedules), D(0))
    assert y.outstanding == enc
    paid = [r for s in schedules for r in s.rows if r[0].year == 2025]
    assert y.capital == sum((r[3] for r in paid), D(0))
    assert y.interest == sum((r[2] for r in paid), D(0))
    assert y.debt_capacity == (enc / D(150000)).quantize(D("0.01"))
    assert book.year(2026).debt_capacity is None  # no épargne brute entered
    assert y.variable_share == (schedules[1].outstanding_at(AS_OF) / enc).quantize(D("0.0001"))
    assert y.structured_share == 0
    assert D("0.0289") < y.weighted_rate < D("0.035")
    assert y.loans == 2
    # Both loans end on 2040-01-01: 14 years after 31/12/2025 (on 365.25-day years).
    assert y.residual_life == D("14.00")
    assert D(0) < y.average_life < y.residual_life
    assert book.extinction[0] == (2025, enc) and book.extinction[-1] == (2040, D(0))


def test_actuarial_rate_of_a_fixed_annual_loan_is_its_rate():
    """Yearly payments on 30/360 at 4 %: the IRR (numpy-financial too) is 4 %."""
    loan = make_loan("A", "500000.00", date(2020, 12, 31), 20, "0.04", Periodicity.YEARLY)
    sched = build_schedule(loan)
    flows = [-float(sched.outstanding_at(date(2022, 12, 31)))] + [
        float(r[4]) for r in sched.rows_after(date(2022, 12, 31))
    ]
    assert round(npf.irr(flows), 5) == 0.04
    assert actuarial_rate(sched, date(2022, 12, 31)) == D("0.040000")


def test_a_rate_rise_costs_on_a_variable_loan_and_nothing_on_a_fixed_one():
    costs = scenario_costs([fixed(), variable()], standard_scenarios(CURVE), AS_OF)
    by_name = {c.name: c for c in costs}
    base, up, down, up2 = (
        by_name[n]
        for n in (
            "scénario plat",
            "scénario plat +100 pb",
            "scénario plat -100 pb",
            "scénario plat +200 pb",
        )
    )
    assert up.per_loan["F"] == base.per_loan["F"] == down.per_loan["F"]
    assert up.per_loan["V"] > base.per_loan["V"] > down.per_loan["V"]
    assert up2.delta > up.delta > 0 > down.delta
    assert up.delta == up.per_loan["V"] - base.per_loan["V"]


def test_historical_replay_moves_the_history_to_today():
    history = IndexHistory.of(
        Index.EURIBOR_3M,
        [
            (date(2008, 1, 1), D("0.047")),
            (date(2009, 1, 1), D("0.028")),
            (date(2010, 1, 1), D("0.007")),
        ],
    )
    curve = replay_curve(CURVE, {Index.EURIBOR_3M: history}, date(2008, 6, 1))
    assert curve.value(Index.EURIBOR_3M, date(2026, 1, 15)) == D("0.047")
    assert curve.value(Index.EURIBOR_3M, date(2026, 8, 1)) == D("0.028")  # 2009-01 ↦ 2026-07
    assert curve.value(Index.EURIBOR_3M, date(2030, 1, 1)) == D("0.007")
    names = [
        s.name for s in standard_scenarios(CURVE, {Index.EURIBOR_3M: history}, date(2008, 6, 1))
    ]
    assert names[-1] == "rejeu depuis 06/2008"


def test_indemnities_and_refinancing_what_if():
    on = date(2025, 10, 1)
    pct = build_schedule(fixed(early_repayment=EarlyRepayment(IndemnityKind.PERCENT, D("0.03"))))
    crd = pct.outstanding_at(on)
    assert early_repayment_indemnity(pct, on) == (crd * D("0.03")).quantize(D("0.01"))
    months = build_schedule(
        fixed(early_repayment=EarlyRepayment(IndemnityKind.MONTHS_OF_INTEREST, months=6))
    )
    assert early_repayment_indemnity(months, on) == (crd * D("0.035") / 2).quantize(D("0.01"))
    actuarial = build_schedule(fixed(early_repayment=EarlyRepayment(IndemnityKind.ACTUARIAL)))
    # Market at the loan's own rate: nothing lost by the lender; below it: a loss to pay.
    assert abs(early_repayment_indemnity(actuarial, on, D("0.035"))) <= D("0.05")
    high = early_repayment_indemnity(actuarial, on, D("0.02"))
    assert high > 0 and early_repayment_indemnity(actuarial, on, D("0.05")) == 0

    result = refinance(pct, on, Rate(D("0.02")))
    assert result.indemnity == early_repayment_indemnity(pct, on)
    assert result.new_schedule.loan.nominal == crd
    assert result.savings == result.old_remaining - result.new_remaining - result.indemnity
    assert result.savings > 0 and result.break_even is not None and result.break_even > on
    worse = refinance(pct, on, Rate(D("0.034")))
    assert worse.savings < 0 and worse.break_even is None
    with pytest.raises(ValueError, match="demande le taux de marché"):
        early_repayment_indemnity(actuarial, on)


def test_in_fine_and_profile_kinds_in_the_book():
    bullet = make_loan(
        "B", "300000.00", date(2024, 6, 1), 10, "0.03", Periodicity.YEARLY, profile=Profile.IN_FINE
    )
    book = book_indicators([build_schedule(bullet)], [2025])
    assert book.year(2025).outstanding == D("300000.00")
    assert book.year(2025).capital == 0 and book.year(2025).interest == D("9000.00")
    assert book.year(2025).average_life == book.year(2025).residual_life


def test_year_fraction_fast_path_agrees_with_the_general_one():
    day = date(2023, 1, 1)
    while day < date(2029, 3, 1):
        for year in (2022, 2023, 2024):
            if day > date(year, 12, 31):
                expected = year_fraction(date(year, 12, 31), day)
                assert abs(_dec31_time(day) - year - expected) < 1e-12, day
        day += timedelta(days=1)


def test_book_sums_match_the_rows_for_every_kind_of_loan():
    loans = [
        fixed("A"),
        variable("B"),
        make_loan(
            "C",
            "250000.00",
            date(2024, 11, 30),
            120,
            "0.041",
            Periodicity.MONTHLY,
            day_count=DayCount.ACT_365,
            deferral=Deferral(6, DeferralKind.TOTAL),
        ),
        make_loan(
            "D",
            "90000.00",
            date(2027, 3, 1),
            8,
            "0.02",
            Periodicity.HALF_YEARLY,
            profile=Profile.CONSTANT_CAPITAL,
        ),
        make_loan("E", "40000.00", date(2010, 1, 1), 10, "0.05", Periodicity.YEARLY),
    ]
    schedules = [build_schedule(ln, CURVE) for ln in loans]
    years = range(2023, 2032)
    book = book_indicators(schedules, years)
    for year in years:
        y = book.year(year)
        rows = [r for s in schedules for r in s.rows if r[0].year == year]
        assert y.outstanding == sum((s.outstanding_at(date(year, 12, 31)) for s in schedules), D(0))
        assert y.capital + y.interest == sum((r[4] for r in rows), D(0))
        assert y.capital == sum((r[3] for r in rows if r[3] > 0), D(0))
        assert y.loans == sum(1 for s in schedules if s.outstanding_at(date(year, 12, 31)))


def test_the_book_reads_each_schedules_own_dates_not_the_grid_cache_again():
    """A book of more loan terms than `period_grid`'s cache holds missed every grid in
    order and rebuilt it for the indicators (a fifth of the 10,000-loan bench): each
    schedule keeps the dates it was built on. The figures are those of grids rebuilt."""
    from dataclasses import replace

    from clocher.finance.engine.schedule import period_grid

    loans = [
        make_loan(f"L{i}", "100000.00", date(2015, 1 + i % 12, 1 + i % 27), 40 + i, "0.03")
        for i in range(30)
    ]
    schedules = [build_schedule(ln) for ln in loans]
    assert all(s.grid is not None for s in schedules)
    period_grid.cache_clear()
    book = book_indicators(schedules, range(2024, 2030))
    assert period_grid.cache_info().misses == 0
    rebuilt = book_indicators([replace(s, grid=None) for s in schedules], range(2024, 2030))
    assert period_grid.cache_info().misses == len(loans)
    assert book == rebuilt
