"""Energy digital twin of the communes' buildings (issue 17): the Django side."""

from django.apps import AppConfig


class EnergyConfig(AppConfig):
    name = "clocher.energy"
    label = "energy"
    verbose_name = "Énergie des bâtiments (jumeau numérique)"

    def ready(self) -> None:
        # The operator tile, the weekly drift mail under `clocher serve`, the demo.
        from clocher.energy import hooks  # noqa: F401
