"""Buildings and meters: who may see and change them, their creation (audited)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404

from clocher.core import audit, scoping
from clocher.core.audit import Actor
from clocher.core.models import Commune, Role
from clocher.energy.models import (
    Building,
    Energy,
    Meter,
    MeterKind,
    Use,
)


def buildings_for(user: Any, commune: Commune) -> QuerySet[Building]:
    return scoping.scoped(Building.objects.filter(commune=commune), user)


def building_for(user: Any, commune: Commune, building_id: int) -> Building:
    building = buildings_for(user, commune).filter(pk=building_id).first()
    if building is None:
        raise Http404
    return building


def meter_for(user: Any, commune: Commune, meter_id: int) -> Meter:
    meter = scoping.scoped(Meter.objects.filter(commune=commune), user).filter(pk=meter_id)
    found = meter.select_related("building").first()
    if found is None:
        raise Http404
    return found


def may_edit(user: Any, commune: Commune) -> bool:
    """Commune admins and agents manage their buildings; the operator only reads."""
    membership = scoping.commune_membership(user, commune)
    return membership is not None and membership.role in (Role.COMMUNE_ADMIN, Role.AGENT)


@dataclass
class BuildingInput:
    name: str
    use: str = Use.MAIRIE
    floor_area_m2: float = 0.0
    year_built: int | None = None
    heating_energy: str = Energy.GAZ
    address: str = ""
    insee: str = ""
    lat: float | None = None
    lon: float | None = None
    reference_year: int | None = None


def _check_building(given: BuildingInput) -> None:
    name = given.name.strip()
    if not name or len(name) > 120:
        raise ValidationError("Nom du bâtiment manquant ou trop long (120 caractères au plus).")
    if given.use not in Use.values:
        raise ValidationError(f"Usage inconnu : « {given.use} ».")
    if given.heating_energy not in Energy.values:
        raise ValidationError(f"Énergie de chauffage inconnue : « {given.heating_energy} ».")
    if not given.floor_area_m2 or given.floor_area_m2 <= 0:
        raise ValidationError("Surface de plancher manquante : un nombre de m² positif.")
    if given.reference_year is not None and not 2010 <= given.reference_year <= 2019:
        raise ValidationError(
            f"Année de référence {given.reference_year} non admise : le décret tertiaire "
            "la fait choisir entre 2010 et 2019."
        )
    if (given.lat is None) != (given.lon is None):
        raise ValidationError("Donnez la latitude et la longitude, ou aucune des deux.")
    if given.lat is not None and not (-90 <= given.lat <= 90 and -180 <= given.lon <= 180):  # type: ignore[operator]
        raise ValidationError("Coordonnées hors limites (latitude −90…90, longitude −180…180).")


def create_building(actor: Actor, commune: Commune, given: BuildingInput) -> Building:
    _check_building(given)
    with transaction.atomic():
        if Building.objects.filter(commune=commune, name=given.name.strip()).exists():
            raise ValidationError(f"Un bâtiment « {given.name.strip()} » existe déjà.")
        building = Building.objects.create(
            commune=commune,
            name=given.name.strip(),
            use=given.use,
            floor_area_m2=given.floor_area_m2,
            year_built=given.year_built,
            heating_energy=given.heating_energy,
            address=given.address.strip(),
            insee=given.insee.strip() or commune.insee,
            lat=given.lat,
            lon=given.lon,
            reference_year=given.reference_year,
        )
        from clocher.energy.imports import assign_stations

        assign_stations(Building.objects.filter(pk=building.pk))
        audit.record(
            actor,
            "energy.building_created",
            commune=commune,
            target=f"building:{building.pk}",
            data={"name": building.name, "use": building.use},
        )
    building.refresh_from_db()
    return building


def set_reference_year(actor: Actor, building: Building, year: int | None) -> Building:
    """Fix the building's reference year (None: the most favourable known year). Only a
    year of 2010–2019 with a complete consumption is admitted: a trajectory against a
    year without data could not be declared on OPERAT."""
    from clocher.energy.services.decret import reference_candidates

    if year is not None and not 2010 <= year <= 2019:
        raise ValidationError(
            f"Année de référence {year} non admise : le décret tertiaire la fait choisir "
            "entre 2010 et 2019."
        )
    if year is not None:
        known = [c.year for c in reference_candidates(building)]
        if year not in known:
            possible = ", ".join(str(y) for y in known) or "aucune (importez les factures)"
            raise ValidationError(
                f"Année de référence {year} refusée : « {building.name} » n'a pas de "
                f"consommation complète en {year}. Années possibles : {possible}."
            )
    with transaction.atomic():
        building.reference_year = year
        building.save(update_fields=["reference_year"])
        audit.record(
            actor,
            "energy.reference_year_set",
            commune=building.commune,
            target=f"building:{building.pk}",
            data={"year": year},
        )
    return building


def add_meter(actor: Actor, building: Building, kind: str, identifier: str) -> Meter:
    identifier = identifier.strip().replace(" ", "")
    if kind not in MeterKind.values:
        raise ValidationError(f"Nature de compteur inconnue : « {kind} ».")
    if kind in (MeterKind.ELEC, MeterKind.GAZ) and not (
        identifier.isdigit() and len(identifier) == 14
    ):
        label = "PDL" if kind == MeterKind.ELEC else "PCE"
        raise ValidationError(
            f"Identifiant {label} invalide : 14 chiffres attendus ({identifier})."
        )
    if not identifier or len(identifier) > 32:
        raise ValidationError("Identifiant du compteur manquant ou trop long (32 au plus).")
    with transaction.atomic():
        if Meter.objects.filter(
            commune=building.commune, kind=kind, identifier=identifier
        ).exists():
            raise ValidationError(f"Le compteur {identifier} est déjà déclaré dans la commune.")
        meter = Meter.objects.create(
            commune=building.commune, building=building, kind=kind, identifier=identifier
        )
        audit.record(
            actor,
            "energy.meter_added",
            commune=building.commune,
            target=f"meter:{meter.pk}",
            data={"building": building.pk, "kind": kind, "identifier": identifier},
        )
    return meter
