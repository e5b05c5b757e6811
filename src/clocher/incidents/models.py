"""The operator's incident register: an incident spans communes, so it belongs to the
operator; the communes it affects see its notice while it is open."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from clocher.core.models import Commune


class Severity(models.TextChoices):
    MINOR = "mineur", "Mineur"
    MAJOR = "majeur", "Majeur"
    CRITICAL = "critique", "Critique"


class Incident(models.Model):
    title = models.CharField("intitulé", max_length=200)
    scope = models.TextField("périmètre (services, systèmes touchés)")
    severity = models.CharField(
        "gravité", max_length=10, choices=Severity.choices, default=Severity.MAJOR
    )
    started_at = models.DateTimeField("début")
    # Article 33 GDPR: the 72 hours run from when the controller became aware.
    detected_at = models.DateTimeField("constaté le")
    ended_at = models.DateTimeField("fin", null=True, blank=True)
    communes = models.ManyToManyField(Commune, related_name="incidents", blank=True)
    notice = models.TextField("avis affiché aux agents des communes touchées", blank=True)
    # What the CNIL notification needs when personal data are concerned.
    personal_data = models.BooleanField("violation de données personnelles", default=False)
    nature = models.TextField("nature de la violation", blank=True)
    data_categories = models.TextField("catégories de données", blank=True)
    person_categories = models.TextField("catégories de personnes", blank=True)
    persons_count = models.PositiveIntegerField("nombre approximatif de personnes", null=True)
    records_count = models.PositiveIntegerField("nombre approximatif d'enregistrements", null=True)
    consequences = models.TextField("conséquences probables", blank=True)
    measures = models.TextField("mesures prises ou envisagées", blank=True)
    created_by = models.CharField(max_length=254)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=F("started_at")),
                name="incident_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(severity__in=Severity.values), name="incident_severity_valid"
            ),
        ]
        indexes = [models.Index(fields=["ended_at"])]

    def __str__(self) -> str:
        return f"incident n°{self.pk} : {self.title}"

    @property
    def is_open(self) -> bool:
        return self.ended_at is None


class IncidentAction(models.Model):
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="actions")
    at = models.DateTimeField()
    text = models.TextField("action")
    actor_label = models.CharField(max_length=254)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.at:%d/%m/%Y %H:%M} {self.text[:40]}"
