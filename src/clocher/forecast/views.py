"""Forecast pages: the commune's series (list, upload), a series with its fan chart, the
progress of a run, a stored forecast; the operator's view of every commune's series.

Thin: decisions are in services.py; every query goes through the scoping helper.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from clocher.core import charts
from clocher.core.access import commune_required, operator_required
from clocher.core.models import Commune
from clocher.core.request import actor_of
from clocher.forecast import services
from clocher.forecast.engine.series import SEASON_LENGTH
from clocher.forecast.forms import RunForm, UploadForm
from clocher.forecast.models import Forecast, ForecastStatus, Series

# Past forecasts drawn over what happened, on the chart (the table lists them all).
PAST_ON_CHART = 3


@commune_required()
def series_list(request: HttpRequest, commune: Commune) -> HttpResponse:
    may_write = services.may_write(request.user, commune)
    form = UploadForm(request.POST or None, request.FILES or None) if may_write else None
    status = 200
    if request.method == "POST":
        if form is None:
            raise Http404
        if form.is_valid():
            try:
                stored = services.import_series(
                    actor_of(request),
                    commune,
                    form.cleaned_data["file"],
                    name=form.cleaned_data["name"],
                    unit=form.cleaned_data["unit"],
                )
            except ValidationError as exc:
                form.add_error("file", exc)
            else:
                what = (
                    "créée" if stored.created else "mise à jour" if stored.changed else "inchangée"
                )
                messages.success(
                    request,
                    f"Série « {stored.series.name} » {what} ({stored.series.points} points).",
                )
                return redirect("forecast:series", insee=commune.insee, series_id=stored.series.pk)
        status = 400
    series = [(s, services.latest(s)) for s in services.series_for(request.user, commune)[:500]]
    return render(
        request,
        "forecast/list.html",
        {"commune": commune, "series": series, "form": form},
        status=status,
    )


def fan_of(series: Series, forecast: Forecast, past: list[Forecast]) -> charts.Fan:
    """History (the last seasons), the forecast with its 80/95 % bands, and earlier
    forecasts over the periods whose actual value is now known (also drawn by the pages
    of the apps that feed a series, with `forecast/_fan.html`)."""
    known = services.history(series)
    season = SEASON_LENGTH[series.frequency]
    start = date.fromisoformat(forecast.prediction["dates"][0])
    before = [p for p in known if p[0] < start]
    shown = before[-max(4 * season, 24) :]
    after = [p for p in known if p[0] >= start]
    prediction = forecast.prediction
    days = [date.fromisoformat(d) for d in prediction["dates"]]
    bands = {
        int(level): list(zip(prediction["lower"][level], prediction["upper"][level], strict=True))
        for level in prediction["lower"]
    }
    lines = [
        (
            f"prévu le {p.finished_at:%d/%m/%Y}" if p.finished_at else "prévision antérieure",
            [(date.fromisoformat(x["date"]), x["prevu"]) for x in p.realised["points"]],
        )
        for p in past[:PAST_ON_CHART]
    ]
    return charts.fan(
        shown + after,
        list(zip(days, prediction["mean"], strict=True)),
        bands,
        lines,
    )


def _series_page(
    request: HttpRequest, commune: Commune, series: Series, shown: Forecast | None
) -> HttpResponse:
    current = services.latest(series, current_only=True)
    shown = shown or current or services.latest(series)
    pending = series.forecasts.filter(
        status__in=[ForecastStatus.QUEUED, ForecastStatus.RUNNING]
    ).first()
    failed = series.forecasts.filter(status=ForecastStatus.FAILED).order_by("-id").first()
    past = [f for f in series.forecasts.filter(status=ForecastStatus.DONE) if f.realised]
    rows: list[dict[str, Any]] = []
    if shown is not None:
        p = shown.prediction
        rows = [
            {
                "date": date.fromisoformat(d),
                "mean": p["mean"][i],
                "low80": p["lower"]["80"][i],
                "high80": p["upper"]["80"][i],
                "low95": p["lower"]["95"][i],
                "high95": p["upper"]["95"][i],
            }
            for i, d in enumerate(p["dates"])
        ]
    may_write = services.may_write(request.user, commune)
    return render(
        request,
        "forecast/series.html",
        {
            "commune": commune,
            "series": series,
            "forecast": shown,
            "is_current": shown is not None and shown.data_version == series.data_version,
            "rows": rows,
            "fan": fan_of(series, shown, past) if shown is not None else None,
            "past": past,
            "pending": pending,
            "failed": failed if failed and (not shown or failed.pk > shown.pk) else None,
            "form": RunForm(initial={"horizon": shown.horizon if shown else 12})
            if may_write
            else None,
            "first": date.fromisoformat(series.data["dates"][0]),
            "last": date.fromisoformat(series.data["dates"][-1]),
        },
    )


@require_safe
@commune_required()
def series_detail(request: HttpRequest, commune: Commune, series_id: int) -> HttpResponse:
    return _series_page(
        request, commune, services.get_series(request.user, commune, series_id), None
    )


@require_safe
@commune_required()
def forecast_detail(request: HttpRequest, commune: Commune, forecast_id: int) -> HttpResponse:
    forecast = services.get_forecast(request.user, commune, forecast_id)
    if forecast.status != ForecastStatus.DONE:
        return redirect("forecast:series", insee=commune.insee, series_id=forecast.series_id)
    return _series_page(request, commune, forecast.series, forecast)


@require_POST
@commune_required()
def run(request: HttpRequest, commune: Commune, series_id: int) -> HttpResponse:
    series = services.get_series(request.user, commune, series_id)
    if not services.may_write(request.user, commune):
        raise Http404
    form = RunForm(request.POST)
    if not form.is_valid():
        messages.error(
            request, f"Horizon : un nombre de périodes entre 1 et {services.MAX_HORIZON}."
        )
        return redirect("forecast:series", insee=commune.insee, series_id=series.pk)
    try:
        forecast = services.request_run(actor_of(request), series, form.cleaned_data["horizon"])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("forecast:series", insee=commune.insee, series_id=series.pk)
    if forecast.status == ForecastStatus.DONE:
        return redirect("forecast:forecast", insee=commune.insee, forecast_id=forecast.pk)
    return redirect("forecast:series", insee=commune.insee, series_id=series.pk)


@require_safe
@commune_required()
def status(request: HttpRequest, commune: Commune, forecast_id: int) -> HttpResponse:
    """The progress line the series page polls (htmx); once done, htmx goes to it."""
    forecast = services.get_forecast(request.user, commune, forecast_id)
    response = render(
        request,
        "forecast/_progress.html",
        {"commune": commune, "pending": forecast},
    )
    if forecast.status == ForecastStatus.DONE and request.headers.get("HX-Request"):
        response["HX-Redirect"] = reverse(
            "forecast:forecast", kwargs={"insee": commune.insee, "forecast_id": forecast.pk}
        )
    return response


@require_safe
@operator_required
def operator(request: HttpRequest) -> HttpResponse:
    series = Series.objects.select_related("commune").order_by("commune__name", "name")[:1000]
    return render(
        request,
        "forecast/operator.html",
        {"series": [(s, services.latest(s)) for s in series]},
    )
