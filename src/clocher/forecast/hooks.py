"""How the forecast app plugs into the platform: the operator tile, the demo series."""

from __future__ import annotations

from django.db.models import Sum
from django.urls import reverse

from clocher.core import tiles
from clocher.core.demo import DEMO_HOOKS
from clocher.forecast.demo import demo_forecasts
from clocher.forecast.models import Forecast, ForecastStatus, Series


@tiles.register("forecast")
def forecast_tile() -> tiles.Tile:
    done = Forecast.objects.filter(status=ForecastStatus.DONE)
    cpu = done.aggregate(total=Sum("cpu_seconds"))["total"] or 0.0
    return tiles.Tile(
        "forecast",
        "Prévisions",
        [
            tiles.Figure("Séries", str(Series.objects.count())),
            tiles.Figure("Prévisions calculées", str(done.count())),
            tiles.Figure("Temps de calcul", f"{cpu:.1f} s CPU".replace(".", ",")),
        ],
        url=reverse("forecast:operator"),
    )


DEMO_HOOKS.append(demo_forecasts)
