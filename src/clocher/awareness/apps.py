"""Phishing awareness: campaigns sent through the platform's mail, tailored per agent."""

from django.apps import AppConfig


class AwarenessConfig(AppConfig):
    name = "clocher.awareness"
    label = "awareness"
    verbose_name = "Sensibilisation à l'hameçonnage"

    def ready(self) -> None:
        # The operator tile and the periodic send job of `clocher serve`.
        from clocher.awareness import hooks  # noqa: F401
