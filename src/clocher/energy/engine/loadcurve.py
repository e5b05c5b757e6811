"""Enedis load curves, daily/monthly indexes and invoices → numpy arrays + a report.

See docs/energy.md for the layouts read. Interface:

- `parse_load_curve(data)` → `LoadCurve` (sorted, de-duplicated UTC intervals, Wh per
  step, the gaps and a per-line report); vectorised: the rows are split and parsed with
  numpy on the raw bytes, only the rejected lines go through a Python message path.
- `LoadCurve.daily_kwh(...)`, `LoadCurve.resample(step_s)` for the models.
- `parse_index_csv(data)` and `parse_invoices_csv(data)` → `PeriodReport`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np

from clocher.energy.engine.errors import EnergyInputError, LineIssue

__all__ = ["EnergyInputError", "LineIssue", "LoadCurve", "Period", "PeriodReport"]


@dataclass
class LoadCurve:
    """A meter's load curve, one row per measured interval, sorted by start.

    start: int64 UTC epoch seconds at the start of each interval (Enedis stamps the
    end; the parser subtracts the step). step: int32 seconds (600, 1800, 3600 …).
    wh: float64 energy of the interval in Wh (from the mean power in W × step).
    gaps: (start, end) UTC epoch pairs where no interval was measured.
    """

    start: np.ndarray
    step: np.ndarray
    wh: np.ndarray
    gaps: list[tuple[int, int]] = field(default_factory=list)
    issues: list[LineIssue] = field(default_factory=list)
    prm: str = ""
    rows_read: int = 0

    @property
    def power_w(self) -> np.ndarray:
        """Mean power of each interval in W."""
        raise NotImplementedError

    def resample(self, step_s: int) -> tuple[np.ndarray, np.ndarray]:
        """(bucket starts, kWh per bucket) on a fixed UTC grid of `step_s` seconds."""
        raise NotImplementedError

    def daily_kwh(self, utc_offset_s: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(local days as datetime64[D], kWh per day), days in Europe/Paris time."""
        raise NotImplementedError


def parse_load_curve(data: bytes | str | Path, *, unit: str | None = None) -> LoadCurve:
    """Parse an Enedis load-curve export; raise `EnergyInputError` if nothing is usable."""
    raise NotImplementedError


@dataclass(frozen=True)
class Period:
    """Consumption over [start, end) local days, in kWh (plus the amount if invoiced)."""

    start: date
    end: date
    kwh: float
    amount_eur: float | None = None


@dataclass
class PeriodReport:
    periods: list[Period]
    issues: list[LineIssue] = field(default_factory=list)


def parse_index_csv(data: bytes | str | Path) -> PeriodReport:
    """Enedis/GRDF daily or monthly index readings → consumption between readings."""
    raise NotImplementedError


def parse_invoices_csv(data: bytes | str | Path) -> PeriodReport:
    """Invoices CSV (`debut;fin;kwh[;montant]`) → one period per invoice line."""
    raise NotImplementedError
