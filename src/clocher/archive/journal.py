"""The archive journal: append-only, hash-chained, sealed by time-stamped Merkle roots.

Each entry's hash is SHA-256 over its canonical JSON, which includes the previous
entry's hash; a seal is the Merkle root of a run of consecutive entries (each day's, by
the daily task), time-stamped by the TSA. An entry's Merkle proof lets anyone check,
with the entry alone and the seal's token, that it was in the journal that day — without
seeing the other communes' entries. The encoding and the tree are those of
`offline.py`, the stand-alone checker shipped in every evidence package.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from clocher.archive import offline, tsa
from clocher.archive.models import ArchivedObject, JournalEntry, JournalSeal
from clocher.core.audit import Actor
from clocher.core.models import Commune

GENESIS_HASH = offline.GENESIS_HASH
_PG_LOCK_KEY = 0x41726368  # "Arch"


class Event:
    DEPOSIT = "depot"
    ACCESS = "consultation"
    DOWNLOAD = "telechargement"
    EVIDENCE = "preuve"
    INTEGRITY = "controle_integrite"
    RETENTION = "changement_conservation"
    RULE = "regle_conservation"
    TRANSFER = "transfert"
    PROPOSAL = "proposition_elimination"
    REFUSAL = "refus_elimination"
    ELIMINATION = "elimination"
    CHECKPOINT = "point_de_controle"


# The columns an entry's hash covers, in the order of `payload`'s arguments.
HASHED_COLUMNS = (
    "seq",
    "at",
    "event",
    "commune_insee",
    "archived_object_id",
    "actor_label",
    "data",
    "prev_hash",
)


def payload(
    seq: int,
    at: datetime,
    event: str,
    commune_insee: str,
    archived_object_id: int | None,
    actor_label: str,
    data: Any,
    prev_hash: str,
) -> dict[str, Any]:
    """What an entry's hash is taken over, from its column values (`verify` reads
    plain rows: a model instance per entry costs more than hashing it)."""
    return {
        "seq": seq,
        "at": at.isoformat(timespec="microseconds"),
        "event": event,
        "commune": commune_insee,
        "object": archived_object_id,
        "actor": actor_label,
        "data": data,
        "prev": prev_hash,
    }


def entry_payload(entry: JournalEntry) -> dict[str, Any]:
    return payload(*(getattr(entry, column) for column in HASHED_COLUMNS))


def compute_hash(entry: JournalEntry) -> str:
    return offline.entry_hash(entry_payload(entry))


def _lock_chain() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_PG_LOCK_KEY])


@dataclass(frozen=True)
class Pending:
    """One entry to add with `append_many`: what `append` takes, as a value."""

    event: str
    commune: Commune | None = None
    archived_object: ArchivedObject | None = None
    data: dict[str, Any] | None = None


def append(
    actor: Actor,
    event: str,
    *,
    commune: Commune | None = None,
    archived_object: ArchivedObject | None = None,
    data: dict[str, Any] | None = None,
) -> JournalEntry:
    """Add one entry; inside the caller's transaction when it has one."""
    return append_many(actor, [Pending(event, commune, archived_object, data)])[0]


def append_many(actor: Actor, pending: list[Pending]) -> list[JournalEntry]:
    """Add entries in order, chained exactly as successive `append` calls would chain
    them, with one read of the chain's end and one bulk insert: a batch deposit otherwise
    pays a read and an insert per document under the chain's lock."""
    with transaction.atomic():
        _lock_chain()
        last = JournalEntry.objects.order_by("-seq").only("seq", "hash").first()
        seq, prev_hash = (last.seq, last.hash) if last else (0, GENESIS_HASH)
        at, label = timezone.now(), actor.display[:254]
        entries = []
        for item in pending:
            seq += 1
            entry = JournalEntry(
                seq=seq,
                at=at,
                event=item.event,
                commune=item.commune,
                commune_insee=item.commune.insee if item.commune else "",
                archived_object=item.archived_object,
                actor_label=label,
                data=json.loads(json.dumps(item.data or {}, default=str)),
                prev_hash=prev_hash,
            )
            entry.hash = prev_hash = compute_hash(entry)
            entries.append(entry)
        if len(entries) == 1:
            entries[0].save(force_insert=True)
        else:
            JournalEntry.objects.bulk_create(entries, batch_size=500)
    return entries


# --------------------------------------------------------------------------- verification


@dataclass
class JournalReport:
    checked: int
    problem: str = ""
    broken_seq: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problem


