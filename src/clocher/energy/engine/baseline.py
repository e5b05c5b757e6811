"""Baselines: CalTRACK daily change-point model, simplified hourly model, ASHRAE G14.

Interface:
- `fit_daily(temp_c, kwh)` → `DailyModel` (intercept-only, HDD-only, CDD-only, HDD+CDD;
  balance points by grid search, selection by adjusted R² with CalTRACK's p-value and
  positivity rules); `fit_daily_many(temp_c, kwh_matrix)` fits many meters at once.
- `fit_hourly(start_utc, temp_c, kwh)` → `HourlyModel` (time-of-week × temperature bins).
- `g14(observed, predicted, n_params, granularity)` → `G14Metrics` with the verdict.
- `avoided_energy(model, temp_c, kwh)` and `normalised_savings(before, after, normal_temp)`
  → `Savings` with the ASHRAE 14 fractional savings uncertainty.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: ASHRAE Guideline 14 calibration limits: granularity → (max CV(RMSE), max |NMBE|).
G14_LIMITS = {"monthly": (0.15, 0.05), "daily": (0.15, 0.05), "hourly": (0.30, 0.10)}


@dataclass(frozen=True)
class G14Metrics:
    """ASHRAE Guideline 14 goodness of fit; ratios (0.12 = 12 %)."""

    cvrmse: float
    nmbe: float
    r2: float
    n: int
    p: int
    granularity: str
    fit: bool

    @property
    def verdict(self) -> str:
        """French verdict: "apte" or "inapte" for savings, naming the failing metric."""
        raise NotImplementedError


@dataclass(frozen=True)
class DailyModel:
    """kWh/day = intercept + beta_hdd·max(0, hdd_bp − T) + beta_cdd·max(0, T − cdd_bp)."""

    kind: str  # "intercept_only" | "hdd_only" | "cdd_only" | "hdd_cdd"
    intercept: float
    beta_hdd: float
    beta_cdd: float
    hdd_bp: float | None
    cdd_bp: float | None
    adj_r2: float
    n: int
    rmse: float
    metrics: G14Metrics

    @property
    def n_params(self) -> int:
        raise NotImplementedError

    def predict(self, temp_c: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def interval(self, temp_c: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) prediction interval of a day's kWh (residual-based)."""
        raise NotImplementedError


def fit_daily(temp_c: np.ndarray, kwh: np.ndarray) -> DailyModel:
    """Fit the CalTRACK daily model on days where both values are finite."""
    raise NotImplementedError


def fit_daily_many(temp_c: np.ndarray, kwh: np.ndarray) -> list[DailyModel]:
    """Fit one model per row of `kwh` (meters × days) against one temperature series."""
    raise NotImplementedError


@dataclass(frozen=True)
class HourlyModel:
    """Time-of-week (168 h) occupancy × temperature-bin model (CalTRACK hourly, simplified)."""

    bins: np.ndarray
    tow_coef: np.ndarray
    temp_coef_occ: np.ndarray
    temp_coef_unocc: np.ndarray
    occupied: np.ndarray
    metrics: G14Metrics

    def predict(self, start_utc: np.ndarray, temp_c: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def fit_hourly(start_utc: np.ndarray, temp_c: np.ndarray, kwh: np.ndarray) -> HourlyModel:
    """Fit the hourly model on hourly rows (UTC epoch starts, °C, kWh)."""
    raise NotImplementedError


def g14(observed: np.ndarray, predicted: np.ndarray, n_params: int, granularity: str) -> G14Metrics:
    """CV(RMSE) = √(Σ(y−ŷ)²/(n−p))/ȳ, NMBE = Σ(y−ŷ)/((n−p)·ȳ), R² = 1 − SSE/SST."""
    raise NotImplementedError


@dataclass(frozen=True)
class Savings:
    """Savings in kWh over the reporting period, with ± uncertainty at `confidence`."""

    baseline_kwh: float
    reporting_kwh: float
    savings_kwh: float
    fraction: float
    uncertainty_kwh: float
    confidence: float


def avoided_energy(
    model: DailyModel, temp_c: np.ndarray, kwh: np.ndarray, confidence: float = 0.9
) -> Savings:
    """Avoided energy use: baseline model on the reporting weather − metered use."""
    raise NotImplementedError


def normalised_savings(
    before: DailyModel, after: DailyModel, normal_temp_c: np.ndarray, confidence: float = 0.9
) -> Savings:
    """Both models on a normal year's weather: savings independent of the weather."""
    raise NotImplementedError
