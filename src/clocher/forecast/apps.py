"""Predictive planning: forecasts with calibrated intervals, chosen by backtest."""

from django.apps import AppConfig


class ForecastConfig(AppConfig):
    name = "clocher.forecast"
    label = "forecast"
    verbose_name = "Prévisions"

    def ready(self) -> None:
        # The operator tile and the demo series.
        from clocher.forecast import hooks  # noqa: F401
