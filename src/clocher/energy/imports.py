"""Imports of meter data and weather into the database: all or nothing per file.

The engine parses (vectorised) and reports per line; this module refuses a file that has
any line in error (the report says which and why), then writes the whole file in one
transaction with its audit entry. A re-import of the same days replaces them, so
importing a file twice changes nothing.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clocher.core import audit
from clocher.core.audit import Actor
from clocher.core.models import Commune
from clocher.energy.engine import loadcurve, weather
from clocher.energy.engine._timeutil import local_days_paris, paris_offset_utc
from clocher.energy.engine.errors import EnergyInputError, LineIssue
from clocher.energy.models import (
    Building,
    DailyReading,
    EnergyImport,
    ImportKind,
    ImportStatus,
    LoadCurveDay,
    Meter,
    PeriodReading,
    WeatherDay,
    WeatherStation,
)

#: A day of load curve counts in the daily readings when this share of it was measured.
MIN_DAY_COVERAGE = 0.95
#: At most this many remarks are kept in a report (the count of the others is said).
MAX_REPORTED = 200
MAX_UPLOAD_BYTES = 64 * 1024 * 1024

Progress = Callable[[str, int], None]


@dataclass
class ImportResult:
    kind: str
    rows: int = 0
    written: int = 0
    first: date | None = None
    last: date | None = None
    issues: list[LineIssue] = field(default_factory=list)

    @property
    def summary(self) -> str:
        span = f" du {self.first:%d/%m/%Y} au {self.last:%d/%m/%Y}" if self.first else ""
        return f"{self.rows} ligne(s) lue(s), {self.written} enregistrement(s){span}."

    def report(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "rows": self.rows,
            "written": self.written,
            "issues": _issues_json(self.issues),
            "more_issues": max(0, len(self.issues) - MAX_REPORTED),
        }


class ImportRefused(ValidationError):
    """The file was refused as a whole; `issues` is the per-line report."""

    def __init__(self, message: str, issues: list[LineIssue] | None = None) -> None:
        if "Rien n'a été enregistré" not in message:
            message = f"{message.rstrip('.')}. Rien n'a été enregistré."
        super().__init__(message)
        self.issues = issues or []

    def report(self) -> dict[str, Any]:
        return {
            "error": " ".join(self.messages),
            "issues": _issues_json(self.issues),
            "more_issues": max(0, len(self.issues) - MAX_REPORTED),
        }


def _issues_json(issues: list[LineIssue]) -> list[dict[str, Any]]:
    return [
        {"line": i.line, "code": i.code, "message": i.message, "level": i.level}
        for i in issues[:MAX_REPORTED]
    ]


def _refuse_on_errors(issues: list[LineIssue], what: str) -> None:
    errors = [i for i in issues if i.level == "erreur"]
    if errors:
        first = errors[0]
        where = f"ligne {first.line}" if first.line else "fichier"
        raise ImportRefused(
            f"{what} : fichier refusé, {len(errors)} ligne(s) en erreur (première : {where}, "
            f"{first.message}). Rien n'a été enregistré ; corrigez le fichier et réessayez.",
            issues,
        )


def _no_progress(step: str, percent: int) -> None:
    return None


def gunzip_if_needed(data: bytes, limit: int = 4 * MAX_UPLOAD_BYTES) -> bytes:
    """A .gz file (Météo-France ships them so) opened, at most `limit` bytes out."""
    if not data.startswith(b"\x1f\x8b"):
        return data
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(data, limit)
    except zlib.error as exc:
        raise ImportRefused(f"Fichier .gz illisible : {exc}.") from exc
    if inflater.unconsumed_tail:
        raise ImportRefused(
            f"Fichier .gz trop volumineux une fois ouvert (plus de {limit // 1_000_000} Mo)."
        )
    return out


# --------------------------------------------------------------------------- local days


def local_days(epoch_s: np.ndarray) -> np.ndarray:
    """The Europe/Paris calendar day (datetime64[D]) of each UTC instant."""
    return local_days_paris(epoch_s).astype("datetime64[D]")


def day_bounds_utc(day: np.datetime64) -> tuple[int, int]:
    """UTC epoch of the local midnight starting `day` and of the next one."""
    midnight = int(day.astype("datetime64[s]").astype(np.int64))
    start = midnight - int(paris_offset_utc(np.array([midnight - 3600]))[0])
    following = midnight + 86400
    end = following - int(paris_offset_utc(np.array([following - 3600]))[0])
    return start, end


# --------------------------------------------------------------------------- load curves


@dataclass
class CurveDays:
    days: list[LoadCurveDay]
    daily: list[DailyReading]
    partial: int


def curve_days(meter: Meter, curve: loadcurve.LoadCurve) -> CurveDays:
    """Cut a load curve into local days: one float32 array per day at the day's finest
    step (a longer interval is spread evenly over the slots it covers)."""
    start = np.asarray(curve.start, dtype=np.int64)
    step = np.asarray(curve.step, dtype=np.int64)
    wh = np.asarray(curve.wh, dtype=np.float64)
    days = local_days(start)
    order = np.argsort(days, kind="stable")
    start, step, wh, days = start[order], step[order], wh[order], days[order]
    unique, first_index = np.unique(days, return_index=True)
    bounds = list(first_index[1:]) + [len(days)]
    rows = []
    for day, lo, hi in zip(unique, first_index, bounds, strict=True):
        d_start, d_end = day_bounds_utc(day)
        s, st, w = start[lo:hi], step[lo:hi], wh[lo:hi]
        base = int(st.min())
        slots = -(-(d_end - d_start) // base)
        values = np.full(slots, np.nan, dtype=np.float64)
        span = st // base
        index = (s - d_start) // base
        for k in range(int(span.max())):
            mine = span > k
            target = index[mine] + k
            inside = (target >= 0) & (target < slots)
            values[target[inside]] = np.nan_to_num(values[target[inside]]) + (
                w[mine][inside] / span[mine][inside]
            )
        rows.append(
            LoadCurveDay(
                commune_id=meter.commune_id,
                meter=meter,
                day=day.astype(object),
                first=d_start,
                step_s=base,
                values=values.astype("<f4").tobytes(),
            )
        )
    measured = set(unique.tolist())
    daily_days, daily_kwh = curve.daily_kwh(MIN_DAY_COVERAGE)
    daily = [
        DailyReading(commune_id=meter.commune_id, meter=meter, day=d, kwh=float(k))
        for d, k in zip(daily_days.astype(object), daily_kwh, strict=True)
        if np.isfinite(k)
    ]
    partial = sum(
        1
        for d, k in zip(daily_days.tolist(), daily_kwh, strict=True)
        if d in measured and not np.isfinite(k)
    )
    return CurveDays(rows, daily, partial)


def import_load_curve(
    actor: Actor, meter: Meter, data: bytes, filename: str = "", progress: Progress = _no_progress
) -> ImportResult:
    """An Enedis load curve into the meter's days (replacing the same days)."""
    progress("Lecture de la courbe de charge", 10)
    try:
        curve = loadcurve.parse_load_curve(data)
    except EnergyInputError as exc:
        raise ImportRefused(f"Courbe de charge refusée : {exc}") from exc
    _refuse_on_errors(curve.issues, "Courbe de charge")
    if len(curve.start) == 0:
        raise ImportRefused("Courbe de charge refusée : aucune mesure dans le fichier.")
    progress("Découpage par jour", 40)
    cut = curve_days(meter, curve)
    issues = list(curve.issues)
    if cut.partial:
        issues.append(
            LineIssue(
                0,
                "jours_incomplets",
                f"{cut.partial} jour(s) mesurés à moins de {MIN_DAY_COVERAGE:.0%} : gardés dans "
                "la courbe, écartés des consommations journalières.",
                "avertissement",
            )
        )
    progress("Enregistrement", 60)
    dates = [row.day for row in cut.days]
    with transaction.atomic():
        LoadCurveDay.objects.filter(meter=meter, day__in=dates).delete()
        DailyReading.objects.filter(meter=meter, day__in=dates).delete()
        LoadCurveDay.objects.bulk_create(cut.days, batch_size=500)
        DailyReading.objects.bulk_create(cut.daily, batch_size=1000)
        result = ImportResult(
            ImportKind.COURBE, curve.rows_read, len(cut.days), min(dates), max(dates), issues
        )
        audit.record(
            actor,
            "energy.curve_imported",
            commune=meter.commune,
            target=f"meter:{meter.pk}",
            data={"file": filename[:200], "days": len(dates), "rows": curve.rows_read},
        )
    return result


