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

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from functools import lru_cache
from itertools import islice
from typing import Final

import numpy as np

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
    # The dates the rows were built on, kept for the book's indicators: looked up again
    # in `period_grid`'s cache, a book of more loan terms than the cache holds missed
    # every one in order and rebuilt it (0.5 s of the 10,000-loan bench's 2.5).
    grid: Grid | None = field(default=None, compare=False, repr=False)

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


_MONTH_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def month_length(year: int, month: int) -> int:
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _MONTH_DAYS[month]


def add_months(start: date, months: int) -> date:
    """`start` + `months`, the day clamped to the last day of the target month."""
    total = start.month - 1 + months
    year, month = start.year + total // 12, total % 12 + 1
    day = start.day
    if day > 28:
        day = min(day, month_length(year, month))
    return date(year, month, day)


def _day_30(d: date) -> int:
    if d.day == 31 or (d.month == 2 and d.day == month_length(d.year, 2)):
        return 30
    return d.day


def days_30e_360(d1: date, d2: date) -> int:
    """Days between two dates under 30E/360 ISDA: a month's last day counts as its 30th.

    So every full month counts 30 days, end-of-month schedules and February included: the
    interest of a regular monthly period is exactly the annual rate / 12, as banks print.
    """
    return (d2.year - d1.year) * 360 + (d2.month - d1.month) * 30 + _day_30(d2) - _day_30(d1)


@dataclass(frozen=True, slots=True)
class Grid:
    """The dates of a loan's periods, shared by every loan with the same terms (cached).

    `starts[k]`/`dues[k]`: period k runs from the one to the other; `days[k]` its days
    under the day count; `ordinals` the due dates' ordinals (numpy, for the indicators);
    `years`: (year, first row, row after the last) of each calendar year with a payment.
    """

    starts: tuple[date, ...]
    dues: tuple[date, ...]
    days: tuple[int, ...]
    ordinals: np.ndarray
    years: tuple[tuple[int, int, int], ...]


@lru_cache(maxsize=8192)
def period_grid(start: date, months: int, periods: int, day_count: DayCount) -> Grid:
    """The `Grid` of `periods` periods of `months` months from `start`."""
    dues: list[date] = []
    days: list[int] = []
    ordinals: list[int] = []
    years: list[tuple[int, int, int]] = []
    prev, prev_ord = start, start.toordinal()
    year, month, day = start.year, start.month, start.day
    short_day = day <= 28  # no clamping to the month's end, the common case
    regular = day_count is DayCount.THIRTY_360 and day < 28  # every period: months × 30 days
    thirty = day_count is DayCount.THIRTY_360
    regular_days = months * 30
    first_of_year = 0
    for k in range(periods):
        month += months
        if month > 12:
            month -= 12
            year += 1
            if k > first_of_year:
                years.append((year - 1, first_of_year, k))
            first_of_year = k
        due = date(year, month, day if short_day else min(day, month_length(year, month)))
        ordinal = due.toordinal()
        if regular:
            days.append(regular_days)
        elif thirty:
            days.append(days_30e_360(prev, due))
        else:
            days.append(ordinal - prev_ord)
        dues.append(due)
        ordinals.append(ordinal)
        prev, prev_ord = due, ordinal
    years.append((year, first_of_year, periods))
    return Grid(
        starts=(start, *dues[:-1]),
        dues=tuple(dues),
        days=tuple(days),
        ordinals=np.array(ordinals, dtype=np.int64),
        years=tuple(years),
    )


def grid_of(loan: Loan) -> Grid:
    return period_grid(loan.start, loan.periodicity.months, loan.periods, loan.day_count)


def coupon_rates(loan: Loan, curve: Curve | None) -> list[Decimal]:
    """The coupon rate of each period: fixed, or index fixed at the period start + margin.

    Equal consecutive rates are the same object, so that the engine notices a change by
    identity first.
    """
    rate = loan.rate
    if rate.index is None:
        return [rate.value] * loan.periods
    if curve is None:
        raise ValueError(
            f"emprunt {loan.reference} : taux variable ({rate.index.value}) "
            "sans courbe de taux pour le projeter"
        )
    margin, bound, fixing = rate.value, rate.bound, curve.fixings(rate.index)
    out: list[Decimal] = []
    append = out.append
    previous: Decimal | None = None
    previous_fixing: Decimal | None = None
    for start in grid_of(loan).starts:
        value = fixing(start)
        if value == previous_fixing:  # the index did not move: the same coupon
            append(previous)  # type: ignore[arg-type]  # set with previous_fixing
            continue
        fixed: Decimal = bound(value + margin)
        if previous is not None and fixed == previous:
            fixed = previous
        append(fixed)
        previous, previous_fixing = fixed, value
    return out


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
    grid = grid_of(loan)
    with localcontext(DECIMAL_CONTEXT):
        rows = _rows(loan, coupon_rates(loan, curve), grid)
    name = curve.name if curve is not None and loan.rate.index is not None else None
    return Schedule(loan, rows, name, grid)


