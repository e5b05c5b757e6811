"""Debt steering: loan book, exact schedules, indicators, Gissler charter, rate scenarios."""

from django.apps import AppConfig


class FinanceConfig(AppConfig):
    name = "clocher.finance"
    label = "finance"
    verbose_name = "Finances (dette)"

    def ready(self) -> None:
        # The operator tile, the departure export and the demo loan books.
        from clocher.finance import hooks  # noqa: F401