# --------------------------------------------------------------------------- indexes, invoices


def import_periods(
    actor: Actor,
    meter: Meter,
    data: bytes,
    kind: str,
    filename: str = "",
    progress: Progress = _no_progress,
) -> ImportResult:
    """Index readings or invoices into periods; a one-day period is also a daily reading."""
    progress("Lecture du fichier", 10)
    parse = loadcurve.parse_index_csv if kind == ImportKind.INDEX else loadcurve.parse_invoices_csv
    what = "Fichier d'index" if kind == ImportKind.INDEX else "Fichier de factures"
    try:
        parsed = parse(data)
    except EnergyInputError as exc:
        raise ImportRefused(f"{what} refusé : {exc}") from exc
    _refuse_on_errors(parsed.issues, what)
    if not parsed.periods:
        raise ImportRefused(f"{what} refusé : aucune période de consommation.")
    progress("Enregistrement", 60)
    periods = [
        PeriodReading(
            commune_id=meter.commune_id,
            meter=meter,
            start=p.start,
            end=p.end,
            kwh=p.kwh,
            amount_eur=p.amount_eur,
            source=kind,
        )
        for p in parsed.periods
    ]
    one_day = [p for p in parsed.periods if (p.end - p.start).days == 1]
    with transaction.atomic():
        first, last = min(p.start for p in periods), max(p.end for p in periods)
        PeriodReading.objects.filter(
            meter=meter, source=kind, start__gte=first, end__lte=last
        ).delete()
        PeriodReading.objects.bulk_create(periods, batch_size=1000)
        if one_day:
            DailyReading.objects.filter(meter=meter, day__in=[p.start for p in one_day]).delete()
            DailyReading.objects.bulk_create(
                [
                    DailyReading(commune_id=meter.commune_id, meter=meter, day=p.start, kwh=p.kwh)
                    for p in one_day
                ],
                batch_size=1000,
            )
        audit.record(
            actor,
            f"energy.{kind}_imported",
            commune=meter.commune,
            target=f"meter:{meter.pk}",
            data={"file": filename[:200], "periods": len(periods)},
        )
    return ImportResult(kind, len(periods), len(periods), first, last, list(parsed.issues))


