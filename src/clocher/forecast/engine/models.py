"""The candidate models: seasonal naive, ETS, ARIMA, Theta (statsforecast) and a linear
regression on trend, season and calendar regressors (closed-form least squares, numpy).

Each candidate is one function `(y, h, m, X, X_future, levels) -> Fit` so that the
backtest treats them all alike. statsforecast's models are called directly on numpy
arrays (no DataFrame): its ETS, ARIMA and Theta are compiled C++ (statsforecast ≥ 2.0,
no numba), a few milliseconds per fit on a monthly series.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from clocher.forecast.engine.series import FloatArray

# statsforecast's ETS refuses (and its ARIMA crawls on) seasons longer than this: for
# weekly data (52) the season is left to the regression's dummies and the seasonal naive.
MAX_STATS_SEASON = 24


@dataclass(frozen=True)
class Fit:
    """A candidate's forecast: point values and its own bounds per level (in %)."""

    mean: FloatArray
    lower: dict[int, FloatArray]
    upper: dict[int, FloatArray]


ModelFunction = Callable[
    [FloatArray, int, int, FloatArray | None, FloatArray | None, tuple[int, ...]], Fit
]


@dataclass(frozen=True)
class Candidate:
    key: str
    label: str  # French, as the page and the card show it
    description: str  # one sentence a mayor reads
    function: ModelFunction
    uses_regressors: bool = False


def _from_statsforecast(result: dict[str, FloatArray], levels: tuple[int, ...]) -> Fit:
    mean = np.asarray(result["mean"], dtype=float)
    return Fit(
        mean=mean,
        lower={lv: np.asarray(result[f"lo-{lv}"], dtype=float) for lv in levels},
        upper={lv: np.asarray(result[f"hi-{lv}"], dtype=float) for lv in levels},
    )


def _statsforecast(name: str) -> ModelFunction:
    def fit(
        y: FloatArray,
        h: int,
        m: int,
        X: FloatArray | None,
        X_future: FloatArray | None,
        levels: tuple[int, ...],
    ) -> Fit:
        from statsforecast import models

        season = m if m <= MAX_STATS_SEASON else 1
        model = getattr(models, name)(season_length=season)
        return _from_statsforecast(model.forecast(y=y, h=h, level=list(levels)), levels)

    fit.__name__ = name
    return fit


def seasonal_naive(
    y: FloatArray,
    h: int,
    m: int,
    X: FloatArray | None,
    X_future: FloatArray | None,
    levels: tuple[int, ...],
) -> Fit:
    """Repeat the last season; bounds from the in-sample seasonal differences (normal)."""
    m = m if len(y) > m else 1
    last = y[-m:]
    steps = np.arange(h)
    mean = last[steps % m].astype(float)
    diffs = y[m:] - y[:-m]
    sigma = float(np.sqrt(np.mean(diffs**2))) if len(diffs) else 0.0
    # k-th season ahead: the error of k stacked seasonal random walks.
    spread = sigma * np.sqrt(steps // m + 1)
    return _normal_bounds(mean, spread, levels)


def _normal_bounds(mean: FloatArray, spread: FloatArray, levels: tuple[int, ...]) -> Fit:
    z = {lv: NormalDist().inv_cdf(0.5 + lv / 200) for lv in levels}
    return Fit(
        mean=mean,
        lower={lv: mean - z[lv] * spread for lv in levels},
        upper={lv: mean + z[lv] * spread for lv in levels},
    )


def design_matrix(start: int, n: int, m: int, X: FloatArray | None) -> FloatArray:
    """Intercept, linear trend, one dummy per season position but the first, regressors."""
    t = np.arange(start, start + n, dtype=float)
    columns = [np.ones(n), t]
    if m > 1:
        position = t.astype(int) % m
        columns += [(position == k).astype(float) for k in range(1, m)]
    matrix = np.column_stack(columns)
    if X is not None and X.size:
        matrix = np.column_stack([matrix, X])
    return matrix


def regression(
    y: FloatArray,
    h: int,
    m: int,
    X: FloatArray | None,
    X_future: FloatArray | None,
    levels: tuple[int, ...],
) -> Fit:
    """Least squares on trend + season dummies + calendar/user regressors.

    Columns constant over the training window (a holiday count that never varies in a
    yearly series) are dropped; the bounds are the classical prediction intervals
    (residual variance × (1 + leverage of the future row)), normal quantiles.
    """
    n = len(y)
    m = m if n >= 2 * m else 1
    train = design_matrix(0, n, m, X)
    future = design_matrix(n, h, m, X_future)
    keep = [0] + [j for j in range(1, train.shape[1]) if np.ptp(train[:, j]) > 0]
    train, future = train[:, keep], future[:, keep]
    coef, *_ = np.linalg.lstsq(train, y, rcond=None)
    residuals = y - train @ coef
    dof = max(n - np.linalg.matrix_rank(train), 1)
    sigma2 = float(residuals @ residuals) / dof
    inverse = np.linalg.pinv(train.T @ train)
    leverage = np.einsum("ij,jk,ik->i", future, inverse, future)
    spread = np.sqrt(sigma2 * (1.0 + np.maximum(leverage, 0.0)))
    return _normal_bounds(future @ coef, spread, levels)


CANDIDATES: dict[str, Candidate] = {
    c.key: c
    for c in (
        Candidate(
            "naive",
            "Naïf saisonnier",
            "reprend la dernière saison telle quelle (la référence à battre)",
            seasonal_naive,
        ),
        Candidate(
            "ets",
            "Lissage exponentiel (ETS)",
            "suit le niveau, la tendance et la saison en donnant plus de poids au récent",
            _statsforecast("AutoETS"),
        ),
        Candidate(
            "arima",
            "ARIMA",
            "prolonge la série à partir de ses propres valeurs passées et de ses écarts",
            _statsforecast("AutoARIMA"),
        ),
        Candidate(
            "theta",
            "Theta",
            "combine la tendance de long terme et un lissage du niveau récent",
            _statsforecast("AutoTheta"),
        ),
        Candidate(
            "regression",
            "Régression calendaire",
            "explique la série par sa tendance, sa saison, les jours fériés et les vacances "
            "scolaires",
            regression,
            uses_regressors=True,
        ),
    )
}
