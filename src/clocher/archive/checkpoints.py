"""Audit checkpoints: what a successful integrity audit verified, time-stamped and chained,
so that the next audit re-hashes only the journal entries written since.

A checkpoint says « at this date (the TSA's), the journal up to entry N had chain hash H,
and the objects up to id M had these SHA-256 »; its hash covers those values and the
previous checkpoint's hash, and an RFC 3161 token covers its hash. A later audit checks
the whole checkpoint chain (hashes, links, every token, and that each checkpoint's last
entry still hashes to H), then walks the journal from the last checkpoint only. The
copies themselves are always re-read: bytes on a disk or in a bucket rot at any time.
The threat model is in docs/archive.md.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from django.utils import timezone

from clocher.archive import journal, offline, tsa
from clocher.archive.models import AuditCheckpoint, JournalEntry


def copies_digest(fingerprints: Iterable[tuple[int, str]], up_to: int) -> str:
    """SHA-256 over `id:sha256` lines of the objects with id ≤ `up_to`, in id order."""
    digest = hashlib.sha256()
    for pk, sha256 in sorted(fingerprints):
        if pk > up_to:
            break
        digest.update(f"{pk}:{sha256}\n".encode())
    return digest.hexdigest()


def checkpoint_hash(checkpoint: AuditCheckpoint) -> str:
    return offline.entry_hash(
        {
            "derniere_entree": checkpoint.last_seq,
            "empreinte_chaine": checkpoint.chain_hash,
            "dernier_objet": checkpoint.last_object_id,
            "copies": checkpoint.copies,
            "empreinte_copies": checkpoint.copies_digest,
            "date": checkpoint.at.isoformat(timespec="microseconds"),
            "precedent": checkpoint.prev_hash,
        }
    )


@dataclass
class ChainReport:
    last: AuditCheckpoint | None = None
    problem: str = ""


def verify_chain() -> ChainReport:
    """Check every checkpoint: its hash, its link to the previous one, its token, and that
    the journal entry it ends on still hashes to what it recorded."""
    checkpoints = list(AuditCheckpoint.objects.order_by("id"))
    anchors = {
        row[0]: row
        for row in JournalEntry.objects.filter(
            seq__in=[c.last_seq for c in checkpoints]
        ).values_list(*journal.HASHED_COLUMNS, "hash")
    }
    previous, last_seq = journal.GENESIS_HASH, 0
    for checkpoint in checkpoints:
        name = f"point de contrôle n°{checkpoint.pk}"
        if checkpoint.prev_hash != previous or checkpoint.last_seq < last_seq:
            return ChainReport(problem=f"{name} : lien vers le point précédent rompu")
        if checkpoint_hash(checkpoint) != checkpoint.hash:
            return ChainReport(problem=f"{name} modifié : empreinte différente")
        try:
            tsa.check_response(bytes(checkpoint.timestamp_token), bytes.fromhex(checkpoint.hash))
        except tsa.TimeStampError as exc:
            return ChainReport(problem=f"{name} : {exc}")
        row = anchors.get(checkpoint.last_seq)
        if row is None or not (
            row[-1] == checkpoint.chain_hash == offline.entry_hash(journal.payload(*row[:-1]))
        ):
            return ChainReport(
                problem=f"{name} : l'entrée n°{checkpoint.last_seq} du journal ne correspond plus"
            )
        previous, last_seq = checkpoint.hash, checkpoint.last_seq
    return ChainReport(last=checkpoints[-1] if checkpoints else None)


def record(
    entry: JournalEntry, fingerprints: list[tuple[int, str]], previous: AuditCheckpoint | None
) -> AuditCheckpoint:
    """The checkpoint of an audit that found everything intact, ending on its journal
    entry `entry` (inside the audit's transaction)."""
    last_object = max((pk for pk, _ in fingerprints), default=0)
    checkpoint = AuditCheckpoint(
        last_seq=entry.seq,
        chain_hash=entry.hash,
        last_object_id=last_object,
        copies=len(fingerprints),
        copies_digest=copies_digest(fingerprints, last_object),
        at=timezone.now(),
        prev_hash=previous.hash if previous else journal.GENESIS_HASH,
    )
    checkpoint.hash = checkpoint_hash(checkpoint)
    checkpoint.timestamp_token = tsa.stamp(bytes.fromhex(checkpoint.hash)).response
    checkpoint.save(force_insert=True)
    return checkpoint