# --------------------------------------------------------------------------- weather


def _nan_to_none(values: np.ndarray) -> list[float | None]:
    return [None if np.isnan(v) else round(float(v), 2) for v in values]


def import_weather(
    actor: Actor, data: bytes, filename: str = "", progress: Progress = _no_progress
) -> ImportResult:
    """A Météo-France daily file: stations and their days (shared by every commune); the
    buildings with coordinates and no station yet get their nearest one."""
    progress("Lecture du fichier Météo-France", 10)
    try:
        parsed = weather.parse_meteo_france_daily(gunzip_if_needed(data))
    except EnergyInputError as exc:
        raise ImportRefused(f"Fichier météo refusé : {exc}") from exc
    _refuse_on_errors(parsed.issues, "Fichier météo")
    if not parsed.stations:
        raise ImportRefused("Fichier météo refusé : aucune station dans le fichier.")
    progress("Enregistrement", 60)
    rows = 0
    first: date | None = None
    last: date | None = None
    with transaction.atomic():
        for num, daily in parsed.stations.items():
            s = daily.station
            station, _ = WeatherStation.objects.update_or_create(
                num_poste=num,
                defaults={"name": s.name, "lat": s.lat, "lon": s.lon, "alti": s.alti},
            )
            days = [d.astype(object) for d in daily.days]
            WeatherDay.objects.filter(station=station, day__in=days).delete()
            tn, tx, tm = _nan_to_none(daily.tn), _nan_to_none(daily.tx), _nan_to_none(daily.tm)
            WeatherDay.objects.bulk_create(
                [
                    WeatherDay(station=station, day=day, tn=tn[i], tx=tx[i], tm=tm[i])
                    for i, day in enumerate(days)
                ],
                batch_size=1000,
            )
            rows += len(days)
            if days:
                first = min(days[0], first or days[0])
                last = max(days[-1], last or days[-1])
        assign_stations()
        audit.record(
            actor,
            "energy.weather_imported",
            target="meteo",
            data={"file": filename[:200], "stations": len(parsed.stations), "days": rows},
        )
    return ImportResult(ImportKind.METEO, rows, rows, first, last, list(parsed.issues))


