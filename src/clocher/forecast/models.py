"""Forecast app: a commune's series (uploaded or fed by another app) and the forecasts
made on them, each stored with the data version it was computed on.

A series keeps its data as JSON with `data_version` = SHA-256 of its canonical encoding,
so a forecast names exactly what it saw; when the data changes later, the forecasts made
on earlier versions are compared with what happened (`Forecast.realised`).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from clocher.core.models import Commune


class Frequency(models.TextChoices):
    DAY = "D", "journalière"
    WEEK = "W", "hebdomadaire"
    MONTH = "MS", "mensuelle"
    QUARTER = "QS", "trimestrielle"
    YEAR = "YS", "annuelle"


class SeriesSource(models.TextChoices):
    UPLOAD = "upload", "Fichier envoyé"
    APP = "app", "Autre service de Clocher"


class Series(models.Model):
    """One municipal series. `key` is unique per commune: "upload:<slug>" for a file sent
    from the page, the CLI or the API; "<app>:<what>" (e.g. "energy:building:12",
    "finance:epargne_brute") when another app feeds it through `series_from_points`."""

    commune = models.ForeignKey(Commune, on_delete=models.CASCADE, related_name="forecast_series")
    key = models.CharField("clé", max_length=120)
    name = models.CharField("nom", max_length=200)
    unit = models.CharField("unité", max_length=40, blank=True)
    frequency = models.CharField("fréquence", max_length=2, choices=Frequency.choices)
    source = models.CharField("origine", max_length=8, choices=SeriesSource.choices)
    filename = models.CharField("fichier d'origine", max_length=255, blank=True)
    # {"dates": ["2024-01-01", …], "values": [12.0, …], "regressors": {name: […]}}
    data = models.JSONField(default=dict)
    data_version = models.CharField("version des données", max_length=64)
    points = models.PositiveIntegerField("nombre de points")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_by_label = models.CharField(max_length=254)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = "série"
        constraints = [
            models.UniqueConstraint(fields=["commune", "key"], name="forecast_series_key_unique"),
            models.CheckConstraint(
                condition=Q(frequency__in=Frequency.values), name="forecast_series_freq_valid"
            ),
            models.CheckConstraint(
                condition=Q(source__in=SeriesSource.values), name="forecast_series_source_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ForecastStatus(models.TextChoices):
    QUEUED = "queued", "En attente"
    RUNNING = "running", "Calcul en cours"
    DONE = "done", "Terminée"
    FAILED = "failed", "Échec"


class Forecast(models.Model):
    """A forecast of `series` as its data stood at `data_version`: the chosen model, the
    backtest scores of every candidate, the point forecast with its intervals, the
    model card and the CPU time it took. Never changed once done, except `realised`,
    which compares it with the actuals a later data version brought."""

    commune = models.ForeignKey(Commune, on_delete=models.CASCADE, related_name="forecasts")
    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="forecasts")
    data_version = models.CharField("version des données", max_length=64)
    horizon = models.PositiveSmallIntegerField("horizon")
    status = models.CharField(
        max_length=8, choices=ForecastStatus.choices, default=ForecastStatus.QUEUED
    )
    model = models.CharField("modèle retenu", max_length=60, blank=True)
    scores = models.JSONField("scores du rétro-test", default=list)
    # {"dates": […], "mean": […], "lower": {"80": […], "95": […]}, "upper": {…}}
    prediction = models.JSONField("prévision et intervalles", default=dict)
    calibration = models.CharField("calibrage des intervalles", max_length=200, blank=True)
    explanation = models.TextField("explication", blank=True)
    warnings = models.JSONField(default=list)
    card = models.JSONField("fiche du modèle", default=dict)
    cpu_seconds = models.FloatField("temps de calcul (s CPU)", null=True, blank=True)
    realised = models.JSONField("prévu et réalisé", default=dict)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_by_label = models.CharField(max_length=254)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["series", "data_version", "horizon"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=ForecastStatus.values), name="forecast_status_valid"
            ),
            models.CheckConstraint(condition=Q(horizon__gte=1), name="forecast_horizon_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.series} +{self.horizon} ({self.status})"

    @property
    def pending(self) -> bool:
        return self.status in (ForecastStatus.QUEUED, ForecastStatus.RUNNING)
