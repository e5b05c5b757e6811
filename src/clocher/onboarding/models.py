"""Adhésion: a commune's application, its review, and the provisioning run it starts."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from clocher.core.models import Commune

SERVICE_CHOICES = [
    ("mail", "Messagerie"),
    ("vault", "Coffre-fort numérique"),
    ("shield", "Boîtier de sécurité"),
]


class ApplicationStatus(models.TextChoices):
    PENDING = "pending", "En attente"
    APPROVED = "approved", "Approuvée"
    REJECTED = "rejected", "Refusée"


class Application(models.Model):
    commune = models.ForeignKey(Commune, on_delete=models.CASCADE, related_name="applications")
    contact_name = models.CharField("nom du contact", max_length=200)
    contact_email = models.EmailField("courriel du contact")
    contact_phone = models.CharField("téléphone", max_length=30, blank=True)
    contact_role = models.CharField("fonction du contact", max_length=120, blank=True)
    agents_count = models.PositiveIntegerField("nombre d'agents et d'élus")
    services = models.JSONField("services souhaités", default=list)
    message = models.TextField("message", blank=True)
    status = models.CharField(
        max_length=10, choices=ApplicationStatus.choices, default=ApplicationStatus.PENDING
    )
    rejection_reason = models.TextField(blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=ApplicationStatus.values), name="application_status_valid"
            ),
            models.UniqueConstraint(
                fields=["commune"],
                condition=Q(status="pending"),
                name="application_one_pending_per_commune",
            ),
        ]

    def __str__(self) -> str:
        return f"Adhésion de {self.commune.name}"


class RunStatus(models.TextChoices):
    PENDING = "pending", "En attente"
    RUNNING = "running", "En cours"
    DONE = "done", "Terminé"
    FAILED = "failed", "En échec"


class ProvisioningRun(models.Model):
    commune = models.ForeignKey(Commune, on_delete=models.CASCADE, related_name="runs")
    application = models.ForeignKey(
        Application, on_delete=models.SET_NULL, null=True, blank=True, related_name="runs"
    )
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=RunStatus.values), name="run_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"Provisionnement de {self.commune.name}"


class ProvisioningStep(models.Model):
    run = models.ForeignKey(ProvisioningRun, on_delete=models.CASCADE, related_name="steps")
    name = models.CharField(max_length=40)
    label = models.CharField(max_length=120)
    position = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.PENDING)
    detail = models.TextField(blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["run", "name"], name="step_unique_per_run"),
            models.CheckConstraint(
                condition=Q(status__in=RunStatus.values), name="step_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.label


class CommuneExport(models.Model):
    """A departure export: the commune's data as a zip, kept for the operator."""

    commune = models.ForeignKey(Commune, on_delete=models.CASCADE, related_name="exports")
    path = models.CharField(max_length=500)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Export de {self.commune.name} ({self.created_at:%Y-%m-%d})"
