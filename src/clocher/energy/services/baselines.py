"""Baselines: the CalTRACK model fitted on a meter's last 12 months and stored with its
ASHRAE Guideline 14 metrics, and its verdict in words.

Which model: the hourly one (CalTRACK 2 hourly, `engine.hourly`) when the meter has a
load curve over at least `MIN_BASELINE_DAYS` days of the 12 months — an Enedis curve of
10, 30 or 60 min steps —, else the daily one (index, invoices, daily readings). The
CLI, the page and the API may force either (`granularity`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from scipy import stats

from clocher.core import audit
from clocher.core.audit import Actor
from clocher.energy.engine import baseline as bl
from clocher.energy.engine import hourly as hm
from clocher.energy.engine import weather as wx
from clocher.energy.engine._timeutil import local_days_paris
from clocher.energy.imports import day_bounds_utc
from clocher.energy.models import (
    Baseline,
    DailyReading,
    LoadCurveDay,
    Meter,
    WeatherDay,
)
from clocher.energy.services.series import (
    daily_series,
    hourly_series,
    hourly_temperatures,
    temperatures,
)
from clocher.governance import cputime
from clocher.governance.models import Analytic

BASELINE_DAYS = 365
MIN_BASELINE_DAYS = 180
#: What `fit_baseline` may be asked: the model chosen from the data, or one forced.
GRANULARITIES = ("auto", "daily", "hourly")

Model = bl.DailyModel | hm.HourlyModel


def model_of(baseline: Baseline) -> Model:
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
    if baseline.granularity == "hourly":
        return hm.HourlyModel.from_params(p, metrics)
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


def _station_of(meter: Meter) -> None:
    if meter.building.station is None:
        raise ValidationError(
            f"Le bâtiment « {meter.building.name} » n'a pas de station météo : donnez ses "
            "coordonnées et importez un fichier Météo-France du département."
        )


def _usable_days(meter: Meter, start: date, end: date) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(days, °C, kWh) of [start, end] where both the reading and the weather exist."""
    _station_of(meter)
    station = meter.building.station
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


def choose_granularity(meter: Meter, start: date, end: date) -> str:
    """« hourly » when a load curve covers at least `MIN_BASELINE_DAYS` days of
    [start, end], else « daily »."""
    days = LoadCurveDay.objects.filter(meter=meter, day__gte=start, day__lte=end).count()
    return "hourly" if days >= MIN_BASELINE_DAYS else "daily"


def _fit_hourly_year(
    meter: Meter, start: date, end: date, what: str
) -> tuple[hm.HourlyModel, date, date]:
    """The CalTRACK 2 hourly model of the local days [start, end], and its first and
    last day; the hourly temperature interpolated from the station's TN/TX."""
    _station_of(meter)
    hours, kwh = hourly_series(meter, start, end)
    temp = hourly_temperatures(meter.building.station, hours)
    usable = np.isfinite(temp) & np.isfinite(kwh)
    if usable.sum() < MIN_BASELINE_DAYS * 24:
        raise ValidationError(
            f"Trop peu d'heures de courbe de charge avec météo{what} ({int(usable.sum())}, au "
            f"moins {MIN_BASELINE_DAYS * 24} sur les 12 mois du {start:%d/%m/%Y} au "
            f"{end:%d/%m/%Y}) : le modèle horaire demande une courbe de charge."
        )
    try:
        model = hm.fit_hourly(hours[usable], temp[usable], kwh[usable])
    except ValueError as exc:
        raise ValidationError(f"Modèle horaire impossible : {exc}") from exc
    local = hours[usable].astype("datetime64[s]")
    first = (local.min() + np.timedelta64(2, "h")).astype("datetime64[D]").astype(object)
    last = (local.max() + np.timedelta64(1, "h")).astype("datetime64[D]").astype(object)
    return model, first, last


