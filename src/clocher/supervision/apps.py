"""Supervision: the Prometheus endpoint, and the platform's own alert mail."""

from django.apps import AppConfig


class SupervisionConfig(AppConfig):
    name = "clocher.supervision"
    label = "supervision"
    verbose_name = "Supervision"

    def ready(self) -> None:
        # The alert check as a child of `clocher serve`.
        from clocher.supervision import hooks  # noqa: F401
