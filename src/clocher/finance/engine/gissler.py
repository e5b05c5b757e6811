"""Charte Gissler (charte de bonne conduite, 7 décembre 2009; circulaire IOCB1015077C du
25 juin 2010): each loan gets a class from 1A (least risk) to 6F (hors charte).

The number is the index family (1 euro-zone indices, 2 inflation or spread between
inflation indices, 3 spread of euro-zone indices, 4 indices outside the euro zone or a
spread with one of them, 5 spread of non-euro indices, 6 anything else); the letter is the
structure (A fixed or simple variable rate, floored, capped or collared; B simple barrier
without leverage; C option d'échange (swaption); D multiplier up to 3, or up to 5 capped;
E multiplier up to 5; F anything else).

Standard products (fixed, index + margin with floor/cap) are computed. A structured loan is
computed from its declared `Structure` when it has one, but its contract's class (`gissler`)
is what counts: the result then carries a warning so that a person checks it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from clocher.finance.engine.loans import Index, Loan, Structure, StructureKind

RISKY_FROM = "3E"  # the operator's alert threshold for structured loans (issue 16)


@dataclass(frozen=True, slots=True)
class GisslerResult:
    """The class of a loan, whether the engine computed it, and why a person should look."""

    code: str  # "1A" … "6F"
    computed: bool
    warning: str = ""

    @property
    def number(self) -> int:
        return int(self.code[0])

    @property
    def letter(self) -> str:
        return self.code[1]

    @property
    def structured(self) -> bool:
        """Anything but 1A counts as structured debt in the indicators."""
        return self.code != "1A"


def at_least(code: str, threshold: str = RISKY_FROM) -> bool:
    """True when `code` is at or beyond `threshold` on both axes, or hors charte (6 or F).

    "3E+" thus alerts on 3E, 4E, 5F… and on every 6x and xF, not on 1E or 4A.
    """
    number, letter = int(code[0]), code[1]
    if number == 6 or letter == "F":
        return True
    return number >= int(threshold[0]) and letter >= threshold[1]


def structure_letter(structure: Structure) -> str:
    """The letter (B–F) of a structured formula."""
    kind, mult = structure.kind, structure.multiplier
    if kind is StructureKind.BARRIER:
        return "B" if mult <= 1 else _multiplier_letter(mult, structure.capped)
    if kind is StructureKind.SWAPTION:
        return "C"
    if kind is StructureKind.MULTIPLIER:
        return _multiplier_letter(mult, structure.capped)
    return "F"


def _multiplier_letter(mult: Decimal, capped: bool) -> str:
    if mult <= 3 or (mult <= 5 and capped):
        return "D"
    if mult <= 5:
        return "E"
    return "F"


def classify(loan: Loan) -> GisslerResult:
    """The Gissler class of `loan`, computed when it is a standard product."""
    if loan.structure is None:
        number = 2 if loan.rate.index is Index.INFLATION else 1
        code = f"{number}A"
        if loan.gissler is not None and loan.gissler != code:
            return GisslerResult(
                loan.gissler,
                computed=False,
                warning=f"classe déclarée {loan.gissler} différente de la classe calculée {code} : "
                "à vérifier",
            )
        return GisslerResult(code, computed=True)
    computed = f"{loan.structure.underlying.value}{structure_letter(loan.structure)}"
    if loan.gissler is None:
        return GisslerResult(
            computed,
            computed=False,
            warning=f"produit structuré sans classe déclarée : classe estimée {computed}, "
            "à confirmer sur le contrat",
        )
    warning = f"produit structuré : classe déclarée {loan.gissler}"
    if loan.gissler != computed:
        warning += f" (la formule décrite donnerait {computed})"
    return GisslerResult(
        loan.gissler, computed=False, warning=warning + ", à vérifier sur le contrat"
    )
