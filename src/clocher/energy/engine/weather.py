"""Météo-France open daily climatological files, nearest station, degree-days (DJU).

Interface: `parse_meteo_france_daily(data)` → `WeatherFile`; `nearest_station(lat, lon,
stations)`; `dju_meteo_france(tn, tx)` and `dju_costic(tn, tx)` (base 18 °C), both
returning (heating, cooling) degree-day arrays. Formulas in docs/energy.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from clocher.energy.engine.errors import LineIssue

DJU_BASE_C = 18.0


@dataclass(frozen=True)
class Station:
    num_poste: str
    name: str
    lat: float
    lon: float
    alti: float


@dataclass
class DailyWeather:
    """One station's days (datetime64[D], sorted, unique) with TN, TX, TM in °C (NaN if absent)."""

    station: Station
    days: np.ndarray
    tn: np.ndarray
    tx: np.ndarray
    tm: np.ndarray

    def mean_temperature(self) -> np.ndarray:
        """TM when measured, else (TN+TX)/2: the daily temperature the models use."""
        raise NotImplementedError


@dataclass
class WeatherFile:
    stations: dict[str, DailyWeather]
    issues: list[LineIssue] = field(default_factory=list)


def parse_meteo_france_daily(data: bytes | str | Path) -> WeatherFile:
    """Parse a `Q_<dept>_…_RR-T-Vent.csv` file (plain or .gz)."""
    raise NotImplementedError


def haversine_km(lat1: float, lon1: float, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Great-circle distance in km on a sphere of radius 6371 km."""
    raise NotImplementedError


def nearest_station(
    lat: float, lon: float, stations: list[Station] | dict[str, DailyWeather]
) -> tuple[Station, float]:
    """The closest station to (lat, lon) and its distance in km."""
    raise NotImplementedError


def dju_meteo_france(
    tn: np.ndarray, tx: np.ndarray, base: float = DJU_BASE_C
) -> tuple[np.ndarray, np.ndarray]:
    """(heating, cooling) degree-days by the Météo-France method on (TN+TX)/2."""
    raise NotImplementedError


def dju_costic(
    tn: np.ndarray, tx: np.ndarray, base: float = DJU_BASE_C
) -> tuple[np.ndarray, np.ndarray]:
    """(heating, cooling) degree-days by the COSTIC ("professionnels de l'énergie") method."""
    raise NotImplementedError
