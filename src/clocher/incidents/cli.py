"""`clocher incident open|list|close|notice|action|cnil`: the register from the shell."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from django.core.exceptions import ValidationError
from rich.table import Table

from clocher.core.cli import cli_actor, console, fail, validation_message
from clocher.core.terminal import json_option, show


@click.group("incident")
def incident() -> None:
    """Registre des incidents (avis aux communes, notification CNIL)."""


def _get(incident_id: int):  # type: ignore[no-untyped-def]
    from clocher.incidents.models import Incident

    found = Incident.objects.filter(pk=incident_id).first()
    if found is None:
        fail(f"Aucun incident n°{incident_id}.")
    return found


@incident.command("open")
@click.argument("title")
@click.option("--scope", required=True, help="Périmètre : services, systèmes touchés.")
@click.option("--commune", "communes", multiple=True, help="Code INSEE d'une commune touchée.")
@click.option(
    "--severity", type=click.Choice(["mineur", "majeur", "critique"]), default="majeur",
    help="Gravité.",
)  # fmt: skip
@click.option("--notice", default="", help="Avis affiché aux agents (défaut : un avis type).")
def open_command(
    title: str, scope: str, communes: tuple[str, ...], severity: str, notice: str
) -> None:
    """Ouvre un incident ; son avis s'affiche aussitôt chez les communes touchées."""
    from clocher.incidents import services

    try:
        found = services.communes_from_codes(communes)
        made = services.open_incident(
            cli_actor(), title, scope, found, severity=severity, notice=notice
        )
    except ValidationError as exc:
        fail(validation_message(exc))
    console.print(f"Incident n°{made.pk} ouvert ({len(found)} commune(s) touchée(s)).")


@incident.command("list")
@click.option("--all", "show_all", is_flag=True, help="Aussi les incidents clos.")
@json_option
def list_command(show_all: bool, as_json: bool) -> None:
    """Liste les incidents ouverts (ou tous)."""
    from clocher.incidents.models import Incident

    incidents = Incident.objects.prefetch_related("communes")
    if not show_all:
        incidents = incidents.filter(ended_at__isnull=True)
    table = Table("N°", "Intitulé", "Gravité", "Début", "Fin", "Communes")
    for item in incidents:
        table.add_row(
            str(item.pk), item.title, item.get_severity_display(),
            f"{item.started_at:%d/%m/%Y %H:%M}",
            f"{item.ended_at:%d/%m/%Y %H:%M}" if item.ended_at else "en cours",
            ", ".join(c.insee for c in item.communes.all()) or "—",
        )  # fmt: skip
    show(table, as_json)


@incident.command("notice")
@click.argument("incident_id", type=int)
@click.argument("text")
def notice_command(incident_id: int, text: str) -> None:
    """Remplace l'avis affiché aux agents des communes touchées."""
    from clocher.incidents import services

    try:
        services.set_notice(cli_actor(), _get(incident_id), text)
    except ValidationError as exc:
        fail(validation_message(exc))
    console.print("Avis mis à jour.")


@incident.command("action")
@click.argument("incident_id", type=int)
@click.argument("text")
def action_command(incident_id: int, text: str) -> None:
    """Ajoute une action (horodatée) à l'incident."""
    from clocher.incidents import services

    try:
        services.add_action(cli_actor(), _get(incident_id), text)
    except ValidationError as exc:
        fail(validation_message(exc))
    console.print("Action enregistrée.")


@incident.command("close")
@click.argument("incident_id", type=int)
@click.option("--summary", default="", help="Bilan de clôture.")
def close_command(incident_id: int, summary: str) -> None:
    """Clôt l'incident : l'avis disparaît des pages des communes."""
    from clocher.incidents import services

    try:
        services.close_incident(cli_actor(), _get(incident_id), summary)
    except ValidationError as exc:
        fail(validation_message(exc))
    console.print(f"Incident n°{incident_id} clos.")


@incident.command("cnil")
@click.argument("incident_id", type=int)
@click.option("--pdf", "pdf", type=click.Path(path_type=Path), help="Écrire le PDF ici.")
def cnil_command(incident_id: int, pdf: Path | None) -> None:
    """Projet de notification à la CNIL (72 h), en texte ou en PDF."""
    from clocher.incidents import cnil

    made = cnil.draft(_get(incident_id))
    if pdf is None:
        sys.stdout.write(cnil.to_text(made))
        return
    tmp = pdf.with_suffix(pdf.suffix + ".tmp")
    tmp.write_bytes(cnil.to_pdf(made))
    tmp.replace(pdf)
    console.print(f"PDF écrit : {pdf}")


def register(group: click.Group) -> None:
    group.add_command(incident)
