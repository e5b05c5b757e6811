"""What Clocher knows of the groupware: the bookable resources of each commune.

Calendars and address books themselves live in Radicale's storage (see `layout`); only
what the platform decides, and must scope by commune, is a row here.
"""

from __future__ import annotations

from django.db import models

from clocher.core.models import Commune


class Resource(models.Model):
    """A room or a vehicle that members book by putting an event in its calendar."""

    commune = models.ForeignKey(Commune, on_delete=models.CASCADE, related_name="resources")
    slug = models.SlugField("identifiant", max_length=60)
    name = models.CharField("nom", max_length=120)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["commune", "slug"], name="resource_unique_slug"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.commune})"
