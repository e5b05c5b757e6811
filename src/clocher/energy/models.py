"""Buildings, meters, readings, weather, baselines, drifts and what-if actions.

Storage of readings, sized for 1,000 meters × 2 years × 48 half-hours (35 M values):
- `DailyReading`: one row per meter and local day (730,000 rows) — what the models,
  the pages and the décret tertiaire read;
- `LoadCurveDay`: the raw load curve, one row per meter and local day holding the
  day's steps as a little-endian float32 array of Wh (NaN where nothing was measured):
  730,000 rows of ~200 bytes instead of 35 M rows of ~60 bytes plus their index, and a
  re-import replaces whole days in one statement. The heat map reads one row per day.
- `PeriodReading`: indexes and invoices (consumption over [start, end)), which is how
  the reference years of 2010–2019 are usually known.
Weather is shared (not a tenant's): Météo-France stations and their daily temperatures.
"""

from __future__ import annotations

import numpy as np
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q

from clocher.core.models import Commune


class Use(models.TextChoices):
    MAIRIE = "mairie", "Mairie / bureaux"
    ECOLE = "ecole", "École"
    SALLE = "salle", "Salle des fêtes"
    SPORT = "sport", "Équipement sportif"
    AUTRE = "autre", "Autre"


class Energy(models.TextChoices):
    GAZ = "gaz_naturel", "Gaz naturel"
    ELEC = "electricite", "Électricité"
    FIOUL = "fioul", "Fioul"
    RESEAU = "reseau_chaleur", "Réseau de chaleur"
    BOIS = "bois", "Bois"


class WeatherStation(models.Model):
    """A Météo-France station (NUM_POSTE): shared by every commune."""

    num_poste = models.CharField("numéro de poste", max_length=12, unique=True)
    name = models.CharField("nom", max_length=120)
    lat = models.FloatField("latitude")
    lon = models.FloatField("longitude")
    alti = models.FloatField("altitude", default=0)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.num_poste})"


class WeatherDay(models.Model):
    station = models.ForeignKey(WeatherStation, on_delete=models.CASCADE, related_name="days")
    day = models.DateField()
    tn = models.FloatField(null=True)
    tx = models.FloatField(null=True)
    tm = models.FloatField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["station", "day"], name="energy_weather_day_unique")
        ]

    def __str__(self) -> str:
        return f"{self.station_id} {self.day}"


class Building(models.Model):
    commune = models.ForeignKey(Commune, on_delete=models.CASCADE, related_name="buildings")
    name = models.CharField("nom", max_length=120)
    use = models.CharField("usage", max_length=12, choices=Use.choices, default=Use.MAIRIE)
    floor_area_m2 = models.FloatField("surface de plancher (m²)", validators=[MinValueValidator(1)])
    year_built = models.PositiveIntegerField("année de construction", null=True, blank=True)
    heating_energy = models.CharField(
        "énergie de chauffage", max_length=16, choices=Energy.choices, default=Energy.GAZ
    )
    address = models.CharField("adresse", max_length=250, blank=True)
    insee = models.CharField("code INSEE du site", max_length=5, blank=True)
    lat = models.FloatField("latitude", null=True, blank=True)
    lon = models.FloatField("longitude", null=True, blank=True)
    reference_year = models.PositiveIntegerField(
        "année de référence (décret tertiaire)",
        null=True,
        blank=True,
        validators=[MinValueValidator(2010), MaxValueValidator(2019)],
    )
    station = models.ForeignKey(
        WeatherStation, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["commune", "name"], name="energy_building_name"),
            models.CheckConstraint(
                condition=Q(reference_year__isnull=True)
                | Q(reference_year__gte=2010, reference_year__lte=2019),
                name="energy_building_reference_year",
            ),
            models.CheckConstraint(condition=Q(floor_area_m2__gt=0), name="energy_building_area"),
        ]

    def __str__(self) -> str:
        return self.name


class MeterKind(models.TextChoices):
    ELEC = "electricite", "Électricité (PDL)"
    GAZ = "gaz", "Gaz (PCE)"
    CHALEUR = "chaleur", "Chaleur"
    EAU = "eau", "Eau"


#: The meter kind's energy in the décret tertiaire's vocabulary (water counts for nothing).
METER_ENERGY = {
    MeterKind.ELEC: "electricite",
    MeterKind.GAZ: "gaz_naturel",
    MeterKind.CHALEUR: "reseau_chaleur",
}


