"""What supervision keeps between two scrapes or checks (nothing tenant-owned)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class ChainCheckpoint(models.Model):
    """How far the audit chain was verified, so that a scrape checks only what is new (and
    a rolling window of the old) instead of re-hashing the whole journal."""

    singleton = models.PositiveSmallIntegerField(default=1, unique=True, editable=False)
    verified_seq = models.PositiveBigIntegerField(default=0)
    verified_hash = models.CharField(max_length=64, blank=True)
    recheck_seq = models.PositiveBigIntegerField(default=0)
    checked_at = models.DateTimeField(null=True, blank=True)
    ok = models.BooleanField(default=True)
    detail = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(singleton=1), name="chain_checkpoint_singleton")
        ]

    def __str__(self) -> str:
        return f"chaîne vérifiée jusqu'à n°{self.verified_seq}"


class FiringAlert(models.Model):
    """An alert the platform mailed and that has not recovered yet: the unique key makes
    the mail go once, even with several nodes checking at the same time."""

    key = models.CharField(max_length=200, unique=True)
    message = models.CharField(max_length=500)
    since = models.DateTimeField()

    class Meta:
        ordering = ["since"]

    def __str__(self) -> str:
        return self.key
