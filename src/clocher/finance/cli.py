"""Finance commands: `clocher finance import|schedule|report|indicators`.

Thin: every command calls services.py / report.py and only prints. A commune is named by
its INSEE code; `operateur` names the operator's own debt.
"""

from __future__ import annotations

import csv
import os
import sys
import tempfile
from dataclasses import asdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
from django.core.exceptions import ValidationError
from rich.table import Table

from clocher.core import scoping, terminal
from clocher.core.cli import cli_actor, console, fail, find_commune
from clocher.core.terminal import json_option, report_json_option, show, show_report
from clocher.finance import report, services
from clocher.finance.models import Loan

OPERATOR = "operateur"


def _owner(insee: str) -> services.Owner:
    if insee == OPERATOR:
        return None
    return find_commune(insee, f" (code INSEE, ou « {OPERATOR} » pour la dette propre)")


def _money(value: object) -> str:
    return "—" if value is None else f"{value:,.2f}".replace(",", "\u202f").replace(".", ",")


def _write(path: Path, data: bytes) -> None:
    """Atomically (temp file + rename): never half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".finance-")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, path)


@click.group()
def finance() -> None:
    """Dette : emprunts, échéanciers exacts, indicateurs, annexe du ROB."""


@finance.command("import")
@click.argument("insee")
@click.argument(
    "file", metavar="FICHIER", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
def import_command(insee: str, file: Path) -> None:
    """Importe les emprunts de FICHIER (CSV ou TOTEM XML) : tout ou rien."""
    owner = _owner(insee)
    if file.stat().st_size > services.MAX_IMPORT_BYTES:
        fail(f"Fichier trop volumineux : {file.name} dépasse 10 Mo.")
    result = services.import_loans(cli_actor(), owner, file.read_bytes(), file.name)
    for error in result.errors:
        console.print(f"  [red]✗[/] {error}", highlight=False)
    for note in result.skipped:
        console.print(f"  [yellow]–[/] {note}", highlight=False)
    if not result.ok:
        fail(result.summary())
    console.print(result.summary(), highlight=False)


@finance.command("schedule")
@click.argument("loan", metavar="EMPRUNT")
@click.option("--commune", "insee", help="Code INSEE, si le numéro de contrat est ambigu.")
@click.option("--csv", "as_csv", is_flag=True, help="Sortie CSV « ; » (tableur).")
@json_option
def schedule_command(loan: str, insee: str | None, as_csv: bool, as_json: bool) -> None:
    """Échéancier de l'EMPRUNT (identifiant numérique ou numéro de contrat)."""
    found = Loan.objects.filter(pk=int(loan)) if loan.isdigit() else Loan.objects.none()
    if not found.exists():
        found = Loan.objects.filter(reference=loan)
        if insee:
            found = found.filter(commune=_owner(insee))
    if found.count() != 1:
        fail(
            f"Emprunt « {loan} » introuvable."
            if not found.exists()
            else f"Plusieurs emprunts « {loan} » : précisez --commune INSEE."
        )
    chosen = found.get()
    schedule, warnings = services.schedule_of(chosen)
    if as_csv:
        writer = csv.writer(sys.stdout, delimiter=";", lineterminator="\n")
        writer.writerow(["echeance", "taux", "interets", "capital", "echeance_totale", "crd"])
        for row in schedule.rows:
            writer.writerow([row[0].isoformat(), *(str(v).replace(".", ",") for v in row[1:])])
        return
    if as_json:
        keys = ("due", "rate", "interest", "capital", "payment", "outstanding")
        show(Table(), True, [dict(zip(keys, row, strict=True)) for row in schedule.rows])
        return
    for note in warnings:
        console.print(f"[yellow]{note}[/]", highlight=False)
    table = Table(
        title=f"Échéancier de {chosen.reference} ({services.owner_label(chosen.commune)})"
    )
    for name in ("N°", "Échéance", "Taux", "Intérêts", "Capital", "Échéance totale", "CRD"):
        table.add_column(name, justify="right")
    for n, row in enumerate(schedule.rows, start=1):
        table.add_row(
            str(n), f"{row[0]:%d/%m/%Y}", f"{row[1] * 100:.3f} %", *(_money(v) for v in row[2:])
        )
    console.print(table)
    console.print(f"Intérêts totaux : {_money(schedule.total_interest)} €", highlight=False)


