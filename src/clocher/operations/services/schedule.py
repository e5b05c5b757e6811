"""What `clocher serve` runs on its own: the nightly backup (then the retention), the
weekly read-back of a sample of the repository, the monthly drill.

Due-ness is read from the database (last successful backup, last check, last drill),
not from a timer: a platform that was down at 2 a.m. backs up as soon as it is back.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from clocher.core.audit import Actor
from clocher.core.models import AuditEntry
from clocher.operations.models import Backup, Drill

log = logging.getLogger("clocher.operations")
ACTOR = Actor(label="planificateur")


def _last_nightly_slot(now: datetime) -> datetime:
    local = timezone.localtime(now)
    slot = local.replace(hour=settings.BACKUP_HOUR, minute=0, second=0, microsecond=0)
    return slot if slot <= local else slot - timedelta(days=1)


def due(now: datetime) -> list[str]:
    """The jobs due at `now`: "backup", "check" (weekly), "drill" (monthly)."""
    if not settings.BACKUP_REPOSITORY:
        return []
    jobs = []
    last = Backup.objects.filter(ok=True).order_by("-started_at").first()
    if last is None or last.started_at < _last_nightly_slot(now):
        jobs.append("backup")
    checked = AuditEntry.objects.filter(action="operations.checked").order_by("-seq").first()
    if last is not None and (checked is None or checked.at < now - timedelta(days=7)):
        jobs.append("check")
    drilled = Drill.objects.order_by("-started_at").first()
    if last is not None and (drilled is None or drilled.started_at < now - timedelta(days=30)):
        jobs.append("drill")
    return jobs


def run_due(now: datetime | None = None) -> list[str]:
    from clocher.operations.services import drill, snapshot

    done = []
    for job in due(now or timezone.now()):
        try:
            if job == "backup":
                snapshot.take(ACTOR)
                snapshot.retain()
            elif job == "check":
                snapshot.verify(ACTOR)
            else:
                drill.run_drill(ACTOR)
            done.append(job)
        except Exception:  # noqa: BLE001 - logged, retried at the next wake-up
            log.exception("sauvegarde : %s en échec", job)
            if job == "backup":
                break
    return done


def loop(every: int) -> None:
    while True:
        close_old_connections()
        run_due()
        time.sleep(every)
