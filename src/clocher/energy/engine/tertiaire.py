"""Décret tertiaire (décret 2019-771, arrêté du 10 avril 2020): trajectory and OPERAT rows.

Interface: `climate_adjusted(...)`, `reference_year(...)`, `trajectory(...)` →
`Trajectory` per building, `aggregate(trajectories)` for a commune, and
`operat_rows(...)`/`write_operat_csv(...)` for the yearly declaration.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TextIO

#: Milestone year → required reduction against the reference year.
MILESTONES = {2030: 0.40, 2040: 0.50, 2050: 0.60}
REFERENCE_YEARS = range(2010, 2020)


@dataclass(frozen=True)
class YearConsumption:
    """A building's final energy for one calendar year.

    kwh_by_energy: e.g. {"electricite": 120000, "gaz_naturel": 80000}.
    heating_share / cooling_share: part of the total that is heating / cooling (measured
    or the default of the activity), used for the climate adjustment.
    dju_heating / dju_cooling: the year's degree-days at the reference station.
    """

    year: int
    kwh_by_energy: Mapping[str, float]
    dju_heating: float
    dju_cooling: float = 0.0
    heating_share: float = 0.6
    cooling_share: float = 0.0

    @property
    def kwh(self) -> float:
        return float(sum(self.kwh_by_energy.values()))


def climate_adjusted(
    year: YearConsumption, normal_dju_heating: float, normal_dju_cooling: float = 0.0
) -> float:
    """The year's kWh brought to the station's normal climate (formula in docs/energy.md)."""
    raise NotImplementedError


def reference_year(
    years: Iterable[YearConsumption], normal_dju_heating: float, normal_dju_cooling: float = 0.0
) -> int:
    """The most favourable admissible reference year: highest adjusted kWh in 2010–2019."""
    raise NotImplementedError


@dataclass
class Trajectory:
    """Adjusted consumption per year against the targets of 2030/2040/2050."""

    name: str
    reference_year: int
    reference_kwh: float
    adjusted_kwh: dict[int, float]
    targets: dict[int, float] = field(default_factory=dict)

    def gap(self, milestone: int, year: int | None = None) -> float:
        """kWh still to cut (≤ 0: reached) at `milestone`, from `year` (default: last)."""
        raise NotImplementedError

    def reduction(self, year: int | None = None) -> float:
        """Reduction achieved in `year` (default: last) as a fraction of the reference."""
        raise NotImplementedError


def trajectory(
    name: str,
    years: Iterable[YearConsumption],
    normal_dju_heating: float,
    normal_dju_cooling: float = 0.0,
    reference: int | None = None,
) -> Trajectory:
    """Build a building's trajectory; `reference` defaults to `reference_year(...)`."""
    raise NotImplementedError


def aggregate(name: str, trajectories: Iterable[Trajectory]) -> Trajectory:
    """A commune's trajectory: the sum of its buildings' (each against its own reference)."""
    raise NotImplementedError


#: The columns of the declaration CSV (see docs/energy.md for their source and limits).
OPERAT_COLUMNS: tuple[str, ...] = ()


@dataclass(frozen=True)
class EfaDeclaration:
    """What OPERAT needs for one entité fonctionnelle assujettie (EFA) and one year."""

    efa_id: str
    name: str
    siren: str
    insee: str
    floor_area_m2: float
    activity: str
    year: int
    consumption: YearConsumption


def operat_rows(declarations: Iterable[EfaDeclaration]) -> list[dict[str, str]]:
    """One row per EFA, year and energy, in OPERAT_COLUMNS order."""
    raise NotImplementedError


def write_operat_csv(rows: Iterable[Mapping[str, str]], out: TextIO) -> None:
    """`;`-separated, decimal comma, header = OPERAT_COLUMNS."""
    raise NotImplementedError
