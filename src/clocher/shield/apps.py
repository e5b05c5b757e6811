"""The central side of the shield: boxes, enrolment, feeds, events, reports."""

from django.apps import AppConfig


class ShieldConfig(AppConfig):
    name = "clocher.shield"
    label = "shield"
    verbose_name = "Bouclier (boîtiers de sécurité)"

    def ready(self) -> None:
        # The onboarding step, the operator tile, the brute-force detector.
        from clocher.shield import hooks  # noqa: F401
