"""Météo-France open daily climatological files, nearest station, degree-days (DJU).

Interface: `parse_meteo_france_daily(data)` → `WeatherFile`; `nearest_station(lat, lon,
stations)`; `dju_meteo_france(tn, tx)` and `dju_costic(tn, tx)` (base 18 °C), both
returning (heating, cooling) degree-day arrays. Formulas in docs/energy.md.
"""

from __future__ import annotations

import gzip
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from clocher.energy.engine._timeutil import paris_offset_utc
from clocher.energy.engine.errors import EnergyInputError, LineIssue

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
        return np.where(np.isnan(self.tm), (self.tn + self.tx) / 2.0, self.tm)

    def on(self, days: np.ndarray) -> np.ndarray:
        """Mean temperature on the given days (NaN where the station has none)."""
        idx = np.searchsorted(self.days, days)
        idx = np.clip(idx, 0, max(self.days.size - 1, 0))
        out = np.full(days.shape, np.nan)
        if self.days.size:
            hit = self.days[idx] == days
            out[hit] = self.mean_temperature()[idx[hit]]
        return out


@dataclass
class WeatherFile:
    stations: dict[str, DailyWeather]
    issues: list[LineIssue] = field(default_factory=list)


REQUIRED_COLUMNS = ("NUM_POSTE", "NOM_USUEL", "LAT", "LON", "AAAAMMJJ")


def _read_text(data: bytes | str | Path) -> str:
    if isinstance(data, Path):
        raw = data.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    elif isinstance(data, str):
        return data
    else:
        raw = bytes(data)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _num(text: str) -> float:
    t = text.strip()
    return float(t.replace(",", ".")) if t else math.nan


def parse_meteo_france_daily(data: bytes | str | Path) -> WeatherFile:
    """Parse a `Q_<dept>_…_RR-T-Vent.csv` file (plain or .gz).

    Columns used: NUM_POSTE, NOM_USUEL, LAT, LON, ALTI, AAAAMMJJ, TN, TX, TM (°C, empty
    when not measured). A station's coordinates are those of its last row.
    """
    lines = _read_text(data).splitlines()
    if not lines:
        raise EnergyInputError("Fichier météo vide.")
    header = [c.strip().upper() for c in lines[0].split(";")]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        sep_hint = " (séparateur « ; » attendu)" if len(header) == 1 else ""
        raise EnergyInputError(
            f"ligne 1 : colonnes manquantes {', '.join(missing)}{sep_hint} : ce n'est pas "
            "un fichier quotidien Météo-France (Q_<dept>_…_RR-T-Vent.csv)"
        )
    col = {name: i for i, name in enumerate(header)}
    i_n, i_name, i_lat, i_lon, i_d = (col[c] for c in REQUIRED_COLUMNS)
    i_alt = col.get("ALTI")
    i_tn, i_tx, i_tm = col.get("TN"), col.get("TX"), col.get("TM")
    issues: list[LineIssue] = []
    rows: dict[str, list[tuple[float, ...]]] = {}
    meta: dict[str, Station] = {}
    width = len(header)
    for n, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        f = line.split(";")
        if len(f) != width:
            issues.append(LineIssue(n, "champs", f"{len(f)} champs au lieu de {width}"))
            continue
        try:
            d = f[i_d].strip()
            day = int(np.datetime64(f"{d[:4]}-{d[4:6]}-{d[6:8]}", "D").astype(np.int64))
            values = tuple(_num(f[i]) if i is not None else math.nan for i in (i_tn, i_tx, i_tm))
            num = f[i_n].strip()
            meta[num] = Station(
                num,
                f[i_name].strip(),
                float(f[i_lat]),
                float(f[i_lon]),
                _num(f[i_alt]) if i_alt is not None else math.nan,
            )
        except ValueError as exc:
            issues.append(LineIssue(n, "ligne", f"ligne illisible ({exc})"))
            continue
        rows.setdefault(num, []).append((day, *values))
    stations: dict[str, DailyWeather] = {}
    for num, rs in rows.items():
        arr = np.array(rs, dtype=float)
        days, first = np.unique(arr[:, 0].astype(np.int64), return_index=True)
        if days.size < len(rs):
            issues.append(
                LineIssue(
                    0,
                    "doublon",
                    f"poste {num} : {len(rs) - days.size} jour(s) en double (premier gardé)",
                    "avertissement",
                )
            )
        arr = arr[first]
        stations[num] = DailyWeather(
            meta[num], days.astype("datetime64[D]"), arr[:, 1], arr[:, 2], arr[:, 3]
        )
    if not stations:
        raise EnergyInputError("Aucune ligne météo lisible.")
    return WeatherFile(stations, issues)


EARTH_RADIUS_KM = 6371.0


