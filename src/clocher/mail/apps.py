from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "clocher.mail"
    label = "mail"
    verbose_name = "Messagerie"

    def ready(self) -> None:
        # Daemons for `clocher serve`, probes for `clocher check`, the onboarding step.
        from clocher.mail import hooks  # noqa: F401
