"""Probative archiving of a commune's acts: seals, journal, time-stamps, SEDA export."""

from importlib import import_module
from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def ensure_builtin_rules(sender: AppConfig, apps: Any = None, **kwargs: Any) -> None:
    """The built-in retention rules after every `migrate` and every flush, not only in
    the migration that first wrote them: a flushed database (a test's teardown, a
    `clocher manage flush`) would otherwise refuse every deposit naming them."""
    from django.apps import apps as installed_apps

    seed = import_module("clocher.archive.migrations.0003_builtin_retention_rules").seed
    seed(apps or installed_apps, None)  # a flush sends no `apps`: the installed ones


class ArchiveConfig(AppConfig):
    name = "clocher.archive"
    label = "archive"
    verbose_name = "Archivage à valeur probatoire"

    def ready(self) -> None:
        # The operator tile, the daily scheduler, the departure export.
        from clocher.archive import hooks  # noqa: F401

        post_migrate.connect(ensure_builtin_rules, sender=self)
