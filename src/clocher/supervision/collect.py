"""One snapshot of everything supervision watches, read in a constant number of queries.

Both the /metrics exposition and the platform's own alert mail read this snapshot, so
Prometheus's rules (deploy/prometheus/rules.yml) and the mail see the same figures.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.db.models import Count, Q, Sum
from django.utils import timezone

from clocher.core import health

# Postfix's queues, as `postqueue -j` names them.
QUEUES = ("maildrop", "incoming", "active", "deferred", "hold")


@dataclass
class BoxState:
    box_id: str
    hostname: str
    commune: str
    heartbeat_age: float
    blocked_sources: int
    blocked_flows_today: int


@dataclass
class CommuneVolume:
    insee: str
    vault_used: int = 0
    vault_quota: int = 0
    archive_objects: int = 0
    archive_bytes: int = 0


@dataclass
class Snapshot:
    at: dt.datetime
    components: list[health.Health]
    mail_traffic: dict[str, int]
    mail_queue: dict[str, int] | None  # None: Postfix not asked (disabled) or not answering
    volumes: list[CommuneVolume]
    archive_audit_ok: bool | None  # None: never audited
    archive_audit_age: float
    chain_ok: bool
    chain_verified: int
    chain_detail: str
    backup_age: float  # seconds since the last good backup; +inf: never
    drill_age: float
    boxes: list[BoxState]
    disk_size: int
    disk_free: int
    notes: list[str] = field(default_factory=list)

    @property
    def mail_queue_total(self) -> int:
        return sum((self.mail_queue or {}).values())


# --------------------------------------------------------------------------- backups


@dataclass
class BackupStatus:
    last_backup: dt.datetime | None
    last_drill: dt.datetime | None


BackupProvider = Callable[[], BackupStatus]
_backup_provider: list[BackupProvider] = []


def register_backup_status(provider: BackupProvider) -> BackupProvider:
    """The backup app says when its last good backup and drill ended (the last one
    registered wins); without it, the operations models are read if they exist."""
    _backup_provider.append(provider)
    return provider


def _backup_status() -> BackupStatus:
    if _backup_provider:
        return _backup_provider[-1]()
    try:
        backup = apps.get_model("operations", "Backup")
        drill = apps.get_model("operations", "Drill")
    except LookupError:
        return BackupStatus(None, None)
    last_backup = (
        backup.objects.filter(ok=True).order_by("-finished_at").values_list(
            "finished_at", flat=True
        ).first()
    )  # fmt: skip
    last_drill = (
        drill.objects.filter(ok=True).order_by("-started_at").values_list(
            "started_at", flat=True
        ).first()
    )  # fmt: skip
    return BackupStatus(last_backup, last_drill)


def _age(now: dt.datetime, when: dt.datetime | None) -> float:
    return (now - when).total_seconds() if when is not None else math.inf


# --------------------------------------------------------------------------- mail


def mail_queue() -> dict[str, int] | None:
    """Messages in each Postfix queue of this installation (`postqueue -j` against its own
    config dir), or None when mail is off or Postfix does not answer."""
    if not settings.MAIL_ENABLED:
        return None
    conf = Path(settings.MAIL_DIR) / "postfix" / "conf"
    if not (conf / "main.cf").exists():
        return None
    try:
        done = subprocess.run(  # noqa: S603 - fixed program, our own config dir
            ["/usr/sbin/postqueue", "-c", str(conf), "-j"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    counts: Counter[str] = Counter({name: 0 for name in QUEUES})
    for line in done.stdout.splitlines():
        try:
            counts[str(json.loads(line).get("queue_name", "inconnue"))] += 1
        except ValueError:
            continue
    return dict(counts)


def _mail_traffic() -> dict[str, int]:
    from clocher.mail.models import MailTrafficDay
    from clocher.mail.traffic import COUNTERS

    totals = MailTrafficDay.objects.aggregate(**{name: Sum(name) for name in COUNTERS})
    return {name: int(totals[name] or 0) for name in COUNTERS}


# --------------------------------------------------------------------------- volumes, boxes


def _volumes() -> list[CommuneVolume]:
    from clocher.archive.models import ObjectState
    from clocher.core.models import Commune

    rows = Commune.objects.annotate(
        archive_objects=Count("archives", filter=Q(archives__state=ObjectState.SEALED)),
        archive_bytes=Sum("archives__size", filter=Q(archives__state=ObjectState.SEALED)),
    ).values_list(
        "insee", "vault_usage__used_bytes", "quota_storage_bytes", "archive_objects",
        "archive_bytes",
    )  # fmt: skip
    return [
        CommuneVolume(insee, used or 0, quota or 0, objects or 0, size or 0)
        for insee, used, quota, objects, size in rows.order_by("insee")
    ]


def _archive_audit(now: dt.datetime) -> tuple[bool | None, float]:
    from clocher.archive.journal import Event
    from clocher.archive.models import JournalEntry

    last = (
        JournalEntry.objects.filter(event=Event.INTEGRITY, archived_object__isnull=True)
        .order_by("-seq")
        .values_list("at", "data")
        .first()
    )
    if last is None:
        return None, math.inf
    at, data = last
    ok = not data.get("alteres") and data.get("journal") == "intègre"
    return ok, _age(now, at)


def _boxes(now: dt.datetime) -> list[BoxState]:
    from clocher.shield import services
    from clocher.shield.models import Box

    boxes = Box.objects.filter(revoked_at__isnull=True).select_related("commune")
    today = services.local_day_start(timezone.localdate(now))
    flows = services.flows_between(boxes, today, today + dt.timedelta(days=1))
    return [
        BoxState(
            str(box.pk),
            box.hostname,
            box.commune.insee,
            _age(now, box.last_seen or box.enrolled_at),
            int((box.health or {}).get("blocked") or 0),
            flows.get(box.pk, 0),
        )
        for box in boxes.order_by("commune__insee", "hostname")
    ]


def snapshot(now: dt.datetime | None = None) -> Snapshot:
    """Everything at once; a probe or a part that fails is reported, never raised."""
    from clocher.supervision import chain

    now = now or timezone.now()
    audit_ok, audit_age = _archive_audit(now)
    checkpoint = chain.check(now)
    backups = _backup_status()
    disk = shutil.disk_usage(settings.DATA_DIR)
    return Snapshot(
        at=now,
        components=health.run_all(),
        mail_traffic=_mail_traffic(),
        mail_queue=mail_queue(),
        volumes=_volumes(),
        archive_audit_ok=audit_ok,
        archive_audit_age=audit_age,
        chain_ok=checkpoint.ok,
        chain_verified=checkpoint.verified_seq,
        chain_detail=checkpoint.detail,
        backup_age=_age(now, backups.last_backup),
        drill_age=_age(now, backups.last_drill),
        boxes=_boxes(now),
        disk_size=disk.total,
        disk_free=disk.free,
    )
