"""Schedules against independent oracles, to the cent: QuantLib computes each period's dates
and interest on the same outstanding capital, numpy-financial the payment of an annuity (and
the present value of a progressive series); hypothesis checks the invariants on any loan."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import numpy_financial as npf
import pytest
import QuantLib as ql
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clocher.finance.engine import (
    Curve,
    DayCount,
    Deferral,
    DeferralKind,
    Index,
    IndexHistory,
    Loan,
    Periodicity,
    Profile,
    Rate,
    build_schedule,
)
from clocher.finance.engine.schedule import BALANCE, CAPITAL, DUE, INTEREST, PAYMENT, RATE
from tests.finance.loans import make_loan

D = Decimal
CENT = D("0.01")
QL_DAY_COUNTS = {
    DayCount.THIRTY_360: ql.Thirty360(ql.Thirty360.ISDA),
    DayCount.ACT_360: ql.Actual360(),
    DayCount.ACT_365: ql.Actual365Fixed(),
}


def cents(value: float) -> Decimal:
    """A float amount to the cent, half-up, after dropping binary noise below 1e-7."""
    return D(repr(value)).quantize(D("0.0000001")).quantize(CENT, ROUND_HALF_UP)


def ql_date(d: date) -> ql.Date:
    return ql.Date(d.day, d.month, d.year)


def ql_schedule(loan: Loan) -> ql.Schedule:
    months = loan.periodicity.months
    start = ql_date(loan.start)
    end = start + ql.Period(months * loan.periods, ql.Months)
    return ql.Schedule(
        start,
        end,
        ql.Period(months, ql.Months),
        ql.NullCalendar(),
        ql.Unadjusted,
        ql.Unadjusted,
        ql.DateGeneration.Forward,
        False,
    )


def check_against_quantlib(loan: Loan, rows, rates: list[Decimal]) -> None:
    """Dates and every period's interest, on the same outstanding capital, from QuantLib."""
    sched = ql_schedule(loan)
    dates = [d.ISO() for d in sched][1:]
    assert dates == [r[DUE].isoformat() for r in rows]
    notionals, balance = [], loan.nominal
    for r in rows:
        notionals.append(float(balance))
        balance = r[BALANCE]
    leg = ql.FixedRateLeg(
        sched, QL_DAY_COUNTS[loan.day_count], notionals, [float(x) for x in rates]
    )
    expected = [cents(cf.amount()) for cf in leg]
    assert expected == [r[INTEREST] for r in rows]


def check_invariants(loan: Loan, rows) -> None:
    assert len(rows) == loan.periods
    assert sum((r[CAPITAL] for r in rows), D(0)) == loan.nominal
    assert rows[-1][BALANCE] == 0
    for r in rows:
        assert r[PAYMENT] == r[CAPITAL] + r[INTEREST]
        assert r[BALANCE] >= 0
        for amount in (r[INTEREST], r[CAPITAL], r[PAYMENT], r[BALANCE]):
            assert amount == amount.quantize(CENT)


@pytest.mark.parametrize(
    ("nominal", "rate", "periodicity", "periods", "day_count", "start"),
    [
        ("1000000.00", "0.0345", Periodicity.QUARTERLY, 80, DayCount.THIRTY_360, date(2015, 3, 15)),
        ("250000.00", "0.0412", Periodicity.MONTHLY, 360, DayCount.THIRTY_360, date(2010, 1, 31)),
        ("3500000.00", "0.0198", Periodicity.YEARLY, 25, DayCount.ACT_365, date(2019, 6, 30)),
        ("780000.00", "0.0275", Periodicity.HALF_YEARLY, 40, DayCount.ACT_360, date(2021, 8, 31)),
        ("50000.00", "0", Periodicity.QUARTERLY, 20, DayCount.THIRTY_360, date(2022, 2, 28)),
    ],
)
def test_fixed_annuity_matches_numpy_financial_and_quantlib(
    nominal, rate, periodicity, periods, day_count, start
):
    loan = Loan("F", D(nominal), start, periods, Rate(D(rate)), periodicity, day_count=day_count)
    rows = build_schedule(loan).rows
    check_invariants(loan, rows)
    check_against_quantlib(loan, rows, [D(rate)] * periods)
    expected = cents(float(npf.pmt(float(rate) / periodicity.value, periods, -float(nominal))))
    assert {r[PAYMENT] for r in rows[:-1]} == {expected}
    if day_count is DayCount.THIRTY_360:
        # The last payment absorbs the rounding only: within a cent per period of the annuity
        # (on exact days it also absorbs the periods longer or shorter than the average).
        assert abs(rows[-1][PAYMENT] - expected) <= CENT * periods


