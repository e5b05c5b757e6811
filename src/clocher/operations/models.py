"""What the operator sees of backups and drills: one row per run, its figures and outcome."""

from __future__ import annotations

from django.db import models


class Backup(models.Model):
    """One `clocher backup` (or its nightly run): the restic snapshot it made."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    repository = models.CharField(max_length=500)
    snapshot_id = models.CharField(max_length=64, blank=True)
    files = models.PositiveBigIntegerField(default=0)
    bytes_added = models.PositiveBigIntegerField(default=0)
    bytes_total = models.PositiveBigIntegerField(default=0)
    seconds = models.FloatField(default=0)
    ok = models.BooleanField(default=False)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(ok=True) | ~models.Q(snapshot_id=""),
                name="operations_backup_ok_has_snapshot",
            )
        ]

    def __str__(self) -> str:
        return f"sauvegarde {self.snapshot_id[:8] or '—'} du {self.started_at:%d/%m/%Y %H:%M}"


class Drill(models.Model):
    """One restore drill: the snapshot restored, RPO (its age when the drill began) and
    RTO (seconds until the restored copy answered on the web), and each check's result."""

    started_at = models.DateTimeField()
    snapshot_id = models.CharField(max_length=64)
    snapshot_time = models.DateTimeField()
    rpo_seconds = models.FloatField()
    rto_seconds = models.FloatField(null=True, blank=True)
    ok = models.BooleanField(default=False)
    checks = models.JSONField(default=list)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(rpo_seconds__gte=0), name="drill_rpo_gte_0")
        ]

    def __str__(self) -> str:
        return f"exercice du {self.started_at:%d/%m/%Y %H:%M}"
