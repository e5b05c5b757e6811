"""Exact amortisation schedules, in `Decimal`, rounded to the cent as banks do.

Conventions (docs/finance.md has the why and the references):
- due date k = start + k periods (day clamped to the month's end); the interest of a period
  runs from the previous due date (the start for the first one);
- interest of a period = outstanding × coupon rate × days / basis (30E/360, exact/360,
  exact/365), rounded half-up to the cent each period;
- the payment (annuity, progressive payment) is computed on the proportional period rate
  (annual rate / periods per year) and rounded to the cent; capital = payment − interest;
- the last period repays whatever is left, so the capital column sums exactly to the
  nominal and the balance ends at 0;
- variable rates are fixed in advance at the start of each period on the `Curve`, bounded by
  the floor and cap; the annuity is recomputed on the outstanding capital and the periods
  left whenever the coupon rate changes;
- a total deferral capitalises the interest: such a row pays 0 and carries capital = −interest
  (the balance grows), so the capital column still sums to the nominal.

Rows are plain tuples (no object per row: 10,000 loans × 360 periods must stay fast); the
column positions are the constants DUE … BALANCE below.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from functools import lru_cache
from typing import Final

from clocher.finance.engine.curves import Curve
from clocher.finance.engine.loans import CENT, ZERO, DayCount, DeferralKind, Loan, Profile

DUE: Final = 0
RATE: Final = 1
INTEREST: Final = 2
CAPITAL: Final = 3
PAYMENT: Final = 4
BALANCE: Final = 5
Row = tuple[date, Decimal, Decimal, Decimal, Decimal, Decimal]

DECIMAL_CONTEXT = Context(prec=28, rounding=ROUND_HALF_UP)
_ONE = Decimal(1)
_BASIS = {
    DayCount.THIRTY_360: Decimal(360),
    DayCount.ACT_360: Decimal(360),
    DayCount.ACT_365: Decimal(365),
}


@dataclass(frozen=True, slots=True)
class Schedule:
    """The rows of one loan: (due date, coupon rate, interest, capital, payment, balance)."""

    loan: Loan
    rows: tuple[Row, ...]
    curve_name: str | None = None

    @property
    def total_interest(self) -> Decimal:
        return sum((r[INTEREST] for r in self.rows), ZERO)

    @property
    def total_capital(self) -> Decimal:
        return sum((r[CAPITAL] for r in self.rows), ZERO)

    @property
    def end(self) -> date:
        return self.rows[-1][DUE]

    def outstanding_at(self, when: date) -> Decimal:
        """Capital still owed at the end of day `when` (0 before disbursement and after the end)."""
        if when < self.loan.start:
            return ZERO
        balance = self.loan.nominal
        for row in self.rows:
            if row[DUE] > when:
                break
            balance = row[BALANCE]
        return balance

    def rate_at(self, when: date) -> Decimal:
        """The coupon rate of the period running on `when` (the last one after the end)."""
        for row in self.rows:
            if row[DUE] > when:
                return row[RATE]
        return self.rows[-1][RATE]

    def rows_after(self, when: date) -> tuple[Row, ...]:
        """Rows falling strictly after `when`."""
        return tuple(r for r in self.rows if r[DUE] > when)


def add_months(start: date, months: int) -> date:
    """`start` + `months`, the day clamped to the last day of the target month."""
    total = start.month - 1 + months
    year, month = start.year + total // 12, total % 12 + 1
    last = calendar.monthrange(year, month)[1]
    return date(year, month, min(start.day, last))


def days_30e_360(d1: date, d2: date) -> int:
    """Days between two dates under 30E/360 ISDA: a month's last day counts as its 30th.

    So every full month counts 30 days, end-of-month schedules and February included: the
    interest of a regular monthly period is exactly the annual rate / 12, as banks print.
    """
    day1 = 30 if d1.day == 31 or (d1.month == 2 and d1.day == _month_end(d1)) else d1.day
    day2 = 30 if d2.day == 31 or (d2.month == 2 and d2.day == _month_end(d2)) else d2.day
    return (d2.year - d1.year) * 360 + (d2.month - d1.month) * 30 + day2 - day1


def _month_end(d: date) -> int:
    return calendar.monthrange(d.year, d.month)[1]


@lru_cache(maxsize=8192)
def period_grid(
    start: date, months: int, periods: int, day_count: DayCount
) -> tuple[tuple[date, date, int], ...]:
    """(period start, due date, days) of each period; cached, loans share grids."""
    out = []
    prev = start
    thirty = day_count is DayCount.THIRTY_360
    for k in range(1, periods + 1):
        due = add_months(start, k * months)
        days = days_30e_360(prev, due) if thirty else (due - prev).days
        out.append((prev, due, days))
        prev = due
    return tuple(out)


def coupon_rates(loan: Loan, curve: Curve | None) -> list[Decimal]:
    """The coupon rate of each period: fixed, or index fixed at the period start + margin."""
    rate = loan.rate
    grid = period_grid(loan.start, loan.periodicity.months, loan.periods, loan.day_count)
    if rate.index is None:
        return [rate.value] * loan.periods
    if curve is None:
        raise ValueError(
            f"emprunt {loan.reference} : taux variable ({rate.index.value}) "
            "sans courbe de taux pour le projeter"
        )
    index, margin, bound = rate.index, rate.value, rate.bound
    value = curve.value
    return [bound(value(index, p[0]) + margin) for p in grid]


def annuity(balance: Decimal, period_rate: Decimal, periods: int) -> Decimal:
    """Constant payment repaying `balance` in `periods` at `period_rate` (unrounded)."""
    if period_rate == 0:
        return balance / periods
    return balance * period_rate / (_ONE - (_ONE + period_rate) ** -periods)


def growing_annuity(
    balance: Decimal, period_rate: Decimal, growth: Decimal, periods: int
) -> Decimal:
    """First payment of a series growing by `growth` each period that repays `balance`."""
    if period_rate == growth:
        return balance * (_ONE + period_rate) / periods
    ratio = (_ONE + growth) / (_ONE + period_rate)
    return balance * (period_rate - growth) / (_ONE - ratio**periods)


def build_schedule(loan: Loan, curve: Curve | None = None) -> Schedule:
    """The full schedule of `loan`; a variable loan needs a `curve` (ValueError otherwise)."""
    with localcontext(DECIMAL_CONTEXT):
        rows = _rows(loan, coupon_rates(loan, curve))
    return Schedule(
        loan, rows, curve.name if curve is not None and loan.rate.index is not None else None
    )


def _rows(loan: Loan, rates: list[Decimal]) -> tuple[Row, ...]:
    grid = period_grid(loan.start, loan.periodicity.months, loan.periods, loan.day_count)
    basis = _BASIS[loan.day_count]
    per_year = loan.periodicity.value
    profile = loan.profile
    deferred = loan.deferral.periods
    capitalise = loan.deferral.kind is DeferralKind.TOTAL
    amortising = loan.periods - deferred
    growth_factor = _ONE + loan.growth
    table = loan.capital_table
    cent, half_up = CENT, ROUND_HALF_UP

    balance = loan.nominal
    rows: list[Row] = []
    append = rows.append
    factor_cache: dict[tuple[Decimal, int], Decimal] = {}
    payment_rate: Decimal | None = None  # rate the current payment was computed at
    payment = ZERO
    raw_payment = ZERO  # unrounded progressive payment, grown each period
    constant_capital = ZERO
    last = loan.periods - 1

    for k, (_, due, days) in enumerate(grid):
        rate = rates[k]
        key = (rate, days)
        factor = factor_cache.get(key)
        if factor is None:
            factor = factor_cache[key] = rate * days / basis
        interest = (balance * factor).quantize(cent, half_up)
        if k < deferred:
            if capitalise:
                balance += interest
                append((due, rate, interest, -interest, ZERO, balance))
            else:
                append((due, rate, interest, ZERO, interest, balance))
            continue
        j = k - deferred  # amortising period number, from 0
        if k == last:
            capital = balance
        elif profile is Profile.ANNUITY:
            if rate != payment_rate:
                payment = annuity(balance, rate / per_year, amortising - j).quantize(cent, half_up)
                payment_rate = rate
            capital = payment - interest
        elif profile is Profile.CONSTANT_CAPITAL:
            if j == 0:
                constant_capital = (balance / amortising).quantize(cent, half_up)
            capital = constant_capital
        elif profile is Profile.IN_FINE:
            capital = ZERO
        elif profile is Profile.PROGRESSIVE:
            if rate != payment_rate:
                raw_payment = growing_annuity(balance, rate / per_year, loan.growth, amortising - j)
                payment_rate = rate
            else:
                raw_payment *= growth_factor
            capital = raw_payment.quantize(cent, half_up) - interest
        else:  # CUSTOM
            capital = table[j]
        if capital > balance:
            capital = balance
        elif capital < 0:
            capital = ZERO
        balance -= capital
        append((due, rate, interest, capital, capital + interest, balance))
    return tuple(rows)
