"""Energy pages: the commune's buildings, a building (model, trajectory, heat map,
drifts, what-if), imports with their progress, and the operator's view.

Thin: decisions are in services.py/imports.py; every query goes through the scoping helper.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from clocher.core import charts, scoping
from clocher.core.access import commune_required, operator_required
from clocher.core.models import Commune
from clocher.core.request import actor_of
from clocher.energy import imports, services
from clocher.energy.engine import tertiaire
from clocher.energy.engine.baseline import DailyModel
from clocher.energy.forms import (
    BuildingForm,
    ImportForm,
    MeterForm,
    OperatForm,
    ReferenceYearForm,
)
from clocher.energy.models import Building, Drift, Energy, EnergyImport, Meter, MeterKind
from clocher.forecast import services as forecast_services
from clocher.forecast.views import fan_of


def _refuse_unless_editor(request: HttpRequest, commune: Commune) -> None:
    if not services.may_edit(request.user, commune):
        raise Http404


def _message(exc: ValidationError) -> str:
    return " ".join(exc.messages)


@commune_required()
def buildings(request: HttpRequest, commune: Commune) -> HttpResponse:
    editor = services.may_edit(request.user, commune)
    form = BuildingForm(request.POST or None) if editor else None
    if request.method == "POST":
        if form is None:
            raise Http404
        if form.is_valid():
            try:
                building = services.create_building(
                    actor_of(request), commune, services.BuildingInput(**form.cleaned_data)
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, f"Bâtiment « {building.name} » créé.")
                return redirect("energy:building", insee=commune.insee, building_id=building.pk)
    qs = services.buildings_for(request.user, commune)
    total, rows = services.commune_trajectory(commune, qs)
    drifts = (
        scoping.scoped(Drift.objects.filter(commune=commune), request.user)
        .filter(acknowledged_at__isnull=True)
        .select_related("meter__building")[:50]
    )
    return render(
        request,
        "energy/buildings.html",
        {
            "commune": commune,
            "rows": rows,
            "total": total,
            "total_chart": _trajectory_chart(total) if total else None,
            "drifts": drifts,
            "form": form,
            "editor": editor,
            "operat_form": OperatForm(),
        },
        status=400 if request.method == "POST" else 200,
    )


def _main_meter(building: Building, wanted: str | None) -> Meter | None:
    meters = list(building.meters.all())
    if wanted and wanted.isdigit():
        chosen = [m for m in meters if m.pk == int(wanted)]
        if chosen:
            return chosen[0]
    heating = services.METER_KIND_OF.get(Energy(building.heating_energy))
    for meter in meters:
        if meter.kind == heating:
            return meter
    return next((m for m in meters if m.kind != MeterKind.EAU), None)


def _scatter(meter: Meter, baseline: Any) -> dict[str, Any] | None:
    """Daily kWh against the day's temperature, and the model over them: a line for the
    daily model, each day's modelled total (sum of its hours) for the hourly one."""
    if baseline is None:
        days, kwh = services.daily_series(meter)
        days, kwh = days[-365:], kwh[-365:]
    else:
        days, kwh = services.daily_series(meter, baseline.start, baseline.end)
    temp = services.temperatures(meter.building.station, days)
    ok = np.isfinite(temp) & np.isfinite(kwh)
    if ok.sum() < 2:
        return None
    xs, ys = [float(t) for t in temp[ok]], [float(k) for k in kwh[ok]]
    grid = np.linspace(min(xs), max(xs), 40)
    model = services.model_of(baseline) if baseline is not None else None
    fitted: list[float] = []
    modelled: list[tuple[float, float]] = []
    if isinstance(model, DailyModel):
        fitted = [float(v) for v in model.predict(grid)]
    elif model is not None:
        expected, _, _ = services.expected_days(meter, model, days[ok], temp[ok], 0.95)
        modelled = [(x, float(e)) for x, e in zip(xs, expected, strict=True) if np.isfinite(e)]
    ax = charts.axes_for(xs, ys + fitted + [e for _, e in modelled], margin=60)
    points = [ax.point(x, y) for x, y in zip(xs, ys, strict=True)]
    line = [ax.point(float(x), y) for x, y in zip(grid, fitted, strict=False)]
    return {
        "points": points,
        "line": charts.polyline(line),
        "modelled": [ax.point(x, y) for x, y in modelled],
        "ticks": _ticks(ax, "kWh/jour", "{:.0f} °C"),
        "axes": ax,
        "days": int(ok.sum()),
    }


WEEKDAYS = ("lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim.")