class Meter(models.Model):
    commune = models.ForeignKey(Commune, on_delete=models.CASCADE, related_name="meters")
    building = models.ForeignKey(Building, on_delete=models.CASCADE, related_name="meters")
    kind = models.CharField("nature", max_length=12, choices=MeterKind.choices)
    identifier = models.CharField("identifiant (PDL, PCE…)", max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["building__name", "kind", "identifier"]
        constraints = [
            models.UniqueConstraint(
                fields=["commune", "kind", "identifier"], name="energy_meter_identifier"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=MeterKind.values), name="energy_meter_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.identifier}"


class DailyReading(models.Model):
    commune = models.ForeignKey(Commune, on_delete=models.CASCADE, related_name="+")
    meter = models.ForeignKey(Meter, on_delete=models.CASCADE, related_name="daily")
    day = models.DateField()
    kwh = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["meter", "day"], name="energy_daily_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.meter_id} {self.day} : {self.kwh} kWh"


class LoadCurveDay(models.Model):
    """One local day of a meter's load curve: `values` = float32 Wh per step from `first`."""

    commune = models.ForeignKey(Commune, on_delete=models.CASCADE, related_name="+")
    meter = models.ForeignKey(Meter, on_delete=models.CASCADE, related_name="curve")
    day = models.DateField()
    first = models.BigIntegerField("début du premier pas (UTC, s)")
    step_s = models.PositiveIntegerField("pas (s)")
    values = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["meter", "day"], name="energy_curve_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.meter_id} {self.day} ({self.step_s} s)"

    def wh(self) -> np.ndarray:
        return np.frombuffer(bytes(self.values), dtype="<f4")


class PeriodReading(models.Model):
    """Consumption over [start, end) from an index file or an invoice."""

    commune = models.ForeignKey(Commune, on_delete=models.CASCADE, related_name="+")
    meter = models.ForeignKey(Meter, on_delete=models.CASCADE, related_name="periods")
    start = models.DateField()
    end = models.DateField()
    kwh = models.FloatField()
    amount_eur = models.FloatField(null=True, blank=True)
    source = models.CharField(max_length=12)  # "index" | "factures"

    class Meta:
        ordering = ["start"]
        constraints = [
            models.UniqueConstraint(
                fields=["meter", "source", "start", "end"], name="energy_period_unique"
            ),
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="energy_period_order"),
        ]

    def __str__(self) -> str:
        return f"{self.meter_id} {self.start}–{self.end} : {self.kwh} kWh"


class ImportKind(models.TextChoices):
    COURBE = "courbe", "Courbe de charge Enedis"
    INDEX = "index", "Index journaliers ou mensuels"
    FACTURES = "factures", "Factures (CSV)"
    METEO = "meteo", "Météo-France (quotidien)"


class ImportStatus(models.TextChoices):
    QUEUED = "queued", "En attente"
    RUNNING = "running", "En cours"
    DONE = "done", "Terminé"
    FAILED = "failed", "Refusé"


class EnergyImport(models.Model):
    """A file handed to the import task; its payload is dropped once it has run."""

    commune = models.ForeignKey(Commune, on_delete=models.CASCADE, related_name="+")
    meter = models.ForeignKey(Meter, on_delete=models.CASCADE, null=True, blank=True)
    kind = models.CharField(max_length=10, choices=ImportKind.choices)
    filename = models.CharField(max_length=200)
    payload = models.BinaryField(default=b"")
    status = models.CharField(
        max_length=8, choices=ImportStatus.choices, default=ImportStatus.QUEUED
    )
    step = models.CharField("étape en cours", max_length=120, blank=True)
    percent = models.PositiveSmallIntegerField(default=0)
    report = models.JSONField(default=dict)
    created_by_label = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.filename} ({self.get_kind_display()})"


class Baseline(models.Model):
    """A fitted model of a meter over a 12-month period, with its ASHRAE G14 metrics."""

    commune = models.ForeignKey(Commune, on_delete=models.CASCADE, related_name="+")
    meter = models.ForeignKey(Meter, on_delete=models.CASCADE, related_name="baselines")
    start = models.DateField()
    end = models.DateField()
    granularity = models.CharField(max_length=8, default="daily")
    model_kind = models.CharField(max_length=16)
    params = models.JSONField(default=dict)
    cvrmse = models.FloatField()
    nmbe = models.FloatField()
    r2 = models.FloatField()
    n = models.PositiveIntegerField()
    fit = models.BooleanField()
    verdict = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        get_latest_by = "created_at"

    def __str__(self) -> str:
        return f"{self.meter_id} {self.start}–{self.end} {self.model_kind}"


class Drift(models.Model):
    commune = models.ForeignKey(Commune, on_delete=models.CASCADE, related_name="+")
    meter = models.ForeignKey(Meter, on_delete=models.CASCADE, related_name="drifts")
    kind = models.CharField(max_length=20)
    start = models.DateField()
    end = models.DateField()
    value = models.FloatField()
    expected = models.FloatField()
    text = models.CharField(max_length=400)
    detected_at = models.DateTimeField(auto_now_add=True)
    mailed_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by_label = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-start"]
        constraints = [
            models.UniqueConstraint(fields=["meter", "kind", "start"], name="energy_drift_unique"),
        ]

    def __str__(self) -> str:
        return self.text


class Action(models.Model):
    """A what-if answer the commune kept (or a retrofit it recorded)."""

    commune = models.ForeignKey(Commune, on_delete=models.CASCADE, related_name="+")
    building = models.ForeignKey(Building, on_delete=models.CASCADE, related_name="actions")
    measure = models.CharField(max_length=40)
    kwh_saved = models.FloatField()
    eur_saved = models.FloatField()
    co2_kg_saved = models.FloatField()
    kwh_uncertainty = models.FloatField()
    created_by_label = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.building_id} {self.measure}"
