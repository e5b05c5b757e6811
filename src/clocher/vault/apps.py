from django.apps import AppConfig


class VaultConfig(AppConfig):
    name = "clocher.vault"
    label = "vault"
    verbose_name = "Coffre-fort numérique"

    def ready(self) -> None:
        # The onboarding step, the operator tile, departure export and purge.
        from clocher.vault import hooks  # noqa: F401
