"""Forecast services: series in (uploads, other apps), forecasts out, and the comparison
of past forecasts with what happened.

Every interface (pages, API, CLI, tasks, other apps) comes through here. The engine
(`clocher.forecast.engine`, no Django) reads and checks the data and makes the forecast;
this module stores both with the data version they belong to, in one transaction with
their journal entry, so a refused file or a failed run leaves nothing half-written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.text import slugify

from clocher.core import audit, scoping
from clocher.core.audit import Actor
from clocher.core.models import Commune, Role
from clocher.forecast import engine
from clocher.forecast.engine.series import MAX_BYTES
from clocher.forecast.models import Forecast, ForecastStatus, Series, SeriesSource

logger = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = MAX_BYTES  # the engine's own cap, checked before reading the file
MAX_HORIZON = 120
LEVELS = (80, 95)
# Past forecasts compared with the actuals when a series gets new data (most recent).
COMPARED_FORECASTS = 50
# Who may send files and run forecasts; the operator and elected members read.
WRITER_ROLES = (Role.COMMUNE_ADMIN, Role.AGENT)
KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]*:[A-Za-z0-9_.:-]{1,100}$")


class Upload(Protocol):
    """What a form, the API or the CLI hands over: Django's UploadedFile or alike."""

    @property
    def name(self) -> str | None: ...

    @property
    def size(self) -> int | None: ...

    def read(self, size: int = -1) -> bytes: ...


@dataclass
class Stored:
    series: Series
    created: bool
    changed: bool  # a new data version (or a new series)


# --------------------------------------------------------------------------- access


def may_write(user: Any, commune: Commune) -> bool:
    """Admins and agents of the commune send series and run forecasts."""
    membership = scoping.commune_membership(user, commune)
    return membership is not None and membership.role in WRITER_ROLES


def series_for(user: Any, commune: Commune) -> QuerySet[Series]:
    """The commune's series as `user` may see them (the view already resolved `commune`
    through the scoping helper; this filters again, never trusting an id alone)."""
    return scoping.scoped(Series.objects.filter(commune=commune), user)


def get_series(user: Any, commune: Commune, series_id: int) -> Series:
    found = series_for(user, commune).filter(pk=series_id).first()
    if found is None:
        raise Http404
    return found


def get_forecast(user: Any, commune: Commune, forecast_id: int) -> Forecast:
    found = (
        scoping.scoped(Forecast.objects.filter(commune=commune), user)
        .select_related("series")
        .filter(pk=forecast_id)
        .first()
    )
    if found is None:
        raise Http404
    return found


# --------------------------------------------------------------------------- data version


def canonical_data(parsed: engine.Series) -> dict[str, Any]:
    """The stored form of a checked series: ISO dates, floats, regressors by name."""
    return {
        "frequency": parsed.freq,
        "dates": [d.isoformat() for d in parsed.dates],
        "values": [float(v) for v in parsed.values],
        "regressors": {k: [float(x) for x in v] for k, v in sorted(parsed.regressors.items())},
        "future_regressors": {
            k: [float(x) for x in v] for k, v in sorted(parsed.future_regressors.items())
        },
    }