@finance.command("indicators")
@click.argument("insee")
@click.option(
    "--projection",
    is_flag=True,
    help="Projette aussi l'épargne brute (8 années connues au moins) et la capacité.",
)
@json_option
def indicators_command(insee: str, projection: bool, as_json: bool) -> None:
    """Indicateurs de la dette par année (encours, annuité, taux, capacité de désendettement)."""
    owner = _owner(insee)
    if projection:
        if owner is None:
            fail("La projection de l'épargne brute se fait pour une commune (code INSEE).")
        else:
            try:
                services.project_savings(cli_actor(), owner)
            except ValidationError as exc:
                fail(" ".join(exc.messages))
    book = services.build_book(owner)
    for note in [] if as_json else book.warnings:
        console.print(f"[yellow]{note}[/]", highlight=False)
    table = Table(title=f"Dette — {services.owner_label(owner)}")
    for name in ("Année", "Encours 31/12", "Capital", "Intérêts", "Taux moyen",
                 "Durée résiduelle", "Épargne brute", "Capacité (ans)"):  # fmt: skip
        table.add_column(name, justify="right")
    for f in book.indicators.years:
        table.add_row(
            str(f.year),
            _money(f.outstanding),
            _money(f.capital),
            _money(f.interest),
            "—" if f.weighted_rate is None else f"{f.weighted_rate * 100:.2f} %",
            "—" if f.residual_life is None else str(f.residual_life),
            _money(f.gross_savings),
            "—" if f.debt_capacity is None else str(f.debt_capacity),
        )
    show(table, as_json)
    if projection and owner is not None and not as_json:
        _print_projection(services.savings_projection(owner))


def _print_projection(projected: services.SavingsProjection) -> None:
    table = Table(title="Épargne brute et capacité de désendettement projetées")
    for name in ("Année", "Épargne brute", "Intervalle 80 %", "Intervalle 95 %",
                 "Encours 31/12", "Capacité (ans)"):  # fmt: skip
        table.add_column(name, justify="right")
    for y in projected.years:
        table.add_row(
            str(y.year),
            _money(y.savings),
            f"{_money(y.low['80'])} à {_money(y.high['80'])}",
            f"{_money(y.low['95'])} à {_money(y.high['95'])}",
            _money(y.outstanding),
            "non calculable" if y.capacity is None else str(y.capacity),
        )
    console.print(table)
    if projected.forecast is not None:
        console.print(
            f"Pourquoi : {projected.forecast.explanation} (modèle {projected.forecast.model})",
            highlight=False,
        )


@finance.command("report")
@click.argument("insee")
@click.option("--year", "year", type=click.IntRange(1990, 2100), help="Année du budget.")
@click.option("--pdf", "pdf", type=click.Path(dir_okay=False, path_type=Path), help="PDF ici.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), help="CSV ici.")
@report_json_option
def report_command(
    insee: str, year: int | None, pdf: Path | None, csv_path: Path | None, as_json: bool
) -> None:
    """Annexe « dette » du rapport d'orientation budgétaire (résumé, PDF, CSV)."""
    owner = _owner(insee)
    built = report.build(owner, year)
    if as_json:
        show_report(_report_data(built))
    else:
        _print_report(built)
    if pdf is not None:
        operator = scoping.get_operator()
        _write(pdf, report.to_pdf(built, operator.name if operator else ""))
        terminal.note(f"PDF écrit : {pdf}", as_json)
    if csv_path is not None:
        _write(csv_path, report.to_csv(built).encode("utf-8"))
        terminal.note(f"CSV écrit : {csv_path}", as_json)


def _report_data(built: report.DebtReport) -> dict[str, Any]:
    """The annex's figures, as `--json` gives them (amounts as exact decimal strings)."""
    closing = built.before
    return {
        "scope": built.scope,
        "year": built.year,
        "closing": built.closing,
        "outstanding": closing.outstanding if closing else Decimal(0),
        "loans": [
            {
                "reference": line.loan.reference,
                "lender": line.loan.lender,
                "outstanding": line.outstanding,
                "rate": line.rate,
                "gissler": line.loan.gissler,
                "end": line.end,
            }
            for line in built.lines
        ],
        "years": [asdict(figures) for figures in built.years],
        "extinction": [{"year": y, "outstanding": v} for y, v in built.extinction],
        "scenarios": [
            {"name": c.name, "interest": c.interest, "delta": c.delta} for c in built.costs
        ],
        "alerts": built.alerts,
    }


def _print_report(built: report.DebtReport) -> None:
    closing = built.before
    console.print(
        f"Dette de {built.scope} pour le budget {built.year} : encours au "
        f"{built.closing:%d/%m/%Y} de {_money(closing.outstanding if closing else 0)} €, "
        f"{len(built.lines)} emprunt(s).",
        highlight=False,
    )
    for alert in built.alerts:
        console.print(f"[red]Alerte :[/] {alert}", highlight=False)


def register(group: click.Group) -> None:
    group.add_command(finance)
