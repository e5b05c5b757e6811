"""The energy app's services: buildings and meters, baselines, the décret tertiaire,
drifts and their weekly mail, the OPERAT export and the what-if.

Every function that changes something takes an `Actor` and writes its audit entry in
the same transaction; every query that serves a user goes through `core.scoping`. The
numbers come from the engine (`clocher.energy.engine`, plain numpy); this module reads
and writes the database around it. Imports are in `imports.py`.
"""

from __future__ import annotations

import contextlib
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Max, Min, QuerySet, Sum
from django.db.models.functions import ExtractYear
from django.http import Http404
from django.utils import timezone

from clocher.core import audit, scoping
from clocher.core.audit import Actor
from clocher.core.models import Commune, Membership, Role
from clocher.energy.engine import baseline as bl
from clocher.energy.engine import drifts as dr
from clocher.energy.engine import tertiaire, thermal
from clocher.energy.engine import weather as wx
from clocher.energy.engine._timeutil import paris_offset_utc
from clocher.energy.imports import day_bounds_utc
from clocher.energy.models import (
    METER_ENERGY,
    Action,
    Baseline,
    Building,
    DailyReading,
    Drift,
    Energy,
    LoadCurveDay,
    Meter,
    MeterKind,
    Use,
    WeatherDay,
    WeatherStation,
)

BASELINE_DAYS = 365
#: A day is "far outside" the model beyond its 99 % prediction interval (1 false alarm
#: per 100 normal days, instead of 5 at 95 %).
OUTLIER_LEVEL = 0.99
MIN_BASELINE_DAYS = 180
#: Prices of final energy (€/kWh TTC, 2025 orders of magnitude) for the what-if's euros.
PRICES_EUR_KWH = {
    "electricite": 0.25,
    "gaz_naturel": 0.11,
    "fioul": 0.12,
    "reseau_chaleur": 0.10,
    "bois": 0.07,
}
#: OPERAT's activity category by use (the declaration's "catégorie d'activité").
OPERAT_ACTIVITY = {
    Use.MAIRIE: "Bureaux - Services publics",
    Use.ECOLE: "Enseignement primaire",
    Use.SALLE: "Salle polyvalente",
    Use.SPORT: "Équipement sportif",
    Use.AUTRE: "Autre",
}


# --------------------------------------------------------------------------- access


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


# --------------------------------------------------------------------------- buildings, meters


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
    if year is not None and not 2010 <= year <= 2019:
        raise ValidationError(f"Année de référence {year} non admise (2010 à 2019).")
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


# --------------------------------------------------------------------------- series


