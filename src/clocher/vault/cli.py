"""Vault commands: usage per commune, integrity check."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from django.template.defaultfilters import filesizeformat
from rich.table import Table

from clocher.core.cli import cli_actor, console, fail
from clocher.core.terminal import json_option, show


@click.group()
def vault() -> None:
    """Coffre-fort : occupation, vérification d'intégrité, corbeille."""


@vault.command("writer")
def writer_command() -> None:
    """Processus d'écriture des petits fichiers du serveur de fichiers (lancé par `clocher
    serve` ; sans lui, chaque processus du serveur écrit les siens)."""
    from clocher.vault.dav import writer

    writer.serve()


@vault.command("usage")
@click.argument("insee", required=False)
@json_option
def usage_command(insee: str | None, as_json: bool) -> None:
    """Occupation du coffre par commune (toutes, ou celle du code INSEE)."""
    from clocher.core.models import Commune
    from clocher.vault import services

    communes = Commune.objects.filter(spaces__isnull=False).distinct().order_by("name")
    if insee:
        communes = communes.filter(insee=insee.upper())
        if not communes:
            fail(f"Commune {insee} sans coffre (ou inconnue).")
    table = Table(title="Coffre-fort")
    for column in ("commune", "INSEE", "fichiers", "utilisé", "quota", "%"):
        table.add_column(column, justify="right" if column != "commune" else "left")
    for commune in communes:
        used = services.usage(commune)
        share = used.used_bytes / used.quota_bytes * 100 if used.quota_bytes else 0
        table.add_row(
            commune.name,
            commune.insee,
            str(used.files),
            filesizeformat(used.used_bytes),
            filesizeformat(used.quota_bytes),
            f"{share:.1f}".replace(".", ","),  # French decimal comma, like the sizes
        )
    show(table, as_json)


@vault.command("fsck")
@click.option("--gc", is_flag=True, help="Supprime les blocs orphelins (envois interrompus).")
def fsck_command(gc: bool) -> None:
    """Vérifie chaque bloc : présent, déchiffrable, conforme à son empreinte."""
    from clocher.vault import services

    with console.status("Vérification des blocs…"):
        report = services.fsck(gc=gc)
    if report.replayed:
        console.print(f"{report.replayed} blocs réécrits depuis le journal d'écriture.")
    console.print(f"{report.checked_chunks} blocs vérifiés.")
    for problem in report.problems:
        console.print(f"[red]✗[/red] {problem}")
    if report.orphans:
        state = f"{report.removed} supprimés" if gc else "à supprimer avec --gc"
        console.print(f"{len(report.orphans)} blocs orphelins ({state}).")
    if not report.ok:
        sys.exit(1)
    console.print("[green]Coffre intègre.[/green]")


@vault.command("purge-trash")
def purge_trash_command() -> None:
    """Vide la corbeille de ce qui y est depuis plus de CLOCHER_VAULT_TRASH_DAYS jours."""
    from clocher.vault import services

    count = services.purge_expired_trash(cli_actor())
    console.print(f"{count} éléments supprimés définitivement.")


@vault.command("housekeeping")
@click.option(
    "--every",
    type=int,
    default=0,
    help="Recommencer toutes les N secondes (0 : une seule fois). `clocher serve` le lance "
    "toutes les heures.",
)
def housekeeping_command(every: int) -> None:
    """Entretien : corbeille expirée, envois découpés abandonnés, blocs orphelins, durées de
    conservation des données (clocher governance retention)."""
    import time

    from django.db import close_old_connections

    from clocher.vault import chunked_uploads, services

    while True:
        close_old_connections()
        purged = services.purge_expired_trash(cli_actor())
        stale = chunked_uploads.purge_stale()
        _, removed = services.collect_garbage(remove=True)
        console.print(
            f"Corbeille : {purged} éléments ; envois abandonnés : {stale} ; "
            f"blocs orphelins : {removed}."
        )
        # The platform's one hourly housekeeping also applies every retention duration.
        from clocher.governance import retention

        console.print(retention.summary(retention.enforce()))
        if not every:
            return
        time.sleep(every)


@vault.command("import")
@click.argument("insee")
@click.argument("path", metavar="DOSSIER|ARCHIVE.zip", type=click.Path(exists=True, path_type=Path))
@click.option("--into", "into", default="", help="Dossier de destination (créé au besoin).")
@click.option("--user", "email", default="", help="Importer dans l'espace personnel de ce membre.")
def import_command(insee: str, path: Path, into: str, email: str) -> None:
    """Importe un dossier ou une archive zip dans le coffre de la commune."""
    from django.core.exceptions import ValidationError
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    from clocher.core.cli import validation_message
    from clocher.vault import imports

    actor = cli_actor()
    try:
        target = imports.target_folder(actor, insee, into, email)
        with Progress(
            TextColumn("{task.description}"), BarColumn(), DownloadColumn(), console=console
        ) as progress:
            bar = progress.add_task("Import", total=None)

            def advance(done: int, total: int, name: str) -> None:
                progress.update(bar, completed=done, total=total, description=name[-40:])

            report = imports.import_documents(actor, target, path, progress=advance)
    except ValidationError as exc:
        fail(validation_message(exc))
    for line in imports.iter_report_lines(report):
        console.print(line, markup=False, highlight=False)
    if report.stopped:
        sys.exit(2)


@vault.command("migrate-to-s3")
@click.argument("insee", required=False)
def migrate_to_s3_command(insee: str | None) -> None:
    """Copie les blocs du répertoire local vers le seau S3 (CLOCHER_VAULT_S3_*), pour
    une commune ou toutes. Chaque bloc est vérifié avant (il se déchiffre et correspond
    à son nom) et relu après la copie ; ceux déjà dans le seau sont passés : la commande
    se relance sans risque. Les copies locales restent en place."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from clocher.core.models import Commune
    from clocher.vault import s3_copy

    communes = None
    if insee:
        communes = list(Commune.objects.filter(insee=insee.upper()))
        if not communes:
            fail(f"Commune {insee} inconnue.")
    try:
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console
        ) as progress:
            bar = progress.add_task("Copie vers S3", total=None)

            def advance(done: int, total: int, name: str) -> None:
                progress.update(bar, completed=done, total=total)

            report = s3_copy.copy_chunks_to_s3(cli_actor(), communes, progress=advance)
    except (ValueError, OSError) as exc:
        fail(f"Seau S3 injoignable ou mal configuré : {exc}")
    console.print(
        f"{report.copied} blocs copiés ({filesizeformat(report.bytes_copied)}), "
        f"{report.already_there} déjà dans le seau."
    )
    for problem in report.problems:
        console.print(f"[red]✗[/red] {problem}")
    if not report.ok:
        sys.exit(1)
    console.print("[green]Tous les blocs sont dans le seau.[/green]")


def register(group: click.Group) -> None:
    group.add_command(vault)
