from django.apps import AppConfig


class OnboardingConfig(AppConfig):
    name = "clocher.onboarding"
    label = "onboarding"
    verbose_name = "Adhésion"
