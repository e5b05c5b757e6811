"""Background task of the forecast app (django-tasks, database backend): one forecast,
queued by a page or the API; the page polls its state until it is done."""

from __future__ import annotations

from django_tasks import task

from clocher.core.audit import Actor


@task()
def run_forecast(forecast_id: int, actor_label: str, ip: str | None = None) -> str:
    from clocher.forecast import services
    from clocher.forecast.models import Forecast

    forecast = Forecast.objects.select_related("commune").get(pk=forecast_id)
    done = services.execute(Actor(label=actor_label, ip=ip), forecast)
    return f"{done.status} : {done.model or done.error}"
