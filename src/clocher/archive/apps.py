"""Probative archiving of a commune's acts: seals, journal, time-stamps, SEDA export."""

from django.apps import AppConfig


class ArchiveConfig(AppConfig):
    name = "clocher.archive"
    label = "archive"
    verbose_name = "Archivage à valeur probatoire"

    def ready(self) -> None:
        # The operator tile, the daily scheduler, the departure export.
        from clocher.archive import hooks  # noqa: F401
