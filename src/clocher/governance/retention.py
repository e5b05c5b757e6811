"""Retention: how long each class of data is kept, set once (CLOCHER_RETENTION_*_DAYS,
0 = without limit) and enforced by the hourly housekeeping of `clocher serve`. Each purge
deletes in one transaction with its journal entry (class, duration, count, commune), so
the register's durations are what really happens and a council can show it."""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, Max, OuterRef, QuerySet
from django.utils import timezone

from clocher.core import audit
from clocher.core.audit import Actor
from clocher.core.models import AuditEntry, Commune, Membership

HOUSEKEEPING = Actor(label="conservation des données")

# Counts of rows deleted, by commune id (None: the platform's own data).
Counts = Counter[int | None]


@dataclass(frozen=True)
class DataClass:
    key: str
    label: str
    setting: str
    purge: Callable[[datetime], Counts]
    note: str = ""
    journals_itself: bool = False  # its purge writes its own journal entries

    @property
    def days(self) -> int:
        return int(getattr(settings, self.setting))


@dataclass(frozen=True)
class Purged:
    data_class: DataClass
    counts: Counts

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _purge_logs(limit: datetime) -> Counts:
    from clocher.accounts.models import LoginAttempt

    deleted, _ = LoginAttempt.objects.filter(at__lt=limit).delete()
    return Counter({None: deleted}) if deleted else Counter()


def _per_commune(rows: QuerySet[Any]) -> Counts:
    """Rows counted by commune in the database (shield events run to millions)."""
    return Counter(dict(rows.values_list("commune_id").annotate(n=Count("pk")).order_by()))


def _purge_shield_events(limit: datetime) -> Counts:
    from clocher.shield.models import ShieldEvent

    old = ShieldEvent.objects.filter(at__lt=limit)
    counts = _per_commune(old)
    old.delete()
    return counts


def _purge_awareness(limit: datetime) -> Counts:
    """Campaigns older than the limit, with their recipients and events (their own
    deletion is awareness's: it journals each commune itself)."""
    from clocher.awareness.models import Campaign

    counts = _per_commune(Campaign.objects.filter(created_at__lt=limit))
    from clocher.awareness import services

    services.purge_expired(limit + timedelta(days=settings.RETENTION_AWARENESS_DAYS))
    return counts


def remove_after_commit(paths: list[Path]) -> None:
    """Files on disk (maildirs, calendars) go once the rows naming them are gone for good:
    a rolled-back deletion leaves them all in place."""

    def remove() -> None:
        for path in paths:
            shutil.rmtree(path, ignore_errors=True)

    transaction.on_commit(remove)


def departed_since(mailbox_user_id: int, commune: Commune) -> datetime | None:
    """When the person left the commune: their membership's deactivation, or the journal
    entry of its removal; None while they are still an active member."""
    membership = Membership.objects.filter(user_id=mailbox_user_id, commune=commune).first()
    if membership is not None:
        return None if membership.is_active else membership.deactivated_at
    from clocher.accounts.models import User

    email = User.objects.filter(pk=mailbox_user_id).values_list("email", flat=True).first()
    removed = AuditEntry.objects.filter(
        action="member.removed", commune=commune, target=email
    ).aggregate(at=Max("at"))["at"]
    return removed


def _purge_departed_mail(limit: datetime) -> Counts:
    """Personal mailboxes of agents who left the commune before the limit; the messages
    on disk go once the deletion is committed."""
    from clocher.mail import services
    from clocher.mail.models import Mailbox, MailboxKind

    vmail_dir = services.default_vmail_dir()
    counts: Counts = Counter()
    homes = []
    active = Membership.objects.filter(
        user=OuterRef("user"), commune=OuterRef("commune"), is_active=True
    )
    boxes = Mailbox.objects.filter(kind=MailboxKind.PERSONAL, user__isnull=False).exclude(
        Exists(active)
    )  # only the boxes of people no longer active there: one query, then one each
    for mailbox in boxes.select_related("domain", "commune"):
        since = departed_since(mailbox.user_id, mailbox.commune) if mailbox.user_id else None
        if since is not None and since < limit:
            homes.append(services.mailbox_home(mailbox, vmail_dir))
            counts[mailbox.commune_id] += 1
            mailbox.delete()
    remove_after_commit(homes)
    return counts


def _purge_eservices(limit: datetime) -> Counts:
    """Audits older than the limit, with their findings; each target's latest audit stays
    (it is the commune's current state, whatever its age)."""
    from clocher.eservices.models import Scan

    latest = Scan.objects.values("target_id").annotate(last=Max("pk")).values("last")
    old = Scan.objects.filter(finished_at__lt=limit).exclude(pk__in=latest)
    counts = _per_commune(old)
    old.delete()
    return counts


def _truncate_audit(limit: datetime) -> Counts:
    """The journal's oldest entries go with an anchor entry (`core.audit.truncate_before`),
    so that `clocher audit verify` and the supervision's check still verify the rest."""
    deleted = audit.truncate_before(HOUSEKEEPING, limit)
    return Counter({None: deleted}) if deleted else Counter()


CLASSES = (
    DataClass("journaux", "Journaux de connexion", "RETENTION_LOGS_DAYS", _purge_logs),
    DataClass(
        "bouclier",
        "Événements du bouclier",
        "RETENTION_SHIELD_EVENTS_DAYS",
        _purge_shield_events,
    ),
    DataClass(
        "sensibilisation",
        "Résultats de sensibilisation",
        "RETENTION_AWARENESS_DAYS",
        _purge_awareness,
        journals_itself=True,
    ),
    DataClass(
        "messagerie_partis",
        "Boîtes des agents partis",
        "RETENTION_DEPARTED_MAIL_DAYS",
        _purge_departed_mail,
        "comptée depuis le départ de l'agent",
    ),
    DataClass(
        "eservices",
        "Constats des e-services",
        "RETENTION_ESERVICES_DAYS",
        _purge_eservices,
        "le dernier audit de chaque cible est gardé",
    ),
    DataClass(
        "audit",
        "Journal d'audit",
        "RETENTION_AUDIT_DAYS",
        _truncate_audit,
        "le début retiré est remplacé par une ancre : la chaîne reste vérifiable",
        journals_itself=True,
    ),
)


def enforce(actor: Actor = HOUSEKEEPING, now: datetime | None = None) -> list[Purged]:
    """Apply every duration; one transaction and one journal entry per class and commune
    touched (awareness and the journal's truncation write their own)."""
    now = now or timezone.now()
    done = []
    for data_class in CLASSES:
        if data_class.days <= 0:
            continue
        limit = now - timedelta(days=data_class.days)
        with transaction.atomic():
            counts = data_class.purge(limit)
            communes = Commune.objects.in_bulk([c for c in counts if c is not None])
            if not data_class.journals_itself:
                for commune_id, count in sorted(counts.items(), key=lambda kv: kv[0] or 0):
                    audit.record(
                        actor,
                        "governance.retention_purged",
                        commune=communes.get(commune_id) if commune_id else None,
                        target=data_class.key,
                        data={"classe": data_class.label, "jours": data_class.days,
                              "supprimes": count},
                    )  # fmt: skip
        done.append(Purged(data_class, counts))
    return done


def summary(purged: list[Purged]) -> str:
    parts = [f"{p.data_class.label.lower()} : {p.total}" for p in purged]
    return "Conservation — " + " ; ".join(parts) + "."
