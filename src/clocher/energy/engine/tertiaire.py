"""Décret tertiaire (décret 2019-771, arrêté du 10 avril 2020): trajectory and OPERAT rows.

Interface: `climate_adjusted(...)`, `reference_year(...)`, `trajectory(...)` →
`Trajectory` per building, `aggregate(trajectories)` for a commune, and
`operat_rows(...)`/`write_operat_csv(...)` for the yearly declaration.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TextIO

from clocher.energy.engine.errors import EnergyInputError

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
    """The year's kWh brought to the station's normal climate (formula in docs/energy.md).

    C_aj = C·(1 − s_h − s_c) + C·s_h·DJU_n/DJU_a + C·s_c·DJR_n/DJR_a, the heating and
    cooling parts scaled by the ratio of the normal degree-days (the station's mean over
    the reference period the arrêté names) to the year's.
    """
    total = year.kwh
    heat = total * year.heating_share
    cool = total * year.cooling_share
    other = total - heat - cool
    if heat and year.dju_heating > 0:
        heat *= normal_dju_heating / year.dju_heating
    if cool and year.dju_cooling > 0:
        cool *= normal_dju_cooling / year.dju_cooling
    return other + heat + cool


def reference_year(
    years: Iterable[YearConsumption], normal_dju_heating: float, normal_dju_cooling: float = 0.0
) -> int:
    """The most favourable admissible reference year: highest adjusted kWh in 2010–2019."""
    admissible = [y for y in years if y.year in REFERENCE_YEARS]
    if not admissible:
        raise EnergyInputError(
            "aucune année complète entre 2010 et 2019 : pas d'année de référence possible"
        )
    best = max(
        admissible, key=lambda y: climate_adjusted(y, normal_dju_heating, normal_dju_cooling)
    )
    return best.year


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
        y = max(self.adjusted_kwh) if year is None else year
        return self.adjusted_kwh[y] - self.targets[milestone]

    def reduction(self, year: int | None = None) -> float:
        """Reduction achieved in `year` (default: last) as a fraction of the reference."""
        y = max(self.adjusted_kwh) if year is None else year
        return 1.0 - self.adjusted_kwh[y] / self.reference_kwh if self.reference_kwh else 0.0


def trajectory(
    name: str,
    years: Iterable[YearConsumption],
    normal_dju_heating: float,
    normal_dju_cooling: float = 0.0,
    reference: int | None = None,
) -> Trajectory:
    """Build a building's trajectory; `reference` defaults to `reference_year(...)`."""
    years = list(years)
    ref = reference or reference_year(years, normal_dju_heating, normal_dju_cooling)
    if ref not in REFERENCE_YEARS:
        raise EnergyInputError(f"année de référence {ref} hors de 2010–2019")
    adjusted = {
        y.year: climate_adjusted(y, normal_dju_heating, normal_dju_cooling)
        for y in sorted(years, key=lambda y: y.year)
    }
    if ref not in adjusted:
        raise EnergyInputError(f"aucune consommation pour l'année de référence {ref}")
    base = adjusted[ref]
    targets = {m: base * (1 - r) for m, r in MILESTONES.items()}
    return Trajectory(name, ref, base, adjusted, targets)


def aggregate(name: str, trajectories: Iterable[Trajectory]) -> Trajectory:
    """A commune's trajectory: the sum of its buildings' (each against its own reference).

    Years are those every building has; the aggregate's reference year is 0 (mixed).
    """
    trs = list(trajectories)
    if not trs:
        raise EnergyInputError("aucun bâtiment à agréger")
    common = set.intersection(*(set(t.adjusted_kwh) for t in trs))
    adjusted = {y: sum(t.adjusted_kwh[y] for t in trs) for y in sorted(common)}
    targets = {m: sum(t.targets[m] for t in trs) for m in MILESTONES}
    return Trajectory(name, 0, sum(t.reference_kwh for t in trs), adjusted, targets)


#: The columns of the declaration CSV (see docs/energy.md for their source and limits).
OPERAT_COLUMNS: tuple[str, ...] = (
    "identifiant_efa",
    "nom_efa",
    "siren_structure",
    "code_insee",
    "surface_m2",
    "categorie_activite",
    "annee",
    "type_energie",
    "consommation_kwh",
    "unite",
    "dju_annee",
)


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
    rows = []
    for d in declarations:
        for energy, kwh in sorted(d.consumption.kwh_by_energy.items()):
            values = (
                d.efa_id,
                d.name,
                d.siren,
                d.insee,
                _fr(d.floor_area_m2),
                d.activity,
                str(d.year),
                energy,
                _fr(kwh),
                "kWh",
                _fr(d.consumption.dju_heating),
            )
            rows.append(dict(zip(OPERAT_COLUMNS, values, strict=True)))
    return rows


def _fr(x: float) -> str:
    """Decimal comma, no thousands separator, at most 3 decimals (OPERAT's French CSV)."""
    return f"{x:.3f}".rstrip("0").rstrip(".").replace(".", ",")


def write_operat_csv(rows: Iterable[Mapping[str, str]], out: TextIO) -> None:
    """`;`-separated, decimal comma, header = OPERAT_COLUMNS."""
    writer = csv.DictWriter(out, fieldnames=OPERAT_COLUMNS, delimiter=";", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
