"""Finance: schedules of 10,000 loans of 20–30 years with all the book's indicators, Clocher's
Decimal engine vs QuantLib's schedule generation on the same loans, in the same run.

Clocher: exact schedules (Decimal, rounded to the cent per period, variable loans projected
on a forward curve), then the book's indicators for ten years (encours, annuité, taux moyen
pondéré and actuariel, durées de vie, shares, extinction profile) and each loan's Gissler
class. QuantLib (the peer): for each loan its ql.Schedule and a FixedRateLeg over the same
outstanding capital (the notionals from a float annuity loop, the coupon rates of each
period), every coupon's date and amount read back; no indicators, no rounding.
Prints both times and the ratio QuantLib time / Clocher time (goal ≥ 1.0).
"""

from __future__ import annotations

import os
import random
import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import QuantLib as ql  # noqa: E402

from clocher.finance.engine import (  # noqa: E402
    Curve,
    DayCount,
    Index,
    IndexHistory,
    Loan,
    Periodicity,
    Profile,
    Rate,
    build_schedule,
)
from clocher.finance.engine.indicators import book_indicators  # noqa: E402
from clocher.finance.engine.schedule import coupon_rates  # noqa: E402

N = int(os.environ.get("BENCH_LOANS", "10000"))
AS_OF = date(2025, 12, 31)
FORWARD = IndexHistory.of(
    Index.EURIBOR_3M,
    [
        (date(2026 + i, 1, 1), Decimal(v) / 10000)
        for i, v in enumerate([210, 225, 240, 250, 260, 265, 270])
    ],
)
HISTORY = IndexHistory.of(
    Index.EURIBOR_3M,
    [
        (date(2014, 1, 1), Decimal("0.0029")),
        (date(2016, 1, 1), Decimal("-0.0031")),
        (date(2022, 7, 1), Decimal("0.0024")),
        (date(2023, 1, 1), Decimal("0.0213")),
        (date(2024, 1, 1), Decimal("0.0392")),
    ],
)
CURVE = Curve(AS_OF, history={Index.EURIBOR_3M: HISTORY}, forward={Index.EURIBOR_3M: FORWARD})
QL_DAY_COUNTS = {
    DayCount.THIRTY_360: ql.Thirty360(ql.Thirty360.ISDA),
    DayCount.ACT_360: ql.Actual360(),
    DayCount.ACT_365: ql.Actual365Fixed(),
}


def make_loans(n: int) -> list[Loan]:
    rnd = random.Random(16)
    loans = []
    for i in range(n):
        periodicity = rnd.choice(
            [Periodicity.QUARTERLY] * 3 + [Periodicity.MONTHLY, Periodicity.YEARLY]
        )
        years = rnd.randint(20, 30)
        kind = rnd.random()
        start = date(rnd.randint(2005, 2025), rnd.randint(1, 12), rnd.randint(1, 28))
        if kind < 0.3:
            rate = Rate(Decimal(rnd.randint(30, 150)) / 10000, Index.EURIBOR_3M, floor=Decimal(0))
        else:
            rate = Rate(Decimal(rnd.randint(50, 550)) / 10000)
        profile = Profile.ANNUITY
        if kind > 0.85:
            profile = Profile.CONSTANT_CAPITAL
        elif kind > 0.8:
            profile = Profile.IN_FINE
        loans.append(
            Loan(
                f"L{i:05d}",
                Decimal(rnd.randint(50_000, 5_000_000)),
                start,
                years * periodicity.value,
                rate,
                periodicity,
                profile=profile,
                day_count=rnd.choice(list(DayCount)),
            )
        )
    return loans


def clocher(loans: list[Loan]) -> tuple[float, int]:
    begin = time.perf_counter()
    schedules = [build_schedule(loan, CURVE) for loan in loans]
    book = book_indicators(schedules, range(2026, 2036))
    elapsed = time.perf_counter() - begin
    assert book.year(2026).outstanding > 0
    return elapsed, sum(len(s.rows) for s in schedules)


def quantlib_inputs(loans: list[Loan]) -> list[tuple]:
    """What QuantLib is given: dates, day count, float rates per period (not timed)."""
    out = []
    for loan in loans:
        rates = [float(r) for r in coupon_rates(loan, CURVE)]
        out.append((loan, rates))
    return out


def quantlib(inputs: list[tuple]) -> tuple[float, int]:
    begin = time.perf_counter()
    rows = 0
    for loan, rates in inputs:
        months = loan.periodicity.months
        start = ql.Date(loan.start.day, loan.start.month, loan.start.year)
        sched = ql.Schedule(
            start,
            start + ql.Period(months * loan.periods, ql.Months),
            ql.Period(months, ql.Months),
            ql.NullCalendar(),
            ql.Unadjusted,
            ql.Unadjusted,
            ql.DateGeneration.Forward,
            False,
        )
        n, per_year = loan.periods, loan.periodicity.value
        balance, notionals = float(loan.nominal), []
        for k in range(n):  # outstanding capital of each period (float annuity / profile)
            notionals.append(balance)
            i = rates[k] / per_year
            if loan.profile is Profile.IN_FINE:
                capital = balance if k == n - 1 else 0.0
            elif loan.profile is Profile.CONSTANT_CAPITAL:
                capital = float(loan.nominal) / n
            else:
                pay = balance / (n - k) if i == 0 else balance * i / (1 - (1 + i) ** -(n - k))
                capital = pay - balance * i
            balance -= capital
        leg = ql.FixedRateLeg(sched, QL_DAY_COUNTS[loan.day_count], notionals, rates)
        for cf in leg:
            cf.date()
            cf.amount()
            rows += 1
    return time.perf_counter() - begin, rows


def main() -> None:
    loans = make_loans(N)
    inputs = quantlib_inputs(loans)
    best_c = best_q = float("inf")
    for _ in range(int(os.environ.get("BENCH_ROUNDS", "2"))):  # alternated rounds, best of each
        c, rows_c = clocher(loans)
        q, rows_q = quantlib(inputs)
        best_c, best_q = min(best_c, c), min(best_q, q)
    assert rows_c == rows_q
    print(f"loans: {N:,}, periods: {rows_c:,}")
    print(f"Clocher schedules + indicators: {best_c:.2f} s ({rows_c / best_c:,.0f} periods/s)")
    print(f"QuantLib schedules (peer):      {best_q:.2f} s ({rows_q / best_q:,.0f} periods/s)")
    print(f"ratio QuantLib time / Clocher time: {best_q / best_c:.2f}")


if __name__ == "__main__":
    main()
