"""Baselines: the CalTRACK daily model fitted on a meter's last 12 months and stored
with its ASHRAE Guideline 14 metrics, and its verdict in words."""

from __future__ import annotations

from dataclasses import dataclass
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
    WeatherDay,
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


def _last_day(meter: Meter) -> date:
    end = DailyReading.objects.filter(meter=meter).aggregate(last=Max("day"))["last"]
    if end is None:
        raise ValidationError(f"Le compteur {meter.identifier} n'a aucune consommation.")
    return end


def _usable_days(meter: Meter, start: date, end: date) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(days, °C, kWh) of [start, end] where both the reading and the weather exist."""
    station = meter.building.station
    if station is None:
        raise ValidationError(
            f"Le bâtiment « {meter.building.name} » n'a pas de station météo : donnez ses "
            "coordonnées et importez un fichier Météo-France du département."
        )
    days, kwh = daily_series(meter, start, end)
    temp = temperatures(station, days)
    usable = np.isfinite(temp) & np.isfinite(kwh)
    return days[usable], temp[usable], kwh[usable]


def _fit_year(meter: Meter, start: date, end: date, what: str) -> tuple[bl.DailyModel, np.ndarray]:
    """The CalTRACK daily model of [start, end] (12 months), and the days it used."""
    days, temp, kwh = _usable_days(meter, start, end)
    if days.size < MIN_BASELINE_DAYS:
        raise ValidationError(
            f"Trop peu de jours avec consommation et météo{what} ({days.size}, au moins "
            f"{MIN_BASELINE_DAYS} sur les 12 mois du {start:%d/%m/%Y} au {end:%d/%m/%Y})."
        )
    try:
        return bl.fit_daily(temp, kwh), days
    except ValueError as exc:
        raise ValidationError(f"Modèle impossible : {exc}") from exc


def fit_baseline(actor: Actor, meter: Meter, end: date | None = None) -> Baseline:
    """CalTRACK daily model on the 12 months ending at `end` (default: the last reading),
    against the building's station; stored with its G14 metrics and verdict."""
    end = end or _last_day(meter)
    model, days = _fit_year(meter, end - timedelta(days=BASELINE_DAYS - 1), end, "")
    m = model.metrics
    with transaction.atomic():
        baseline = Baseline.objects.create(
            commune=meter.commune,
            meter=meter,
            start=days.min().astype(object),
            end=days.max().astype(object),
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


@dataclass(frozen=True)
class MeasuredSavings:
    """What an action saved on one meter (kWh, ± at 90 %, ASHRAE Guideline 14 Annex B).

    avoided: the 12 months before `since` modelled on the reporting period's weather,
    minus what was metered then. normalised: the models of the year before and of the
    first year after, both on the station's normal year; None (with `why`) until a year
    of reporting data exists.
    """

    since: date
    until: date
    baseline: bl.DailyModel
    avoided: bl.Savings
    normalised: bl.Savings | None
    why: str = ""


def normal_year_temperatures(meter: Meter) -> np.ndarray:
    """365 daily temperatures: the station's mean for each calendar day over the years it
    has (29 February left out), the « normal year » of the normalised savings."""
    rows = WeatherDay.objects.filter(station=meter.building.station).values_list(
        "day", "tn", "tx", "tm"
    )
    sums, counts = np.zeros(366), np.zeros(366)
    for day, tn, tx, tm in rows:
        value = (
            tm if tm is not None else (tn + tx) / 2 if tn is not None and tx is not None else None
        )
        if value is None or (day.month, day.day) == (2, 29):
            continue
        i = date(2001, day.month, day.day).timetuple().tm_yday - 1
        sums[i] += value
        counts[i] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return (sums / counts)[:365]


def measured_savings(meter: Meter, since: date, until: date | None = None) -> MeasuredSavings:
    """Savings on `meter` since an action done on `since` (CalTRACK/IPMVP option C).

    The baseline is the 12 months before `since`; the reporting period runs from `since`
    to `until` (default: the last reading). Read-only: nothing is stored.
    """
    until = until or _last_day(meter)
    if until < since:
        raise ValidationError(
            f"Aucune consommation après le {since:%d/%m/%Y} : rien à comparer au modèle."
        )
    before, _ = _fit_year(
        meter, since - timedelta(days=BASELINE_DAYS), since - timedelta(days=1), " avant l'action"
    )
    days, temp, kwh = _usable_days(meter, since, until)
    if days.size == 0:
        raise ValidationError(
            f"Aucun jour mesuré avec météo entre le {since:%d/%m/%Y} et le {until:%d/%m/%Y}."
        )
    avoided = bl.avoided_energy(before, temp, kwh)
    first_year_end = since + timedelta(days=BASELINE_DAYS - 1)
    if until < first_year_end:
        return MeasuredSavings(
            since,
            until,
            before,
            avoided,
            None,
            "les économies normalisées demandent un an de mesures après l'action",
        )
    after, _ = _fit_year(meter, since, first_year_end, " après l'action")
    normal = normal_year_temperatures(meter)
    return MeasuredSavings(
        since, until, before, avoided, bl.normalised_savings(before, after, normal)
    )


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
