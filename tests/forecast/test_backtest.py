"""The engine on series whose structure is known: the chosen model beats the seasonal
naive on held-out data and the 95 % interval covers 90–99 % of the held-out points.

Everything is seeded: the same numbers come out on every run (no flakiness), and there
are enough held-out points (8 series × 24 months) for the coverage to mean something.
"""

from __future__ import annotations

import numpy as np
import pytest

from clocher.forecast.engine import Series, SeriesError, run_forecast
from clocher.forecast.engine.backtest import plan_backtest, span_words
from clocher.forecast.engine.models import seasonal_naive

from .conftest import canteen_weekly, cut, monthly

HISTORY, HELD_OUT = 96, 24


def _naive_mae(history: np.ndarray, actual: np.ndarray, season: int) -> float:
    fit = seasonal_naive(history, len(actual), season, None, None, (95,))
    return float(np.mean(np.abs(actual - fit.mean)))


def test_trend_and_season_beat_naive_and_intervals_cover() -> None:
    covered80 = covered95 = points = 0
    chosen_mae = naive_mae = 0.0
    for seed in range(8):
        full = monthly(seed, HISTORY + HELD_OUT)
        result = run_forecast(cut(full, HISTORY), HELD_OUT)
        actual = full.values[HISTORY:]
        point = np.array(result.point)
        chosen_mae += float(np.mean(np.abs(actual - point)))
        naive_mae += _naive_mae(full.values[:HISTORY], actual, 12)
        covered95 += int(np.sum((actual >= result.lower[95]) & (actual <= result.upper[95])))
        covered80 += int(np.sum((actual >= result.lower[80]) & (actual <= result.upper[80])))
        points += len(actual)
        assert result.model != "naive", result.explanation
        assert result.cpu_seconds > 0
    assert chosen_mae < 0.8 * naive_mae
    assert 0.90 <= covered95 / points <= 0.99, covered95 / points
    assert 0.70 <= covered80 / points <= 0.92, covered80 / points


def test_holiday_driven_series_picks_the_calendar_regression() -> None:
    full = canteen_weekly(seed=7, n=260)
    history = 234
    result = run_forecast(cut(full, history), 26)
    actual = full.values[history:]
    assert result.model == "regression", result.explanation
    assert "vacances_scolaires" in result.regressors
    mae = float(np.mean(np.abs(actual - np.array(result.point))))
    assert mae < 0.5 * _naive_mae(full.values[:history], actual, 52)
    assert "vacances scolaires" in result.explanation


def test_explanation_and_card_speak_to_a_mayor() -> None:
    result = run_forecast(monthly(3, 84), 12)
    assert "Testé sur les 3 dernières années (3 essais de 12 mois" in result.explanation
    assert "s'est trompé en moyenne de" in result.explanation
    card = result.card()
    assert card["donnees"]["points"] == 84
    assert card["donnees"]["frequence"] == "mensuelle"
    assert len(card["donnees"]["empreinte_sha256"]) == 64
    assert card["methode"]["modele_retenu"] == result.model_label
    assert {s["modele"] for s in card["scores"]} == {
        "naive",
        "ets",
        "arima",
        "theta",
        "regression",
    }
    assert card["limites"] and card["energie"]["cpu_secondes"] > 0
    for lv in (80, 95):
        assert all(
            lo <= p <= hi
            for lo, p, hi in zip(result.lower[lv], result.point, result.upper[lv], strict=True)
        )
    assert all(a <= b for a, b in zip(result.lower[95], result.lower[80], strict=True)), (
        "the 95 % band holds the 80 % band"
    )


def test_short_series_falls_back_to_non_seasonal_with_a_warning() -> None:
    result = run_forecast(monthly(1, 18), 6)
    assert any("Moins de deux saisons complètes" in w for w in result.warnings)
    assert result.plan.season == 1


def test_badly_covering_model_gets_conformal_intervals() -> None:
    # The noise grows tenfold over the last three years: bands fitted on the calm past
    # cover far less than 80 % of the backtest, so conformal bands replace them.
    rng = np.random.default_rng(11)
    full = monthly(5, 126)
    noise = np.where(np.arange(126) >= 90, rng.normal(0, 60, 126), 0.0)
    series = Series.build(list(full.dates), full.values + noise)
    result = run_forecast(series, 12, candidates=("naive", "regression"))
    assert result.calibration[80].startswith("conforme"), result.calibration
    assert result.calibration[95].startswith("conforme"), result.calibration
    width = np.array(result.upper[95]) - np.array(result.lower[95])
    assert float(np.min(width)) > 2 * 1.96 * 30, "bands as wide as the recent noise"


def test_plan_and_words() -> None:
    plan = plan_backtest(96, 12, 12)
    assert plan.origins == (60, 72, 84) and plan.horizon == 12 and plan.season == 12
    assert span_words(plan, "MS") == "les 3 dernières années"
    assert span_words(plan_backtest(40, 4, 4), "QS") == "les 3 dernières années"
    assert span_words(plan_backtest(30, 5, 1), "YS") == "les 15 dernières années"


def test_horizon_longer_than_history_is_refused() -> None:
    with pytest.raises(SeriesError, match="Horizon trop long : 50 périodes demandées pour 20"):
        run_forecast(monthly(0, 20), 50)
