"""Imports: the CSV loan book, the TOTEM budget annex (état de la dette) and index histories.

Each parser reads everything it can and returns the loans it fully understood plus one
`LineError` per loan (or line) it could not read, with a French message naming the field;
it never returns half a loan. Writing all-or-nothing is the caller's transaction.
Columns and codes are documented in docs/finance.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from clocher.finance.engine.curves import IndexHistory
from clocher.finance.engine.loans import Index, Loan


@dataclass(frozen=True, slots=True)
class LineError:
    """Where a record could not be read (line of the CSV, n-th EMPRUNT of the XML) and why."""

    line: int
    reference: str
    message: str

    def __str__(self) -> str:
        where = f"ligne {self.line}"
        if self.reference:
            where += f" ({self.reference})"
        return f"{where} : {self.message}"


@dataclass(frozen=True, slots=True)
class LoanImport:
    """Loans read, errors per unreadable record, and notes on records deliberately skipped."""

    loans: list[Loan] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)
    skipped: list[LineError] = field(default_factory=list)
    fatal: str = ""  # the whole file could not be read (not CSV/XML, no header…)

    @property
    def ok(self) -> bool:
        return not self.fatal and not self.errors


@dataclass(frozen=True, slots=True)
class IndexImport:
    histories: dict[Index, IndexHistory] = field(default_factory=dict)
    errors: list[LineError] = field(default_factory=list)
    fatal: str = ""


def parse_loan_csv(data: bytes | str) -> LoanImport:
    """The CSV loan book: `;`-separated, decimal comma, French headers (docs/finance.md)."""
    raise NotImplementedError


def parse_totem(data: bytes) -> LoanImport:
    """The `EMPRUNT` elements of a TOTEM document budgétaire (annexe « état de la dette »)."""
    raise NotImplementedError


def parse_index_csv(data: bytes | str, index: Index | None = None) -> IndexImport:
    """An index history: Banque de France (webstat) or EMMI (Euribor) CSV layout.

    A Banque de France export holds one series: `index` names it (required). An EMMI file
    holds one column per tenor (1M, 3M, 6M, 12M) and yields one history per Euribor.
    """
    raise NotImplementedError
