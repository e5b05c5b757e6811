"""The incremental audit-chain check: new entries verified once, a tampered or deleted
entry found, the result cached for its TTL."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone

from clocher.core import audit
from clocher.core.models import AuditEntry
from clocher.supervision import chain
from tests.conftest import SYSTEM


def add_entries(count: int) -> None:
    for n in range(count):
        with transaction.atomic():
            audit.record(SYSTEM, "test.entry", target=f"n{n}")


def later(minutes: int) -> dt.datetime:
    return timezone.now() + dt.timedelta(minutes=minutes)


@pytest.mark.django_db
def test_new_entries_then_cached(settings):
    settings.METRICS_CHAIN_TTL = 300
    add_entries(5)
    first = chain.check()
    assert first.ok and first.verified_seq == AuditEntry.objects.count()
    add_entries(2)
    assert chain.check().verified_seq == first.verified_seq  # within the TTL: cached
    assert chain.check(later(6)).verified_seq == first.verified_seq + 2


@pytest.mark.django_db
def test_tampered_old_entry_found_by_the_rolling_recheck():
    add_entries(6)
    assert chain.check().ok
    AuditEntry.objects.filter(seq=3).update(target="falsifié")
    result = chain.check(later(6))
    assert not result.ok
    assert "n°3 modifiée" in result.detail


@pytest.mark.django_db
def test_tampered_checkpoint_and_deleted_entry():
    add_entries(6)
    last = chain.check()
    AuditEntry.objects.filter(seq=last.verified_seq).update(hash="0" * 64)
    assert "modifiée ou supprimée" in chain.check(later(6)).detail

    AuditEntry.objects.filter(seq=last.verified_seq).update(
        hash=audit.compute_hash(AuditEntry.objects.get(seq=last.verified_seq))
    )
    assert chain.check(later(12)).ok
    AuditEntry.objects.filter(seq=2).delete()
    assert "antérieure à" in chain.check(later(18)).detail


@pytest.mark.django_db
def test_new_entry_with_a_broken_link():
    add_entries(3)
    assert chain.check().ok
    add_entries(1)
    AuditEntry.objects.filter(seq=AuditEntry.objects.count()).update(prev_hash="f" * 64)
    assert "lien vers la précédente rompu" in chain.check(later(6)).detail
