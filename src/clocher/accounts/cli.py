"""Account commands."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    """Account commands join the main `clocher` group here."""
