"""How operations plug into the platform: the `clocher serve` schedule, the operator
tile (last backup, last drill and its figures), the recovery-kit step of `clocher init`."""

from __future__ import annotations

import sys

from django.conf import settings
from django.template.defaultfilters import filesizeformat

from clocher.core import supervisor, tiles
from clocher.core.cli import INIT_STEPS
from clocher.operations.models import Backup, Drill


@supervisor.register
def backup_schedule() -> list[supervisor.Child]:
    """Nightly backup, weekly read-back, monthly drill, when a repository is set."""
    if not settings.BACKUP_REPOSITORY:
        return []
    argv = [sys.executable, "-m", "clocher.cli", "backup", "schedule", "--every", "60"]
    return [supervisor.Child("sauvegardes", argv)]


def _age(when: object) -> str:
    from django.utils.timesince import timesince

    return f"il y a {timesince(when)}"  # type: ignore[arg-type]


@tiles.register("operations")
def operations_tile() -> tiles.Tile:
    last = Backup.objects.filter(ok=True).first()
    drill = Drill.objects.first()
    figures = [
        tiles.Figure(
            "Dernière sauvegarde",
            f"{_age(last.started_at)} ({filesizeformat(last.bytes_added)} ajoutés)"
            if last
            else "aucune",
        ),
    ]
    if drill:
        rto = f"{drill.rto_seconds:.0f} s" if drill.rto_seconds is not None else "—"
        figures += [
            tiles.Figure(
                "Dernier exercice",
                f"{_age(drill.started_at)} — {'réussi' if drill.ok else 'EN ÉCHEC'}",
            ),
            tiles.Figure("RPO / RTO", f"{drill.rpo_seconds / 3600:.1f} h / {rto}"),
        ]
    else:
        figures.append(tiles.Figure("Dernier exercice", "aucun"))
    note = "" if settings.BACKUP_REPOSITORY else "Aucun dépôt réglé (CLOCHER_BACKUP_REPOSITORY)."
    return tiles.Tile("operations", "Sauvegardes et reprise", figures, note=note)


def recovery_kit_step() -> str:
    """The first `clocher init` makes the backup key and prints the kit once; later runs
    only say how to print it again."""
    from clocher.operations.services import keys

    fresh = not settings.BACKUP_PASSWORD_FILE.exists()
    kit = keys.current_kit()
    if not fresh:
        return "Kit de récupération : clocher backup kit -o kit.pdf (à imprimer, hors site)."
    return (
        "[bold]Kit de récupération — imprimez cette page, gardez-la hors site et hors du "
        "dépôt de sauvegarde :[/]\n" + keys.kit_text(kit)
    )


INIT_STEPS.append(recovery_kit_step)
