"""Loans for the engine's tests, written as a contract reads: amounts and rates as text."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from clocher.finance.engine import Loan, Periodicity, Rate


def make_loan(
    reference: str,
    nominal: str,
    start: date,
    periods: int,
    rate: str | Rate,
    periodicity: Periodicity = Periodicity.QUARTERLY,
    **terms: Any,
) -> Loan:
    """`rate` as text is a fixed rate; a `Rate` is taken as it is (index, margin, floor)."""
    fixed = Rate(Decimal(rate)) if isinstance(rate, str) else rate
    return Loan(reference, Decimal(nominal), start, periods, fixed, periodicity, **terms)
