from django.apps import AppConfig


class OnboardingConfig(AppConfig):
    name = "clocher.onboarding"
    label = "onboarding"
    verbose_name = "Adhésion"

    def ready(self) -> None:
        # Built-in steps, exporters and console tiles register themselves on import.
        from clocher.onboarding import services, tiles  # noqa: F401
