from django.apps import AppConfig


class ArchiveConfig(AppConfig):
    name = "clocher.archive"
    label = "archive"
    verbose_name = "Archivage à valeur probatoire"