def _week_profile(meter: Meter | None, baseline: Any) -> dict[str, Any] | None:
    """The hourly model's week: mean metered and modelled kWh of each hour of the week
    over the baseline's 12 months (168 points each)."""
    if meter is None or baseline is None or baseline.granularity != "hourly":
        return None
    made = services.week_profile(meter, baseline)
    if made is None:
        return None
    metered, modelled = made
    seen = np.isfinite(metered) & np.isfinite(modelled)
    hours = [float(h) for h in np.flatnonzero(seen)]
    ax = charts.axes_for([0.0, 168.0], [0.0, *metered[seen], *modelled[seen]], margin=60)
    ticks = _ticks(ax, "kWh/h")
    ticks["x"] = [ax.point(24.0 * d + 12, 0.0, name) for d, name in enumerate(WEEKDAYS)]
    return {
        "metered": charts.polyline(
            [ax.point(h, float(v)) for h, v in zip(hours, metered[seen], strict=True)]
        ),
        "modelled": charts.polyline(
            [ax.point(h, float(v)) for h, v in zip(hours, modelled[seen], strict=True)]
        ),
        "axes": ax,
        "ticks": ticks,
        "peak_metered": float(np.nanmax(metered)),
        "peak_modelled": float(np.nanmax(modelled)),
    }


def _ticks(ax: charts.Axes, unit: str, fmt: str = "{:,.0f}") -> dict[str, Any]:
    """Five labelled ticks on each axis (French thousands with a thin space)."""
    xs = np.linspace(ax.x_min, ax.x_max, 5)
    ys = np.linspace(ax.y_min, ax.y_max, 5)
    bottom = ax.height - ax.margin
    return {
        "bottom": bottom,
        "right": ax.width - ax.margin,
        "label_y": bottom + 16,
        "x": [ax.point(float(x), ax.y_min, fmt.format(x).replace(",", "\u202f")) for x in xs],
        "y": [ax.point(ax.x_min, float(y), f"{y:,.0f}".replace(",", "\u202f")) for y in ys],
        "unit": unit,
    }


def _trajectory_chart(trajectory: tertiaire.Trajectory) -> dict[str, Any]:
    """Adjusted kWh per year, the reference, and the milestones of 2030/2040/2050 (a
    commune's aggregate has no single reference year: its line starts at the first year)."""
    years = sorted(trajectory.adjusted_kwh)
    targets = trajectory.targets or {
        year: trajectory.reference_kwh * (1 - cut) for year, cut in tertiaire.MILESTONES.items()
    }
    start = trajectory.reference_year or (years[0] if years else min(targets))
    xs = [float(y) for y in [*years, *targets, start]]
    ys = [trajectory.adjusted_kwh[y] for y in years] + [trajectory.reference_kwh]
    ax = charts.axes_for(xs, ys, margin=60)
    measured = [ax.point(float(y), trajectory.adjusted_kwh[y], str(y)) for y in years]
    goal = [ax.point(float(start), trajectory.reference_kwh)] + [
        ax.point(float(y), v, str(y)) for y, v in sorted(targets.items())
    ]
    return {
        "measured": charts.polyline(measured),
        "measured_points": measured,
        "goal": charts.polyline(goal),
        "goal_points": goal[1:],
        "axes": ax,
        "ticks": _ticks(ax, "kWh/an", "{:.0f}"),
        "targets": [
            {"year": y, "kwh": v, "gap": trajectory.gap(y)} for y, v in sorted(targets.items())
        ],
        "reduction": trajectory.reduction(),
    }


def _heatmap(meter: Meter | None) -> dict[str, Any] | None:
    if meter is None:
        return None
    days, grid = services.heatmap(meter)
    if not days:
        return None
    values = [[None if np.isnan(v) else round(float(v), 1) for v in row] for row in grid]
    labels = [f"{d:%d/%m/%Y}" for d in days]
    cells = charts.heat_cells(labels, 24, values, cell=6)
    finite = grid[np.isfinite(grid)]
    return {
        "cells": cells,
        "height": len(days) * 6,
        "display_height": len(days) * 6,
        "first": days[0],
        "last": days[-1],
        "max_kw": float(finite.max()) if finite.size else 0.0,
        "night_kw": float(np.nanmean(grid[:, 0:5])) if finite.size else 0.0,
    }


