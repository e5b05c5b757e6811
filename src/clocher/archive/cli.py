"""Archive commands: deposit, list, audit, verify, evidence, transfer, seal, rules.

There is deliberately no command to change or delete an archived object: elimination
after the retention period goes through the proposal and the archivist's visa (pages).
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click
from django.core.exceptions import ValidationError
from rich.progress import Progress
from rich.table import Table

from clocher.core.cli import cli_actor, console, fail, find_commune, validation_message
from clocher.core.terminal import json_option, show


@click.group()
def archive() -> None:
    """Archivage probatoire : dépôt, audit d'intégrité, preuves, vérification."""


@archive.command("deposit")
@click.argument("insee")
@click.argument(
    "files",
    metavar="FICHIER...",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option("--title", required=True, help="Intitulé de l'acte (suivi du nom de chaque fichier).")
@click.option("--kind", required=True, help="Nature de l'acte (délibération, arrêté…).")
@click.option("--date", "act_date", required=True, help="Date de l'acte (AAAA-MM-JJ).")
@click.option("--author", required=True, help="Auteur (ex. : le maire, le conseil municipal).")
@click.option("--rule", required=True, help="Code de la règle de conservation (voir `rules`).")
def deposit_command(
    insee: str,
    files: tuple[Path, ...],
    title: str,
    kind: str,
    act_date: str,
    author: str,
    rule: str,
) -> None:
    """Archive FICHIER pour la commune INSEE : empreintes, format, horodatage, journal.
    Plusieurs fichiers forment un lot : un jeton sur la racine de Merkle du lot, chaque
    document intitulé « TITRE (nom du fichier) »."""
    from clocher.archive import services
    from clocher.archive.models import RetentionRule

    commune = find_commune(insee)
    found = RetentionRule.objects.filter(code=rule).first()
    if found is None:
        fail(f"Règle de conservation inconnue : {rule} (voir « clocher archive rules »).")
        return
    try:
        when = date.fromisoformat(act_date)
    except ValueError:
        fail(f"Date de l'acte invalide : {act_date} (AAAA-MM-JJ attendu).")
        return
    batch = [
        services.DepositInput(
            title if len(files) == 1 else f"{title} ({file.name})",
            kind,
            when,
            author,
            found,
            file.name,
            file.read_bytes(),
            "ligne de commande",
        )  # fmt: skip
        for file in files
    ]
    try:
        deposited = services.deposit_many(cli_actor(), commune, batch)
    except ValidationError as exc:
        fail(validation_message(exc))
        return
    for done in deposited:
        obj = done.obj
        console.print(f"{obj.reference} scellé : SHA-256 {obj.sha256}")
        if done.warning:
            console.print(f"[yellow]Attention ({obj.filename}) :[/] {done.warning}")
    obj = deposited[0].obj
    console.print(f"Horodatage : {obj.timestamp_at:%d/%m/%Y %H:%M:%S} UTC — {obj.tsa_name}")
    proof = services.batch_proof(obj)
    if proof is not None:
        console.print(
            f"{len(deposited)} documents déposés en un lot : un jeton sur la racine de "
            f"Merkle {proof['racine']}."
        )


@archive.command("list")
@click.argument("insee")
@json_option
def list_command(insee: str, as_json: bool) -> None:
    """Les objets archivés de la commune INSEE."""
    from clocher.archive.models import ArchivedObject

    commune = find_commune(insee)
    table = Table(title=f"Archives de {commune.name}")
    for column in ("ID", "référence", "intitulé", "date", "fin de conservation", "état"):
        table.add_column(column)
    for obj in ArchivedObject.objects.filter(commune=commune).order_by("pk"):
        table.add_row(
            str(obj.pk),
            obj.reference,
            obj.title,
            f"{obj.act_date:%d/%m/%Y}",
            f"{obj.retention_end:%d/%m/%Y}" if obj.retention_end else "illimitée",
            obj.get_state_display(),
        )
    show(table, as_json)


@archive.command("audit")
@click.option(
    "--full",
    is_flag=True,
    help="Relit chaque copie et ré-empreinte tout le journal depuis la première entrée "
    "(sinon : depuis le dernier point de contrôle horodaté).",
)
def audit_command(full: bool) -> None:
    """Vérifie les points de contrôle, relit et ré-empreinte les objets et le journal
    depuis le dernier (tout avec --full) ; code ≠ 0 si altération."""
    from clocher.archive import services

    total = services.copies_to_reread(full)
    with Progress(console=console, transient=True) as progress:
        bar = progress.add_task("Contrôle d'intégrité", total=total)
        report = services.audit_integrity(
            cli_actor(), lambda n: progress.advance(bar, n), full=full
        )
    console.print(f"{report.checked} objets vérifiés ({report.bytes_read} octets).")
    if report.since is not None:
        console.print(
            f"Copies et journal vérifiés depuis le point de contrôle n°{report.since.pk} "
            f"(objet n°{report.since.last_object_id}, entrée n°{report.since.last_seq}, "
            "horodaté) ; « --full » pour tout relire et ré-empreinter."
        )
    for obj, problem in report.altered:
        console.print(f"[red]✗[/red] {obj.reference} (ID {obj.pk}) « {obj.title} » : {problem}")
    if report.journal_problem:
        console.print(f"[red]✗[/red] journal : {report.journal_problem}")
    if not report.ok:
        sys.exit(1)
    console.print("[green]✓[/green] Tout est intègre.")


@archive.command("verify")
@click.argument("target", metavar="ID|PREUVE.zip")
def verify_command(target: str) -> None:
    """Vérifie un objet (ID) ou un paquet de preuve (FICHIER.zip) ; code ≠ 0 si défaut."""
    from clocher.archive import services
    from clocher.archive.models import ArchivedObject

    if target.endswith(".zip") or Path(target).is_file():
        if not Path(target).is_file():
            fail(f"Fichier introuvable : {target}")
        problems = services.verify_package(target)
        label = f"paquet {target}"
    else:
        obj = ArchivedObject.objects.filter(pk=int(target) if target.isdigit() else 0).first()
        if obj is None:
            fail(f"Objet archivé {target} inconnu.")
            return
        problems = services.verify_object(obj)
        label = f"{obj.reference} « {obj.title} »"
    for problem in problems:
        console.print(f"[red]✗[/red] {problem}")
    if problems:
        sys.exit(1)
    console.print(f"[green]✓[/green] {label} : intègre, horodatage et journal vérifiés.")


@archive.command("evidence")
@click.argument("object_id", metavar="ID", type=int)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
def evidence_command(object_id: int, output: Path) -> None:
    """Écrit le paquet de preuve de l'objet ID (document, jeton, journal, attestation)."""
    from clocher.archive import services
    from clocher.archive.models import ArchivedObject

    obj = ArchivedObject.objects.filter(pk=object_id).select_related("commune").first()
    if obj is None:
        fail(f"Objet archivé {object_id} inconnu.")
        return
    try:
        data = services.evidence_package(cli_actor(), obj)
    except ValidationError as exc:
        fail(validation_message(exc))
        return
    tmp = output.with_name(f".{output.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(output)
    console.print(f"Paquet de preuve écrit : {output} ({len(data)} octets).")


@archive.command("transfer")
@click.argument("insee")
@click.argument("object_ids", metavar="[ID]...", nargs=-1, type=int)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
def transfer_command(insee: str, object_ids: tuple[int, ...], output: Path) -> None:
    """Versement aux Archives départementales : paquet SEDA 2.3 (manifest.xml et
    documents) des objets ID… de la commune INSEE (tous ses objets scellés sans ID)."""
    from clocher.archive import seda
    from clocher.archive.models import ArchivedObject, ObjectState

    commune = find_commune(insee)
    objects = ArchivedObject.objects.filter(commune=commune).select_related("retention_rule")
    objects = (
        objects.filter(pk__in=object_ids)
        if object_ids
        else objects.filter(state=ObjectState.SEALED)
    )
    try:
        identifier, data = seda.transfer_package(cli_actor(), commune, list(objects.order_by("pk")))
    except ValidationError as exc:
        fail(validation_message(exc))
        return
    tmp = output.with_name(f".{output.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(output)
    console.print(f"Versement {identifier} écrit : {output} ({len(data)} octets).")


@archive.command("seal")
@click.option(
    "--now", is_flag=True, help="Scelle aussi les entrées du jour (sinon : jusqu'à minuit)."
)
def seal_command(now: bool) -> None:
    """Scelle le journal : racine de Merkle des entrées non scellées, horodatée."""
    from clocher.archive import journal

    seal = journal.seal_pending() if now else journal.seal_days_before()
    if seal is None:
        console.print("Rien à sceller.")
        return
    console.print(f"Entrées {seal.first_seq}–{seal.last_seq} scellées : racine {seal.root}")


@archive.command("scheduler")
@click.option("--at", "at", default="00:15", help="Heure locale du lancement quotidien (HH:MM).")
@click.option("--once", is_flag=True, help="Mettre la tâche en file maintenant, puis sortir.")
def scheduler_command(at: str, once: bool) -> None:
    """Met en file, chaque jour, le sceau du journal et l'audit d'intégrité (tâche de fond
    exécutée par le worker ; `clocher serve` lance ce planificateur)."""
    import time
    from datetime import datetime, timedelta

    from django.db import close_old_connections
    from django.utils import timezone

    from clocher.archive import tasks

    hour, _, minute = at.partition(":")
    while True:
        if not once:
            now = timezone.localtime()
            target = now.replace(hour=int(hour), minute=int(minute or 0), second=0)
            if target <= now:
                target += timedelta(days=1)
            time.sleep((target - now).total_seconds())
        close_old_connections()
        result = tasks.daily_seal_and_audit.enqueue()
        console.print(f"{datetime.now():%d/%m/%Y %H:%M} : tâche quotidienne {result.id} en file.")
        if once:
            return


@archive.command("rules")
@json_option
def rules_command(as_json: bool) -> None:
    """La table des règles de conservation (modifiable dans la console de l'opérateur)."""
    from clocher.archive.models import RetentionRule

    table = Table(title="Règles de conservation")
    for column in ("code", "type de document", "durée", "sort final", "référence"):
        table.add_column(column)
    for rule in RetentionRule.objects.all():
        table.add_row(
            rule.code, rule.label, rule.duration_label, rule.get_final_fate_display(), rule.source
        )
    show(table, as_json)


def register(group: click.Group) -> None:
    group.add_command(archive)
