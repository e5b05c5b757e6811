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


def entry_payload(entry: JournalEntry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "at": entry.at.isoformat(timespec="microseconds"),
        "event": entry.event,
        "commune": entry.commune_insee,
        "object": entry.archived_object_id,
        "actor": entry.actor_label,
        "data": entry.data,
        "prev": entry.prev_hash,
    }


def compute_hash(entry: JournalEntry) -> str:
    return offline.entry_hash(entry_payload(entry))


def _lock_chain() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_PG_LOCK_KEY])


def append(
    actor: Actor,
    event: str,
    *,
    commune: Commune | None = None,
    archived_object: ArchivedObject | None = None,
    data: dict[str, Any] | None = None,
) -> JournalEntry:
    """Add one entry; inside the caller's transaction when it has one."""
    with transaction.atomic():
        _lock_chain()
        last = JournalEntry.objects.order_by("-seq").only("seq", "hash").first()
        entry = JournalEntry(
            seq=(last.seq + 1) if last else 1,
            at=timezone.now(),
            event=event,
            commune=commune,
            commune_insee=commune.insee if commune else "",
            archived_object=archived_object,
            actor_label=actor.display[:254],
            data=json.loads(json.dumps(data or {}, default=str)),
            prev_hash=last.hash if last else GENESIS_HASH,
        )
        entry.hash = compute_hash(entry)
        entry.save(force_insert=True)
    return entry


# --------------------------------------------------------------------------- verification


@dataclass
class JournalReport:
    checked: int
    problem: str = ""
    broken_seq: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problem


def verify() -> JournalReport:
    """Walk the chain; name the first entry edited, deleted or re-ordered, then check
    that every seal's root still matches its entries and its token."""
    expected_prev, expected_seq, checked = GENESIS_HASH, 1, 0
    for entry in JournalEntry.objects.order_by("seq").iterator(chunk_size=2000):
        if entry.seq != expected_seq:
            return JournalReport(
                checked,
                f"entrée n°{expected_seq} du journal absente (supprimée ?) : "
                f"la suivante est n°{entry.seq}",
                expected_seq,
            )
        if entry.prev_hash != expected_prev:
            return JournalReport(
                checked, f"entrée n°{entry.seq} : lien vers la précédente rompu", entry.seq
            )
        if compute_hash(entry) != entry.hash:
            return JournalReport(
                checked, f"entrée n°{entry.seq} modifiée : empreinte différente", entry.seq
            )
        expected_prev, expected_seq, checked = entry.hash, expected_seq + 1, checked + 1
    for seal in JournalSeal.objects.order_by("first_seq"):
        hashes = list(
            JournalEntry.objects.filter(seq__gte=seal.first_seq, seq__lte=seal.last_seq)
            .order_by("seq")
            .values_list("hash", flat=True)
        )
        if offline.merkle_root(hashes) != seal.root:
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
