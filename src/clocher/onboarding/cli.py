"""Onboarding commands (adhésion, provisioning, departure)."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    """Onboarding commands join the main `clocher` group here."""