def fit_baseline(
    actor: Actor, meter: Meter, end: date | None = None, granularity: str = "auto"
) -> Baseline:
    """CalTRACK model on the 12 months ending at `end` (default: the last reading),
    against the building's station; stored with its G14 metrics and verdict.
    `granularity`: « auto » (hourly when a load curve covers the period), « daily »,
    « hourly »."""
    if granularity not in GRANULARITIES:
        raise ValidationError(
            f"Granularité « {granularity} » inconnue : auto, daily (journalier) ou hourly "
            "(horaire)."
        )
    cpu = cputime.Meter()  # the fit's CPU, for the sobriety figures
    end = end or _last_day(meter)
    start = end - timedelta(days=BASELINE_DAYS - 1)
    if granularity == "auto":
        granularity = choose_granularity(meter, start, end)
    model: Model
    if granularity == "hourly":
        model, first, last = _fit_hourly_year(meter, start, end, "")
        params = model.to_params()
    else:
        model, days = _fit_year(meter, start, end, "")
        first, last = days.min().astype(object), days.max().astype(object)
        params = {
            "intercept": model.intercept,
            "beta_hdd": model.beta_hdd,
            "beta_cdd": model.beta_cdd,
            "hdd_bp": model.hdd_bp,
            "cdd_bp": model.cdd_bp,
            "adj_r2": model.adj_r2,
            "rmse": model.rmse,
            "rho": model.rho,
            "n_params": model.metrics.p,
        }
    m = model.metrics
    with transaction.atomic():
        baseline = Baseline.objects.create(
            commune=meter.commune,
            meter=meter,
            start=first,
            end=last,
            granularity=m.granularity,
            model_kind=model.kind,
            params=params,
            cvrmse=m.cvrmse,
            nmbe=m.nmbe,
            r2=m.r2,
            n=m.n,
            fit=m.fit,
            verdict=m.verdict[:300],
        )
        cputime.record(meter.commune, Analytic.ENERGY, cpu.seconds)
        audit.record(
            actor,
            "energy.baseline_fitted",
            commune=meter.commune,
            target=f"meter:{meter.pk}",
            data={
                "kind": model.kind,
                "granularity": m.granularity,
                "cvrmse": round(m.cvrmse, 4),
                "fit": m.fit,
            },
        )
    return baseline


