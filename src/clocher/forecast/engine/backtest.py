"""Choose a model by backtest, calibrate its intervals, explain the choice.

`run_forecast(series, horizon)` is the engine's one entry point:

1. Rolling-origin cross-validation: each candidate is fitted on the series cut at up to
   `origins` points (non-overlapping windows covering the last seasons) and forecasts
   the next periods; MASE (scaled by the in-sample seasonal naive's error), sMAPE, WAPE
   and the coverage of its own 80 %/95 % intervals are measured on what followed.
2. The lowest mean MASE wins.
3. Its intervals are kept when their backtest coverage is within tolerance of the
   nominal level (|coverage − L| ≤ max(5 points, 2 binomial standard errors)); otherwise
   they are rebuilt by split conformal prediction on the backtest residuals: per horizon
   step when each step has enough residuals for the level, else with the residuals
   normalised by the model's own half-width (pooled over steps, so the width still grows
   with the step as the model says).
4. The explanation in French, the warnings and the model card come with the result.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from clocher.forecast.engine import calendar
from clocher.forecast.engine.models import CANDIDATES, Fit
from clocher.forecast.engine.series import FREQUENCY_LABELS, FloatArray, Series, SeriesError

ENGINE_VERSION = "1"
MIN_TRAIN = 4  # fewest points a candidate is ever fitted on
DEFAULT_ORIGINS = 3


@dataclass
class CandidateScore:
    """One candidate's backtest: mean scores over the origins (None when it failed)."""

    key: str
    label: str
    mase: float | None = None
    smape: float | None = None
    wape: float | None = None
    coverage: dict[int, float] = field(default_factory=dict)
    cpu_seconds: float = 0.0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "modele": self.key,
            "libelle": self.label,
            "mase": _round(self.mase),
            "smape_pct": _round(self.smape),
            "erreur_moyenne_pct": _round(self.wape),
            "couverture_pct": {str(k): _round(v * 100) for k, v in self.coverage.items()},
            "cpu_secondes": round(self.cpu_seconds, 4),
            "erreur": self.error,
        }


@dataclass(frozen=True)
class BacktestPlan:
    season: int  # season length actually used (1 when the series is too short)
    horizon: int  # periods forecast from each origin
    origins: tuple[int, ...]  # training lengths, oldest first

    @property
    def tested_periods(self) -> int:
        return self.horizon * len(self.origins)


@dataclass
class ForecastResult:
    """What a forecast is: the chosen model, why, the numbers, and how far to trust them."""

    series_name: str
    freq: str
    model: str
    model_label: str
    scores: list[CandidateScore]
    dates: list[date]
    point: list[float]
    lower: dict[int, list[float]]
    upper: dict[int, list[float]]
    calibration: dict[int, str]  # level → "modèle" or "conforme (…)"
    explanation: str
    warnings: list[str]
    cpu_seconds: float
    plan: BacktestPlan
    data_sha256: str
    history: tuple[date, date, int]  # first date, last date, number of points
    regressors: list[str]
    levels: tuple[int, ...]

    @property
    def chosen(self) -> CandidateScore:
        return next(s for s in self.scores if s.key == self.model)

    def rows(self) -> list[dict[str, Any]]:
        """One dict per forecast period: date, point, bounds per level."""
        out = []
        for i, day in enumerate(self.dates):
            row: dict[str, Any] = {"date": day.isoformat(), "prevision": self.point[i]}
            for lv in self.levels:
                row[f"bas_{lv}"] = self.lower[lv][i]
                row[f"haut_{lv}"] = self.upper[lv][i]
            out.append(row)
        return out

    def card(self) -> dict[str, Any]:
        """The model card the governance register reads: data, method, scores, limits."""
        first, last, count = self.history
        return {
            "donnees": {
                "serie": self.series_name,
                "frequence": FREQUENCY_LABELS[self.freq],
                "debut": first.isoformat(),
                "fin": last.isoformat(),
                "points": count,
                "empreinte_sha256": self.data_sha256,
                "regresseurs": self.regressors,
            },
            "methode": {
                "moteur": f"clocher.forecast {ENGINE_VERSION}",
                "candidats": [s.label for s in self.scores],
                "modele_retenu": self.model_label,
                "critere": "plus petite MASE moyenne en validation croisée à origine glissante",
                "validation": {
                    "origines": len(self.plan.origins),
                    "horizon_par_origine": self.plan.horizon,
                    "saison": self.plan.season,
                    "periodes_testees": self.plan.tested_periods,
                },
                "intervalles": {str(k): v for k, v in self.calibration.items()},
                "explication": self.explanation,
            },
            "scores": [s.as_dict() for s in self.scores],
            "limites": self.limits(),
            "avertissements": self.warnings,
            "energie": {"cpu_secondes": round(self.cpu_seconds, 3), "calcul": "local"},
        }

    def limits(self) -> list[str]:
        out = [
            "Une prévision prolonge le passé : une rupture (fermeture, nouveau tarif, "
            "transfert de compétence) n'est pas prévue tant qu'elle n'est pas dans les données.",
            f"Scores mesurés sur {self.plan.tested_periods} périodes seulement : ils disent "
            "l'ordre de grandeur de l'erreur, pas une garantie.",
            "Les intervalles supposent que l'avenir varie comme les périodes testées.",
        ]
        if len(self.plan.origins) < DEFAULT_ORIGINS:
            out.append("Historique court : peu d'essais, le choix du modèle est fragile.")
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "modele": self.model,
            "libelle": self.model_label,
            "explication": self.explanation,
            "previsions": self.rows(),
            "scores": [s.as_dict() for s in self.scores],
            "calibration": {str(k): v for k, v in self.calibration.items()},
            "avertissements": self.warnings,
            "cpu_secondes": round(self.cpu_seconds, 3),
            "fiche": self.card(),
        }


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, digits)


