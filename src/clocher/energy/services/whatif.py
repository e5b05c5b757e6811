"""What-if: the ISO 13790 5R1C model calibrated on 12 months, each measure's savings,
kept as the building's actions."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from clocher.core import audit
from clocher.core.audit import Actor
from clocher.energy.engine import thermal
from clocher.energy.models import (
    Action,
    Building,
    DailyReading,
    Energy,
    MeterKind,
    WeatherDay,
    WeatherStation,
)
from clocher.energy.services.baselines import BASELINE_DAYS, MIN_BASELINE_DAYS
from clocher.energy.services.series import daily_series

#: The setting suffix of each energy (settings.ENERGY_PRICE_<X>_EUR_KWH, ENERGY_CO2_<X>_KG_KWH).
_SETTING_OF = {
    "electricite": "ELEC",
    "gaz_naturel": "GAS",
    "reseau_chaleur": "HEAT",
    "fioul": "OIL",
    "bois": "WOOD",
}
_LABELS = {
    "electricite": "électricité",
    "gaz_naturel": "gaz naturel",
    "reseau_chaleur": "réseau de chaleur",
    "fioul": "fioul",
    "bois": "bois",
}


def prices_eur_kwh() -> dict[str, float]:
    """Prices of final energy (€/kWh TTC) from the settings: a commune's contracts differ
    from the 2025 defaults, and a price read at import time would ignore a changed .env."""
    return {e: getattr(settings, f"ENERGY_PRICE_{x}_EUR_KWH") for e, x in _SETTING_OF.items()}


def emission_factors() -> dict[str, float]:
    """kgCO2e per kWh of final energy from the settings (ADEME Base Empreinte defaults)."""
    return {e: getattr(settings, f"ENERGY_CO2_{x}_KG_KWH") for e, x in _SETTING_OF.items()}


def prices_used() -> str:
    """The prices and factors behind the what-if's euros and CO2, said on its result."""

    def fr(value: float) -> str:
        return f"{value:g}".replace(".", ",")

    prices, factors = prices_eur_kwh(), emission_factors()
    return "prix utilisés : " + " ; ".join(
        f"{_LABELS[e]} {fr(prices[e])} €/kWh ({fr(factors[e])} kg CO2e/kWh)" for e in _SETTING_OF
    )


def _with_factors(
    cal: thermal.Calibration, t: np.ndarray, solar: np.ndarray
) -> list[thermal.WhatIf]:
    """The engine's what-if at the configured prices and emission factors. The engine
    weighs CO2 with its own table; the euros are linear in the prices, so a second run
    with the factors as "prices" gives the CO2 at the configured factors (only run when
    they differ from the engine's)."""
    results = thermal.what_if(cal, t, solar, prices_eur_kwh())
    factors = emission_factors()
    if factors == thermal.EMISSION_FACTORS:
        return results
    co2 = thermal.what_if(cal, t, solar, factors)
    return [replace(r, co2_kg_saved=c.eur_saved) for r, c in zip(results, co2, strict=True)]


def _hourly_weather(
    station: WeatherStation | None, days: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Hourly outdoor temperature (sine between TN at 5 h and TX at 15 h) and a clear-sky
    solar gain proxy (W on 10 m² of glazing per 100 m²), from the daily file."""
    rows: dict[date, tuple[Any, Any]] = {
        d: (tn, tx)
        for d, tn, tx in WeatherDay.objects.filter(
            station=station, day__in=list(days.astype(object)), tn__isnull=False, tx__isnull=False
        ).values_list("day", "tn", "tx")
    }
    keep = [d for d in days.astype(object) if d in rows]
    hours = np.arange(24)
    shape = np.cos((hours - 15) / 24 * 2 * np.pi) * 0.5 + 0.5
    t = (
        np.concatenate([rows[d][0] + (rows[d][1] - rows[d][0]) * shape for d in keep])
        if keep
        else np.zeros(0)
    )
    solar_day = np.clip(np.sin((hours - 6) / 12 * np.pi), 0, None) * 300
    solar = (
        np.concatenate(
            [
                solar_day * (0.6 + 0.4 * np.sin((d.timetuple().tm_yday - 80) / 365 * 2 * np.pi))
                for d in keep
            ]
        )
        if keep
        else np.zeros(0)
    )
    return t, solar


def _initial_5r1c(building: Building) -> thermal.Building5R1C:
    """Typical envelope of the building's era (French thermal regulations, W/K per m²)."""
    area = building.floor_area_m2
    era = building.year_built or 1970
    u = 1.6 if era < 1975 else 1.0 if era < 2000 else 0.6
    return thermal.Building5R1C(
        floor_area=area,
        h_tr_op=u * area * 1.2,
        h_tr_roof=u * area * 0.5,
        h_tr_w=2.8 * area * 0.15,
        h_ve=0.34 * 0.6 * area * 2.7,
        energy=building.heating_energy,
        efficiency=0.9 if building.heating_energy != Energy.ELEC else 1.0,
    )


def what_if(building: Building) -> tuple[list[thermal.WhatIf], thermal.Calibration]:
    """The 5R1C model calibrated on the heating meter's last 12 months, then each measure."""
    meter = (
        building.meters.filter(
            kind=METER_KIND_OF.get(Energy(building.heating_energy), MeterKind.GAZ)
        ).first()
        or building.meters.exclude(kind=MeterKind.EAU).first()
    )
    if meter is None:
        raise ValidationError(f"« {building.name} » n'a pas de compteur d'énergie.")
    last = DailyReading.objects.filter(meter=meter).aggregate(last=Max("day"))["last"]
    if last is None or building.station is None:
        raise ValidationError(
            f"« {building.name} » : il faut 12 mois de consommation et une station météo."
        )
    days, kwh = daily_series(meter, last - timedelta(days=BASELINE_DAYS - 1), last)
    t, solar = _hourly_weather(building.station, days)
    if t.size // 24 < MIN_BASELINE_DAYS:
        raise ValidationError(f"Trop peu de jours avec météo ({t.size // 24}) pour calibrer.")
    weather_days = set(
        WeatherDay.objects.filter(
            station=building.station,
            day__in=list(days.astype(object)),
            tn__isnull=False,
            tx__isnull=False,
        ).values_list("day", flat=True)
    )
    mine = np.array([d in weather_days for d in days.astype(object)])
    try:
        cal = thermal.calibrate(_initial_5r1c(building), t, solar, kwh[mine])
        return _with_factors(cal, t, solar), cal
    except ValueError as exc:
        raise ValidationError(f"Calibrage impossible : {exc}") from exc


METER_KIND_OF = {
    Energy.GAZ: MeterKind.GAZ,
    Energy.ELEC: MeterKind.ELEC,
    Energy.RESEAU: MeterKind.CHALEUR,
}


def save_action(actor: Actor, building: Building, result: thermal.WhatIf) -> Action:
    with transaction.atomic():
        action = Action.objects.create(
            commune=building.commune,
            building=building,
            measure=result.measure,
            kwh_saved=result.kwh_saved,
            eur_saved=result.eur_saved,
            co2_kg_saved=result.co2_kg_saved,
            kwh_uncertainty=result.kwh_uncertainty,
            created_by_label=actor.display[:200],
        )
        audit.record(
            actor,
            "energy.action_saved",
            commune=building.commune,
            target=f"building:{building.pk}",
            data={"measure": result.measure, "kwh": round(result.kwh_saved)},
        )
    return action