@require_safe
@commune_required()
def building(request: HttpRequest, commune: Commune, building_id: int) -> HttpResponse:
    found = services.building_for(request.user, commune, building_id)
    meter = _main_meter(found, request.GET.get("compteur"))
    baseline = services.latest_baseline(meter) if meter else None
    curve_meter = found.meters.filter(kind=MeterKind.ELEC).first() or meter
    trajectory = services.building_trajectory(found)
    return render(
        request,
        "energy/building.html",
        {
            "commune": commune,
            "building": found,
            "meters": found.meters.all(),
            "meter": meter,
            "baseline": baseline,
            "verdict": services.verdict_words(baseline) if baseline else "",
            "scatter": _scatter(meter, baseline) if meter else None,
            "week": _week_profile(meter, baseline),
            "trajectory": trajectory,
            "trajectory_chart": _trajectory_chart(trajectory.trajectory)
            if trajectory.trajectory
            else None,
            "heatmap": _heatmap(curve_meter),
            "curve_meter": curve_meter,
            "drifts": Drift.objects.filter(meter__building=found).select_related("meter")[:50],
            "actions": found.actions.all()[:20],
            "editor": services.may_edit(request.user, commune),
            "meter_form": MeterForm(),
            "prices_used": services.prices_used(),
            **_forecast_context(found),
            "reference_form": ReferenceYearForm(
                initial={"annee": found.reference_year},
                candidates=services.reference_candidates(found),
            ),
        },
    )


@require_POST
@commune_required()
def reference_year(request: HttpRequest, commune: Commune, building_id: int) -> HttpResponse:
    """The commune chooses the building's reference year (décret tertiaire)."""
    _refuse_unless_editor(request, commune)
    found = services.building_for(request.user, commune, building_id)
    form = ReferenceYearForm(request.POST, candidates=[])
    if not form.is_valid():
        messages.error(request, "Année de référence : une année entre 2010 et 2019.")
    else:
        year = form.cleaned_data["annee"]
        try:
            services.set_reference_year(actor_of(request), found, year)
        except ValidationError as exc:
            messages.error(request, _message(exc))
        else:
            messages.success(
                request,
                f"Année de référence : {year}."
                if year
                else "Année de référence : la plus favorable des années connues.",
            )
    return redirect(reverse("energy:building", args=[commune.insee, found.pk]) + "#trajectoire")


@require_POST
@commune_required()
def add_meter(request: HttpRequest, commune: Commune, building_id: int) -> HttpResponse:
    _refuse_unless_editor(request, commune)
    found = services.building_for(request.user, commune, building_id)
    form = MeterForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Compteur : nature et identifiant sont requis.")
    else:
        try:
            services.add_meter(actor_of(request), found, **form.cleaned_data)
            messages.success(request, "Compteur ajouté.")
        except ValidationError as exc:
            messages.error(request, _message(exc))
    return redirect("energy:building", insee=commune.insee, building_id=found.pk)


@require_POST
@commune_required()
def fit(request: HttpRequest, commune: Commune, building_id: int) -> HttpResponse:
    """Refit the model of each energy meter of the building on its last 12 months."""
    _refuse_unless_editor(request, commune)
    found = services.building_for(request.user, commune, building_id)
    granularity = request.POST.get("granularite", "auto")
    if granularity not in services.GRANULARITIES:
        granularity = "auto"
    for meter in found.meters.exclude(kind=MeterKind.EAU):
        try:
            made = services.fit_baseline(actor_of(request), meter, granularity=granularity)
            messages.success(request, f"{meter} : modèle {made.model_kind}, {made.verdict}.")
        except ValidationError as exc:
            messages.error(request, f"{meter} : {_message(exc)}")
    return redirect("energy:building", insee=commune.insee, building_id=found.pk)


@require_POST
@commune_required()
def simulate(request: HttpRequest, commune: Commune, building_id: int) -> HttpResponse:
    """The what-if: each measure's savings, kept as the building's actions."""
    _refuse_unless_editor(request, commune)
    found = services.building_for(request.user, commune, building_id)
    try:
        results, calibration = services.what_if(found)
    except ValidationError as exc:
        messages.error(request, _message(exc))
    else:
        for result in results:
            services.save_action(actor_of(request), found, result)
        messages.success(
            request,
            f"Simulation faite : modèle 5R1C calibré sur {calibration.n_days} jours "
            f"(CV(RMSE) {calibration.cv_rmse:.0%}) ; {services.prices_used()}.",
        )
    return redirect(reverse("energy:building", args=[commune.insee, found.pk]) + "#simulation")


@require_POST
@commune_required()
def forecast(request: HttpRequest, commune: Commune, building_id: int) -> HttpResponse:
    """Queue next year's forecast (the forecast app's task); the page follows it."""
    _refuse_unless_editor(request, commune)
    found = services.building_for(request.user, commune, building_id)
    try:
        made = services.request_forecast(actor_of(request), found)
    except ValidationError as exc:
        messages.error(request, _message(exc))
    else:
        if made is None:
            messages.error(request, "Prévision impossible : il faut 24 mois complets de mesures.")
    return redirect(reverse("energy:building", args=[commune.insee, found.pk]) + "#prevision")