def _rows(loan: Loan, rates: list[Decimal], grid: Grid) -> tuple[Row, ...]:
    """The rows; the hot loop of the engine, kept flat (see the module's docstring)."""
    basis = _BASIS[loan.day_count]
    cent, half_up = CENT, ROUND_HALF_UP
    deferred = loan.deferral.periods
    last = loan.periods - 1
    balance = loan.nominal
    rows: list[Row] = []
    append = rows.append
    periods = zip(grid.dues, grid.days, rates, strict=True)

    # Interest of a period: rate × days / basis, computed once per (rate, days).
    factors: dict[int, Decimal] = {}
    factor_rate: Decimal | None = None
    cur_days = -1
    factor = ZERO

    def interest_factor(rate: Decimal, days: int) -> Decimal:
        nonlocal factors, factor_rate, cur_days, factor
        if rate is not factor_rate:
            if rate != factor_rate:
                factors = {}
            factor_rate = rate
            cur_days = -1
        if days != cur_days:
            cur_days = days
            found = factors.get(days)
            if found is None:
                found = factors[days] = rate * days / basis
            factor = found
        return factor

    capitalise = loan.deferral.kind is DeferralKind.TOTAL
    for _, (due, days, rate) in zip(range(deferred), periods, strict=False):
        interest = (balance * interest_factor(rate, days)).quantize(cent, half_up)
        if capitalise:
            balance += interest
            append((due, rate, interest, -interest, ZERO, balance))
        else:
            append((due, rate, interest, ZERO, interest, balance))

    if loan.profile is Profile.ANNUITY:
        per_year, left = loan.periodicity.value, last - deferred + 1
        payment_rate: Decimal | None = None
        payment = ZERO
        for due, days, rate in islice(periods, left - 1):
            if rate is not factor_rate or days != cur_days:  # inlined interest_factor
                if rate is not factor_rate:
                    if rate != factor_rate:
                        factors = {}
                    factor_rate = rate
                cur_days = days
                found = factors.get(days)
                if found is None:
                    found = factors[days] = rate * days / basis
                factor = found
            interest = (balance * factor).quantize(cent, half_up)
            if rate is not payment_rate:
                if rate != payment_rate:
                    payment = annuity(balance, rate / per_year, left).quantize(cent, half_up)
                payment_rate = rate
            left -= 1
            capital = payment - interest
            if 0 <= capital <= balance:
                balance -= capital
                append((due, rate, interest, capital, payment, balance))
            else:  # the rate jumped so high that the payment no longer covers the interest
                capital = ZERO if capital < 0 else balance
                balance -= capital
                append((due, rate, interest, capital, capital + interest, balance))
        for due, days, rate in periods:  # the last one repays what is left
            interest = (balance * interest_factor(rate, days)).quantize(cent, half_up)
            append((due, rate, interest, balance, balance + interest, balance - balance))
        return tuple(rows)

    _other_profiles(loan, periods, interest_factor, balance, append)
    return tuple(rows)


def _other_profiles(
    loan: Loan,
    periods: Iterator[tuple[date, int, Decimal]],
    interest_factor: Callable[[Decimal, int], Decimal],
    balance: Decimal,
    append: Callable[[Row], None],
) -> None:
    """Constant capital, in fine, progressive and custom tables (rows after the deferral)."""
    cent, half_up = CENT, ROUND_HALF_UP
    profile = loan.profile
    amortising = loan.amortising_periods
    growth_factor = _ONE + loan.growth
    per_year = loan.periodicity.value
    payment_rate: Decimal | None = None
    raw_payment = ZERO  # unrounded progressive payment, grown each period
    constant_capital = (balance / amortising).quantize(cent, half_up)
    for j, (due, days, rate) in enumerate(periods):
        interest = (balance * interest_factor(rate, days)).quantize(cent, half_up)
        if j == amortising - 1:
            capital = balance
        elif profile is Profile.CONSTANT_CAPITAL:
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
            capital = loan.capital_table[j]
        if capital > balance:
            capital = balance
        elif capital < 0:
            capital = ZERO
        balance -= capital
        append((due, rate, interest, capital, capital + interest, balance))
