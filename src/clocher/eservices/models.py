"""What a commune exposes to citizens (targets) and what each audit found on them."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from clocher.core.models import Commune


class Kind(models.TextChoices):
    URL = "url", "Site web"
    DOMAIN = "domain", "Domaine de messagerie"
    IP = "ip", "Adresse IP publique"


class Severity(models.TextChoices):
    INFO = "info", "Information"
    LOW = "faible", "Faible"
    MEDIUM = "moyenne", "Moyenne"
    HIGH = "haute", "Haute"
    CRITICAL = "critique", "Critique"


class Target(models.Model):
    """One public thing to audit. Never scanned before `confirmed_at` is set: scanning
    someone else's server would be an attack, so ownership is proven first."""

    commune = models.ForeignKey(Commune, on_delete=models.CASCADE, related_name="es_targets")
    kind = models.CharField("type", max_length=10, choices=Kind.choices)
    value = models.CharField("cible", max_length=500)
    token = models.CharField("jeton de vérification", max_length=64)
    # A mail domain's DKIM selectors, comma-separated: DNS cannot list them.
    dkim_selectors = models.CharField("sélecteurs DKIM", max_length=200, blank=True)
    confirmed_at = models.DateTimeField("propriété confirmée le", null=True, blank=True)
    confirmed_by = models.CharField(max_length=254, blank=True)
    confirmed_how = models.CharField("preuve", max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["commune__insee", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["commune", "kind", "value"], name="es_target_unique"),
            models.CheckConstraint(condition=Q(kind__in=Kind.values), name="es_target_kind_valid"),
            models.CheckConstraint(
                condition=Q(confirmed_at__isnull=True) | ~Q(confirmed_how=""),
                name="es_target_confirmed_with_proof",
            ),
        ]

    def __str__(self) -> str:
        return f"cible n°{self.pk} ({self.get_kind_display()} {self.value})"

    @property
    def is_confirmed(self) -> bool:
        return self.confirmed_at is not None


class Scan(models.Model):
    """One audit of one target; its findings are replaced by the next scan's."""

    target = models.ForeignKey(Target, on_delete=models.CASCADE, related_name="scans")
    commune = models.ForeignKey(Commune, on_delete=models.CASCADE, related_name="es_scans")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    score = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["-started_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(score__lte=100), name="es_scan_score_range"),
        ]
        indexes = [models.Index(fields=["target", "-started_at"])]

    def __str__(self) -> str:
        return f"audit n°{self.pk} de la cible n°{self.target_id}"


class Finding(models.Model):
    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="findings")
    commune = models.ForeignKey(Commune, on_delete=models.CASCADE, related_name="es_findings")
    code = models.CharField(max_length=60)
    severity = models.CharField("gravité", max_length=10, choices=Severity.choices)
    title = models.CharField("constat", max_length=300)
    explanation = models.TextField("explication")
    fix = models.TextField("correction")

    class Meta:
        ordering = ["scan", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(severity__in=Severity.values), name="es_finding_severity_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.severity})"


class CommuneScore(models.Model):
    """The commune's score as it stood at the end of each day it was audited: the trend
    the commune page, the API and the monthly PDF show (kept, never overwritten by a
    later day)."""

    commune = models.ForeignKey(Commune, on_delete=models.CASCADE, related_name="es_scores")
    day = models.DateField("jour")
    score = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["commune", "day"]
        constraints = [
            models.UniqueConstraint(fields=["commune", "day"], name="es_score_one_per_day"),
            models.CheckConstraint(condition=Q(score__lte=100), name="es_score_range"),
        ]

    def __str__(self) -> str:
        return f"{self.commune_id} {self.day:%d/%m/%Y} : {self.score}/100"
