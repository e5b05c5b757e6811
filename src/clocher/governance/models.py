"""The register of processing activities (GDPR art. 30): one row per processing, for a
commune (its own register, the commune being the controller) or for the operator
(commune empty). Rows are prefilled from `catalogue.py` and then belong to their editors."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from clocher.core.models import Commune


class ProcessingActivity(models.Model):
    commune = models.ForeignKey(
        Commune, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    key = models.CharField(max_length=40)
    position = models.PositiveSmallIntegerField(default=0)
    name = models.CharField("traitement", max_length=200)
    purpose = models.TextField("finalité")
    legal_basis = models.TextField("base légale")
    data_categories = models.TextField("catégories de données")
    people = models.TextField("personnes concernées")
    recipients = models.TextField("destinataires")
    transfers = models.TextField("transferts hors de l'Union européenne")
    retention = models.TextField("durée de conservation")
    security = models.TextField("mesures de sécurité")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=254, blank=True)

    class Meta:
        ordering = ["position", "key"]
        constraints = [
            models.UniqueConstraint(
                fields=["commune", "key"],
                condition=Q(commune__isnull=False),
                name="governance_activity_one_per_commune",
            ),
            models.UniqueConstraint(
                fields=["key"],
                condition=Q(commune__isnull=True),
                name="governance_activity_one_for_operator",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Analytic(models.TextChoices):
    """The analytics whose CPU time the sobriety figures count (forecasts keep theirs on
    their own rows)."""

    ENERGY = "energy", "énergie (références)"
    FINANCE = "finance", "finances (indicateurs de la dette)"
    ESERVICES = "eservices", "e-services (audits)"
    AWARENESS = "awareness", "sensibilisation (campagnes, cotes)"


class AnalyticsRun(models.Model):
    """The CPU time one run of an analytic took, for a commune (empty: the operator's own
    book): the sobriety figures add them up, measured, never guessed."""

    commune = models.ForeignKey(
        Commune, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    analytic = models.CharField(max_length=20, choices=Analytic.choices)
    cpu_seconds = models.FloatField("temps de calcul (s CPU)")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(analytic__in=Analytic.values), name="governance_run_analytic_valid"
            ),
            models.CheckConstraint(
                condition=Q(cpu_seconds__gte=0), name="governance_run_cpu_not_negative"
            ),
        ]
        indexes = [models.Index(fields=["commune", "analytic"])]

    def __str__(self) -> str:
        return f"{self.analytic} {self.cpu_seconds:.3f} s CPU"
