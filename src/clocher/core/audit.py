"""The audit journal: record an entry inside the caller's transaction, verify the chain.

Writers are serialised so the chain never forks: SQLite runs every transaction as
BEGIN IMMEDIATE (see settings); PostgreSQL takes a transaction-scoped advisory lock.

That lock is held until the commit and every journalled change takes it, so it is a
transaction's last lock: a transaction that locks rows after its entry (another
transaction may hold them while it waits for the journal) deadlocks on PostgreSQL.
One that cannot write its entry last takes the journal's lock first (`lock_chain`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from clocher.core import bulk
from clocher.core.models import AuditEntry, Commune
from clocher.core.prepared import Prepared

GENESIS_HASH = "0" * 64
_PG_LOCK_KEY = 0x436C6F63  # "Cloc"


@dataclass(frozen=True)
class Actor:
    """Who does something, and from where: passed explicitly to every service."""

    user: Any = None  # accounts.User or None for the system
    ip: str | None = None
    label: str = ""

    @property
    def display(self) -> str:
        if self.user is not None:
            return str(self.user.email)
        return self.label or "système"


SYSTEM = Actor(label="système")


def canonical_bytes(entry: AuditEntry | AppendedEntry) -> bytes:
    """The stable encoding hashed into the chain (keys sorted, no spaces, UTF-8)."""
    payload = {
        "seq": entry.seq,
        "at": entry.at.isoformat(timespec="microseconds"),
        "actor": entry.actor_label,
        "commune": entry.commune_insee,
        "action": entry.action,
        "target": entry.target,
        "data": entry.data,
        "ip": entry.ip or "",
        "prev": entry.prev_hash,
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def compute_hash(entry: AuditEntry | AppendedEntry) -> str:
    return hashlib.sha256(canonical_bytes(entry)).hexdigest()


def lock_chain() -> None:
    """Take the journal's lock now, before the transaction's other locks (see above);
    `record` takes it again at no cost."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_PG_LOCK_KEY])


# The chain's end, compiled once per process (`core.prepared`): every journalled change
# reads it.
_CHAIN_END = Prepared(lambda: AuditEntry.objects.order_by("-seq").values_list("seq", "hash")[:1])


def record(
    actor: Actor,
    action: str,
    *,
    commune: Commune | None = None,
    target: str = "",
    data: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry; must run inside the transaction that makes the change."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit.record must run inside the change's transaction")
    lock_chain()
    last = _CHAIN_END.rows()
    seq, prev_hash = last[0] if last else (0, GENESIS_HASH)
    entry = _entry(actor, Event(action, commune, target, data), seq + 1, timezone.now(), prev_hash)
    entry.save(force_insert=True)
    return entry


@dataclass(frozen=True)
class Event:
    """One entry to append with `record_many`: what `record` takes, as a value."""

    action: str
    commune: Commune | None = None
    target: str = ""
    data: dict[str, Any] | None = None


def _entry(actor: Actor, event: Event, seq: int, at: Any, prev_hash: str) -> AuditEntry:
    entry = AuditEntry(**_fields(actor, event, seq, at, prev_hash))
    entry.hash = compute_hash(entry)
    return entry


def _fields(actor: Actor, event: Event, seq: int, at: Any, prev_hash: str) -> dict[str, Any]:
    """An entry's columns (by attname) but its hash."""
    user = actor.user if actor.user is not None and actor.user.pk else None
    return {
        "seq": seq,
        "at": at,
        "actor_id": user.pk if user is not None else None,
        "actor_label": actor.display[:254],
        "commune_id": event.commune.pk if event.commune else None,
        "commune_insee": event.commune.insee if event.commune else "",
        "action": event.action,
        "target": event.target[:254],
        "data": _as_json(event.data or {}),
        "ip": actor.ip,
        "prev_hash": prev_hash,
    }


_SCALARS = (str, int, float, bool, type(None))


def _as_json(data: dict[str, Any]) -> Any:
    """`data` as it reads back from the journal (what the hash covers): through JSON,
    unless it is already made of strings and numbers only (most entries)."""
    if all(type(key) is str and type(value) in _SCALARS for key, value in data.items()):
        return dict(data)
    return json.loads(json.dumps(data, default=str))


@dataclass(slots=True)
class AppendedEntry:
    """An entry appended by `record_many`: its columns as written, its id."""

    seq: int
    at: Any
    actor_id: int | None
    actor_label: str
    commune_id: int | None
    commune_insee: str
    action: str
    target: str
    data: Any
    ip: str | None
    prev_hash: str
    hash: str = ""
    pk: int | None = None