def expected_days(
    meter: Meter, model: Model, days: np.ndarray, temp: np.ndarray, level: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(expected kWh, low, high) of each local day by the model, `level` interval. An
    hourly model's days are the sums of their hours, its interval from the error of its
    daily totals on the baseline."""
    if isinstance(model, bl.DailyModel):
        low, high = model.interval(temp, level)
        return model.predict(temp), low, high
    wanted = np.asarray(days, dtype="datetime64[D]").astype(np.int64)
    if wanted.size == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    begin = day_bounds_utc(np.datetime64(int(wanted.min()), "D"))[0]
    stop = day_bounds_utc(np.datetime64(int(wanted.max()), "D"))[1]
    hours = np.arange(begin, stop, 3600, dtype=np.int64)
    pred = model.predict(hours, hourly_temperatures(meter.building.station, hours))
    slot = local_days_paris(hours) - wanted.min()
    width = int(wanted.max() - wanted.min()) + 1
    total = np.bincount(slot, weights=np.where(np.isfinite(pred), pred, 0.0), minlength=width)
    missing = np.bincount(slot, weights=(~np.isfinite(pred)).astype(float), minlength=width)
    sums = np.where(missing == 0, total, np.nan)[wanted - wanted.min()]
    half = stats.t.ppf((1 + level) / 2, max(model.daily_n - 1, 1)) * model.daily_rmse
    half *= np.sqrt(1 + 1 / max(model.daily_n, 1))
    return sums, sums - half, sums + half


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
    baseline: Model
    avoided: bl.Savings
    normalised: bl.Savings | None
    why: str = ""


def _normal_year(meter: Meter) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(TN, TX, mean) of each of 365 calendar days: the station's mean over the years
    it has (29 February left out), the « normal year » of the normalised savings."""
    rows = WeatherDay.objects.filter(station=meter.building.station).values_list(
        "day", "tn", "tx", "tm"
    )
    sums, counts = np.zeros((3, 366)), np.zeros((3, 366))
    for day, tn, tx, tm in rows:
        if (day.month, day.day) == (2, 29):
            continue
        mean = tm
        if mean is None and tn is not None and tx is not None:
            mean = (tn + tx) / 2
        i = date(2001, day.month, day.day).timetuple().tm_yday - 1
        for k, value in enumerate((tn, tx, mean)):
            if value is not None:
                sums[k, i] += value
                counts[k, i] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        tn_n, tx_n, mean_n = (sums / counts)[:, :365]
    return tn_n, tx_n, mean_n


def normal_year_temperatures(meter: Meter) -> np.ndarray:
    """365 daily temperatures: the station's mean for each calendar day over the years it
    has (29 February left out), the « normal year » of the normalised savings."""
    return _normal_year(meter)[2]


def _normal_hours(meter: Meter, start: date, end: date) -> tuple[np.ndarray, np.ndarray]:
    """(UTC hour starts of the local days [start, end], °C of the normal year on them)."""
    tn_n, tx_n, mean_n = _normal_year(meter)
    days = np.arange(np.datetime64(start, "D"), np.datetime64(end, "D") + 1)
    index = np.array(
        [date(2001, d.month, min(d.day, 28) if d.month == 2 else d.day).timetuple().tm_yday - 1
         for d in days.astype(object)]
    )  # fmt: skip
    hours = np.arange(day_bounds_utc(days[0])[0], day_bounds_utc(days[-1])[1], 3600, dtype=np.int64)
    temp = wx.hourly_temperatures(days, tn_n[index], tx_n[index], mean_n[index], hours)
    return hours, temp


def _measured_savings_hourly(meter: Meter, since: date, until: date) -> MeasuredSavings:
    """`measured_savings` with the CalTRACK 2 hourly model, on hours."""
    before, _, _ = _fit_hourly_year(
        meter, since - timedelta(days=BASELINE_DAYS), since - timedelta(days=1), " avant l'action"
    )
    hours, kwh = hourly_series(meter, since, until)
    temp = hourly_temperatures(meter.building.station, hours)
    ok = np.isfinite(temp) & np.isfinite(kwh)
    if not ok.any():
        raise ValidationError(
            f"Aucune heure mesurée avec météo entre le {since:%d/%m/%Y} et le {until:%d/%m/%Y}."
        )
    avoided = hm.avoided_energy_hourly(before, hours[ok], temp[ok], kwh[ok])
    first_year_end = since + timedelta(days=BASELINE_DAYS - 1)
    if until < first_year_end:
        return MeasuredSavings(since, until, before, avoided, None, WAIT_A_YEAR)
    after, _, _ = _fit_hourly_year(meter, since, first_year_end, " après l'action")
    normal_hours, normal_temp = _normal_hours(meter, since, first_year_end)
    normalised = hm.normalised_savings_hourly(before, after, normal_hours, normal_temp)
    return MeasuredSavings(since, until, before, avoided, normalised)


WAIT_A_YEAR = "les économies normalisées demandent un an de mesures après l'action"


def measured_savings(meter: Meter, since: date, until: date | None = None) -> MeasuredSavings:
    """Savings on `meter` since an action done on `since` (CalTRACK/IPMVP option C).

    The baseline is the 12 months before `since` — the hourly model when a load curve
    covers them, else the daily one (`choose_granularity`); the reporting period runs
    from `since` to `until` (default: the last reading). Read-only: nothing is stored.
    """
    until = until or _last_day(meter)
    if until < since:
        raise ValidationError(
            f"Aucune consommation après le {since:%d/%m/%Y} : rien à comparer au modèle."
        )
    before_start = since - timedelta(days=BASELINE_DAYS)
    if choose_granularity(meter, before_start, since - timedelta(days=1)) == "hourly":
        return _measured_savings_hourly(meter, since, until)
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
        return MeasuredSavings(since, until, before, avoided, None, WAIT_A_YEAR)
    after, _ = _fit_year(meter, since, first_year_end, " après l'action")
    normal = normal_year_temperatures(meter)
    return MeasuredSavings(
        since, until, before, avoided, bl.normalised_savings(before, after, normal)
    )


def week_profile(meter: Meter, baseline: Baseline) -> tuple[np.ndarray, np.ndarray] | None:
    """(metered, modelled) mean kWh of each of the 168 hours of the week over an hourly
    baseline's period: what the building page draws for the hourly model."""
    model = model_of(baseline)
    if not isinstance(model, hm.HourlyModel):
        return None
    hours, kwh = hourly_series(meter, baseline.start, baseline.end)
    pred = model.predict(hours, hourly_temperatures(meter.building.station, hours))
    ok = np.isfinite(pred) & np.isfinite(kwh)
    if not ok.any():
        return None
    tow = hm.time_of_week(hours[ok])
    count = np.bincount(tow, minlength=168).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        metered = np.bincount(tow, weights=kwh[ok], minlength=168) / count
        modelled = np.bincount(tow, weights=pred[ok], minlength=168) / count
    return metered, modelled


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
