"""Archive commands: audit, evidence, verify."""

from __future__ import annotations

import click


@click.group()
def archive() -> None:
    """Archivage probatoire : audit d'intégrité, preuves, vérification."""


def register(group: click.Group) -> None:
    group.add_command(archive)
