"""Operations: backups into a restic repository, the recovery kit, restores and drills."""

from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "clocher.operations"
    label = "operations"
    verbose_name = "Exploitation (sauvegardes, reprise)"

    def ready(self) -> None:
        # The operator tile, the `clocher serve` schedule, the `clocher init` kit step.
        from clocher.operations import hooks  # noqa: F401
