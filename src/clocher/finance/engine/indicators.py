"""Debt indicators of a loan book, per year, as the prefecture and the budget debate use them.

Definitions (docs/finance.md cites the texts: CGCT art. L.2312-1 and D.2312-3 for the
rapport d'orientation budgétaire, instruction M57/M14 annexe « état de la dette »):
- encours au 31/12: capital still owed after the payments due on or before 31 December;
- annuité: capital and interest actually paid in the year (capitalised interest of a total
  deferral is neither: it is added to the capital owed);
- taux moyen pondéré: the coupon rates of the periods running on 31 December, weighted by
  each loan's encours; taux actuariel: the rate t at which the remaining payments after
  31 December, discounted at (1 + t)^(days/365), equal the encours (internal rate of return);
- durée de vie résiduelle: years from 31 December to each loan's last payment, weighted by
  its encours; durée de vie moyenne: years until each remaining euro of capital is repaid,
  weighted by that capital (i.e. the capital's average time to repayment);
- capacité de désendettement: encours / épargne brute of the year, in years (None when the
  épargne brute is not known or not positive: the debt cannot be repaid from savings);
- shares of variable-rate and structured (Gissler class other than 1A) debt in the encours;
- extinction profile: the encours at each 31 December until it reaches 0.
Rates and durations are ratios, not money: the actuarial rate is solved in binary floating
point (Newton, time in whole months / 12 + days / 365) and returned as a `Decimal`
rounded to 1e-6; amounts stay exact.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import numpy as np

from clocher.finance.engine.gissler import classify
from clocher.finance.engine.loans import ZERO, DeferralKind
from clocher.finance.engine.schedule import (
    BALANCE,
    DUE,
    PAYMENT,
    Schedule,
    add_months,
    grid_of,
    month_length,
)

RATE_STEP = Decimal("0.000001")
YEARS_STEP = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class YearFigures:
    """The indicators of one year (amounts in euros, rates as fractions, durations in years)."""

    year: int
    outstanding: Decimal
    capital: Decimal
    interest: Decimal
    weighted_rate: Decimal | None
    actuarial_rate: Decimal | None
    residual_life: Decimal | None
    average_life: Decimal | None
    gross_savings: Decimal | None
    debt_capacity: Decimal | None
    variable_share: Decimal
    structured_share: Decimal
    loans: int

    @property
    def annuity(self) -> Decimal:
        return self.capital + self.interest


@dataclass(frozen=True, slots=True)
class BookIndicators:
    """Figures for the requested years and the whole extinction profile."""

    years: tuple[YearFigures, ...]
    extinction: tuple[tuple[int, Decimal], ...]

    def year(self, year: int) -> YearFigures:
        for figures in self.years:
            if figures.year == year:
                return figures
        raise KeyError(f"année {year} non calculée")


def book_indicators(
    schedules: Sequence[Schedule],
    years: Iterable[int],
    gross_savings: Mapping[int, Decimal] | None = None,
) -> BookIndicators:
    """Indicators of the book made of `schedules` for each of `years`.

    Amounts are summed exactly per loan and year over slices of the schedule's columns; the
    flows feeding the ratios (actuarial rate, average life) are added by day in float arrays.
    """
    wanted = sorted(set(years))
    wanted_set = set(wanted)
    savings = gross_savings or {}
    if not schedules or not wanted:
        return BookIndicators(tuple(_empty(y, savings.get(y)) for y in wanted), ())
    first = min(min(s.loan.start.year for s in schedules), wanted[0])
    last = max(max(s.end.year for s in schedules), wanted[-1])
    span = last - first + 1
    outstanding = [ZERO] * span
    capital = [ZERO] * span
    interest = [ZERO] * span
    rate_weight = [ZERO] * span
    residual = [ZERO] * span  # Σ encours × days from 31/12 to the loan's end
    variable = [ZERO] * span
    structured = [ZERO] * span
    count = [0] * span
    ends = [date(first + i, 12, 31).toordinal() for i in range(span)]
    base = date(first, 1, 1).toordinal()
    pay_by_day = np.zeros(date(last + 1, 1, 1).toordinal() - base)
    cap_by_day = np.zeros(len(pay_by_day))

    min_year, max_year = wanted[0], wanted[-1]
    for sched in schedules:
        loan = sched.loan
        grid = sched.grid or grid_of(loan)
        groups = grid.years
        # Nothing before the first wanted year counts but the balance reached by then.
        g = 0
        while g < len(groups) and groups[g][0] < min_year:
            g += 1
        if g == len(groups):
            continue  # repaid before the first wanted year
        a0 = groups[g][1]
        balance = sched.rows[a0 - 1][BALANCE] if a0 else loan.nominal
        _, rates, _, caps, pays, bals = zip(*sched.rows[a0:], strict=True)
        # Flows after 31/12 of the first wanted year, for the ratios (a loan's dates are distinct).
        f0 = groups[g][2] - a0 if groups[g][0] == min_year else 0
        days = grid.ordinals[a0 + f0 :] - base
        pay_by_day[days] += np.fromiter(map(float, pays[f0:]), dtype=float, count=len(days))
        cap_by_day[days] += np.fromiter(map(float, caps[f0:]), dtype=float, count=len(days))
        is_var = loan.rate.index is not None
        is_struct = classify(loan).structured
        capitalised = loan.deferral.kind is DeferralKind.TOTAL and loan.deferral.periods > 0
        end_ord = grid.ordinals[-1]
        cursor = max(loan.start.year, min_year) - first
        for year, a, b in groups[g:]:
            a, b, y = a - a0, b - a0, year - first
            while cursor < y:  # 31 December of year `cursor` lies before this year's rows
                if balance:
                    outstanding[cursor] += balance
                    if cursor + first in wanted_set:
                        rate_weight[cursor] += balance * rates[a]
                        residual[cursor] += balance * (end_ord - ends[cursor])
                        count[cursor] += 1
                        if is_var:
                            variable[cursor] += balance
                        if is_struct:
                            structured[cursor] += balance
                cursor += 1
            if year <= max_year:
                paid = sum(pays[a:b], ZERO)
                if capitalised:
                    cap = sum((c for c in caps[a:b] if c > 0), ZERO)
                else:
                    cap = sum(caps[a:b], ZERO)
                capital[y] += cap
                interest[y] += paid - cap
            balance = bals[b - 1]

    flow_days = np.nonzero(pay_by_day)[0]
    flow_vals = pay_by_day[flow_days]
    flow_times = np.array([_dec31_time(date.fromordinal(int(d) + base)) for d in flow_days])
    cap_days = np.nonzero(cap_by_day)[0]
    cap_vals = cap_by_day[cap_days]

    figures = []
    for year in wanted:
        i = year - first
        enc = outstanding[i]
        weighted = actuarial = res_life = avg_life = None
        if enc > 0:
            weighted = (rate_weight[i] / enc).quantize(RATE_STEP, ROUND_HALF_UP)
            res_life = _years(residual[i] / enc)
            after = flow_days > ends[i] - base
            actuarial = _irr_vector(float(enc), flow_times[after] - year, flow_vals[after])
            later = cap_days > ends[i] - base
            weight = cap_vals[later].sum()
            if weight > 0:
                mean_day = float((cap_vals[later] * cap_days[later]).sum() / weight)
                avg_life = _years(Decimal(repr(mean_day + base - ends[i])))
        gs = savings.get(year)
        capacity = None
        if gs is not None and gs > 0:
            capacity = (enc / gs).quantize(YEARS_STEP, ROUND_HALF_UP)
        figures.append(
            YearFigures(
                year=year,
                outstanding=enc,
                capital=capital[i],
                interest=interest[i],
                weighted_rate=weighted,
                actuarial_rate=actuarial,
                residual_life=res_life,
                average_life=avg_life,
                gross_savings=gs,
                debt_capacity=capacity,
                variable_share=_share(variable[i], enc),
                structured_share=_share(structured[i], enc),
                loans=count[i],
            )
        )
    start = wanted[0] - first
    extinction = []
    for i in range(start, span):
        extinction.append((first + i, outstanding[i]))
        if not outstanding[i] and i > start:
            break
    return BookIndicators(tuple(figures), tuple(extinction))


def _years(days: Decimal) -> Decimal:
    return (days / Decimal("365.25")).quantize(YEARS_STEP, ROUND_HALF_UP)


def _dec31_time(when: date) -> float:
    """`year_fraction(31/12 of year 0, when)` plus that year: t for 31/12 Y is this − Y.

    From a 31 December, whole months end on months' last days: a month-end date is whole
    months away, any other date is the previous month-end plus its day of the month.
    """
    months = when.year * 12 + when.month - 12
    if when.day == month_length(when.year, when.month):
        return months / 12
    return (months - 1) / 12 + when.day / 365


def _irr_vector(present: float, times: np.ndarray, values: np.ndarray) -> Decimal | None:
    """Rate t with Σ values / (1+t)^times = present (Newton from 3 %); None if it diverges."""
    if not len(times) or present <= 0:
        return None
    log_rate = math.log1p(0.03)  # iterate on ln(1+t): stays defined for any t > −1
    for _ in range(60):
        pv = values * np.exp(-times * log_rate)
        f = float(pv.sum()) - present
        df = -float((times * pv).sum())
        if df == 0:
            return None
        step = f / df
        log_rate -= step
        if abs(step) < 1e-12:
            return Decimal(repr(math.expm1(log_rate))).quantize(RATE_STEP, ROUND_HALF_UP)
        if not -5 < log_rate < 5:
            return None
    return None


def _share(part: Decimal, whole: Decimal) -> Decimal:
    return (part / whole).quantize(Decimal("0.0001"), ROUND_HALF_UP) if whole else ZERO


def _empty(year: int, gross_savings: Decimal | None) -> YearFigures:
    return YearFigures(
        year, ZERO, ZERO, ZERO, None, None, None, None, gross_savings, None, ZERO, ZERO, 0
    )


def year_fraction(origin: date, when: date) -> float:
    """Years from `origin` to `when`: whole months / 12 + remaining days / 365.

    The French convention of the taux actuariel (code de la consommation, annexe à
    l'article R.314-3): a period of whole months is the same fraction of a year whatever the
    month lengths, so a 4 % yearly loan has a 4 % actuarial rate in leap years too.
    """
    months = (when.year - origin.year) * 12 + when.month - origin.month
    if add_months(origin, months) > when:
        months -= 1
    return months / 12 + (when - add_months(origin, months)).days / 365


def actuarial_rate(schedule: Schedule, on: date) -> Decimal | None:
    """The internal rate of return of one loan's payments after `on` against its balance."""
    rows = schedule.rows_after(on)
    times = np.array([year_fraction(on, r[DUE]) for r in rows])
    values = np.array([float(r[PAYMENT]) for r in rows])
    return _irr_vector(float(schedule.outstanding_at(on)), times, values)
