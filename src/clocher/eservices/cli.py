"""`clocher eservices add|list|confirm|scan|report`: the e-services audit from the shell."""

from __future__ import annotations

import json
from pathlib import Path

import click
from django.core.exceptions import ValidationError
from rich.table import Table

from clocher.core.cli import cli_actor, console, fail, find_commune, validation_message
from clocher.core.terminal import json_option, show


@click.group("eservices")
def eservices() -> None:
    """Audit de sécurité des e-services des communes (sites, domaines, adresses)."""


@eservices.command("add")
@click.argument("insee")
@click.argument("target")
@click.option("--dkim", default="", help="Sélecteurs DKIM du domaine (séparés par des virgules).")
def add_command(insee: str, target: str, dkim: str) -> None:
    """Ajoute une cible (URL https://…, domaine de messagerie ou adresse IP)."""
    from clocher.eservices import services

    try:
        made = services.add_target(cli_actor(), find_commune(insee), target, dkim)
    except ValidationError as exc:
        fail(validation_message(exc))
    console.print(
        f"Cible n°{made.pk} ajoutée. Preuve de propriété à publier : le TXT "
        f"« {services.proof_text(made)} » ou le fichier {services.WELL_KNOWN} contenant ce "
        f"texte ; puis : clocher eservices confirm {made.pk}"
    )


@eservices.command("list")
@click.argument("insee", required=False)
@json_option
def list_command(insee: str | None, as_json: bool) -> None:
    """Liste les cibles (d'une commune, ou toutes)."""
    from clocher.eservices.models import Target

    targets = Target.objects.select_related("commune")
    if insee:
        targets = targets.filter(commune=find_commune(insee))
    table = Table("N°", "Commune", "Type", "Cible", "Propriété")
    for t in targets:
        table.add_row(
            str(t.pk), t.commune.insee, t.get_kind_display(), t.value,
            t.confirmed_how or "[yellow]à confirmer[/]",
        )  # fmt: skip
    show(table, as_json)


@eservices.command("confirm")
@click.argument("target_id", type=int)
@click.option("--attest", default="", help="Confirmer sans preuve publiée, en disant pourquoi.")
def confirm_command(target_id: int, attest: str) -> None:
    """Confirme la propriété d'une cible (TXT DNS ou fichier sur le site)."""
    from clocher.eservices import services
    from clocher.eservices.models import Target

    target = Target.objects.filter(pk=target_id).first()
    if target is None:
        fail(f"Aucune cible n°{target_id}.")
    try:
        services.confirm_target(cli_actor(), target, attest)
    except ValidationError as exc:
        fail(validation_message(exc))
    console.print(f"Cible n°{target_id} confirmée ({target.confirmed_how}).")


@eservices.command("scan")
@click.argument("insee", required=False)
@json_option
def scan_command(insee: str | None, as_json: bool) -> None:
    """Audite les cibles confirmées (d'une commune, ou toutes) ; les autres sont ignorées."""
    from clocher.eservices import services

    commune = find_commune(insee) if insee else None
    scans = services.scan_all(cli_actor(), commune)
    table = Table("Cible", "Commune", "Score", "Constats")
    rows = []
    for scan in scans:
        codes = sorted(f.code for f in scan.findings.all())
        table.add_row(scan.target.value, scan.commune.insee, str(scan.score), ", ".join(codes))
        rows.append(
            {"cible": scan.target.value, "commune": scan.commune.insee, "score": scan.score,
             "constats": codes}
        )  # fmt: skip
    show(table, as_json, rows)


@eservices.command("report")
@click.argument("insee")
@click.option("--pdf", "pdf_path", type=click.Path(dir_okay=False, path_type=Path))
@json_option
def report_command(insee: str, pdf_path: Path | None, as_json: bool) -> None:
    """Rapport d'une commune : score (sa cible la plus faible) et constats, les pires d'abord."""
    from clocher.core.pdf import write_atomically
    from clocher.core.scoping import get_operator
    from clocher.eservices import services

    made = services.report(find_commune(insee))
    if pdf_path:
        operator = get_operator()
        write_atomically(pdf_path, services.report_pdf(made, operator.name if operator else ""))
        console.print(f"PDF écrit : {pdf_path}")
    if as_json:
        click.echo(json.dumps(made.as_dict(), ensure_ascii=False, indent=1))
        return
    score = "pas encore audité" if made.score is None else f"{made.score}/100"
    console.print(f"[bold]Commune {made.commune.insee} — score {score}[/]")
    for f in made.findings:
        console.print(f"[bold]{f['gravite'].upper()}[/] {f['cible']} : {f['constat']}")
        console.print(f"  {f['explication']}\n  Correction : {f['correction']}")


@eservices.command("schedule")
@click.option("--every", default=3600, show_default=True, help="Secondes entre deux réveils.")
@click.option("--once", is_flag=True, help="Auditer ce qui est dû maintenant, puis sortir.")
def schedule_command(every: int, once: bool) -> None:
    """Audite les cibles confirmées dues (chaque semaine par défaut) ; `clocher serve` le
    lance. Une plateforme arrêtée le jour prévu audite dès son retour."""
    import time

    from django.db import close_old_connections

    from clocher.eservices import services

    while True:
        scans = services.scan_due(services.SCHEDULER)
        if scans:
            console.print(f"{len(scans)} cible(s) auditée(s).")
        if once:
            return
        time.sleep(every)
        close_old_connections()  # a long-running loop must not keep a dead connection


def register(group: click.Group) -> None:
    group.add_command(eservices)