def haversine_km(lat1: float, lon1: float, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Great-circle distance in km on a sphere of radius 6371 km."""
    p1, p2 = np.radians(lat1), np.radians(np.asarray(lat2, dtype=float))
    dphi = p2 - p1
    dlmb = np.radians(np.asarray(lon2, dtype=float) - lon1)
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def nearest_station(
    lat: float, lon: float, stations: list[Station] | dict[str, DailyWeather]
) -> tuple[Station, float]:
    """The closest station to (lat, lon) and its distance in km (ties: first listed)."""
    items = [w.station for w in stations.values()] if isinstance(stations, dict) else stations
    if not items:
        raise EnergyInputError("Aucune station météo disponible.")
    dist = haversine_km(
        lat, lon, np.array([s.lat for s in items]), np.array([s.lon for s in items])
    )
    i = int(np.argmin(dist))
    return items[i], float(dist[i])


def dju_meteo_france(
    tn: np.ndarray, tx: np.ndarray, base: float = DJU_BASE_C
) -> tuple[np.ndarray, np.ndarray]:
    """(heating, cooling) degree-days by the Météo-France method.

    Tmoy = (TN + TX) / 2; heating = max(0, base − Tmoy); cooling = max(0, Tmoy − base).
    """
    tmoy = (np.asarray(tn, dtype=float) + np.asarray(tx, dtype=float)) / 2.0
    return np.maximum(0.0, base - tmoy), np.maximum(0.0, tmoy - base)


def dju_costic(
    tn: np.ndarray, tx: np.ndarray, base: float = DJU_BASE_C
) -> tuple[np.ndarray, np.ndarray]:
    """(heating, cooling) degree-days by the COSTIC ("professionnels de l'énergie") method.

    Heating: base ≥ TX → base − (TN+TX)/2; base ≤ TN → 0; otherwise
    (base − TN)·(0.08 + 0.42·(base − TN)/(TX − TN)).
    Cooling: base ≥ TX → 0; base ≤ TN → (TN+TX)/2 − base; otherwise
    (TX − base)·(0.08 + 0.42·(TX − base)/(TX − TN)).
    """
    tn = np.asarray(tn, dtype=float)
    tx = np.asarray(tx, dtype=float)
    tmoy = (tn + tx) / 2.0
    amp = np.where(tx > tn, tx - tn, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        mid_h = (base - tn) * (0.08 + 0.42 * (base - tn) / amp)
        mid_c = (tx - base) * (0.08 + 0.42 * (tx - base) / amp)
    heat = np.where(base >= tx, base - tmoy, np.where(base <= tn, 0.0, mid_h))
    cool = np.where(base >= tx, 0.0, np.where(base <= tn, tmoy - base, mid_c))
    nan = np.isnan(tn) | np.isnan(tx)
    return np.where(nan, np.nan, heat), np.where(nan, np.nan, cool)


#: Local hours of the day's minimum and maximum in `hourly_temperatures`.
TN_HOUR, TX_HOUR = 6.0, 15.0


def hourly_temperatures(
    days: np.ndarray, tn: np.ndarray, tx: np.ndarray, tm: np.ndarray, start_utc: np.ndarray
) -> np.ndarray:
    """°C at the middle of each hour starting at `start_utc`, from daily TN/TX.

    Météo-France's daily files have no hourly temperature, and the hourly model needs
    one: each day's TN is placed at 06:00 and its TX at 15:00 local time (Europe/Paris)
    and consecutive points are joined by half-cosines (the usual diurnal shape: quick
    rise in the morning, slow fall at night). A day with only TM stays flat at TM; an
    hour next to a day without temperature is NaN. `days` are sorted datetime64[D].
    """
    d = np.asarray(days, dtype="datetime64[D]").astype(np.int64)
    lo = np.where(np.isfinite(tn) & np.isfinite(tx), tn, tm).astype(float)
    hi = np.where(np.isfinite(tn) & np.isfinite(tx), tx, tm).astype(float)
    knot_t = np.column_stack([d * 24 + TN_HOUR, d * 24 + TX_HOUR]).ravel()  # local hours
    knot_v = np.column_stack([lo, hi]).ravel()
    start = np.asarray(start_utc, dtype=np.int64)
    local_h = (start + paris_offset_utc(start)) / 3600.0 + 0.5
    out = np.full(start.shape, np.nan)
    if knot_t.size < 2:
        return out
    j = np.searchsorted(knot_t, local_h, side="right")
    inside = (j > 0) & (j < knot_t.size)
    j = np.clip(j, 1, knot_t.size - 1)
    t0, t1 = knot_t[j - 1], knot_t[j]
    # neighbouring knots only (a missing day leaves a hole rather than a long ramp)
    inside &= (t1 - t0) <= 24
    f = (local_h - t0) / np.where(t1 > t0, t1 - t0, 1.0)
    v = knot_v[j - 1] + (knot_v[j] - knot_v[j - 1]) * (1 - np.cos(np.pi * f)) / 2
    out[inside] = v[inside]
    return out
