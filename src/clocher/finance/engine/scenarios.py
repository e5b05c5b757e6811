"""Rate scenarios over the remaining life of a book, and the refinancing what-if of one loan.

A scenario is a `Curve`: the reference (forward curve or flat), the same shifted by ±100 or
+200 bp, or the replay of a past period of the index histories. Its cost is the interest
still to pay after `as_of` under that curve; fixed-rate loans cost the same in all of them.

Early-repayment indemnities (the standard French clauses, see docs/finance.md):
- sans indemnité (most variable-rate and Livret A loans);
- a percentage of the capital repaid early (e.g. 3 %);
- n months of interest on that capital at the current rate (e.g. 6 months);
- indemnité actuarielle: the present value, at the market reinvestment rate for the
  remaining life, of the payments no longer due, minus the capital repaid, when positive
  (the lender's loss on re-lending at the market rate; the clause of most fixed-rate loans
  to collectivités since 2000).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext

from clocher.finance.engine.curves import Curve, IndexHistory
from clocher.finance.engine.loans import (
    CENT,
    ZERO,
    Deferral,
    IndemnityKind,
    Index,
    Loan,
    Profile,
    Rate,
)
from clocher.finance.engine.schedule import (
    DECIMAL_CONTEXT,
    DUE,
    INTEREST,
    PAYMENT,
    Schedule,
    add_months,
    build_schedule,
)

STANDARD_SHIFTS = (Decimal("0.01"), Decimal("-0.01"), Decimal("0.02"))


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    curve: Curve


@dataclass(frozen=True, slots=True)
class ScenarioCost:
    """Interest still due after `as_of` under one scenario, and its difference to the first."""

    name: str
    interest: Decimal
    delta: Decimal
    per_loan: Mapping[str, Decimal]


def replay_curve(base: Curve, histories: Mapping[Index, IndexHistory], replay_from: date) -> Curve:
    """The indices re-living their history from `replay_from`, moved so it starts at `as_of`."""
    forward = {}
    for index, hist in histories.items():
        points = []
        months = 0
        start_value = hist.value_at(replay_from)
        if start_value is not None:
            points.append((base.as_of, start_value))
        for d, v in zip(hist.dates, hist.values, strict=True):
            if d <= replay_from:
                continue
            months = (d.year - replay_from.year) * 12 + d.month - replay_from.month
            points.append((add_months(base.as_of, months), v))
        if points:
            forward[index] = IndexHistory.of(index, points)
    return replace(
        base, forward=forward, flat={}, shift=ZERO, name=f"rejeu depuis {replay_from:%m/%Y}"
    )


def standard_scenarios(
    base: Curve,
    histories: Mapping[Index, IndexHistory] | None = None,
    replay_from: date | None = None,
) -> list[Scenario]:
    """Reference, +100 bp, −100 bp, +200 bp and, given histories, a historical replay."""
    scenarios = [Scenario(base.name, base)]
    scenarios += [Scenario(c.name, c) for c in (base.shifted(s) for s in STANDARD_SHIFTS)]
    if histories and replay_from is not None:
        replay = replay_curve(base, histories, replay_from)
        scenarios.append(Scenario(replay.name, replay))
    return scenarios


def remaining_interest(schedule: Schedule, after: date) -> Decimal:
    return sum((r[INTEREST] for r in schedule.rows if r[DUE] > after), ZERO)


def scenario_costs(
    loans: Iterable[Loan], scenarios: Sequence[Scenario], as_of: date
) -> list[ScenarioCost]:
    """Cost of each scenario over the remaining life of `loans` (fixed loans computed once)."""
    loans = list(loans)
    fixed = {
        ln.reference: remaining_interest(build_schedule(ln), as_of)
        for ln in loans
        if ln.rate.is_fixed
    }
    fixed_total = sum(fixed.values(), ZERO)
    out: list[ScenarioCost] = []
    for sc in scenarios:
        per_loan = dict(fixed)
        for ln in loans:
            if not ln.rate.is_fixed:
                per_loan[ln.reference] = remaining_interest(build_schedule(ln, sc.curve), as_of)
        total = fixed_total + sum((v for k, v in per_loan.items() if k not in fixed), ZERO)
        delta = total - out[0].interest if out else ZERO
        out.append(ScenarioCost(sc.name, total, delta, per_loan))
    return out


def early_repayment_indemnity(
    schedule: Schedule, on: date, market_rate: Decimal | None = None
) -> Decimal:
    """Indemnity owed for repaying everything still owed after the payment due on `on`."""
    loan = schedule.loan
    clause = loan.early_repayment
    outstanding = schedule.outstanding_at(on)
    if not outstanding or clause.kind is IndemnityKind.NONE:
        return ZERO
    with localcontext(DECIMAL_CONTEXT):
        if clause.kind is IndemnityKind.PERCENT:
            return (outstanding * clause.value).quantize(CENT, ROUND_HALF_UP)
        if clause.kind is IndemnityKind.MONTHS_OF_INTEREST:
            rate = schedule.rate_at(on)
            return (outstanding * rate * clause.months / 12).quantize(CENT, ROUND_HALF_UP)
        if market_rate is None:
            raise ValueError(
                f"emprunt {loan.reference} : l'indemnité actuarielle demande le taux de marché"
            )
        factor = 1 / (1 + market_rate / loan.periodicity.value)
        discount = Decimal(1)
        present = ZERO
        for row in schedule.rows_after(on):
            discount *= factor
            present += row[PAYMENT] * discount
        return max(ZERO, (present - outstanding).quantize(CENT, ROUND_HALF_UP))


@dataclass(frozen=True, slots=True)
class RefinancingResult:
    """Repay `old` on `on` and borrow its outstanding again on `new`: is it worth it?

    `savings` = payments no longer due − payments of the new loan − indemnity − fees
    (undiscounted); `break_even` is the first due date where the cumulated difference of
    payments covers the indemnity and fees (None if it never does).
    """

    on: date
    outstanding: Decimal
    indemnity: Decimal
    fees: Decimal
    old_remaining: Decimal
    new_remaining: Decimal
    savings: Decimal
    break_even: date | None
    new_schedule: Schedule


def refinance(
    schedule: Schedule,
    on: date,
    new_rate: Rate,
    *,
    market_rate: Decimal | None = None,
    fees: Decimal = ZERO,
    periods: int | None = None,
    curve: Curve | None = None,
) -> RefinancingResult:
    """What-if: refinance the loan of `schedule` on `on` at `new_rate`, same periods left."""
    old = schedule.loan
    outstanding = schedule.outstanding_at(on)
    remaining = schedule.rows_after(on)
    if not outstanding or not remaining:
        raise ValueError(
            f"emprunt {old.reference} : plus de capital dû après le {on:%d/%m/%Y}, "
            "rien à refinancer"
        )
    indemnity = early_repayment_indemnity(schedule, on, market_rate)
    new_loan = Loan(
        reference=f"{old.reference}-R",
        nominal=outstanding,
        start=on,
        periods=periods or len(remaining),
        rate=new_rate,
        periodicity=old.periodicity,
        profile=Profile.ANNUITY if old.profile is Profile.CUSTOM else old.profile,
        day_count=old.day_count,
        growth=old.growth,
        deferral=Deferral(),
        lender=old.lender,
        label=f"refinancement de {old.reference}",
    )
    new_schedule = build_schedule(new_loan, curve)
    old_total = sum((r[PAYMENT] for r in remaining), ZERO)
    new_total = sum((r[PAYMENT] for r in new_schedule.rows), ZERO)
    diff: dict[date, Decimal] = {}
    for r in remaining:
        diff[r[DUE]] = diff.get(r[DUE], ZERO) + r[PAYMENT]
    for r in new_schedule.rows:
        diff[r[DUE]] = diff.get(r[DUE], ZERO) - r[PAYMENT]
    cumulated = -(indemnity + fees)
    break_even = None
    for d in sorted(diff):
        cumulated += diff[d]
        if cumulated >= 0:
            break_even = d
            break
    return RefinancingResult(
        on=on,
        outstanding=outstanding,
        indemnity=indemnity,
        fees=fees,
        old_remaining=old_total,
        new_remaining=new_total,
        savings=old_total - new_total - indemnity - fees,
        break_even=break_even,
        new_schedule=new_schedule,
    )
