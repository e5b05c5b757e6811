"""Onboarding commands: review applications, provision, export and departure."""

from __future__ import annotations

from pathlib import Path

import click
from django.core.exceptions import ValidationError
from rich.progress import Progress
from rich.table import Table

from clocher.core.cli import cli_actor, commune, console, fail, find_commune, validation_message
from clocher.core.terminal import json_option, show


@click.group()
def application() -> None:
    """Demandes d'adhésion."""


@application.command("list")
@click.option("--status", default="pending", type=click.Choice(["pending", "approved", "rejected"]))
@json_option
def list_applications(status: str, as_json: bool) -> None:
    """Liste les demandes (en attente par défaut)."""
    from clocher.onboarding.models import Application

    table = Table(title="Demandes d'adhésion")
    for column in ("id", "reçue", "commune", "contact", "services"):
        table.add_column(column)
    for a in Application.objects.select_related("commune").filter(status=status):
        table.add_row(
            str(a.pk),
            f"{a.created_at:%Y-%m-%d}",
            f"{a.commune.name} ({a.commune.insee})",
            a.contact_email,
            ", ".join(a.services),
        )
    show(table, as_json)


def _application(application_id: int):  # type: ignore[no-untyped-def]
    from clocher.onboarding.models import Application

    found = Application.objects.select_related("commune").filter(pk=application_id).first()
    if found is None:
        fail(f"Demande {application_id} inconnue.")
    return found


@application.command("approve")
@click.argument("application_id", metavar="ID", type=int)
def approve(application_id: int) -> None:
    """Approuve une demande et provisionne la commune, étape par étape."""
    from clocher.onboarding import services
    from clocher.onboarding.models import ProvisioningRun

    found = _application(application_id)
    actor = cli_actor()
    try:
        run = services.approve(actor, found)
    except ValidationError as exc:
        fail(validation_message(exc))
        return
    run = ProvisioningRun.objects.get(pk=run.pk)
    if run.status not in ("done", "failed"):
        total = run.steps.count()
        with Progress(console=console) as progress:
            bar = progress.add_task(f"Provisionnement de {found.commune.name}", total=total)
            run = services.run_steps(
                run,
                actor,
                progress=lambda step: progress.update(bar, advance=1, description=step.label),
            )
    for step in run.steps.all():
        mark = {"done": "[green]✔[/]", "failed": "[red]✘[/]"}.get(step.status, "·")
        console.print(f" {mark} {step.label} — {step.error or step.detail}")
    if run.status != "done":
        fail("Provisionnement en échec : corrigez puis relancez depuis la console.")


@application.command("reject")
@click.argument("application_id", metavar="ID", type=int)
@click.option("--reason", required=True, help="Motif, envoyé à la commune.")
def reject(application_id: int, reason: str) -> None:
    """Refuse une demande avec un motif."""
    from clocher.onboarding import services

    try:
        services.reject(cli_actor(), _application(application_id), reason)
    except ValidationError as exc:
        fail(validation_message(exc))
    console.print("Demande refusée.")


@click.command("export")
@click.argument("insee")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Copie l'archive à cet endroit.",
)
def export(insee: str, output: Path | None) -> None:
    """Exporte toutes les données d'une commune (zip)."""
    from clocher.core import staging
    from clocher.onboarding import services

    target = find_commune(insee)
    result = services.export_commune(cli_actor(), target)
    if output:
        with output.open("wb") as out:
            for piece in staging.read(result.path, target):
                out.write(piece)
    console.print(
        f"Export : {output or staging.location(result.path)} ({result.size} octets, "
        f"SHA-256 {result.sha256})"
    )


@click.command("depart")
@click.argument("insee")
@click.option("--yes", is_flag=True, help="Confirme le départ.")
def depart(insee: str, yes: bool) -> None:
    """Départ d'une commune : export complet, puis clôture des accès."""
    from clocher.onboarding import services

    if not yes:
        fail("Ajoutez --yes pour confirmer le départ.", code=2)
    try:
        result = services.depart(cli_actor(), find_commune(insee))
    except ValidationError as exc:
        fail(validation_message(exc))
        return
    from clocher.core import staging

    console.print(
        f"Commune partie ; export {staging.location(result.path)} (SHA-256 {result.sha256})."
    )


def register(group: click.Group) -> None:
    group.add_command(application)
    commune.add_command(export)
    commune.add_command(depart)
