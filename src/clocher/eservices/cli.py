"""`clocher eservices add|list|confirm|scan|report`: the e-services audit from the shell."""

from __future__ import annotations

import json

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
def add_command(insee: str, target: str) -> None:
    """Ajoute une cible (URL https://…, domaine de messagerie ou adresse IP)."""
    from clocher.eservices import services

    try:
        made = services.add_target(cli_actor(), find_commune(insee), target)
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
@json_option
def report_command(insee: str, as_json: bool) -> None:
    """Rapport d'une commune : score (sa cible la plus faible) et constats, les pires d'abord."""
    from clocher.eservices import services

    made = services.report(find_commune(insee))
    if as_json:
        click.echo(json.dumps(made.as_dict(), ensure_ascii=False, indent=1))
        return
    score = "pas encore audité" if made.score is None else f"{made.score}/100"
    console.print(f"[bold]Commune {made.commune.insee} — score {score}[/]")
    for f in made.findings:
        console.print(f"[bold]{f['gravite'].upper()}[/] {f['cible']} : {f['constat']}")
        console.print(f"  {f['explication']}\n  Correction : {f['correction']}")


def register(group: click.Group) -> None:
    group.add_command(eservices)
