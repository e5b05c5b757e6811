"""Décret tertiaire: complete years per energy with their degree-days, the trajectory
per building and per commune, the OPERAT declaration."""

from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

import numpy as np
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import ExtractYear

from clocher.core import audit
from clocher.core.audit import Actor
from clocher.core.models import Commune
from clocher.energy.engine import tertiaire
from clocher.energy.models import (
    METER_ENERGY,
    Building,
    DailyReading,
    Meter,
    MeterKind,
    Use,
)
from clocher.energy.services.series import yearly_dju

OPERAT_ACTIVITY = {
    Use.MAIRIE: "Bureaux - Services publics",
    Use.ECOLE: "Enseignement primaire",
    Use.SALLE: "Salle polyvalente",
    Use.SPORT: "Équipement sportif",
    Use.AUTRE: "Autre",
}


def _year_kwh(meter: Meter, daily: dict[int, tuple[float, int]]) -> dict[int, float]:
    """kWh per complete calendar year: daily readings, else periods prorated by days."""
    result = {year: kwh for year, (kwh, n) in daily.items() if n >= 360}
    covered: dict[int, float] = defaultdict(float)
    kwh_by: dict[int, float] = defaultdict(float)
    for start, end, kwh in meter.periods.values_list("start", "end", "kwh"):
        length = (end - start).days
        for year in range(start.year, end.year + 1):
            lo, hi = max(start, date(year, 1, 1)), min(end, date(year + 1, 1, 1))
            if hi > lo:
                share = (hi - lo).days / length
                covered[year] += (hi - lo).days
                kwh_by[year] += kwh * share
    for year, days in covered.items():
        if year not in result and days >= 360:
            result[year] = kwh_by[year]
    return result


def year_consumptions(building: Building) -> list[tertiaire.YearConsumption]:
    """The building's complete years of final energy with their degree-days."""
    meters = [m for m in building.meters.all() if m.kind in METER_ENERGY]
    dju = yearly_dju(building.station)
    normal = normal_dju(dju)
    per_year: dict[int, dict[str, float]] = defaultdict(dict)
    for meter in meters:
        daily = {
            row["year"]: (row["kwh"], row["n"])
            for row in DailyReading.objects.filter(meter=meter)
            .annotate(year=ExtractYear("day"))
            .values("year")
            .annotate(kwh=Sum("kwh"), n=Count("id"))
        }
        energy = METER_ENERGY[MeterKind(meter.kind)]
        for year, kwh in _year_kwh(meter, daily).items():
            per_year[year][energy] = per_year[year].get(energy, 0.0) + kwh
    result = []
    for year, by_energy in sorted(per_year.items()):
        total = sum(by_energy.values()) or 1.0
        heating = by_energy.get(building.heating_energy)
        share = min(1.0, heating / total) if heating and len(by_energy) > 1 else 0.6
        h, c = dju.get(year, normal)
        result.append(tertiaire.YearConsumption(year, by_energy, h, c, heating_share=share))
    return result


def normal_dju(dju: dict[int, tuple[float, float]]) -> tuple[float, float]:
    """The station's normal: the mean of its complete years (a year without weather is
    taken at this normal, so it is left unadjusted — said on the page)."""
    if not dju:
        return (2500.0, 0.0)
    return (
        float(np.mean([h for h, _ in dju.values()])),
        float(np.mean([c for _, c in dju.values()])),
    )


@dataclass(frozen=True)
class ReferenceCandidate:
    """A year the commune may choose as the building's reference, with what it weighs."""

    year: int
    kwh: float
    adjusted_kwh: float


def reference_candidates(building: Building) -> list[ReferenceCandidate]:
    """The building's complete years of 2010–2019, each with its measured and its
    climate-adjusted kWh: the rule lets the commune choose, so it chooses knowingly."""
    years = year_consumptions(building)
    h, c = normal_dju(yearly_dju(building.station))
    return [
        ReferenceCandidate(y.year, y.kwh, tertiaire.climate_adjusted(y, h, c))
        for y in years
        if y.year in tertiaire.REFERENCE_YEARS
    ]


@dataclass
class BuildingTrajectory:
    building: Building
    trajectory: tertiaire.Trajectory | None
    reason: str = ""

    @property
    def status(self) -> str:
        t = self.trajectory
        if t is None:
            return "inconnue"
        return "en avance" if t.gap(2030) <= 0 else "à réduire"


def building_trajectory(building: Building) -> BuildingTrajectory:
    years = year_consumptions(building)
    if not any(y.year in tertiaire.REFERENCE_YEARS for y in years):
        return BuildingTrajectory(
            building,
            None,
            "aucune année complète entre 2010 et 2019 : importez les factures d'une année "
            "de référence",
        )
    h, c = normal_dju(yearly_dju(building.station))
    reference = building.reference_year
    if reference is not None and not any(y.year == reference for y in years):
        return BuildingTrajectory(
            building, None, f"l'année de référence {reference} n'a pas de consommation complète"
        )
    try:
        made = tertiaire.trajectory(building.name, years, h, c, reference=reference)
    except ValueError as exc:
        return BuildingTrajectory(building, None, str(exc))
    return BuildingTrajectory(building, made)


def commune_trajectory(
    commune: Commune, buildings: QuerySet[Building] | None = None
) -> tuple[tertiaire.Trajectory | None, list[BuildingTrajectory]]:
    """The commune's trajectory as OPERAT aggregates its EFA: its reference is the sum of
    each building's reference consumption, each taken at its own reference year (there
    is no single reference year); the targets are the sums of the buildings' targets."""
    qs = buildings if buildings is not None else Building.objects.filter(commune=commune)
    rows = [building_trajectory(b) for b in qs.select_related("station").prefetch_related("meters")]
    known = [r.trajectory for r in rows if r.trajectory is not None]
    total = tertiaire.aggregate(commune.name, known) if known else None
    return total, rows


def operat_csv(commune: Commune, year: int) -> str:
    """The commune's yearly declaration in OPERAT's CSV layout (one row per building
    and energy); a building without a complete `year` is left out, and said."""
    declarations = []
    for building in (
        Building.objects.filter(commune=commune)
        .select_related("station")
        .prefetch_related("meters")
    ):
        found = [y for y in year_consumptions(building) if y.year == year]
        if not found:
            continue
        declarations.append(
            tertiaire.EfaDeclaration(
                efa_id=f"{commune.insee}-{building.pk}",
                name=building.name,
                siren=commune.siren or "",
                insee=building.insee or commune.insee,
                floor_area_m2=building.floor_area_m2,
                activity=OPERAT_ACTIVITY.get(Use(building.use), "Autre"),
                year=year,
                consumption=found[0],
            )
        )
    if not declarations:
        raise ValidationError(
            f"Aucun bâtiment de {commune.name} n'a de consommation complète en {year}."
        )
    out = io.StringIO()
    tertiaire.write_operat_csv(tertiaire.operat_rows(declarations), out)
    return out.getvalue()


def export_operat(actor: Actor, commune: Commune, year: int) -> str:
    """`operat_csv`, journalled: the declaration leaves the platform."""
    text = operat_csv(commune, year)
    with transaction.atomic():
        audit.record(actor, "energy.operat_exported", commune=commune, data={"year": year})
    return text
