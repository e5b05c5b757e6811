"""The finance engine: exact loan schedules, indicators, Gissler classes, scenarios, imports.

Plain Python (no Django), money in `Decimal` rounded to the cent as banks do, rates as
`Decimal` fractions (``Decimal("0.0325")`` is 3.25 %). The Django app stores `Loan`s and
calls these functions; see docs/finance.md for the conventions and the legal references.

Entry points:
- `loans`: `Loan`, `Rate`, `Deferral`, `EarlyRepayment` and their enums;
- `curves`: `IndexHistory`, `Curve` (past fixings + forward or flat scenario + shift);
- `schedule`: `build_schedule(loan, curve) -> Schedule` (rows as plain tuples);
- `indicators`: `book_indicators(...)` per year, `actuarial_rate(...)`;
- `gissler`: `classify(loan) -> GisslerResult`;
- `scenarios`: `standard_scenarios`, `scenario_costs`, `early_repayment_indemnity`, `refinance`;
- `parsers`: `parse_loan_csv`, `parse_totem`, `parse_index_csv` (report one error per bad line).
"""

from clocher.finance.engine.curves import Curve, IndexHistory
from clocher.finance.engine.loans import (
    DayCount,
    Deferral,
    DeferralKind,
    EarlyRepayment,
    IndemnityKind,
    Index,
    Loan,
    Periodicity,
    Profile,
    Rate,
    Structure,
    StructureKind,
)
from clocher.finance.engine.schedule import Schedule, build_schedule

__all__ = [
    "Curve",
    "DayCount",
    "Deferral",
    "DeferralKind",
    "EarlyRepayment",
    "Index",
    "IndemnityKind",
    "IndexHistory",
    "Loan",
    "Periodicity",
    "Profile",
    "Rate",
    "Schedule",
    "Structure",
    "StructureKind",
    "build_schedule",
]
