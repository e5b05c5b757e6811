"""A cheap, incremental check of the audit chain for supervision.

`clocher audit verify` re-hashes the whole journal; a scrape cannot. Here each check
(at most once per CLOCHER_METRICS_CHAIN_TTL) verifies the entries added since the last
checkpoint, that the checkpoint entry is unchanged and that no earlier entry was
removed (a count), and re-hashes a rolling window of the old entries, so that over
successive checks every entry is verified again.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from clocher.core.audit import GENESIS_HASH, chain_start, compute_hash
from clocher.core.models import AuditEntry
from clocher.supervision.models import ChainCheckpoint

NEW_PER_CHECK = 20_000  # entries added since the last check, verified at most per check
RECHECK_PER_CHECK = 2_000  # old entries re-hashed per check


def _walk(entries: list[AuditEntry], prev_seq: int, prev_hash: str) -> tuple[str, int, str]:
    """Verify `entries` follow (prev_seq, prev_hash); returns (problem, last seq, hash)."""
    for entry in entries:
        if entry.seq != prev_seq + 1:
            return f"entrée n°{prev_seq + 1} absente (supprimée ?)", prev_seq, prev_hash
        if entry.prev_hash != prev_hash:
            return f"entrée n°{entry.seq} : lien vers la précédente rompu", prev_seq, prev_hash
        if compute_hash(entry) != entry.hash:
            return f"entrée n°{entry.seq} modifiée : empreinte différente", prev_seq, prev_hash
        prev_seq, prev_hash = entry.seq, entry.hash
    return "", prev_seq, prev_hash


def _recheck(checkpoint: ChainCheckpoint, origin: tuple[int, str]) -> str:
    """Re-hash the next window of already verified entries (wrapping to the start, which
    `origin` gives: after a retention truncation, the journal's anchor)."""
    start = checkpoint.recheck_seq if checkpoint.recheck_seq < checkpoint.verified_seq else 0
    start = max(start, origin[0])
    window = list(
        AuditEntry.objects.filter(
            seq__gte=max(start, 1), seq__lte=checkpoint.verified_seq
        ).order_by("seq")[: RECHECK_PER_CHECK + 1]
    )
    if not window:
        return ""
    if start == origin[0]:
        problem, last, _ = _walk(window, *origin)
    else:
        first = window[0]
        if first.seq != start or compute_hash(first) != first.hash:
            return f"entrée n°{start} modifiée ou absente"
        problem, last, _ = _walk(window[1:], first.seq, first.hash)
    checkpoint.recheck_seq = last
    return problem


def check(now: dt.datetime | None = None) -> ChainCheckpoint:
    """The chain's state, verified again only when the last check is older than the TTL."""
    now = now or timezone.now()
    ttl = dt.timedelta(seconds=settings.METRICS_CHAIN_TTL)
    current = ChainCheckpoint.objects.first()
    if current is not None and current.checked_at and now - current.checked_at < ttl:
        return current
    with transaction.atomic():
        checkpoint, _ = ChainCheckpoint.objects.select_for_update().get_or_create(singleton=1)
        problem = ""
        first = chain_start()
        if checkpoint.verified_seq <= first[0]:  # the retention truncated past it
            checkpoint.verified_seq, checkpoint.verified_hash = first
        if checkpoint.verified_seq > first[0]:
            anchor = AuditEntry.objects.filter(seq=checkpoint.verified_seq).first()
            if anchor is None or anchor.hash != checkpoint.verified_hash:
                problem = f"entrée n°{checkpoint.verified_seq} modifiée ou supprimée"
            elif (
                AuditEntry.objects.filter(seq__lte=checkpoint.verified_seq).count()
                != checkpoint.verified_seq - first[0]
            ):
                problem = f"une entrée antérieure à n°{checkpoint.verified_seq} a été supprimée"
        if not problem:
            new = list(
                AuditEntry.objects.filter(seq__gt=checkpoint.verified_seq).order_by("seq")[
                    :NEW_PER_CHECK
                ]
            )
            problem, seq, hash_ = _walk(
                new, checkpoint.verified_seq, checkpoint.verified_hash or GENESIS_HASH
            )
            checkpoint.verified_seq, checkpoint.verified_hash = seq, hash_ if seq else ""
        if not problem:
            problem = _recheck(checkpoint, first)
        checkpoint.ok, checkpoint.detail = not problem, problem[:500]
        checkpoint.checked_at = now
        checkpoint.save()
    return checkpoint