def record_many(actor: Actor, events: Iterable[Event]) -> list[AppendedEntry]:
    """Append several entries in order with one read of the chain's end and bulk inserts.

    Why: a batch (an import, an archive run, the vault's writer) otherwise pays a read and
    an insert per entry under the chain's global lock. The entries are chained exactly as
    successive `record` calls would chain them, so `verify` cannot tell them apart; they
    are plain values, not models (a model each was a twentieth of the vault writer's
    CPU). Must run inside the transaction that makes the change.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("audit.record_many must run inside the change's transaction")
    pending = list(events)
    if not pending:
        return []
    lock_chain()
    last = _CHAIN_END.rows()
    seq, prev_hash = last[0] if last else (0, GENESIS_HASH)
    at = timezone.now()
    entries = []
    for event in pending:
        seq += 1
        entry = AppendedEntry(**_fields(actor, event, seq, at, prev_hash))
        entry.hash = prev_hash = compute_hash(entry)
        entries.append(entry)
    # Plain multi-row INSERTs (`core.bulk`): `bulk_create` prepared each field of each
    # entry through the ORM's compiler, several times the cost of hashing the entry.
    ids = bulk.insert(
        AuditEntry,
        _COLUMNS,
        [[getattr(entry, name) for name in _COLUMNS] for entry in entries],
        returning=True,
    )
    for entry, pk in zip(entries, ids, strict=True):
        entry.pk = pk
    return entries


_COLUMNS = [f.attname for f in AuditEntry._meta.concrete_fields if not f.primary_key]


@dataclass
class ChainBreak:
    seq: int
    reason: str


@dataclass
class VerifyResult:
    checked: int
    first_break: ChainBreak | None

    @property
    def ok(self) -> bool:
        return self.first_break is None


def iter_entries(batch: int = 2000) -> Iterator[AuditEntry]:
    yield from AuditEntry.objects.order_by("seq").iterator(chunk_size=batch)


TRUNCATED = "audit.truncated"


def chain_start() -> tuple[int, str]:
    """The (seq, hash) the oldest kept entry must follow: (0, genesis) for a whole journal.
    After a retention truncation (`truncate_before`), the last deleted entry's, as the
    truncation's own entry recorded them: that entry is in the chain, so the anchor cannot
    be changed unseen. A missing beginning without such an entry stays a deletion."""
    first = AuditEntry.objects.order_by("seq").only("seq", "prev_hash").first()
    if first is None or first.seq == 1:
        return 0, GENESIS_HASH
    anchored = AuditEntry.objects.filter(
        action=TRUNCATED, data__first_kept_seq=first.seq, data__anchor_hash=first.prev_hash
    ).exists()
    return (first.seq - 1, first.prev_hash) if anchored else (0, GENESIS_HASH)


def truncate_before(actor: Actor, limit: Any) -> int:
    """Delete the entries older than `limit` (the journal's retention duration) and append
    the anchor `verify` starts from; the newest entry always stays, so the chain goes on.
    Must run inside a transaction. Returns the number deleted."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit.truncate_before must run inside a transaction")
    lock_chain()
    newest = AuditEntry.objects.order_by("-seq").values_list("seq", flat=True).first()
    last_old = (
        AuditEntry.objects.filter(at__lt=limit, seq__lt=newest or 0)
        .order_by("-seq")
        .only("seq", "hash")
        .first()
    )
    if last_old is None:
        return 0
    deleted, _ = AuditEntry.objects.filter(seq__lte=last_old.seq).delete()
    record(
        actor,
        TRUNCATED,
        data={"first_kept_seq": last_old.seq + 1, "anchor_hash": last_old.hash,
              "deleted": deleted, "before": limit},
    )  # fmt: skip
    return deleted


def verify(progress: Any = None) -> VerifyResult:
    """Walk the chain in order; name the first entry that was edited, deleted or moved."""
    start, expected_prev = chain_start()
    expected_seq = start + 1
    checked = 0
    with transaction.atomic():
        for entry in iter_entries():
            if entry.seq != expected_seq:
                return VerifyResult(
                    checked,
                    ChainBreak(
                        expected_seq,
                        f"entrée n°{expected_seq} absente (supprimée ?) : "
                        f"la suivante est n°{entry.seq}",
                    ),
                )
            if entry.prev_hash != expected_prev:
                return VerifyResult(
                    checked,
                    ChainBreak(entry.seq, f"entrée n°{entry.seq} : lien vers la précédente rompu"),
                )
            if compute_hash(entry) != entry.hash:
                return VerifyResult(
                    checked,
                    ChainBreak(entry.seq, f"entrée n°{entry.seq} modifiée : empreinte différente"),
                )
            expected_prev = entry.hash
            expected_seq += 1
            checked += 1
            if progress is not None:
                progress(1)
    return VerifyResult(checked, None)
