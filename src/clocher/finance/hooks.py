"""How the finance app plugs into the platform: the operator tile, the departure export
(the loan book as a re-importable CSV, the épargne brute), the purge, the demo books."""

from __future__ import annotations

import csv
import io
import zipfile

from django.urls import reverse

from clocher.accounts.models import User
from clocher.core import tiles
from clocher.core.audit import Actor
from clocher.core.demo import DEMO_HOOKS
from clocher.core.models import Commune
from clocher.finance import services
from clocher.finance.engine.parsers import LOAN_CSV_COLUMNS
from clocher.finance.models import Loan, SavingsFigure, YearIndicator
from clocher.onboarding.services import register_exporter, register_purger


@tiles.register("finance")
def finance_tile() -> tiles.Tile:
    figures = services.tile_figures()
    amount = f"{figures['outstanding']:,.0f}".replace(",", "\u202f") + "\u00a0€"
    return tiles.Tile(
        "finance",
        "Dette des communes",
        [
            tiles.Figure("Communes suivies", str(figures["books"])),
            tiles.Figure("Encours cumulé", amount),
            tiles.Figure("Alertes", str(figures["alerts"])),
        ],
        url=reverse("finance:operator"),
    )


def _percent(value: object) -> str:
    return "" if value is None else str(value * 100).replace(".", ",")  # type: ignore[operator]


def loan_row(loan: Loan) -> dict[str, str]:
    """One loan in the import CSV's columns (docs/finance.md): the export re-imports."""
    indemnity = ""
    if loan.indemnity_kind == "pourcentage":
        indemnity = _percent(loan.indemnity_value)
    elif loan.indemnity_kind == "mois_interets":
        indemnity = str(loan.indemnity_months)
    return {
        "reference": loan.reference,
        "preteur": loan.lender,
        "objet": loan.label,
        "nominal": str(loan.nominal).replace(".", ","),
        "date_debut": loan.start.strftime("%d/%m/%Y"),
        "nombre_echeances": str(loan.periods),
        "periodicite": loan.get_periodicity_display(),
        "profil": loan.profile,
        "base": loan.day_count,
        "index": loan.rate_index,
        "taux": "" if loan.rate_index else _percent(loan.rate),
        "marge": _percent(loan.rate) if loan.rate_index else "",
        "plancher": _percent(loan.floor),
        "plafond": _percent(loan.cap),
        "progressivite": _percent(loan.growth) if loan.growth else "",
        "differe": str(loan.deferral_periods or ""),
        "type_differe": loan.deferral_kind if loan.deferral_periods else "",
        "indemnite": loan.indemnity_kind,
        "indemnite_valeur": indemnity,
        "structure": loan.structure_kind,
        "gissler": loan.gissler_declared,
        "tableau_capital": "|".join(v.replace(".", ",") for v in loan.capital_table),
    }


def loans_csv(loans: list[Loan]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, LOAN_CSV_COLUMNS, delimiter=";", lineterminator="\r\n")
    writer.writeheader()
    for loan in loans:
        writer.writerow(loan_row(loan))
    return out.getvalue()


@register_exporter("finances")
def export_finance(commune: Commune, archive: zipfile.ZipFile) -> None:
    """The loan book (the import's CSV layout) and the épargne brute of each year."""
    archive.writestr("finances/emprunts.csv", loans_csv(list(services.loans_of(commune))))
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(["annee", "epargne_brute", "origine"])
    for row in SavingsFigure.objects.filter(commune=commune):
        writer.writerow([row.year, str(row.amount).replace(".", ","), row.source])
    archive.writestr("finances/epargne_brute.csv", out.getvalue())


@register_purger("finances")
def purge_finance(commune: Commune) -> None:
    YearIndicator.objects.filter(commune=commune).delete()
    SavingsFigure.objects.filter(commune=commune).delete()
    Loan.objects.filter(commune=commune).delete()


def demo_books(actor: Actor, commune: Commune, admin: User) -> None:
    """Demo: each demo commune's loan book and a few years of épargne brute (demo.py)."""
    from clocher.finance.demo import seed_demo_book

    seed_demo_book(actor, commune)


DEMO_HOOKS.append(demo_books)
