"""Demo data for the energy app: three buildings per demo commune (mairie, école, salle
des fêtes) with two years of half-hourly electricity and daily gas, driven by the
packaged weather extract, plus the invoices of 2015–2019 for the décret tertiaire.

Everything goes through the app's own imports (Enedis CSV, invoices CSV) so that the
pages show what a real commune would see. Generation is vectorised with a fixed seed
per building: the same demo every time, in well under a second per building.
"""

from __future__ import annotations

import zlib
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from clocher.core.audit import Actor
from clocher.core.models import Commune
from clocher.energy import imports, services
from clocher.energy.engine._timeutil import paris_offset_utc
from clocher.energy.models import Building, Energy, MeterKind, Use, WeatherStation

WEATHER_FILE = Path(__file__).parent / "data" / "Q_21_synthetique-2022-2023_RR-T-Vent.csv.gz"
FIRST, LAST = date(2022, 1, 1), date(2023, 12, 31)
# (lat, lon) of the demo communes' town halls.
PLACES = {"21271": (47.512, 4.530), "21716": (47.174, 4.960), "21603": (47.491, 4.334)}
# name, use, m², year, heating, gas base kWh/day, gas kWh per degree-day, elec base kW
BUILDINGS = [
    ("Mairie", Use.MAIRIE, 420.0, 1890, Energy.GAZ, 8.0, 9.0, 2.0),
    ("École Jules-Ferry", Use.ECOLE, 900.0, 1965, Energy.GAZ, 15.0, 22.0, 4.0),
    ("Salle des fêtes", Use.SALLE, 350.0, 1982, Energy.ELEC, 0.0, 0.0, 1.5),
]


def _seed(*parts: str) -> int:
    return zlib.crc32("|".join(parts).encode())


def ensure_weather(actor: Actor) -> None:
    if not WeatherStation.objects.exists():
        imports.import_weather(actor, WEATHER_FILE.read_bytes(), WEATHER_FILE.name)


def _days() -> np.ndarray:
    return np.arange(np.datetime64(FIRST), np.datetime64(LAST) + 1)


def load_curve_csv(
    rng: np.random.Generator,
    temp: np.ndarray,
    base_kw: float,
    heating_kw_per_dd: float,
    pdl: str,
    heater_left_on: bool = False,
) -> bytes:
    """An Enedis "mes données" export (values in W at the END of each half hour): base
    load, occupied hours on weekdays, electric heating if any, noise; the last three
    weeks may carry a higher night base load (a heater left on) for the drift detector."""
    days = _days()
    first_utc = imports.day_bounds_utc(days[0])[0]
    utc = np.arange(first_utc, imports.day_bounds_utc(days[-1])[1], 1800, dtype=np.int64)
    n = utc.size
    local = utc + paris_offset_utc(utc)
    index = local // 86400 - days[0].astype(np.int64)
    hour = (local % 86400) / 3600
    weekday = (local // 86400 + 3) % 7  # 0 = Monday
    occupied = (weekday < 5) & (hour >= 8) & (hour < 18)
    dd = np.clip(15.5 - np.nan_to_num(temp, nan=10.0), 0, None)[index]
    watts = base_kw * 1000 * (0.35 + 0.65 * occupied) + heating_kw_per_dd * 1000 / 24 * dd
    watts *= rng.normal(1.0, 0.06, n).clip(0.7, 1.3)
    if heater_left_on:
        late = (index >= days.size - 21) & ~occupied
        watts[late] += base_kw * 1000 * 0.8
    end = utc + 1800
    offset = paris_offset_utc(end)
    stamps = np.datetime_as_string((end + offset).astype("datetime64[s]"))
    suffix = np.where(offset == 7200, "+02:00", "+01:00")
    lines = [f"{s}{z};{w:.0f};PT30M" for s, z, w in zip(stamps, suffix, watts, strict=True)]
    head = f"Identifiant PRM;Type de donnees;Unite\n{pdl};Courbe de charge;W\nHorodate;Valeur;Pas\n"
    return (head + "\n".join(lines) + "\n").encode()


def gas_invoices_csv(
    rng: np.random.Generator, temp: np.ndarray, base: float, slope: float
) -> bytes:
    """Daily gas (GRDF daily readings, written as one-day invoices) from the weather."""
    days = _days()
    kwh = base + slope * np.clip(15.5 - np.nan_to_num(temp, nan=10.0), 0, None)
    kwh = (kwh * rng.normal(1.0, 0.05, days.size)).clip(0)
    lines = [f"{d};{d};{k:.1f}" for d, k in zip(days.astype(str), kwh, strict=True)]
    return ("debut;fin;kwh\n" + "\n".join(lines) + "\n").encode()


def reference_invoices_csv(yearly_kwh: float, price: float) -> bytes:
    """Yearly invoices of 2015–2019: a reference period of the décret tertiaire, 20–35 %
    above today's use (before the first works)."""
    lines = []
    for year, factor in zip(range(2015, 2020), (1.30, 1.35, 1.28, 1.25, 1.20), strict=True):
        kwh = yearly_kwh * factor
        lines.append(f"{date(year, 1, 1)};{date(year, 12, 31)};{kwh:.0f};{kwh * price:.2f}")
    return ("debut;fin;kwh;montant\n" + "\n".join(lines) + "\n").encode()


def seed_demo_energy(actor: Actor, commune: Commune) -> None:
    """Idempotent: a commune that already has buildings is left as it is."""
    if Building.objects.filter(commune=commune).exists():
        return
    ensure_weather(actor)
    lat, lon = PLACES.get(commune.insee, (47.32, 5.04))
    for rank, (name, use, area, year, heating, gas_base, gas_slope, elec_kw) in enumerate(
        BUILDINGS
    ):
        building = services.create_building(
            actor,
            commune,
            services.BuildingInput(
                name, use, area, year, heating, f"{name}, {commune.name}", commune.insee,
                lat + rank * 0.002, lon + rank * 0.002,
            ),
        )  # fmt: skip
        rng = np.random.default_rng(_seed(commune.insee, name))
        temp = services.temperatures(building.station, _days())
        code = f"{int(commune.insee):05d}{rank:02d}"
        elec = services.add_meter(actor, building, MeterKind.ELEC, f"1900{code}001")
        heat_kw = 0.9 if heating == Energy.ELEC else 0.0
        curve = load_curve_csv(rng, temp, elec_kw, heat_kw, elec.identifier, rank == 0)
        imports.import_file(actor, commune, "courbe", curve, "courbe-demo.csv", elec)
        elec_year = (elec_kw * 24 * 0.55 + heat_kw * 2800 / 365) * 365
        imports.import_file(
            actor, commune, "factures", reference_invoices_csv(elec_year, 0.2), "ref.csv", elec
        )
        meters = [elec]
        if heating == Energy.GAZ:
            gas = services.add_meter(actor, building, MeterKind.GAZ, f"2100{code}002")
            daily = gas_invoices_csv(rng, temp, gas_base, gas_slope)
            imports.import_file(actor, commune, "factures", daily, "grdf-demo.csv", gas)
            gas_year = (gas_base + gas_slope * 2400 / 365) * 365
            imports.import_file(
                actor, commune, "factures", reference_invoices_csv(gas_year, 0.09), "ref.csv", gas
            )
            meters.append(gas)
        for meter in meters:
            services.fit_baseline(actor, meter, LAST - timedelta(days=28))
            services.detect_drifts(actor, meter)