def daily_series(
    meter: Meter, start: date | None = None, end: date | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(days as datetime64[D], kWh) of the meter's daily readings in [start, end]."""
    rows = DailyReading.objects.filter(meter=meter)
    if start:
        rows = rows.filter(day__gte=start)
    if end:
        rows = rows.filter(day__lte=end)
    pairs = list(rows.order_by("day").values_list("day", "kwh"))
    days = np.array([d for d, _ in pairs], dtype="datetime64[D]")
    return days, np.array([k for _, k in pairs], dtype=np.float64)


def temperatures(station: WeatherStation | None, days: np.ndarray) -> np.ndarray:
    """The station's mean daily temperature on `days` (TM, else (TN+TX)/2; NaN if none)."""
    result = np.full(days.shape, np.nan)
    if station is None or days.size == 0:
        return result
    rows = WeatherDay.objects.filter(
        station=station, day__gte=days.min().astype(object), day__lte=days.max().astype(object)
    ).values_list("day", "tn", "tx", "tm")
    known = {}
    for day, tn, tx, tm in rows:
        if tm is not None:
            known[day] = tm
        elif tn is not None and tx is not None:
            known[day] = (tn + tx) / 2
    for i, day in enumerate(days.astype(object)):
        result[i] = known.get(day, np.nan)
    return result


def yearly_dju(station: WeatherStation | None) -> dict[int, tuple[float, float]]:
    """Heating and cooling degree-days (COSTIC, base 18 °C) per complete year."""
    if station is None:
        return {}
    rows = list(
        WeatherDay.objects.filter(station=station, tn__isnull=False, tx__isnull=False)
        .order_by("day")
        .values_list("day", "tn", "tx")
    )
    if not rows:
        return {}
    years = np.array([d.year for d, _, _ in rows])
    heating, cooling = wx.dju_costic(
        np.array([r[1] for r in rows], dtype=float), np.array([r[2] for r in rows], dtype=float)
    )
    result = {}
    for year in np.unique(years):
        mine = years == year
        if mine.sum() >= 360:
            result[int(year)] = (float(heating[mine].sum()), float(cooling[mine].sum()))
    return result


# --------------------------------------------------------------------------- baselines


def _model_of(baseline: Baseline) -> bl.DailyModel:
    """The engine's model back from its stored parameters (to predict, draw, detect)."""
    p = baseline.params
    metrics = bl.G14Metrics(
        baseline.cvrmse,
        baseline.nmbe,
        baseline.r2,
        baseline.n,
        int(p.get("n_params", 1)),
        baseline.granularity,
        baseline.fit,
    )
    return bl.DailyModel(
        baseline.model_kind,
        p["intercept"],
        p["beta_hdd"],
        p["beta_cdd"],
        p["hdd_bp"],
        p["cdd_bp"],
        p["adj_r2"],
        baseline.n,
        p["rmse"],
        p.get("rho", 0.0),
        metrics,
    )


def fit_baseline(actor: Actor, meter: Meter, end: date | None = None) -> Baseline:
    """CalTRACK daily model on the 12 months ending at `end` (default: the last reading),
    against the building's station; stored with its G14 metrics and verdict."""
    if end is None:
        end = DailyReading.objects.filter(meter=meter).aggregate(last=Max("day"))["last"]
        if end is None:
            raise ValidationError(f"Le compteur {meter.identifier} n'a aucune consommation.")
    start = end - timedelta(days=BASELINE_DAYS - 1)
    days, kwh = daily_series(meter, start, end)
    station = meter.building.station
    if station is None:
        raise ValidationError(
            f"Le bâtiment « {meter.building.name} » n'a pas de station météo : donnez ses "
            "coordonnées et importez un fichier Météo-France du département."
        )
    temp = temperatures(station, days)
    usable = np.isfinite(temp) & np.isfinite(kwh)
    if usable.sum() < MIN_BASELINE_DAYS:
        raise ValidationError(
            f"Trop peu de jours avec consommation et météo ({int(usable.sum())}, au moins "
            f"{MIN_BASELINE_DAYS} sur les 12 mois jusqu'au {end:%d/%m/%Y})."
        )
    try:
        model = bl.fit_daily(temp[usable], kwh[usable])
    except ValueError as exc:
        raise ValidationError(f"Modèle impossible : {exc}") from exc
    m = model.metrics
    with transaction.atomic():
        baseline = Baseline.objects.create(
            commune=meter.commune,
            meter=meter,
            start=days[usable].min().astype(object),
            end=days[usable].max().astype(object),
            granularity=m.granularity,
            model_kind=model.kind,
            params={
                "intercept": model.intercept,
                "beta_hdd": model.beta_hdd,
                "beta_cdd": model.beta_cdd,
                "hdd_bp": model.hdd_bp,
                "cdd_bp": model.cdd_bp,
                "adj_r2": model.adj_r2,
                "rmse": model.rmse,
                "rho": model.rho,
                "n_params": m.p,
            },
            cvrmse=m.cvrmse,
            nmbe=m.nmbe,
            r2=m.r2,
            n=m.n,
            fit=m.fit,
            verdict=m.verdict[:300],
        )
        audit.record(
            actor,
            "energy.baseline_fitted",
            commune=meter.commune,
            target=f"meter:{meter.pk}",
            data={"kind": model.kind, "cvrmse": round(m.cvrmse, 4), "fit": m.fit},
        )
    return baseline


def latest_baseline(meter: Meter) -> Baseline | None:
    return meter.baselines.order_by("-created_at", "-pk").first()


def verdict_words(baseline: Baseline) -> str:
    """The G14 verdict in plain words for the building page."""
    limits = bl.G14_LIMITS.get(baseline.granularity, bl.G14_LIMITS["daily"])
    how = (
        f"L'écart type des erreurs du modèle vaut {baseline.cvrmse:.1%} de la consommation "
        f"moyenne (CV(RMSE), au plus {limits[0]:.0%}) et son biais {baseline.nmbe:+.1%} "
        f"(NMBE, entre ±{limits[1]:.0%}) ; il explique {baseline.r2:.0%} des variations (R²)."
    )
    if baseline.fit:
        return (
            f"Modèle apte à mesurer des économies (ASHRAE Guideline 14). {how} Une économie "
            "calculée avec ce modèle est donc crédible."
        )
    return (
        f"Modèle inapte à mesurer des économies (ASHRAE Guideline 14) : {baseline.verdict}. "
        f"{how} Les économies calculées avec lui seraient trop incertaines : vérifiez les "
        "données (compteur, période) ou attendez davantage de mesures."
    )


# --------------------------------------------------------------------------- décret tertiaire


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


# --------------------------------------------------------------------------- drifts


def curve_arrays(
    meter: Meter, since: date | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(UTC starts, kWh, step s) of the stored load curve, NaN steps left out."""
    rows = LoadCurveDay.objects.filter(meter=meter)
    if since:
        rows = rows.filter(day__gte=since)
    starts, kwh, steps = [], [], []
    for first, step, values in rows.order_by("day").values_list("first", "step_s", "values"):
        wh = np.frombuffer(bytes(values), dtype="<f4").astype(np.float64)
        ok = np.isfinite(wh)
        starts.append((first + step * np.arange(wh.size))[ok])
        kwh.append(wh[ok] / 1000)
        steps.append(np.full(int(ok.sum()), step))
    if not starts:
        empty = np.zeros(0)
        return empty.astype(np.int64), empty, empty.astype(np.int64)
    return np.concatenate(starts), np.concatenate(kwh), np.concatenate(steps)


def detect_drifts(actor: Actor, meter: Meter, weeks: int = 8) -> list[Drift]:
    """The engine's detectors on the last `weeks` weeks; new drifts are stored once."""
    last = DailyReading.objects.filter(meter=meter).aggregate(last=Max("day"))["last"]
    if last is None:
        return []
    since = last - timedelta(weeks=weeks)
    found: list[dr.Drift] = []
    starts, kwh, steps = curve_arrays(meter, last - timedelta(weeks=weeks * 3))
    if starts.size:
        found += dr.base_load_drifts(starts, kwh, steps)
    baseline = latest_baseline(meter)
    if baseline is not None:
        model = _model_of(baseline)
        days, daily = daily_series(meter, since, last)
        temp = temperatures(meter.building.station, days)
        ok = np.isfinite(temp)
        if ok.sum() >= 7:
            low, high = model.interval(temp[ok], OUTLIER_LEVEL)
            found += dr.outlier_days(days[ok], daily[ok], low, high)
            jump = dr.residual_jump(days[ok], daily[ok] - model.predict(temp[ok]))
            if jump is not None:
                found.append(jump)
    existing = set(Drift.objects.filter(meter=meter).values_list("kind", "start"))
    new = [
        Drift(
            commune_id=meter.commune_id,
            meter=meter,
            kind=d.kind,
            start=d.start,
            end=d.end,
            value=d.value,
            expected=d.expected,
            text=d.text[:400],
        )
        for d in found
        if (d.kind, d.start) not in existing
    ]
    if new:
        with transaction.atomic():
            Drift.objects.bulk_create(new)
            audit.record(
                actor,
                "energy.drifts_detected",
                commune=meter.commune,
                target=f"meter:{meter.pk}",
                data={"count": len(new), "kinds": sorted({d.kind for d in new})},
            )
    return new


def acknowledge_drift(actor: Actor, drift: Drift) -> Drift:
    with transaction.atomic():
        drift.acknowledged_at = timezone.now()
        drift.acknowledged_by_label = actor.display[:200]
        drift.save(update_fields=["acknowledged_at", "acknowledged_by_label"])
        audit.record(
            actor, "energy.drift_acknowledged", commune=drift.commune, target=f"drift:{drift.pk}"
        )
    return drift


def drift_mail(actor: Actor, commune: Commune) -> int:
    """Mail the commune admins the drifts not yet mailed (one message); 0 if none."""
    from django.conf import settings
    from django.core.mail import send_mail
    from django.urls import reverse

    with transaction.atomic():
        pending = list(
            Drift.objects.select_for_update()
            .filter(commune=commune, mailed_at__isnull=True, acknowledged_at__isnull=True)
            .select_related("meter__building")
            .order_by("meter__building__name", "start")
        )
        admins = sorted(
            Membership.objects.filter(
                commune=commune, role=Role.COMMUNE_ADMIN, is_active=True, user__is_active=True
            ).values_list("user__email", flat=True)
        )
        if not pending or not admins:
            return 0
        lines = [
            f"- {d.meter.building.name} ({d.meter.get_kind_display()} {d.meter.identifier}), "
            f"{d.start:%d/%m/%Y} : {d.text}"
            for d in pending
        ]
        url = settings.BASE_URL.rstrip("/") + reverse(
            "energy:buildings", kwargs={"insee": commune.insee}
        )
        body = (
            f"Bonjour,\n\nCette semaine, {len(pending)} dérive(s) de consommation relevée(s) "
            f"dans les bâtiments de {commune.name} :\n\n" + "\n".join(lines) + "\n\n"
            f"Le détail, le modèle et la courbe de charge : {url}\n\n-- Clocher, énergie\n"
        )
        Drift.objects.filter(pk__in=[d.pk for d in pending]).update(mailed_at=timezone.now())
        audit.record(
            actor,
            "energy.drift_mail_sent",
            commune=commune,
            data={"drifts": len(pending), "to": len(admins)},
        )
        subject = f"Énergie : {len(pending)} dérive(s) dans les bâtiments de {commune.name}"
        transaction.on_commit(lambda: send_mail(subject, body, None, admins))
    return 1


def weekly_drift_round(actor: Actor) -> tuple[int, int]:
    """Every meter's detectors (refitting a missing baseline), then one mail per commune."""
    found = 0
    for meter in Meter.objects.exclude(kind=MeterKind.EAU).select_related("building__station"):
        if latest_baseline(meter) is None and meter.building.station is not None:
            with contextlib.suppress(ValidationError):
                fit_baseline(actor, meter)
        found += len(detect_drifts(actor, meter))
    mailed = sum(
        drift_mail(actor, c) for c in Commune.objects.filter(buildings__isnull=False).distinct()
    )
    return found, mailed


# --------------------------------------------------------------------------- what-if


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
        return thermal.what_if(cal, t, solar, PRICES_EUR_KWH), cal
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


# --------------------------------------------------------------------------- pages' data


def heatmap(meter: Meter, days: int = 91) -> tuple[list[date], np.ndarray]:
    """Local days × 24 hours of mean power in kW (NaN where not measured), last `days`."""
    last = LoadCurveDay.objects.filter(meter=meter).aggregate(last=Max("day"))["last"]
    if last is None:
        return [], np.zeros((0, 24))
    rows = list(
        LoadCurveDay.objects.filter(meter=meter, day__gt=last - timedelta(days=days))
        .order_by("day")
        .values_list("day", "first", "step_s", "values")
    )
    grid = np.full((len(rows), 24), np.nan)
    for i, (day, first, step, values) in enumerate(rows):
        wh = np.frombuffer(bytes(values), dtype="<f4").astype(np.float64)
        d_start, _ = day_bounds_utc(np.datetime64(day, "D"))
        starts = first + step * np.arange(wh.size)
        hour = ((starts + paris_offset_utc(starts)) % 86400) // 3600
        for h in range(24):
            mine = (hour == h) & np.isfinite(wh)
            if mine.any():
                grid[i, h] = wh[mine].sum() / 1000 / (mine.sum() * step / 3600)
    return [r[0] for r in rows], grid


def overview() -> list[dict[str, Any]]:
    """Every building of every commune with its figures, for the operator: a constant
    number of queries whatever the number of buildings (aggregates, no per-row query)."""
    last_year = (
        DailyReading.objects.values("meter__building")
        .annotate(first=Min("day"), last=Max("day"), kwh=Sum("kwh"))
        .order_by()
    )
    by_building = {row["meter__building"]: row for row in last_year}
    open_drifts = dict(
        Drift.objects.filter(acknowledged_at__isnull=True)
        .values("meter__building")
        .annotate(n=Count("id"))
        .values_list("meter__building", "n")
    )
    latest: dict[int, Any] = {}
    for b in Baseline.objects.order_by("meter__building", "-created_at").values(
        "meter__building", "fit", "cvrmse"
    ):
        latest.setdefault(b["meter__building"], b)
    rows = []
    for building in Building.objects.select_related("commune").annotate(
        meters_count=Count("meters")
    ):
        figures = by_building.get(building.pk, {})
        span = (figures["last"] - figures["first"]).days + 1 if figures else 0
        kwh_year = figures["kwh"] / span * 365 if span else None
        rows.append(
            {
                "building": building,
                "commune": building.commune,
                "meters": building.meters_count,
                "kwh_year": kwh_year,
                "kwh_m2": kwh_year / building.floor_area_m2 if kwh_year else None,
                "drifts": open_drifts.get(building.pk, 0),
                "fit": latest.get(building.pk, {}).get("fit"),
                "last": figures.get("last"),
            }
        )
    return rows


# --------------------------------------------------------------------------- forecast


FORECAST_HORIZON_MONTHS = 12


def monthly_points(building: Building) -> list[tuple[date, float]]:
    """The building's monthly kWh (all energies), full months only."""
    totals: dict[date, float] = defaultdict(float)
    counts: dict[date, int] = defaultdict(int)
    for day, kwh in DailyReading.objects.filter(
        meter__building=building, meter__kind__in=list(METER_ENERGY)
    ).values_list("day", "kwh"):
        month = day.replace(day=1)
        totals[month] += kwh
        counts[month] += 1
    return [(m, totals[m]) for m in sorted(totals) if counts[m] >= 27]


def forecast_next_year(actor: Actor, building: Building) -> dict[str, Any] | None:
    """Next year's consumption through the forecast app (None when it is not installed
    or the history is too short)."""
    try:
        from clocher.forecast import services as forecast
    except ImportError:  # pragma: no cover - the forecast app ships with this one
        return None
    points = monthly_points(building)
    if len(points) < 24:
        return None
    key = f"energy:building:{building.pk}"
    forecast.series_from_points(
        actor, building.commune, key, f"Consommation de {building.name}", points, unit="kWh"
    )
    made = forecast.forecast_for(building.commune, key, FORECAST_HORIZON_MONTHS, actor=actor)
    prediction = made.prediction or {}
    mean = prediction.get("mean") or []
    return {
        "kwh": float(sum(mean)),
        "low": float(sum(prediction.get("lower", {}).get("95", []) or [0])),
        "high": float(sum(prediction.get("upper", {}).get("95", []) or [0])),
        "model": made.model,
    }