def assign_stations(buildings: Any = None) -> int:
    """Give each located building without a station the nearest one (haversine)."""
    stations = list(WeatherStation.objects.all())
    if not stations:
        return 0
    refs = [weather.Station(s.num_poste, s.name, s.lat, s.lon, s.alti) for s in stations]
    by_num = {s.num_poste: s for s in stations}
    todo = buildings if buildings is not None else Building.objects.filter(station__isnull=True)
    count = 0
    for building in todo.exclude(lat__isnull=True).exclude(lon__isnull=True):
        assert building.lat is not None and building.lon is not None
        nearest, _ = weather.nearest_station(building.lat, building.lon, refs)
        building.station = by_num[nearest.num_poste]
        building.save(update_fields=["station"])
        count += 1
    return count


# --------------------------------------------------------------------------- dispatch, task


def import_file(
    actor: Actor,
    commune: Commune | None,
    kind: str,
    data: bytes,
    filename: str = "",
    meter: Meter | None = None,
    progress: Progress = _no_progress,
) -> ImportResult:
    """One entry for the page, the task, the CLI and the API."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImportRefused(
            f"Fichier trop volumineux ({len(data) // 1_000_000} Mo, au plus "
            f"{MAX_UPLOAD_BYTES // 1_000_000} Mo) : découpez-le par période."
        )
    if kind == ImportKind.METEO:
        return import_weather(actor, data, filename, progress)
    if kind not in ImportKind.values:
        raise ImportRefused(f"Type d'import inconnu : « {kind} » (courbe, index, factures, meteo).")
    if meter is None or commune is None or meter.commune_id != commune.pk:
        raise ImportRefused("Choisissez le compteur de la commune auquel le fichier se rapporte.")
    if kind == ImportKind.COURBE:
        if meter.kind == "eau":
            raise ImportRefused("Un compteur d'eau n'a pas de courbe de charge Enedis.")
        return import_load_curve(actor, meter, data, filename, progress)
    return import_periods(actor, meter, data, kind, filename, progress)


def start_import(
    actor: Actor,
    commune: Commune,
    kind: str,
    filename: str,
    data: bytes,
    meter: Meter | None = None,
) -> EnergyImport:
    """Keep the file and hand it to the task worker; the page follows its progress."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImportRefused(
            f"Fichier trop volumineux (au plus {MAX_UPLOAD_BYTES // 1_000_000} Mo)."
        )
    from clocher.energy import tasks

    job = EnergyImport.objects.create(
        commune=commune,
        meter=meter,
        kind=kind,
        filename=filename[:200],
        payload=data,
        created_by_label=actor.display[:200],
        step="En attente du traitement",
    )
    transaction.on_commit(lambda: tasks.run_import.enqueue(job.pk, actor.display, actor.ip))
    return job


def run_import(job: EnergyImport, actor: Actor) -> EnergyImport:
    """The task's body: import, record the report (or the refusal), drop the payload."""

    def progress(step: str, percent: int) -> None:
        EnergyImport.objects.filter(pk=job.pk).update(
            status=ImportStatus.RUNNING, step=step, percent=percent
        )

    progress("Démarrage", 1)
    try:
        result = import_file(
            actor, job.commune, job.kind, bytes(job.payload), job.filename, job.meter, progress
        )
        job.status, job.report = ImportStatus.DONE, result.report()
        job.step, job.percent = "Terminé", 100
    except ImportRefused as exc:
        job.status, job.report = ImportStatus.FAILED, exc.report()
        job.step, job.percent = "Refusé", 100
    job.payload = b""
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "report", "step", "percent", "payload", "finished_at"])
    return job
