"""`clocher metrics` (the exposition, as /metrics serves it) and `clocher alerts`."""

from __future__ import annotations

import sys
import time

import click

from clocher.core.cli import console


@click.command("metrics")
def metrics_command() -> None:
    """Affiche les métriques Prometheus (ce que sert /metrics)."""
    from clocher.supervision import collect, exposition

    started = time.monotonic()
    sys.stdout.write(exposition.render(collect.snapshot(), started))


@click.command("alerts")
@click.option(
    "--every",
    type=int,
    default=0,
    help="Recommencer toutes les N secondes (0 : une seule fois). `clocher serve` le lance "
    "toutes les minutes.",
)
def alerts_command(every: int) -> None:
    """Vérifie les conditions d'alerte et écrit au contact de l'opérateur (début et fin)."""
    from django.db import close_old_connections

    from clocher.mail import traffic
    from clocher.supervision import alerts, collect

    while True:
        close_old_connections()
        traffic.ingest(traffic.postfix_log())
        outcome = alerts.check_and_mail(collect.snapshot())
        for message in outcome.started:
            console.print(f"[red]✗[/red] alerte : {message}")
        for message in outcome.recovered:
            console.print(f"[green]✓[/green] rétabli : {message}")
        if not every:
            return
        time.sleep(every)


def register(group: click.Group) -> None:
    group.add_command(metrics_command)
    group.add_command(alerts_command)