def data_version(data: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON (sorted keys, no spaces, UTF-8): two uploads of the
    same figures, whatever their file format, have the same version. Unlike the engine's
    fingerprint (dates and values), it covers the regressors too, which change a forecast."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def engine_series(series: Series) -> engine.Series:
    """The stored data back as the engine's Series (checked again on the way)."""
    data = series.data
    return engine.Series.build(
        [date.fromisoformat(d) for d in data["dates"]],
        data["values"],
        data["frequency"],
        name=series.name,
        regressors=data.get("regressors") or None,
        future_regressors=data.get("future_regressors") or None,
    )


def history(series: Series) -> list[tuple[date, float]]:
    return [
        (date.fromisoformat(d), float(v))
        for d, v in zip(series.data["dates"], series.data["values"], strict=True)
    ]


# --------------------------------------------------------------------------- series in


def _clean_text(value: str, label: str, limit: int, *, required: bool = True) -> str:
    value = (value or "").strip()
    if required and not value:
        raise ValidationError(f"{label} : ce champ est obligatoire.")
    if len(value) > limit:
        raise ValidationError(f"{label} : {limit} caractères au plus.")
    return value


def _store(
    actor: Actor,
    commune: Commune,
    key: str,
    name: str,
    unit: str,
    source: str,
    filename: str,
    parsed: engine.Series,
) -> Stored:
    """Create or update the series `key` of the commune. Unchanged figures keep their
    version and write nothing; new figures get a new version, the past forecasts are
    compared with them, and one journal entry says so — all in one transaction."""
    data = canonical_data(parsed)
    version = data_version(data)
    with transaction.atomic():
        series = Series.objects.select_for_update().filter(commune=commune, key=key).first()
        created = series is None
        if series is not None and series.data_version == version:
            if (series.name, series.unit) != (name, unit or series.unit):
                series.name, series.unit = name, unit or series.unit
                series.save(update_fields=["name", "unit", "updated_at"])
            return Stored(series, created=False, changed=False)
        if series is None:
            series = Series(commune=commune, key=key, source=source)
            series.created_by = actor.user
            series.created_by_label = actor.display
        series.name, series.unit = name, unit or series.unit
        series.frequency = parsed.freq
        series.filename = filename
        series.data, series.data_version, series.points = data, version, len(parsed)
        series.save()
        compared = compare_with_actuals(series)
        audit.record(
            actor,
            "forecast.series_created" if created else "forecast.series_updated",
            commune=commune,
            target=key,
            data={
                "nom": name,
                "version": version,
                "points": len(parsed),
                "frequence": parsed.freq,
                "fichier": filename,
                "previsions_comparees": compared,
            },
        )
    return Stored(series, created=created, changed=True)


def upload_key(name: str) -> str:
    return "upload:" + (slugify(name)[:100] or "serie")


def import_series(
    actor: Actor, commune: Commune, upload: Upload, *, name: str = "", unit: str = ""
) -> Stored:
    """A CSV/XLSX file sent by an agent (page, API, CLI), read and checked by the engine.

    The series is named after the file unless `name` is given; a file sent again under
    the same name updates that series (a new data version: the forecasts made on the
    earlier one are then compared with what happened)."""
    filename = Path(upload.name or "").name
    if not filename:
        raise ValidationError("Fichier : joignez un fichier CSV ou XLSX.")
    if upload.size is not None and upload.size > MAX_UPLOAD_BYTES:
        raise ValidationError(
            f"{filename} : fichier trop gros ({upload.size / 1e6:.1f} Mo, au plus "
            f"{MAX_UPLOAD_BYTES / 1e6:.0f} Mo)."
        )
    data = upload.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise ValidationError(
            f"{filename} : fichier trop gros (au plus {MAX_UPLOAD_BYTES / 1e6:.0f} Mo)."
        )
    name = _clean_text(name or Path(filename).stem, "Nom de la série", 200)
    unit = _clean_text(unit, "Unité", 40, required=False)
    try:
        parsed = engine.read_series(data, filename)
    except engine.SeriesError as exc:
        raise ValidationError(f"{filename} : {exc}") from exc
    return _store(
        actor, commune, upload_key(name), name, unit, SeriesSource.UPLOAD, filename, parsed
    )


def series_from_points(
    actor: Actor,
    commune: Commune,
    key: str,
    name: str,
    points: list[tuple[date, float]],
    *,
    unit: str = "",
    frequency: str | None = None,
    regressors: dict[str, list[float]] | None = None,
) -> Stored:
    """For other apps (energy, finance): feed the series `key` ("energy:building:12",
    "finance:epargne_brute") with `points` (date, value). Idempotent by key: the same
    points again change nothing; different points make a new data version."""
    if not KEY_PATTERN.match(key) or key.startswith("upload:"):
        raise ValidationError(
            f"Clé de série invalide : « {key} » (attendu « application:objet », ex. "
            "« energy:building:12 »)."
        )
    name = _clean_text(name, "Nom de la série", 200)
    unit = _clean_text(unit, "Unité", 40, required=False)
    try:
        parsed = engine.Series.build(
            [day for day, _ in points],
            [float(value) for _, value in points],
            frequency,
            name=name,
            regressors=regressors,
        )
    except engine.SeriesError as exc:
        raise ValidationError(f"Série « {name} » : {exc}") from exc
    return _store(actor, commune, key, name, unit, SeriesSource.APP, "", parsed)


# --------------------------------------------------------------------------- forecasts


def _new_forecast(actor: Actor, series: Series, horizon: int) -> Forecast:
    """A queued forecast of `series` at its current data version."""
    if not 1 <= horizon <= MAX_HORIZON:
        raise ValidationError(f"Horizon : entre 1 et {MAX_HORIZON} périodes.")
    return Forecast.objects.create(
        commune=series.commune,
        series=series,
        data_version=series.data_version,
        horizon=horizon,
        created_by=actor.user,
        created_by_label=actor.display,
    )


def request_run(actor: Actor, series: Series, horizon: int) -> Forecast:
    """Queue a forecast (the task runs it; the page follows its progress)."""
    from clocher.forecast import tasks

    forecast = _new_forecast(actor, series, horizon)
    tasks.run_forecast.enqueue(forecast.pk, actor.display, actor.ip)
    forecast.refresh_from_db()
    return forecast


def run(actor: Actor, series: Series, horizon: int) -> Forecast:
    """Forecast `series` now, in this process, and store the result (or the refusal)."""
    return execute(actor, _new_forecast(actor, series, horizon))


def execute(actor: Actor, forecast: Forecast) -> Forecast:
    """Compute a queued forecast on the series' current data and store it with that
    data version, the model card and the CPU time, and one journal entry. A series the
    engine refuses (horizon longer than the history…) ends as « échec » with its reason."""
    if forecast.status not in (ForecastStatus.QUEUED, ForecastStatus.RUNNING):
        return forecast
    forecast.status = ForecastStatus.RUNNING
    forecast.save(update_fields=["status"])
    series = Series.objects.get(pk=forecast.series_id)
    try:
        result = engine.run_forecast(engine_series(series), forecast.horizon, LEVELS)
    except Exception as exc:
        # Never left « en cours » for ever (the page would poll it): a refusal keeps the
        # engine's French message, anything else says the engine failed and is logged.
        if isinstance(exc, engine.SeriesError):
            forecast.error = str(exc)
        else:
            logger.exception("forecast %s failed", forecast.pk)
            forecast.error = f"Erreur du moteur de prévision ({type(exc).__name__})."
        forecast.status = ForecastStatus.FAILED
        forecast.finished_at = timezone.now()
        forecast.save(update_fields=["status", "error", "finished_at"])
        return forecast
    with transaction.atomic():
        forecast.data_version = series.data_version
        forecast.status = ForecastStatus.DONE
        forecast.model = result.model_label
        forecast.scores = [s.as_dict() for s in result.scores]
        forecast.prediction = {
            "dates": [d.isoformat() for d in result.dates],
            "mean": result.point,
            "lower": {str(lv): result.lower[lv] for lv in result.levels},
            "upper": {str(lv): result.upper[lv] for lv in result.levels},
        }
        forecast.calibration = "; ".join(
            f"{lv} % : {how}" for lv, how in sorted(result.calibration.items())
        )[:200]
        forecast.explanation = result.explanation
        forecast.warnings = list(result.warnings)
        card = result.card()
        card["donnees"]["version_clocher"] = series.data_version
        forecast.card = card
        forecast.cpu_seconds = result.cpu_seconds
        forecast.finished_at = timezone.now()
        forecast.save()
        audit.record(
            actor,
            "forecast.run",
            commune=forecast.commune,
            target=series.key,
            data={
                "prevision": forecast.pk,
                "version": series.data_version,
                "horizon": forecast.horizon,
                "modele": result.model,
                "cpu_secondes": round(result.cpu_seconds, 3),
            },
        )
    return forecast


def latest(series: Series, *, current_only: bool = False) -> Forecast | None:
    done = series.forecasts.filter(status=ForecastStatus.DONE)
    if current_only:
        done = done.filter(data_version=series.data_version)
    return done.order_by("-finished_at", "-id").first()


SERVICE_ACTOR = Actor(label="service prévisions")


def forecast_for(
    commune: Commune, key: str, horizon: int, *, actor: Actor = SERVICE_ACTOR
) -> Forecast:
    """For other apps: the stored forecast of series `key` at `horizon` on its current
    data, or a fresh one computed now and stored (so the next call reads it)."""
    series = Series.objects.filter(commune=commune, key=key).first()
    if series is None:
        raise ValidationError(f"Série inconnue pour {commune.name} : « {key} ».")
    stored = (
        series.forecasts.filter(
            status=ForecastStatus.DONE, data_version=series.data_version, horizon=horizon
        )
        .order_by("-finished_at", "-id")
        .first()
    )
    if stored is not None:
        return stored
    made = run(actor, series, horizon)
    if made.status == ForecastStatus.FAILED:
        raise ValidationError(f"Prévision impossible pour « {series.name} » : {made.error}")
    return made


# --------------------------------------------------------------------------- predicted vs actual


def realised_points(forecast: Forecast, actuals: dict[str, float]) -> dict[str, Any]:
    """What `forecast` said for the periods whose actual value is now known: the points,
    the mean absolute error in % of the actuals and how many fell in the 95 % interval."""
    prediction = forecast.prediction or {}
    points = []
    for i, day in enumerate(prediction.get("dates", [])):
        if day not in actuals:
            continue
        points.append(
            {
                "date": day,
                "prevu": prediction["mean"][i],
                "reel": actuals[day],
                "bas_95": prediction["lower"]["95"][i],
                "haut_95": prediction["upper"]["95"][i],
            }
        )
    if not points:
        return {}
    total = sum(abs(p["reel"]) for p in points)
    error = sum(abs(p["reel"] - p["prevu"]) for p in points)
    inside = sum(1 for p in points if p["bas_95"] <= p["reel"] <= p["haut_95"])
    return {
        "points": points,
        "erreur_pct": round(error / total * 100, 1) if total else None,
        "dans_95": inside,
        "compares": len(points),
    }


def compare_with_actuals(series: Series) -> int:
    """Store, on each earlier forecast of `series`, how it compares with the data now
    known. Returns how many forecasts have at least one period to compare."""
    actuals = dict(zip(series.data["dates"], series.data["values"], strict=True))
    compared = 0
    recent = series.forecasts.filter(status=ForecastStatus.DONE).order_by("-finished_at")
    for forecast in recent[:COMPARED_FORECASTS]:
        realised = realised_points(forecast, actuals)
        if realised:
            realised["version"] = series.data_version
            compared += 1
        if realised != forecast.realised:
            forecast.realised = realised
            forecast.save(update_fields=["realised"])
    return compared
