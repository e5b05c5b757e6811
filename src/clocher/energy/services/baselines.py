"""Baselines: the CalTRACK daily model fitted on a meter's last 12 months and stored
with its ASHRAE Guideline 14 metrics, and its verdict in words."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from clocher.core import audit
from clocher.core.audit import Actor
from clocher.energy.engine import baseline as bl
from clocher.energy.models import (
    Baseline,
    DailyReading,
    Meter,
)
from clocher.energy.services.series import daily_series, temperatures

BASELINE_DAYS = 365
MIN_BASELINE_DAYS = 180


def model_of(baseline: Baseline) -> bl.DailyModel:
    """The engine's model back from its stored parameters (to predict, draw, detect)."""
    p = baseline.params
    metrics = bl.G14Metrics(
        baseline.cvrmse,
        baseline.nmbe,
        baseline.r2,
        baseline.n,
        int(p.get("n_params", 1)),
        baseline.granularity,
        baseline.fit,
    )
    return bl.DailyModel(
        baseline.model_kind,
        p["intercept"],
        p["beta_hdd"],
        p["beta_cdd"],
        p["hdd_bp"],
        p["cdd_bp"],
        p["adj_r2"],
        baseline.n,
        p["rmse"],
        p.get("rho", 0.0),
        metrics,
    )


def fit_baseline(actor: Actor, meter: Meter, end: date | None = None) -> Baseline:
    """CalTRACK daily model on the 12 months ending at `end` (default: the last reading),
    against the building's station; stored with its G14 metrics and verdict."""
    if end is None:
        end = DailyReading.objects.filter(meter=meter).aggregate(last=Max("day"))["last"]
        if end is None:
            raise ValidationError(f"Le compteur {meter.identifier} n'a aucune consommation.")
    start = end - timedelta(days=BASELINE_DAYS - 1)
    days, kwh = daily_series(meter, start, end)
    station = meter.building.station
    if station is None:
        raise ValidationError(
            f"Le bâtiment « {meter.building.name} » n'a pas de station météo : donnez ses "
            "coordonnées et importez un fichier Météo-France du département."
        )
    temp = temperatures(station, days)
    usable = np.isfinite(temp) & np.isfinite(kwh)
    if usable.sum() < MIN_BASELINE_DAYS:
        raise ValidationError(
            f"Trop peu de jours avec consommation et météo ({int(usable.sum())}, au moins "
            f"{MIN_BASELINE_DAYS} sur les 12 mois jusqu'au {end:%d/%m/%Y})."
        )
    try:
        model = bl.fit_daily(temp[usable], kwh[usable])
    except ValueError as exc:
        raise ValidationError(f"Modèle impossible : {exc}") from exc
    m = model.metrics
    with transaction.atomic():
        baseline = Baseline.objects.create(
            commune=meter.commune,
            meter=meter,
            start=days[usable].min().astype(object),
            end=days[usable].max().astype(object),
            granularity=m.granularity,
            model_kind=model.kind,
            params={
                "intercept": model.intercept,
                "beta_hdd": model.beta_hdd,
                "beta_cdd": model.beta_cdd,
                "hdd_bp": model.hdd_bp,
                "cdd_bp": model.cdd_bp,
                "adj_r2": model.adj_r2,
                "rmse": model.rmse,
                "rho": model.rho,
                "n_params": m.p,
            },
            cvrmse=m.cvrmse,
            nmbe=m.nmbe,
            r2=m.r2,
            n=m.n,
            fit=m.fit,
            verdict=m.verdict[:300],
        )
        audit.record(
            actor,
            "energy.baseline_fitted",
            commune=meter.commune,
            target=f"meter:{meter.pk}",
            data={"kind": model.kind, "cvrmse": round(m.cvrmse, 4), "fit": m.fit},
        )
    return baseline


def latest_baseline(meter: Meter) -> Baseline | None:
    return meter.baselines.order_by("-created_at", "-pk").first()


def verdict_words(baseline: Baseline) -> str:
    """The G14 verdict in plain words for the building page."""
    limits = bl.G14_LIMITS.get(baseline.granularity, bl.G14_LIMITS["daily"])
    how = (
        f"L'écart type des erreurs du modèle vaut {baseline.cvrmse:.1%} de la consommation "
        f"moyenne (CV(RMSE), au plus {limits[0]:.0%}) et son biais {baseline.nmbe:+.1%} "
        f"(NMBE, entre ±{limits[1]:.0%}) ; il explique {baseline.r2:.0%} des variations (R²)."
    )
    if baseline.fit:
        return (
            f"Modèle apte à mesurer des économies (ASHRAE Guideline 14). {how} Une économie "
            "calculée avec ce modèle est donc crédible."
        )
    return (
        f"Modèle inapte à mesurer des économies (ASHRAE Guideline 14) : {baseline.verdict}. "
        f"{how} Les économies calculées avec lui seraient trop incertaines : vérifiez les "
        "données (compteur, période) ou attendez davantage de mesures."
    )
