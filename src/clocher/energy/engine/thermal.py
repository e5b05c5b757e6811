"""ISO 13790 5R1C hourly model (the "simple hourly method"), calibration and what-if.

Interface: `Building5R1C` (parameters), `simulate(b, t_out, solar_w, internal_w)` →
hourly heating need (W); `calibrate(b, t_out_hourly, solar, days, observed_kwh, ...)`
→ `Calibration`; `what_if(calibration, ...)` → one `WhatIf` per measure with kWh, €,
CO2 saved per year and their uncertainty.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: kgCO2e per kWh of final energy (ADEME Base Empreinte; see docs/energy.md).
EMISSION_FACTORS: dict[str, float] = {}


@dataclass(frozen=True)
class Building5R1C:
    """ISO 13790 5R1C parameters of a zone (W/K, J/K, m², °C)."""

    floor_area: float
    h_tr_op: float  # opaque envelope (walls, roof, floor)
    h_tr_roof: float  # the roof's part of h_tr_op (for "insulate the roof")
    h_tr_w: float  # windows
    h_ve: float  # ventilation / infiltration
    c_m_per_m2: float = 165_000.0  # "medium" class
    a_m_factor: float = 2.5  # A_m = factor × floor area ("medium")
    setpoint: float = 19.0
    internal_w_per_m2: float = 4.0
    efficiency: float = 0.9  # boiler efficiency, or COP for a heat pump
    energy: str = "gaz_naturel"


def simulate(
    b: Building5R1C, t_out: np.ndarray, solar_w: np.ndarray, internal_w: np.ndarray | None = None
) -> np.ndarray:
    """Hourly heating need in W (≥ 0) for the hourly outdoor temperatures `t_out`."""
    raise NotImplementedError


@dataclass(frozen=True)
class Calibration:
    building: Building5R1C
    base_kwh_day: float
    covariance: np.ndarray
    cv_rmse: float
    n_days: int


def calibrate(
    b: Building5R1C,
    t_out_hourly: np.ndarray,
    solar_w_hourly: np.ndarray,
    observed_kwh_day: np.ndarray,
) -> Calibration:
    """Fit envelope scale, ventilation and base load to the daily metered kWh (least squares)."""
    raise NotImplementedError


@dataclass(frozen=True)
class WhatIf:
    measure: str
    kwh_saved: float
    eur_saved: float
    co2_kg_saved: float
    kwh_uncertainty: float


def what_if(
    cal: Calibration,
    t_out_hourly: np.ndarray,
    solar_w_hourly: np.ndarray,
    prices_eur_kwh: dict[str, float],
    measures: tuple[str, ...] = ("toiture", "fenetres", "consigne_moins_1", "pompe_a_chaleur"),
) -> list[WhatIf]:
    """Yearly savings of each measure against the calibrated building."""
    raise NotImplementedError
