"""Loan books for the Django side's tests (the engine's own samples are in data/)."""

from __future__ import annotations

import re
from pathlib import Path

DATA = Path(__file__).parent / "data"

HEADER = "reference;preteur;objet;nominal;date_debut;nombre_echeances;periodicite;index;taux;marge;plancher;structure;gissler\n"  # noqa: E501
GOOD = HEADER + (
    "FIX-1;Banque A;École;100 000,00;01/01/2020;20;annuelle;;3,00;;;;\n"
    "VAR-1;Banque B;Voirie;200 000;01/01/2021;40;trimestrielle;Euribor 3 mois;;0,80;0;;\n"
)
# Line 3 has a nominal that is not a number: nothing of the file may be written.
BAD = HEADER + (
    "FIX-2;Banque A;École;50 000;01/01/2020;10;annuelle;;2,00;;;;\n"
    "FIX-3;Banque A;Mairie;cinquante;01/01/2020;10;annuelle;;2,00;;;;\n"
)
STRUCTURED = (
    HEADER
    + "STR-1;Banque C;Refinancement;1 000 000;01/01/2008;30;annuelle;;4,00;;;multiplicateur;4E\n"
)  # noqa: E501


def book(*references: tuple[str, str], start: str = "01/01/2015") -> str:
    """A CSV of fixed-rate yearly loans: (reference, nominal) each."""
    lines = [
        f"{ref};Banque;Objet;{nominal};{start};20;annuelle;;2,50;;;;\n"
        for ref, nominal in references
    ]
    return HEADER + "".join(lines)


def totem(insee: str = "", siret: str = "", name: str = "COMMUNE DE TEST") -> bytes:
    """A TOTEM document budgétaire holding the sample's first (good) EMPRUNT, whose headers
    name the given collectivité (`IdColl` SIRET, `CodInseeColl`; each left out when "")."""
    sample = (DATA / "totem_etat_dette.xml").read_text(encoding="utf-8")
    emprunt = re.search(r"<EMPRUNT>.*?</EMPRUNT>", sample, re.S)
    assert emprunt is not None
    doc = f'<LibelleColl V="{name}"/>' + (f'<IdColl V="{siret}"/>' if siret else "")
    budget = '<LibelleEtab V="BUDGET PRINCIPAL"/>' + (
        f'<CodInseeColl V="{insee}"/>' if insee else ""
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<DocumentBudgetaire xmlns="http://www.minefi.gouv.fr/cp/demat/docbudgetaire">'
        f"<EnTeteDocBudgetaire>{doc}</EnTeteDocBudgetaire><Budget>"
        f"<EnTeteBudget>{budget}</EnTeteBudget><Annexes><DATA_EMPRUNT>{emprunt.group(0)}"
        "</DATA_EMPRUNT></Annexes></Budget></DocumentBudgetaire>"
    ).encode()
