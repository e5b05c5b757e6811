"""Shield commands: the fleet, feeds, the monthly report."""

from __future__ import annotations

import click


@click.group()
def shield() -> None:
    """Bouclier : boîtiers, listes de blocage, rapport mensuel."""


def register(group: click.Group) -> None:
    group.add_command(shield)
