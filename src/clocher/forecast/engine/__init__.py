"""The forecast engine: plain Python (numpy + statsforecast), no Django.

Other apps (finance, energy), the bench and the pages use it through these names::

    from clocher.forecast.engine import Series, read_series, run_forecast

    series = read_series(upload_bytes, "cantine.csv")        # or Series.build(dates, values)
    result = run_forecast(series, horizon=12)                 # levels=(80, 95)
    result.model_label, result.explanation                    # chosen model, why (French)
    result.dates, result.point, result.lower[95], result.upper[95]
    result.scores                                             # every candidate's backtest
    result.card()                                             # model card (dict, JSON-ready)

Bad input raises `SeriesError`, whose message (French) names the line and the problem.
"""

from clocher.forecast.engine.backtest import (
    BacktestPlan,
    CandidateScore,
    ForecastResult,
    data_fingerprint,
    run_forecast,
)
from clocher.forecast.engine.calendar import calendar_regressors, public_holidays
from clocher.forecast.engine.models import CANDIDATES
from clocher.forecast.engine.series import FREQUENCIES, Series, SeriesError, read_series

__all__ = [
    "CANDIDATES",
    "FREQUENCIES",
    "BacktestPlan",
    "CandidateScore",
    "ForecastResult",
    "Series",
    "SeriesError",
    "calendar_regressors",
    "data_fingerprint",
    "public_holidays",
    "read_series",
    "run_forecast",
]