def test_fixed_annuity_known_figures():
    """A textbook case checked by hand: 100 000 € at 3.5 % over 20 years, quarterly."""
    loan = make_loan("F", "100000.00", date(2020, 1, 15), 80, "0.035")
    rows = build_schedule(loan).rows
    assert rows[0][1:] == (D("0.035"), D("875.00"), D("868.37"), D("1743.37"), D("99131.63"))
    assert rows[-1][PAYMENT] == D("1743.81")


def test_constant_capital_and_in_fine_match_quantlib():
    capital = make_loan(
        "C", "600000.00", date(2018, 5, 10), 60, "0.031", profile=Profile.CONSTANT_CAPITAL
    )
    rows = build_schedule(capital).rows
    check_invariants(capital, rows)
    check_against_quantlib(capital, rows, [D("0.031")] * 60)
    assert {r[CAPITAL] for r in rows} == {D("10000.00")}

    bullet = make_loan(
        "B",
        "2000000.00",
        date(2020, 12, 1),
        10,
        "0.0225",
        Periodicity.YEARLY,
        profile=Profile.IN_FINE,
        day_count=DayCount.ACT_365,
    )
    rows = build_schedule(bullet).rows
    check_invariants(bullet, rows)
    # QuantLib's own bullet bond: same coupons, same redemption.
    bond = ql.FixedRateBond(0, 2000000.0, ql_schedule(bullet), [0.0225], ql.Actual365Fixed())
    flows = [cents(cf.amount()) for cf in bond.cashflows()]
    assert flows[:-1] == [r[INTEREST] for r in rows]
    assert flows[-1] == rows[-1][CAPITAL] == D("2000000.00")


def test_progressive_payments_grow_and_repay_the_nominal():
    loan = make_loan(
        "P",
        "900000.00",
        date(2016, 4, 1),
        60,
        "0.038",
        profile=Profile.PROGRESSIVE,
        growth=D("0.005"),
    )
    rows = build_schedule(loan).rows
    check_invariants(loan, rows)
    check_against_quantlib(loan, rows, [D("0.038")] * 60)
    payments = [float(r[PAYMENT]) for r in rows]
    # numpy-financial: the payments discounted at the period rate are worth the nominal
    # (each payment was rounded to the cent: at most half a cent each).
    assert npf.npv(0.038 / 4, [0.0, *payments]) == pytest.approx(900000.0, abs=0.005 * 60)
    ratios = {round(payments[k + 1] / payments[k], 4) for k in range(58)}
    assert ratios == {1.005}


def test_variable_loan_on_forward_curve_matches_quantlib_and_numpy_financial():
    history = IndexHistory.of(
        Index.EURIBOR_3M,
        [
            (date(2019, 1, 1), D("-0.0031")),
            (date(2022, 7, 1), D("0.0024")),
            (date(2023, 1, 1), D("0.0213")),
        ],
    )
    forward = IndexHistory.of(
        Index.EURIBOR_3M,
        [
            (date(2025, 1, 1), D("0.0290")),
            (date(2027, 1, 1), D("0.0250")),
            (date(2030, 1, 1), D("0.0275")),
        ],
    )
    curve = Curve(
        as_of=date(2024, 12, 31),
        history={Index.EURIBOR_3M: history},
        forward={Index.EURIBOR_3M: forward},
    )
    loan = make_loan(
        "V",
        "1500000.00",
        date(2020, 3, 15),
        80,
        Rate(D("0.0085"), Index.EURIBOR_3M, floor=D("0")),
        day_count=DayCount.ACT_360,
    )
    rows = build_schedule(loan, curve).rows
    check_invariants(loan, rows)

    # The oracle fixes each period itself: index at the period start + margin, floored.
    def oracle_rate(start: date) -> Decimal:
        source = history if start <= curve.as_of else forward
        value = source.value_at(start)
        if value is None:
            value = source.values[0]
        return max(D(0), value + D("0.0085"))

    starts = [loan.start] + [r[DUE] for r in rows[:-1]]
    rates = [oracle_rate(s) for s in starts]
    assert [r[RATE] for r in rows] == rates
    assert rates[0] == D("0.0054")  # Euribor −0.31 % + 0.85 %
    check_against_quantlib(loan, rows, rates)
    # At each new rate the payment is recomputed on the capital and periods left.
    balance, previous = loan.nominal, None
    for k, r in enumerate(rows[:-1]):
        if r[RATE] != previous:
            expected = cents(float(npf.pmt(float(r[RATE]) / 4, 80 - k, -float(balance))))
            previous = r[RATE]
        assert r[PAYMENT] == expected, k
        balance = r[BALANCE]


