"""The CLI face of an import: a rich progress bar while it runs, the report after."""

from __future__ import annotations

import threading

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from clocher.core.audit import Actor
from clocher.core.cli import console
from clocher.mail.migrate import services
from clocher.mail.migrate.sources import Source
from clocher.mail.models import Mailbox, MailImport


def run_with_progress(
    actor: Actor, mailbox: Mailbox, source: Source, connections: int | None
) -> MailImport:
    job = services.job_for(actor, mailbox, source)
    lock = threading.Lock()
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(
            "copiés {task.fields[copied]} · déjà là {task.fields[skipped]} · "
            "échecs {task.fields[failed]}"
        ),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as progress:
        bar = progress.add_task("Lecture de la source", total=None, copied=0, skipped=0, failed=0)
        counts = {"copied": 0, "skipped": 0, "failed": 0}

        def on_total(total: int) -> None:
            progress.update(bar, total=total, description=f"→ {mailbox.address}")

        def hook(folder: str, copied: int, skipped: int, failed: int) -> None:
            with lock:
                counts["copied"] += copied
                counts["skipped"] += skipped
                counts["failed"] += failed
                progress.update(
                    bar,
                    advance=copied + skipped + failed,
                    description=folder[:40],
                    copied=counts["copied"],
                    skipped=counts["skipped"],
                    failed=counts["failed"],
                )

        job = services.run(
            actor, job, source, connections=connections, hook=hook, on_total=on_total
        )
    print_report(job)
    return job


def print_report(job: MailImport) -> None:
    report = services.report(job)
    table = Table(title=f"Reprise vers {job.mailbox.address}")
    for column in ("dossier source", "dossier Clocher", "messages", "copiés", "déjà là", "échecs"):
        table.add_column(column, justify="left" if "dossier" in column else "right")
    for folder in report.folders:
        table.add_row(
            folder.source_name,
            folder.target_name,
            str(folder.total),
            str(folder.copied),
            str(folder.skipped),
            str(folder.failed),
        )
    console.print(table)
    duration = report.duration.total_seconds() if report.duration else 0.0
    console.print(
        f"Copiés : {job.copied} · déjà présents : {job.skipped} · échecs : {job.failed} · "
        f"durée : {duration:.1f} s"
    )
    for failure in report.failures:
        console.print(
            f"  [red]échec[/] {failure.folder.source_name} n° {failure.source_uid} "
            f"« {failure.subject} » : {failure.reason}"
        )
    if job.notes:
        console.print("Ignorés dans la source :")
        for line in job.notes.splitlines():
            console.print(f"  {line}")
    if job.error:
        console.print(f"[bold red]Erreur :[/] {job.error}")