def plan_backtest(
    n: int, horizon: int, season: int, origins: int = DEFAULT_ORIGINS
) -> BacktestPlan:
    """Origins and test windows that fit the series: seasonal models need two seasons."""
    if season > 1 and n < 2 * season + 1:
        season = 1
    min_train = max(2 * season, MIN_TRAIN)
    step = max(1, min(horizon, n - min_train))
    count = max(1, min(origins, (n - min_train) // step))
    return BacktestPlan(season, step, tuple(n - step * k for k in range(count, 0, -1)))


def _scale(y: FloatArray, season: int) -> float:
    """In-sample MAE of the seasonal naive (naive when too short): MASE's denominator."""
    lag = season if len(y) > season else 1
    diffs = np.abs(y[lag:] - y[:-lag])
    scale = float(np.mean(diffs)) if len(diffs) else 0.0
    return scale if scale > 0 else float(np.mean(np.abs(y))) or 1.0


def _regressor_matrix(
    series: Series, horizon: int, use_calendar: bool, warnings: list[str]
) -> tuple[FloatArray | None, FloatArray | None, list[str]]:
    columns: dict[str, FloatArray] = {}
    future: dict[str, FloatArray] = {}
    for name, values in series.regressors.items():
        ahead = series.future_regressors.get(name)
        if ahead is None or len(ahead) < horizon:
            warnings.append(
                f"Régresseur « {name} » ignoré : ses valeurs futures manquent pour les "
                f"{horizon} périodes à prévoir (ajoutez-les en fin de fichier, sans valeur)."
            )
            continue
        columns[name], future[name] = values, ahead[:horizon]
    future_dates = series.future_dates(horizon)
    if use_calendar and series.freq != "YS":
        if calendar.school_table_covers(series.dates[0], future_dates[-1]):
            columns.update(calendar.calendar_regressors(series.dates, series.freq))
            future.update(calendar.calendar_regressors(future_dates, series.freq))
        else:
            warnings.append(
                "Calendrier des vacances scolaires connu de décembre 2014 à 2030 seulement : "
                "jours fériés et vacances non utilisés comme régresseurs pour cette période."
            )
    if not columns:
        return None, None, []
    names = list(columns)
    return (
        np.column_stack([columns[k] for k in names]),
        np.column_stack([future[k] for k in names]),
        names,
    )


@dataclass
class _Trial:
    errors: list[FloatArray] = field(default_factory=list)  # per origin, per step
    actual: list[FloatArray] = field(default_factory=list)
    fits: list[Fit] = field(default_factory=list)
    mase: list[float] = field(default_factory=list)


def _score(key: str, trial: _Trial, levels: tuple[int, ...], cpu: float) -> CandidateScore:
    errors = np.concatenate(trial.errors)
    actual = np.concatenate(trial.actual)
    forecast = actual - errors
    denominator = np.abs(actual) + np.abs(forecast)
    ok = denominator > 0
    coverage = {}
    for lv in levels:
        lower = np.concatenate([f.lower[lv] for f in trial.fits])
        upper = np.concatenate([f.upper[lv] for f in trial.fits])
        coverage[lv] = float(np.mean((actual >= lower) & (actual <= upper)))
    total = float(np.sum(np.abs(actual)))
    return CandidateScore(
        key=key,
        label=CANDIDATES[key].label,
        mase=float(np.mean(trial.mase)),
        smape=float(200 * np.mean(np.abs(errors[ok]) / denominator[ok])) if ok.any() else 0.0,
        wape=float(100 * np.sum(np.abs(errors)) / total) if total > 0 else None,
        coverage=coverage,
        cpu_seconds=cpu,
    )


def _fit(
    key: str,
    y: FloatArray,
    h: int,
    season: int,
    X: FloatArray | None,
    X_future: FloatArray | None,
    levels: tuple[int, ...],
) -> Fit:
    candidate = CANDIDATES[key]
    if not candidate.uses_regressors:
        X = X_future = None
    fit = candidate.function(y, h, season, X, X_future, levels)
    if not np.all(np.isfinite(fit.mean)):
        raise ArithmeticError("prévision non finie")
    return fit


def run_forecast(
    series: Series,
    horizon: int,
    levels: tuple[int, ...] = (80, 95),
    *,
    candidates: tuple[str, ...] | None = None,
    origins: int = DEFAULT_ORIGINS,
    use_calendar: bool = True,
) -> ForecastResult:
    """Backtest every candidate, keep the best by MASE, forecast `horizon` periods ahead."""
    started = time.process_time()
    n = len(series)
    if horizon < 1:
        raise SeriesError("L'horizon doit être d'au moins une période.")
    if horizon > n:
        raise SeriesError(
            f"Horizon trop long : {horizon} périodes demandées pour {n} points d'historique "
            "(au plus autant que l'historique)."
        )
    levels = tuple(sorted(levels))
    warnings = list(series.warnings)
    y = series.values
    plan = plan_backtest(n, horizon, series.season_length, origins)
    if plan.season < series.season_length:
        warnings.append(
            f"Moins de deux saisons complètes ({n} points, {2 * series.season_length + 1} "
            "nécessaires) : les modèles sont essayés sans saisonnalité."
        )
    X, X_future, reg_names = _regressor_matrix(series, horizon, use_calendar, warnings)
    keys = candidates or tuple(CANDIDATES)
    scores: list[CandidateScore] = []
    trials: dict[str, _Trial] = {}
    for key in keys:
        cpu = time.process_time()
        trial = _Trial()
        try:
            for origin in plan.origins:
                h = plan.horizon
                fit = _fit(
                    key,
                    y[:origin],
                    h,
                    plan.season,
                    None if X is None else X[:origin],
                    None if X is None else X[origin : origin + h],
                    levels,
                )
                actual = y[origin : origin + h]
                trial.errors.append(actual - fit.mean)
                trial.actual.append(actual)
                trial.fits.append(fit)
                scale = _scale(y[:origin], plan.season)
                trial.mase.append(float(np.mean(np.abs(actual - fit.mean))) / scale)
        except Exception as exc:  # noqa: BLE001 — a failing candidate is reported, not fatal
            scores.append(
                CandidateScore(key, CANDIDATES[key].label, error=f"{type(exc).__name__}: {exc}")
            )
            continue
        trials[key] = trial
        scores.append(_score(key, trial, levels, time.process_time() - cpu))
    ranked = sorted((s for s in scores if s.mase is not None), key=lambda s: s.mase or 0.0)
    if not ranked:
        raise SeriesError("Aucun modèle n'a pu être ajusté sur cette série.")
    best = ranked[0]
    fit = _fit(best.key, y, horizon, plan.season, X, X_future, levels)
    lower, upper, calibration = _calibrate(fit, trials[best.key], best, levels)
    result = ForecastResult(
        series_name=series.name,
        freq=series.freq,
        model=best.key,
        model_label=best.label,
        scores=scores,
        dates=series.future_dates(horizon),
        point=[float(v) for v in fit.mean],
        lower={lv: [float(v) for v in lower[lv]] for lv in levels},
        upper={lv: [float(v) for v in upper[lv]] for lv in levels},
        calibration=calibration,
        explanation=explain(ranked, scores, plan, series.freq),
        warnings=warnings,
        cpu_seconds=0.0,
        plan=plan,
        data_sha256=data_fingerprint(series),
        history=(series.dates[0], series.dates[-1], n),
        regressors=reg_names if CANDIDATES[best.key].uses_regressors else [],
        levels=levels,
    )
    result.cpu_seconds = time.process_time() - started
    return result


def data_fingerprint(series: Series) -> str:
    """SHA-256 of the dates and values: the data version a stored forecast refers to."""
    digest = hashlib.sha256(series.freq.encode())
    for day, value in zip(series.dates, series.values, strict=True):
        digest.update(f"{day.isoformat()}={value!r};".encode())
    return digest.hexdigest()


def _conformal_rank(count: int, level: int) -> int | None:
    """Index (0-based) of the split-conformal quantile, None if too few scores."""
    rank = math.ceil((count + 1) * level / 100)
    return rank - 1 if rank <= count else None


def _calibrate(
    fit: Fit, trial: _Trial, score: CandidateScore, levels: tuple[int, ...]
) -> tuple[dict[int, FloatArray], dict[int, FloatArray], dict[int, str]]:
    errors = np.vstack(trial.errors)  # origins × steps
    points = errors.size
    lower, upper, how = {}, {}, {}
    for lv in levels:
        target = lv / 100
        covered = score.coverage[lv]
        tolerance = max(0.05, 2 * math.sqrt(target * (1 - target) / points))
        if abs(covered - target) <= tolerance:
            lower[lv], upper[lv] = fit.lower[lv], fit.upper[lv]
            how[lv] = f"modèle (couverture testée {covered * 100:.0f} %)"
            continue
        horizon = len(fit.mean)
        per_step = _conformal_rank(errors.shape[0], lv)
        if per_step is not None and errors.shape[1] >= horizon:
            widths = np.sort(np.abs(errors), axis=0)[per_step][:horizon]
            rule = "par pas d'horizon"
        else:
            own = np.vstack([(f.upper[lv] - f.lower[lv]) / 2 for f in trial.fits])
            ratios = np.sort((np.abs(errors) / np.maximum(own, 1e-12)).ravel())
            rank = _conformal_rank(points, lv)
            factor = ratios[rank] if rank is not None else ratios[-1]
            widths = factor * (fit.upper[lv] - fit.lower[lv]) / 2
            rule = f"normalisée, facteur {factor:.2f}"
        lower[lv], upper[lv] = fit.mean - widths, fit.mean + widths
        how[lv] = (
            f"conforme ({rule}) : couverture testée du modèle {covered * 100:.0f} % pour {lv} %"
        )
    for inner, outer in zip(levels, levels[1:], strict=False):  # keep the fan nested
        lower[outer] = np.minimum(lower[outer], lower[inner])
        upper[outer] = np.maximum(upper[outer], upper[inner])
    return lower, upper, how


# --- the explanation a mayor reads ----------------------------------------------------

_UNITS = {"D": ("jour", "jours"), "W": ("semaine", "semaines")}


def span_words(plan: BacktestPlan, freq: str) -> str:
    """« les 3 dernières années », « les 8 derniers trimestres », « les 10 derniers jours »."""
    total = plan.tested_periods
    per_year = {"MS": 12, "QS": 4, "YS": 1}.get(freq)
    if per_year and total % per_year == 0:
        years = total // per_year
        return "la dernière année" if years == 1 else f"les {years} dernières années"
    if freq == "MS":
        return "le dernier mois" if total == 1 else f"les {total} derniers mois"
    if freq == "QS":
        return "le dernier trimestre" if total == 1 else f"les {total} derniers trimestres"
    one, many = _UNITS.get(freq, ("période", "périodes"))
    feminine = freq != "D"
    if total == 1:
        return f"la dernière {one}" if feminine else f"le dernier {one}"
    return f"les {total} dernières {many}" if feminine else f"les {total} derniers {many}"


_PERIODS = {
    "D": ("jour", "jours"),
    "W": ("semaine", "semaines"),
    "MS": ("mois", "mois"),
    "QS": ("trimestre", "trimestres"),
    "YS": ("an", "ans"),
}


def periods(count: int, freq: str) -> str:
    one, many = _PERIODS[freq]
    return f"{count} {one if count == 1 else many}"


def percent(value: float | None) -> str:
    if value is None:
        return "—"
    text = f"{value:.0f}" if value >= 10 else f"{value:.1f}".replace(".", ",")
    return f"{text} %"


def explain(
    ranked: list[CandidateScore], scores: list[CandidateScore], plan: BacktestPlan, freq: str
) -> str:
    best = ranked[0]
    span = span_words(plan, freq)
    trials = len(plan.origins)
    how = f"{trials} essai{'s' if trials > 1 else ''} de {periods(plan.horizon, freq)}"
    text = (
        f"Modèle retenu : {best.label}, qui {CANDIDATES[best.key].description}. "
        f"Testé sur {span} ({how}, à chaque fois sans connaître la suite), il s'est trompé "
        f"en moyenne de {percent(best.wape)}."
    )
    naive = next((s for s in ranked if s.key == "naive"), None)
    if best.key == "naive":
        text += " Aucune méthode plus élaborée n'a fait mieux que de reprendre la dernière saison."
    elif naive is not None and naive.mase and best.mase is not None:
        gain = 100 * (1 - best.mase / naive.mase)
        text += (
            f" Reprendre simplement la dernière saison se serait trompé de "
            f"{percent(naive.wape)} : l'écart est réduit de {percent(gain)}."
        )
    if len(ranked) > 1:
        second = ranked[1]
        text += (
            f" Il fait mieux que les {len(ranked) - 1} autres méthodes essayées ; la suivante, "
            f"{second.label}, se trompait de {percent(second.wape)}."
        )
    failed = [s.label for s in scores if s.error]
    if failed:
        text += f" Non ajusté{'s' if len(failed) > 1 else ''} : {', '.join(failed)}."
    return text
