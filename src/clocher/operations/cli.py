"""`clocher backup`, `clocher backup kit`, `clocher restore`, `clocher drill`: thin, they
call the operations services and say in French what went wrong."""

from __future__ import annotations

from pathlib import Path

import click

from clocher.core.cli import cli_actor, console, fail


def _errors() -> tuple[type[Exception], ...]:
    from clocher.operations.restic import ResticError
    from clocher.operations.services.keys import KitError
    from clocher.operations.services.restore import RestoreError

    return (ResticError, KitError, RestoreError)


def _size(n: int) -> str:
    from django.template.defaultfilters import filesizeformat

    return str(filesizeformat(n))


@click.group(invoke_without_command=True)
@click.option("--to", "to", default=None, help="Dépôt : chemin ou s3:URL/SEAU (défaut réglé).")
@click.option("--check", "check_percent", type=int, default=0, help="Puis relit N % des données.")
@click.option("--forget", "do_forget", is_flag=True, help="Puis applique la rétention (7/4/12).")
@click.pass_context
def backup(ctx: click.Context, to: str | None, check_percent: int, do_forget: bool) -> None:
    """Sauvegarde chiffrée et dédupliquée de la plateforme (base, coffre, archives,
    boîtes aux lettres, configuration) dans un dépôt restic."""
    if ctx.invoked_subcommand is not None:
        return
    from clocher.operations.services import snapshot

    try:
        with console.status("Sauvegarde en cours…"):
            result = snapshot.take(cli_actor(), to)
            if do_forget:
                snapshot.retain(to)
            if check_percent:
                snapshot.verify(cli_actor(), to, check_percent)
    except _errors() as exc:
        fail(str(exc))
        return
    console.print(
        f"Instantané {result.snapshot_id[:8]} : {result.files} fichiers, "
        f"{_size(result.bytes_added)} ajoutés, en {result.seconds:.1f} s "
        f"({result.backup.repository})."
    )
    console.print(
        "Étapes : " + ", ".join(f"{step} {sec:.1f} s" for step, sec in result.steps.items()),
        style="dim",
    )
    for role, bucket in result.s3.items():
        console.print(
            f"Seau S3 {bucket['seau']} ({role}) reflété : {bucket['objets']} objets, "
            f"{bucket['nouveaux']} nouveaux, {bucket['retires']} retirés."
        )


@backup.command("kit")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Fichier du kit (.txt ou .pdf) ; défaut : affiché.",
)
@click.option("--to", "to", default=None, help="Dépôt à inscrire sur le kit.")
def backup_kit(output: Path | None, to: str | None) -> None:
    """Le kit de récupération : clés, empreintes, marche à suivre (à imprimer, hors site)."""
    from clocher.operations.services import keys

    try:
        kit = keys.current_kit(to)
    except _errors() as exc:
        fail(str(exc))
        return
    if output is None:
        click.echo(keys.kit_text(kit))
        return
    keys.write_kit(kit, output)
    console.print(
        f"Kit écrit dans {output} (lecture par son propriétaire seul) : imprimez-le "
        "puis effacez le fichier."
    )


@backup.command("schedule")
@click.option("--every", type=int, default=60, help="Période de réveil en secondes.")
def backup_schedule(every: int) -> None:
    """Sauvegarde nocturne, rétention, relecture hebdomadaire, exercice mensuel
    (lancé par `clocher serve`)."""
    from clocher.operations.services import schedule

    schedule.loop(every)


@click.command()
@click.argument("snapshot_id", metavar="INSTANTANÉ", default="latest")
@click.option(
    "--kit",
    "kit_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Kit de récupération (obligatoire).",
)
@click.option("--from", "location", default=None, help="Dépôt (défaut : celui du kit).")
@click.option("--commune", "insee", default=None, help="Seulement cette commune (code INSEE).")
@click.option("--force", is_flag=True, help="Écrase une base de destination non vide.")
def restore(
    snapshot_id: str, kit_path: Path | None, location: str | None, insee: str | None, force: bool
) -> None:
    """Restaure la plateforme entière (répertoire de données neuf) ou une commune."""
    from clocher.operations.services import commune_restore
    from clocher.operations.services import restore as service

    try:
        if insee:
            with console.status(f"Restauration de la commune {insee}…"):
                done = commune_restore.restore_commune(
                    cli_actor(), insee, kit_path, snapshot_id, location
                )
            console.print(done.summary())
            return
        with console.status("Restauration…"):
            report = service.restore_platform(cli_actor(), kit_path, snapshot_id, location, force)
    except _errors() as exc:
        fail(str(exc))
        return
    console.print(
        f"Instantané {report.snapshot.id[:8]} du {report.snapshot.time:%d/%m/%Y %H:%M} restauré : "
        + " ; ".join(report.restored)
    )
    console.print(
        f"{len(report.counts)} tables, lignes conformes à la sauvegarde. Vérifiez : clocher check"
    )


@click.command()
@click.option("--from", "location", default=None, help="Dépôt (défaut réglé).")
@click.option("--keep", is_flag=True, help="Garde la copie restaurée (répertoire drill/).")
def drill(location: str | None, keep: bool) -> None:
    """Exercice de reprise : restaure le dernier instantané à part, le démarre sur
    d'autres ports, le vérifie, consigne RPO et RTO."""
    from clocher.operations.services import drill as service

    try:
        with console.status("Exercice de reprise…"):
            result = service.run_drill(cli_actor(), location, keep=keep)
    except _errors() as exc:
        fail(str(exc))
        return
    for check in result.checks:
        mark = "[green]✓[/]" if check["ok"] else "[red]✗[/]"
        console.print(f"{mark} {check['name']} : {check['detail']}")
    rto = f"{result.rto_seconds:.1f} s" if result.rto_seconds is not None else "—"
    console.print(f"RPO {result.rpo_seconds / 3600:.1f} h ; RTO {rto}.")
    if not result.ok:
        fail("exercice de reprise en échec.", code=2)


def register(group: click.Group) -> None:
    for command in (backup, restore, drill):
        group.add_command(command)
