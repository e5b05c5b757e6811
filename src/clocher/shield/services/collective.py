"""Collective defence: a source that attacked one commune blocked at every box; manual
blocks; expiry."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from clocher.core import audit
from clocher.core.audit import Actor
from clocher.core.models import Commune
from clocher.shield.models import (
    BlockEntry,
    Box,
)
from clocher.shield.services.allowlist import allowlisted, parse_prefix
from clocher.shield.services.keys import bump_policy

# Scenarios whose decision means "this source attacked a commune": the source is then
# blocked at every box of the département (collective defence). Country policy, lists
# and manual blocks say nothing about the source's behaviour; `mail-bruteforce` and
# `collective` come from the central itself, and a box reports the entries it applies
# as decisions too: counting them would echo the central's own list back.
ATTACK_SCENARIOS = frozenset({"port-scan", "ssh-bruteforce"})


def collective_expiry() -> dt.datetime:
    return timezone.now() + dt.timedelta(hours=settings.SHIELD_COLLECTIVE_HOURS)


def upsert_block(
    actor: Actor,
    source: str,
    scenario: str,
    reason: str,
    *,
    origin_commune: Commune | None = None,
    expires_at: dt.datetime | None = None,
) -> tuple[BlockEntry, bool]:
    """Add or extend one entry of the collective list (see `upsert_blocks`)."""
    return upsert_blocks(
        actor, scenario, {source: reason}, origin_commune=origin_commune, expires_at=expires_at
    )[0]


def upsert_blocks(
    actor: Actor,
    scenario: str,
    reasons: dict[str, str],
    *,
    reported_by: Box | None = None,
    origin_commune: Commune | None = None,
    expires_at: dt.datetime | None = None,
) -> list[tuple[BlockEntry, bool]]:
    """Add or extend entries of the collective list (source → reason); True when new.

    New entries are audited (they reach every box), as is an expired one that comes
    back; repeated reports extend the expiry. The caller bumps the policy version.
    """
    expires_at = expires_at or collective_expiry()
    now = timezone.now()
    result = []
    with transaction.atomic():
        # Rows locked, and new ones inserted, in the order of their source: two boxes
        # reporting the same sources in other orders each waited on the other's rows.
        known = {
            entry.source: entry
            for entry in BlockEntry.objects.select_for_update()
            .filter(feed__isnull=True, scenario=scenario, source__in=list(reasons))
            .order_by("source")
        }
        for entry in known.values():
            lapsed = entry.expires_at is not None and entry.expires_at <= now
            if entry.expires_at is not None:  # a permanent entry stays permanent
                entry.expires_at = max(entry.expires_at, expires_at)
            entry.reports += 1
            result.append((entry, lapsed))
        BlockEntry.objects.bulk_update(known.values(), ["expires_at", "reports"])
        missing = sorted(source for source in reasons if source not in known)
        # Another box's batch may add the same source at the same moment (PostgreSQL):
        # its row stands, this batch still succeeds.
        BlockEntry.objects.bulk_create(
            (
                BlockEntry(
                    source=source,
                    scenario=scenario,
                    reason=reasons[source][:300],
                    reported_by=reported_by,
                    origin_commune=origin_commune,
                    expires_at=expires_at,
                )
                for source in missing
            ),
            ignore_conflicts=True,
        )
        result += [
            (entry, True)
            for entry in BlockEntry.objects.filter(
                feed__isnull=True, scenario=scenario, source__in=missing
            )
        ]
        for entry, new in result:
            if new:
                audit.record(
                    actor,
                    "shield.collective_block",
                    commune=origin_commune,
                    target=entry.source,
                    data={"scenario": scenario, "expires": expires_at.isoformat()},
                )
    order = {source: index for index, source in enumerate(reasons)}
    return sorted(result, key=lambda pair: order[pair[0].source])


def add_manual_block(actor: Actor, prefix: str, reason: str, hours: int | None) -> BlockEntry:
    try:
        network = parse_prefix(prefix)
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc
    touching = allowlisted(network)
    if touching is not None:
        raise ValidationError(f"{network} touche la liste d'autorisation ({touching}) : refusé.")
    expires = timezone.now() + dt.timedelta(hours=hours) if hours else None
    with transaction.atomic():
        entry = BlockEntry.objects.filter(feed__isnull=True, scenario="manual", source=str(network))
        if entry.exists():
            raise ValidationError(f"{network} est déjà bloqué manuellement.")
        created = BlockEntry.objects.create(
            source=str(network), scenario="manual", reason=reason[:300], expires_at=expires
        )
        audit.record(actor, "shield.manual_block", target=str(network), data={"reason": reason})
        bump_policy()
    return created


def remove_block(actor: Actor, entry: BlockEntry) -> None:
    with transaction.atomic():
        audit.record(
            actor, "shield.block_removed", target=entry.source, data={"scenario": entry.scenario}
        )
        entry.delete()
        bump_policy()


def active_blocks() -> QuerySet[BlockEntry]:
    now = timezone.now()
    return BlockEntry.objects.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))


def purge_expired() -> int:
    """Expired collective entries go (the boxes already let them lapse by their timeout)."""
    deleted, _ = BlockEntry.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