@require_safe
@commune_required()
def forecast_status(
    request: HttpRequest, commune: Commune, building_id: int, forecast_id: int
) -> HttpResponse:
    """The progress line the building page polls (htmx); once done, back to the page."""
    found = services.building_for(request.user, commune, building_id)
    made = forecast_services.get_forecast(request.user, commune, forecast_id)
    if made.series.key != services.forecast_key(found):
        raise Http404
    response = render(
        request,
        "energy/_forecast_progress.html",
        {"commune": commune, "building": found, "pending": made},
    )
    if not made.pending and request.headers.get("HX-Request"):
        response["HX-Redirect"] = (
            reverse("energy:building", args=[commune.insee, found.pk]) + "#prevision"
        )
    return response


def _forecast_context(building: Building) -> dict[str, Any]:
    """The building's forecast for its page: the fan chart of the forecast app."""
    made = services.building_forecast(building)
    if made.shown is None or made.series is None:
        return {"forecast": made}
    return {
        "forecast": made,
        "forecast_fan": fan_of(made.series, made.shown, []),
        "forecast_last": forecast_services.history(made.series)[-1][0],
    }


@require_POST
@commune_required()
def acknowledge(request: HttpRequest, commune: Commune, drift_id: int) -> HttpResponse:
    _refuse_unless_editor(request, commune)
    drift = (
        scoping.scoped(Drift.objects.filter(commune=commune), request.user)
        .filter(pk=drift_id)
        .select_related("meter")
        .first()
    )
    if drift is None:
        raise Http404
    services.acknowledge_drift(actor_of(request), drift)
    messages.success(request, "Dérive marquée comme vue.")
    return redirect("energy:building", insee=commune.insee, building_id=drift.meter.building_id)


@require_safe
@commune_required()
def operat(request: HttpRequest, commune: Commune) -> HttpResponse:
    form = OperatForm(request.GET)
    if not form.is_valid():
        messages.error(request, "Année déclarée invalide (2010 ou après).")
        return redirect("energy:buildings", insee=commune.insee)
    year = form.cleaned_data["annee"]
    try:
        text = services.export_operat(actor_of(request), commune, year)
    except ValidationError as exc:
        messages.error(request, _message(exc))
        return redirect("energy:buildings", insee=commune.insee)
    response = HttpResponse(text.encode("utf-8"), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="operat-{commune.insee}-{year}.csv"'
    return response


@commune_required()
def import_page(request: HttpRequest, commune: Commune) -> HttpResponse:
    editor = services.may_edit(request.user, commune)
    meters = list(
        scoping.scoped(Meter.objects.filter(commune=commune), request.user).select_related(
            "building"
        )
    )
    form = ImportForm(request.POST or None, request.FILES or None, meters=meters)
    if request.method == "POST":
        if not editor:
            raise Http404
        if form.is_valid():
            upload = form.cleaned_data["file"]
            meter = next(m for m in meters if m.pk == form.cleaned_data["meter"])
            try:
                job = imports.start_import(
                    actor_of(request),
                    commune,
                    form.cleaned_data["kind"],
                    upload.name or "fichier.csv",
                    upload.read(),
                    meter,
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                return redirect(
                    "energy:import_status", insee=commune.insee, energy_import_id=job.pk
                )
    jobs = scoping.scoped(EnergyImport.objects.filter(commune=commune), request.user).defer(
        "payload"
    )[:20]
    return render(
        request,
        "energy/import.html",
        {"commune": commune, "form": form, "editor": editor, "jobs": jobs},
        status=400 if request.method == "POST" else 200,
    )


@require_safe
@commune_required()
def import_status(request: HttpRequest, commune: Commune, energy_import_id: int) -> HttpResponse:
    job = (
        scoping.scoped(EnergyImport.objects.filter(commune=commune), request.user)
        .defer("payload")
        .filter(pk=energy_import_id)
        .first()
    )
    if job is None:
        raise Http404
    template = "energy/_import_progress.html" if request.headers.get("HX-Request") else None
    return render(
        request, template or "energy/import_status.html", {"commune": commune, "job": job}
    )


SORT_LABELS = {
    "commune": "commune",
    "batiment": "bâtiment",
    "conso": "consommation",
    "ratio": "kWh/m²",
    "derives": "dérives ouvertes",
}
SORTS = {
    "commune": lambda r: (r["commune"].name, r["building"].name),
    "batiment": lambda r: r["building"].name,
    "conso": lambda r: -(r["kwh_year"] or 0),
    "ratio": lambda r: -(r["kwh_m2"] or 0),
    "derives": lambda r: -r["drifts"],
}


@require_safe
@operator_required
def operator(request: HttpRequest) -> HttpResponse:
    """All buildings of all communes, sortable; a constant number of queries."""
    rows = services.overview()
    sort = request.GET.get("tri", "commune")
    rows.sort(key=SORTS.get(sort, SORTS["commune"]))
    return render(
        request,
        "energy/operator.html",
        {"rows": rows, "sort": sort, "sorts": SORT_LABELS.items(), "since": timedelta(days=365)},
    )
