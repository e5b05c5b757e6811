"""Drifts worth a phone call, from a load curve and a daily model → `Drift` (French text).

Interface: `detect_drifts(curve, days, temp_c, model)` runs all detectors;
`base_load_drifts`, `outlier_days`, `residual_jump` are the detectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np


@dataclass(frozen=True)
class Drift:
    """kind: "talon_nuit" | "talon_weekend" | "jour_hors_modele" | "rupture"."""

    kind: str
    start: date
    end: date
    value: float
    expected: float
    text: str


def base_load_drifts(
    start_utc: np.ndarray, kwh: np.ndarray, step_s: np.ndarray | int
) -> list[Drift]:
    """Night (0–5 h) and weekend base load rising above its earlier level."""
    raise NotImplementedError


def outlier_days(
    days: np.ndarray, kwh: np.ndarray, low: np.ndarray, high: np.ndarray
) -> list[Drift]:
    """Days outside the model's prediction interval [low, high]."""
    raise NotImplementedError


def residual_jump(days: np.ndarray, residuals: np.ndarray, min_days: int = 14) -> Drift | None:
    """The most likely change point of the residuals' mean (CUSUM), if significant."""
    raise NotImplementedError