def test_deferrals_interest_only_and_total():
    partial = make_loan(
        "D1",
        "400000.00",
        date(2021, 1, 1),
        40,
        "0.03",
        deferral=Deferral(4, DeferralKind.INTEREST_ONLY),
    )
    rows = build_schedule(partial).rows
    check_invariants(partial, rows)
    assert [r[CAPITAL] for r in rows[:4]] == [D(0)] * 4
    assert [r[PAYMENT] for r in rows[:4]] == [D("3000.00")] * 4
    expected = cents(float(npf.pmt(0.03 / 4, 36, -400000.0)))
    assert rows[4][PAYMENT] == expected

    total = make_loan(
        "D2", "400000.00", date(2021, 1, 1), 40, "0.03", deferral=Deferral(2, DeferralKind.TOTAL)
    )
    rows = build_schedule(total).rows
    check_invariants(total, rows)
    assert [r[PAYMENT] for r in rows[:2]] == [D(0), D(0)]
    assert rows[0][CAPITAL] == -rows[0][INTEREST] == D("-3000.00")
    assert rows[1][BALANCE] == D("406022.50")  # interest capitalised on interest


def test_custom_table_is_followed():
    table = (D("100000.00"), D("50000.00"), D("0"), D("150000.00"))
    loan = make_loan(
        "T",
        "300000.00",
        date(2024, 1, 10),
        4,
        "0.04",
        Periodicity.YEARLY,
        profile=Profile.CUSTOM,
        capital_table=table,
    )
    rows = build_schedule(loan).rows
    check_invariants(loan, rows)
    assert tuple(r[CAPITAL] for r in rows) == table
    assert rows[0][INTEREST] == D("12000.00")


def test_invalid_loans_are_refused_in_french():
    with pytest.raises(ValueError, match="nominal doit être positif"):
        make_loan("X", "-5", date(2024, 1, 1), 10, "0.02")
    with pytest.raises(ValueError, match="totalise"):
        make_loan(
            "X",
            "100.00",
            date(2024, 1, 1),
            2,
            "0.02",
            profile=Profile.CUSTOM,
            capital_table=(D("50"), D("40")),
        )
    loan = make_loan("X", "100.00", date(2024, 1, 1), 2, Rate(D("0.01"), Index.LIVRET_A))
    with pytest.raises(ValueError, match="sans courbe de taux"):
        build_schedule(loan)


@st.composite
def loans(draw) -> tuple[Loan, Curve]:
    periodicity = draw(st.sampled_from(list(Periodicity)))
    years = draw(st.integers(1, 30))
    periods = years * periodicity.value
    profile = draw(st.sampled_from(list(Profile)))
    nominal = D(draw(st.integers(100, 5_000_000_00))) / 100
    deferred = draw(st.integers(0, min(periods - 1, 8)))
    table: tuple[Decimal, ...] = ()
    if profile is Profile.CUSTOM:
        n = periods - deferred
        cuts = sorted(
            draw(st.lists(st.integers(0, int(nominal * 100)), min_size=n - 1, max_size=n - 1))
        )
        bounds = [0, *cuts, int(nominal * 100)]
        table = tuple(D(bounds[i + 1] - bounds[i]) / 100 for i in range(n))
    variable = draw(st.booleans())
    index_values = draw(st.lists(st.integers(-100, 800), min_size=1, max_size=6))  # in bp
    start = date(
        draw(st.integers(1995, 2030)), draw(st.integers(1, 12)), draw(st.integers(1, 31 - 3))
    )
    forward = IndexHistory.of(
        Index.EURIBOR_6M,
        [(date(2025 + 3 * i, 1, 1), D(v) / 10000) for i, v in enumerate(index_values)],
    )
    curve = Curve(as_of=date(2024, 12, 31), forward={Index.EURIBOR_6M: forward})
    if variable:
        rate = Rate(D(draw(st.integers(-50, 300))) / 10000, Index.EURIBOR_6M, floor=D(0))
    else:
        rate = Rate(D(draw(st.integers(0, 1200))) / 10000)
    loan = Loan(
        "H",
        nominal,
        start,
        periods,
        rate,
        periodicity,
        profile=profile,
        day_count=draw(st.sampled_from(list(DayCount))),
        growth=D(draw(st.integers(0, 300))) / 10000,
        capital_table=table,
        deferral=Deferral(deferred, draw(st.sampled_from(list(DeferralKind)))),
    )
    return loan, curve


@settings(  # the same 300 examples on every run (no flakiness), no example database written
    derandomize=True,
    database=None,
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(loans())
def test_property_capital_sums_to_nominal_balance_ends_at_zero(case):
    loan, curve = case
    rows = build_schedule(loan, curve).rows
    check_invariants(loan, rows)
    # Under a floor at 0 no interest is ever negative, whatever the index does.
    assert all(r[INTEREST] >= 0 for r in rows)
    assert all(r[RATE] >= 0 for r in rows)