def verify(after: int = 0, anchor: str = GENESIS_HASH) -> JournalReport:
    """Walk the chain; name the first entry edited, deleted or re-ordered, then check
    that every seal's root still matches its entries and its token.

    With `after` (an audit checkpoint's last entry, whose hash is `anchor`), only the
    newer entries are re-hashed, and only the seals reaching past it are checked: the
    checkpoint's time-stamp token vouches for the older ones.

    One pass over plain rows: the hashes the walk has checked are the leaves of the
    seals' Merkle trees, so the seals need no second read of the journal."""
    rows = (
        JournalEntry.objects.filter(seq__gt=after)
        .order_by("seq")
        .values_list(*HASHED_COLUMNS, "hash")
        .iterator(chunk_size=2000)
    )
    hashes: list[str] = []  # hashes[n - after - 1] is entry n's, checked
    expected_prev = anchor
    for *columns, stored in rows:
        seq, prev_hash = columns[0], columns[-1]
        if seq != after + len(hashes) + 1:
            missing = after + len(hashes) + 1
            return JournalReport(
                len(hashes),
                f"entrée n°{missing} du journal absente (supprimée ?) : la suivante est n°{seq}",
                missing,
            )
        if prev_hash != expected_prev:
            return JournalReport(
                len(hashes), f"entrée n°{seq} : lien vers la précédente rompu", seq
            )
        if offline.entry_hash(payload(*columns)) != stored:
            return JournalReport(
                len(hashes), f"entrée n°{seq} modifiée : empreinte différente", seq
            )
        hashes.append(stored)
        expected_prev = stored
    checked = len(hashes)
    seals = JournalSeal.objects.filter(last_seq__gt=after).order_by("first_seq")
    for seal in seals:
        # A seal straddling the checkpoint takes its older leaves as stored (vouched for).
        older = (
            list(
                JournalEntry.objects.filter(seq__gte=seal.first_seq, seq__lte=after)
                .order_by("seq")
                .values_list("hash", flat=True)
            )
            if seal.first_seq <= after
            else []
        )
        covered = older + hashes[max(seal.first_seq - after - 1, 0) : seal.last_seq - after]
        if len(covered) != seal.last_seq - seal.first_seq + 1 or (
            offline.merkle_root(covered) != seal.root
        ):
            return JournalReport(
                checked, f"sceau des entrées {seal.first_seq}–{seal.last_seq} : racine différente"
            )
        try:
            tsa.check_response(bytes(seal.timestamp_token), bytes.fromhex(seal.root))
        except tsa.TimeStampError as exc:
            return JournalReport(
                checked, f"sceau des entrées {seal.first_seq}–{seal.last_seq} : {exc}"
            )
    return JournalReport(checked)


# --------------------------------------------------------------------------- Merkle seals


def seal_pending(until: datetime | None = None) -> JournalSeal | None:
    """Seal the entries not yet sealed (those before `until`, default: all): their Merkle
    root, time-stamped. The daily task calls it with `until` = today's midnight, so that
    each seal holds one day's entries."""
    with transaction.atomic():
        _lock_chain()
        last_seal = JournalSeal.objects.order_by("-last_seq").first()
        start = (last_seal.last_seq + 1) if last_seal else 1
        entries = JournalEntry.objects.filter(seq__gte=start).order_by("seq")
        if until is not None:
            entries = entries.filter(at__lt=until)
        rows = list(entries.values_list("seq", "hash", "at"))
        if not rows:
            return None
        root = offline.merkle_root([h for _, h, _ in rows])
        stamp = tsa.stamp(bytes.fromhex(root))
        return JournalSeal.objects.create(
            first_seq=rows[0][0],
            last_seq=rows[-1][0],
            day=timezone.localdate(rows[-1][2]),
            root=root,
            timestamp_token=stamp.response,
            sealed_at=timezone.now(),
        )


def seal_days_before(today: date | None = None) -> JournalSeal | None:
    """The daily seal: every entry of the days before `today` (local time)."""
    today = today or timezone.localdate()
    midnight = timezone.make_aware(datetime.combine(today, datetime.min.time()))
    return seal_pending(until=midnight)


def proof_for(entry: JournalEntry) -> tuple[JournalSeal, list[list[str]]] | None:
    """The seal covering `entry` and the Merkle path from it to the seal's root."""
    seal = JournalSeal.objects.filter(first_seq__lte=entry.seq, last_seq__gte=entry.seq).first()
    if seal is None:
        return None
    hashes = list(
        JournalEntry.objects.filter(seq__gte=seal.first_seq, seq__lte=seal.last_seq)
        .order_by("seq")
        .values_list("hash", flat=True)
    )
    return seal, offline.merkle_proof(hashes, entry.seq - seal.first_seq)
