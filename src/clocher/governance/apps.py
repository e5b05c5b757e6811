"""Data governance: the GDPR register of processing activities, the register of public
algorithms, retention enforced and journalled, sobriety figures, and subject rights."""

from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "clocher.governance"
    label = "governance"
    verbose_name = "Gouvernance des données"

    def ready(self) -> None:
        from clocher.governance import hooks  # noqa: F401 - registers the tile
