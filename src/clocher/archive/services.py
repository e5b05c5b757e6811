"""Archive services: deposit and seal, read (journalled), integrity audit, retention,
elimination in two steps, evidence packages.

Every interface (pages, CLI, tasks) comes through here; nothing here changes or removes
a sealed object before its retention ends, and the database triggers refuse it again
should anything try.
"""

from __future__ import annotations

import calendar
import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404
from django.template.loader import render_to_string
from django.utils import timezone

from clocher.archive import checkpoints, formats, journal, offline, store, tsa
from clocher.archive.journal import Event
from clocher.archive.models import (
    ArchivedObject,
    AuditCheckpoint,
    EliminationProposal,
    FinalFate,
    JournalEntry,
    ObjectState,
    ProposalState,
    RetentionRule,
)
from clocher.core import audit, scoping
from clocher.core.audit import Actor
from clocher.core.models import Commune, Role
from clocher.storage import crypto

MAX_DEPOSIT_BYTES = 512 * 1024 * 1024
ARCHIVIST_ROLES = (Role.OPERATOR_ARCHIVIST,)
DEPOSITOR_ROLES = (Role.COMMUNE_ADMIN, Role.AGENT)


def may_deposit(user: Any, commune: Commune) -> bool:
    """Who deposits into a commune's archive (its page and the API ask here): its admins
    and agents; not its elected members, nor the operator, who keeps the archive while
    the commune deposits its own acts."""
    if scoping.is_operator(user):
        return False
    membership = scoping.commune_membership(user, commune)
    return membership is not None and membership.role in DEPOSITOR_ROLES


# --------------------------------------------------------------------------- retention


def add_years(start: date, years: int) -> date:
    """`start` plus `years` calendar years (29 February becomes 28 February)."""
    year = start.year + years
    day = min(start.day, calendar.monthrange(year, start.month)[1])
    return start.replace(year=year, day=day)


def retention_end_for(rule: RetentionRule, act_date: date) -> date | None:
    return None if rule.years is None else add_years(act_date, rule.years)


def is_expired(obj: ArchivedObject, today: date | None = None) -> bool:
    """Retention over and the fate allows destruction (never for « keep »)."""
    today = today or timezone.localdate()
    return (
        obj.state == ObjectState.SEALED
        and obj.final_fate != FinalFate.KEEP
        and obj.retention_end is not None
        and obj.retention_end < today
    )


# --------------------------------------------------------------------------- deposit


@dataclass
class DepositInput:
    title: str
    kind: str
    act_date: date
    author: str
    rule: RetentionRule
    filename: str
    data: bytes
    source: str = ""


@dataclass
class Deposited:
    obj: ArchivedObject
    warning: str


def deposit_input(values: Mapping[str, Any], source: str) -> DepositInput:
    """The deposit a form or the API describes (their cleaned `title`, `kind`, `act_date`,
    `author`, `rule`, and the uploaded `file`, absent when a vault file is archived:
    `deposit_from_vault` fills in its name, bytes and source)."""
    upload = values.get("file")
    return DepositInput(
        title=values["title"],
        kind=values["kind"] or values["rule"].label,
        act_date=values["act_date"],
        author=values["author"],
        rule=values["rule"],
        filename=upload.name if upload else "",
        data=upload.read() if upload else b"",
        source=source if upload else "",
    )


def _clean(value: str, label: str, limit: int) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationError(f"{label} : ce champ est obligatoire.")
    if len(value) > limit:
        raise ValidationError(f"{label} : {limit} caractères au plus.")
    return value


@dataclass
class _Prepared:
    """A document checked, fingerprinted and identified, not yet stored."""

    given: DepositInput
    title: str
    kind: str
    author: str
    filename: str
    sha256: str
    sha512: str
    found: formats.FormatInfo
    key: str


def _prepare(commune: Commune, given: DepositInput) -> _Prepared:
    title = _clean(given.title, "Intitulé", 300)
    kind = _clean(given.kind, "Nature de l'acte", 200)
    author = _clean(given.author, "Auteur", 200)
    filename = _clean(Path(given.filename or "").name, "Nom du fichier", 255)
    if not given.data:
        raise ValidationError("Le fichier est vide : rien à archiver.")
    if len(given.data) > MAX_DEPOSIT_BYTES:
        raise ValidationError("Fichier trop volumineux pour un dépôt (512 Mo au plus).")
    if given.act_date > timezone.localdate():
        raise ValidationError("La date de l'acte est dans le futur.")
    sha256 = hashlib.sha256(given.data).hexdigest()
    return _Prepared(
        given,
        title,
        kind,
        author,
        filename,
        sha256,
        hashlib.sha512(given.data).hexdigest(),
        formats.identify(given.data, filename),
        store.blob_key(commune, sha256),
    )


def deposit(actor: Actor, commune: Commune, given: DepositInput) -> Deposited:
    """Fingerprint, identify, store write-once, time-stamp, then record the object and
    its journal entry in one transaction. A failure at any step leaves no object."""
    return deposit_many(actor, commune, [given])[0]


def deposit_many(actor: Actor, commune: Commune, batch: Sequence[DepositInput]) -> list[Deposited]:
    """Deposit several documents of one commune as one batch: the steps of `deposit`,
    with the copies flushed to disk together, one RFC 3161 token over the Merkle root of
    the documents' SHA-256 (each deposit entry of the journal carries its document's
    path to that root, so each document's proof stands alone: docs/archive.md), and the
    rows, journal and audit entries inserted in bulk in one transaction. A document
    alone is time-stamped on its own SHA-256, as before. Any refusal (named with the
    file) stores nothing."""
    if not batch:
        return []
    if sum(len(given.data or b"") for given in batch) > MAX_DEPOSIT_BYTES:
        raise ValidationError("Lot trop volumineux pour un dépôt (512 Mo au plus en tout).")
    prepared = []
    for given in batch:
        try:
            prepared.append(_prepare(commune, given))
        except ValidationError as exc:
            if len(batch) == 1:
                raise
            name = Path(given.filename or "").name or f"document n°{len(prepared) + 1}"
            raise ValidationError(f"{name} : {exc.messages[0]}") from exc
    # The copies are stored before the token and the rows: if either fails, what remains
    # is unreferenced copies under their own SHA-256, which a later deposit of the same
    # documents reuses; never a row without its bytes.
    store.put_many_once(commune, [(p.key, p.given.data) for p in prepared])
    digests = [p.sha256 for p in prepared]
    root = offline.merkle_root(digests) if len(prepared) > 1 else digests[0]
    try:
        stamp = tsa.stamp(bytes.fromhex(root))
    except tsa.TimeStampError as exc:
        raise ValidationError(f"Horodatage impossible, dépôt annulé : {exc}") from exc
    now = timezone.now()
    objects = [
        ArchivedObject(
            commune=commune,
            title=p.title,
            kind=p.kind,
            act_date=p.given.act_date,
            author=p.author,
            filename=p.filename,
            retention_rule=p.given.rule,
            retention_end=retention_end_for(p.given.rule, p.given.act_date),
            final_fate=p.given.rule.final_fate,
            sha256=p.sha256,
            sha512=p.sha512,
            size=len(p.given.data),
            puid=p.found.puid,
            format_name=p.found.name[:200],
            long_term_fit=p.found.long_term_fit,
            blob_key=p.key,
            source=p.given.source[:300],
            timestamp_token=stamp.response,
            timestamp_at=stamp.gen_time,
            tsa_name=stamp.tsa_name[:200],
            tsa_qualified=stamp.qualified,
            deposited_at=now,
            deposited_by=actor.user if actor.user is not None and actor.user.pk else None,
            deposited_by_label=actor.display[:254],
        )
        for p in prepared
    ]
    paths = offline.merkle_proofs(digests) if len(prepared) > 1 else []
    with transaction.atomic():
        if len(objects) == 1:
            objects[0].save(force_insert=True)
        else:
            ArchivedObject.objects.bulk_create(objects, batch_size=500)
        journal.append_many(
            actor,
            [
                journal.Pending(
                    Event.DEPOSIT,
                    commune,
                    obj,
                    _deposit_data(obj, p, stamp)
                    | ({"lot": _batch_proof(paths, n, root)} if paths else {}),
                )
                for n, (obj, p) in enumerate(zip(objects, prepared, strict=True))
            ],
        )
        audit.record_many(
            actor,
            [
                audit.Event(
                    "archive.deposited",
                    commune=commune,
                    target=obj.reference,
                    data={"title": obj.title, "sha256": obj.sha256},
                )
                for obj in objects
            ],
        )
    return [Deposited(obj, p.found.warning) for obj, p in zip(objects, prepared, strict=True)]


def _deposit_data(obj: ArchivedObject, p: _Prepared, stamp: tsa.Stamp) -> dict[str, Any]:
    return {
        "reference": obj.reference,
        "titre": obj.title,
        "nature": obj.kind,
        "date_acte": obj.act_date.isoformat(),
        "fichier": obj.filename,
        "sha256": obj.sha256,
        "sha512": obj.sha512,
        "taille": obj.size,
        "pronom": p.found.puid,
        "regle": p.given.rule.code,
        "fin_conservation": obj.retention_end.isoformat() if obj.retention_end else "",
        "sort_final": obj.final_fate,
        "horodatage": stamp.gen_time.isoformat(),
        "autorite": stamp.tsa_name,
        "qualifie": stamp.qualified,
        "origine": p.given.source[:300],
    }


def _batch_proof(paths: list[list[list[str]]], index: int, root: str) -> dict[str, Any]:
    """Where a batch deposit's token applies: the Merkle root it covers and the path
    from this document's SHA-256 (leaf `SHA-256(0x00‖h)`, as the journal's seals) up."""
    return {"racine": root, "chemin": paths[index], "rang": index + 1, "documents": len(paths)}


def batch_proof(obj: ArchivedObject) -> dict[str, Any] | None:
    """The batch proof in `obj`'s deposit entry, or None when its token covers its own
    SHA-256 (a document deposited alone)."""
    data = (
        obj.journal.filter(event=Event.DEPOSIT)
        .order_by("seq")
        .values_list("data", flat=True)
        .first()
    )
    return (data or {}).get("lot")


def stamped_digest(obj: ArchivedObject) -> tuple[bytes, str]:
    """The digest `obj`'s token must cover, and what is wrong with its batch path ('' if
    nothing): its own SHA-256, or the root its Merkle path leads to."""
    proof = batch_proof(obj)
    if proof is None:
        return bytes.fromhex(obj.sha256), ""
    if offline.root_from_proof(obj.sha256, proof["chemin"]) != proof["racine"]:
        return bytes.fromhex(
            proof["racine"]
        ), "chemin de Merkle ne menant pas à la racine horodatée"
    return bytes.fromhex(proof["racine"]), ""


def deposit_from_vault(
    actor: Actor, user: Any, commune: Commune, node_id: int, given: DepositInput
) -> Deposited:
    """Archive a copy of a vault file the user may read: the archive keeps its own
    bytes, so later vault changes, trash or purge leave it intact."""
    from clocher.vault import services as vault
    from clocher.vault.models import Node

    try:
        node = vault.node_for(user, commune, node_id)
    except Node.DoesNotExist as exc:
        raise ValidationError("Fichier du coffre introuvable.") from exc
    if node.is_folder:
        raise ValidationError("Choisissez un fichier, pas un dossier.")
    if node.size > MAX_DEPOSIT_BYTES:
        raise ValidationError("Fichier trop volumineux pour un dépôt (512 Mo au plus).")
    given.data = b"".join(vault.iter_content(node))
    given.filename = node.name
    given.source = f"coffre-fort : {vault.path_of(node)}"
    return deposit(actor, commune, given)


# --------------------------------------------------------------------------- reading


def objects_for(user: Any, commune: Commune) -> QuerySet[ArchivedObject]:
    """The commune's archive as `user` may see it (through the scoping helper)."""
    return scoping.scoped(ArchivedObject.objects.filter(commune=commune), user).select_related(
        "retention_rule", "commune"
    )


def object_for(user: Any, commune: Commune, object_id: int) -> ArchivedObject:
    obj = objects_for(user, commune).filter(pk=object_id).first()
    if obj is None:
        raise Http404
    return obj


def record_access(actor: Actor, obj: ArchivedObject) -> None:
    journal.append(actor, Event.ACCESS, commune=obj.commune, archived_object=obj)


def checked_bytes(obj: ArchivedObject) -> bytes:
    if obj.state != ObjectState.SEALED:
        raise ValidationError("Ce document a été éliminé : seule sa notice demeure.")
    try:
        data = store.read(obj.commune, obj.blob_key)
    except (FileNotFoundError, ValueError) as exc:
        raise ValidationError(
            "Copie archivée absente ou altérée : lancez « clocher archive audit »."
        ) from exc
    if hashlib.sha256(data).hexdigest() != obj.sha256:
        raise ValidationError("Copie archivée altérée : lancez « clocher archive audit ».")
    return data


def read_document(actor: Actor, obj: ArchivedObject) -> bytes:
    """The document's bytes, checked against its SHA-256 before they are handed out;
    the download is journalled."""
    data = checked_bytes(obj)
    journal.append(actor, Event.DOWNLOAD, commune=obj.commune, archived_object=obj)
    return data


# --------------------------------------------------------------------------- integrity


@dataclass
class AuditReport:
    checked: int = 0
    bytes_read: int = 0
    altered: list[tuple[ArchivedObject, str]] = field(default_factory=list)
    journal_problem: str = ""
    # (id, SHA-256 on record) of every object, eliminated ones too: the checkpoint's digest
    fingerprints: list[tuple[int, str]] = field(default_factory=list)
    since: AuditCheckpoint | None = None  # the checkpoint the journal was checked from

    @property
    def ok(self) -> bool:
        return not self.altered and not self.journal_problem


def check_bytes(obj: ArchivedObject, data_key: bytes | None = None, deep: bool = False) -> str:
    """What is wrong with the stored copy of `obj` ('' when it holds)."""
    reader = store.CopyReader({obj.commune_id: data_key or crypto.data_key(obj.commune)})
    return _check_copy(
        reader, obj.commune_id, obj.blob_key, obj.size, obj.sha256, obj.sha512 if deep else None
    )


def _check_copy(
    reader: store.CopyReader,
    commune_id: int,
    key: str,
    size: int,
    sha256: str,
    sha512: str | None = None,
) -> str:
    try:
        data = reader.read(commune_id, key)
    except FileNotFoundError:
        return "copie archivée absente"
    except ValueError as exc:
        return str(exc)
    if len(data) != size:
        return f"taille différente ({len(data)} octets au lieu de {size})"
    if hashlib.sha256(data).hexdigest() != sha256:
        return "empreinte SHA-256 différente"
    if sha512 is not None and hashlib.sha512(data).hexdigest() != sha512:
        return "empreinte SHA-512 différente"
    return ""


# The progress callback is told every this many objects, not at each one: a progress
# bar's update costs as much as checking a small copy.
_PROGRESS_STEP = 256


def check_copies(progress: Callable[[int], None] | None = None, after: int = 0) -> AuditReport:
    """Re-read, decrypt and re-hash the copy of every sealed object with an id above
    `after` (all by default), from the store the archive uses (the local disk or the S3
    bucket); the altered ones named. The fingerprints on record are taken for every
    object: the checkpoint's digest covers the older ones."""
    report = AuditReport()
    communes = Commune.objects.filter(archives__isnull=False).distinct()
    reader = store.CopyReader({commune.pk: crypto.data_key(commune) for commune in communes})
    # Plain tuples, not model instances: the per-object cost is what limits the audit
    # of many small documents.
    every = ArchivedObject.objects.order_by("pk").values_list(
        "pk", "commune_id", "blob_key", "size", "sha256", "state"
    )
    altered: list[tuple[int, str]] = []
    for pk, commune_id, key, size, sha256, state in every.iterator(chunk_size=2000):
        report.fingerprints.append((pk, sha256))
        if state != ObjectState.SEALED or pk <= after:
            continue
        problem = _check_copy(reader, commune_id, key, size, sha256)
        if problem:
            altered.append((pk, problem))
        report.checked += 1
        report.bytes_read += size
        if progress is not None and report.checked % _PROGRESS_STEP == 0:
            progress(_PROGRESS_STEP)
    if progress is not None and report.checked % _PROGRESS_STEP:
        progress(report.checked % _PROGRESS_STEP)
    found = ArchivedObject.objects.select_related("commune").in_bulk([pk for pk, _ in altered])
    report.altered = [(found[pk], problem) for pk, problem in altered]
    return report


def audit_integrity(
    actor: Actor, progress: Callable[[int], None] | None = None, *, full: bool = False
) -> AuditReport:
    """Check the audit checkpoints, then from the last one on (or from the start when
    `full`, or when the checkpoint chain does not hold): the copies of the objects
    deposited since, re-read and re-hashed, and the journal chain and its seals. Journal
    the result, and when all holds, a new checkpoint (see `checkpoints`; why an old copy
    is left to `--full`: docs/archive.md, « Points de contrôle d'audit »)."""
    chain = checkpoints.verify_chain()
    since = None if full else chain.last
    report = check_copies(progress, after=since.last_object_id if since else 0)
    report.since = since
    report.journal_problem = chain.problem or _journal_problem(report)
    with transaction.atomic():
        for obj, problem in report.altered:
            journal.append(
                actor,
                Event.INTEGRITY,
                commune=obj.commune,
                archived_object=obj,
                data={"resultat": "altere", "probleme": problem},
            )
        entry = journal.append(
            actor,
            Event.INTEGRITY,
            data={
                "objets": report.checked,
                "octets": report.bytes_read,
                "alteres": [o.reference for o, _ in report.altered],
                "journal": report.journal_problem or "intègre",
                "depuis": f"point de contrôle n°{report.since.pk}" if report.since else "début",
            },
        )
        if report.ok:
            checkpoint = checkpoints.record(entry, report.fingerprints, chain.last)
            journal.append(
                actor,
                Event.CHECKPOINT,
                data={
                    "point": checkpoint.pk,
                    "empreinte": checkpoint.hash,
                    "derniere_entree": checkpoint.last_seq,
                    "objets": checkpoint.copies,
                },
            )
    return report


# The daily task makes its audit a full one when the last was longer ago than this: the
# incremental audit does not re-read the copies a checkpoint covers (docs/archive.md).
FULL_AUDIT_EVERY = timedelta(days=30)


def full_audit_due(now: datetime | None = None) -> bool:
    """Whether the last full audit (every copy re-read, the journal from its start) is
    older than `FULL_AUDIT_EVERY`, or there never was one."""
    last = (
        JournalEntry.objects.filter(event=Event.INTEGRITY, data__depuis="début")
        .order_by("-seq")
        .values_list("at", flat=True)
        .first()
    )
    return last is None or (now or timezone.now()) - last >= FULL_AUDIT_EVERY


def copies_to_reread(full: bool = False) -> int:
    """How many copies `audit_integrity` will re-read (for a progress bar's total)."""
    last = None if full else AuditCheckpoint.objects.order_by("-id").first()
    sealed = ArchivedObject.objects.filter(state=ObjectState.SEALED)
    return sealed.filter(pk__gt=last.last_object_id).count() if last else sealed.count()


def _journal_problem(report: AuditReport) -> str:
    """The journal's verdict, from the checkpoint `report.since` when there is one:
    the objects it covered must still carry the SHA-256 it recorded."""
    since = report.since
    if since is None:
        return journal.verify().problem
    digest = checkpoints.copies_digest(report.fingerprints, since.last_object_id)
    if digest != since.copies_digest:
        return (
            f"empreintes des objets n°1 à {since.last_object_id} modifiées en base depuis "
            f"le point de contrôle n°{since.pk}"
        )
    return journal.verify(since.last_seq, since.chain_hash).problem


def verify_object(obj: ArchivedObject) -> list[str]:
    """Deep check of one object: bytes (SHA-256 and SHA-512), token, journal entries."""
    problems = []
    if obj.state == ObjectState.SEALED:
        problem = check_bytes(obj, deep=True)
        if problem:
            problems.append(f"{obj.reference} « {obj.title} » : {problem}")
    digest, path_problem = stamped_digest(obj)
    if path_problem:
        problems.append(f"{obj.reference} : jeton d'horodatage du lot — {path_problem}")
    try:
        tsa.check_response(bytes(obj.timestamp_token), digest)
    except tsa.TimeStampError as exc:
        problems.append(f"{obj.reference} : jeton d'horodatage — {exc}")
    for entry in obj.journal.all():
        if journal.compute_hash(entry) != entry.hash:
            problems.append(f"{obj.reference} : entrée n°{entry.seq} du journal modifiée")
    chain = journal.verify()
    if not chain.ok:
        problems.append(f"journal : {chain.problem}")
    return problems


# --------------------------------------------------------------------------- retention changes


def change_retention(actor: Actor, obj: ArchivedObject, rule: RetentionRule) -> ArchivedObject:
    """Apply another rule to an object; only ever to keep it longer (or for ever)."""
    new_end = retention_end_for(rule, obj.act_date)
    shorter = (
        obj.retention_end is None
        and new_end is not None
        or (new_end is not None and obj.retention_end is not None and new_end < obj.retention_end)
        or (obj.final_fate == FinalFate.KEEP and rule.final_fate != FinalFate.KEEP)
    )
    if shorter:
        raise ValidationError(
            "Une durée de conservation ne peut qu'être prolongée : cette règle la raccourcit."
        )
    if obj.state != ObjectState.SEALED:
        raise ValidationError("Ce document a été éliminé.")
    with transaction.atomic():
        before = (obj.retention_rule.code, obj.retention_end, obj.final_fate)
        obj.retention_rule, obj.retention_end, obj.final_fate = rule, new_end, rule.final_fate
        obj.save(update_fields=["retention_rule", "retention_end", "final_fate"])
        data = {
            "avant": {"regle": before[0], "fin": str(before[1] or ""), "sort": before[2]},
            "apres": {"regle": rule.code, "fin": str(new_end or ""), "sort": rule.final_fate},
        }
        journal.append(actor, Event.RETENTION, commune=obj.commune, archived_object=obj, data=data)
        audit.record(
            actor, "archive.retention_changed", commune=obj.commune, target=obj.reference, data=data
        )
    return obj


def update_rule(
    actor: Actor, rule: RetentionRule, *, years: int | None, final_fate: str, source: str
) -> RetentionRule:
    """Edit a line of the table (the operator). Objects already deposited keep the end
    computed at deposit: a shorter rule never shortens an existing retention."""
    if final_fate not in FinalFate.values:
        raise ValidationError("Sort final inconnu.")
    if years is None and final_fate != FinalFate.KEEP:
        raise ValidationError("Une durée illimitée implique la conservation définitive.")
    if years is not None and not 0 < years <= 200:
        raise ValidationError("Durée entre 1 et 200 ans.")
    with transaction.atomic():
        before = {"ans": rule.years, "sort": rule.final_fate}
        rule.years, rule.final_fate, rule.source = years, final_fate, source[:300]
        rule.save()
        data = {"regle": rule.code, "avant": before, "apres": {"ans": years, "sort": final_fate}}
        journal.append(actor, Event.RULE, data=data)
        audit.record(actor, "archive.rule_changed", target=rule.code, data=data)
    return rule


# --------------------------------------------------------------------------- elimination


def propose_elimination(actor: Actor, obj: ArchivedObject, reason: str) -> EliminationProposal:
    """Step one, by the commune's admin: only once the retention is over."""
    if not is_expired(obj):
        if obj.final_fate == FinalFate.KEEP:
            raise ValidationError("Ce document est à conserver définitivement.")
        raise ValidationError(
            "La durée de conservation de ce document n'est pas écoulée "
            f"(fin le {obj.retention_end:%d/%m/%Y})."
            if obj.retention_end
            else "Ce document n'est pas éliminable."
        )
    if obj.proposals.filter(state=ProposalState.PROPOSED).exists():
        raise ValidationError("Une proposition d'élimination attend déjà le visa.")
    with transaction.atomic():
        proposal = EliminationProposal.objects.create(
            commune=obj.commune,
            archived_object=obj,
            reason=reason.strip()[:2000],
            proposed_by_label=actor.display[:254],
            proposed_at=timezone.now(),
        )
        journal.append(
            actor,
            Event.PROPOSAL,
            commune=obj.commune,
            archived_object=obj,
            data={"proposition": proposal.pk, "motif": proposal.reason},
        )
        audit.record(
            actor, "archive.elimination_proposed", commune=obj.commune, target=obj.reference
        )
    return proposal


def _require_archivist(actor: Actor) -> None:
    if actor.user is None or not scoping.is_operator(actor.user, roles=ARCHIVIST_ROLES):
        raise ValidationError("Le visa d'élimination est réservé à l'archiviste de l'opérateur.")


def approve_elimination(actor: Actor, proposal: EliminationProposal, note: str = "") -> dict:
    """Step two, the visa: destroy the bytes and write the elimination certificate in
    the journal. The notice (metadata, fingerprints, token) stays."""
    _require_archivist(actor)
    if proposal.state != ProposalState.PROPOSED:
        raise ValidationError("Cette proposition a déjà été traitée.")
    obj = proposal.archived_object
    if not is_expired(obj):
        raise ValidationError("La durée de conservation de ce document n'est pas écoulée.")
    now = timezone.now()
    with transaction.atomic():
        proposal.state = ProposalState.APPROVED
        proposal.decided_by_label = actor.display[:254]
        proposal.decided_at = now
        proposal.decision_note = note.strip()[:2000]
        proposal.save()
        obj.state, obj.eliminated_at = ObjectState.ELIMINATED, now
        obj.save(update_fields=["state", "eliminated_at"])
        shared = (
            ArchivedObject.objects.filter(blob_key=obj.blob_key, state=ObjectState.SEALED)
            .exclude(pk=obj.pk)
            .exists()
        )
        certificate = {
            "certificat": "élimination",
            "reference": obj.reference,
            "titre": obj.title,
            "nature": obj.kind,
            "date_acte": obj.act_date.isoformat(),
            "sha256": obj.sha256,
            "sha512": obj.sha512,
            "taille": obj.size,
            "regle": obj.retention_rule.code,
            "fin_conservation": obj.retention_end.isoformat() if obj.retention_end else "",
            "sort_final": obj.final_fate,
            "propose_par": proposal.proposed_by_label,
            "propose_le": proposal.proposed_at.isoformat(),
            "motif": proposal.reason,
            "vise_par": proposal.decided_by_label,
            "vise_le": now.isoformat(),
            "observation": proposal.decision_note,
            "octets_detruits": not shared,
        }
        journal.append(
            actor, Event.ELIMINATION, commune=obj.commune, archived_object=obj, data=certificate
        )
        audit.record(
            actor, "archive.eliminated", commune=obj.commune, target=obj.reference, data=certificate
        )
        if not shared:
            transaction.on_commit(lambda: store.destroy(obj.blob_key))
    return certificate


def refuse_elimination(actor: Actor, proposal: EliminationProposal, note: str) -> None:
    _require_archivist(actor)
    if proposal.state != ProposalState.PROPOSED:
        raise ValidationError("Cette proposition a déjà été traitée.")
    with transaction.atomic():
        proposal.state = ProposalState.REFUSED
        proposal.decided_by_label = actor.display[:254]
        proposal.decided_at = timezone.now()
        proposal.decision_note = note.strip()[:2000]
        proposal.save()
        journal.append(
            actor,
            Event.REFUSAL,
            commune=proposal.commune,
            archived_object=proposal.archived_object,
            data={"proposition": proposal.pk, "observation": proposal.decision_note},
        )
        audit.record(
            actor,
            "archive.elimination_refused",
            commune=proposal.commune,
            target=proposal.archived_object.reference,
        )


# --------------------------------------------------------------------------- evidence


def metadata(obj: ArchivedObject) -> dict[str, Any]:
    info = tsa.token_info(bytes(obj.timestamp_token))
    return {
        "reference": obj.reference,
        "intitule": obj.title,
        "nature": obj.kind,
        "date_acte": obj.act_date.isoformat(),
        "auteur": obj.author,
        "commune": {"insee": obj.commune.insee, "nom": obj.commune.name},
        "nom_du_fichier": obj.filename,
        "taille": obj.size,
        "sha256": obj.sha256,
        "sha512": obj.sha512,
        "format": {
            "pronom": obj.puid,
            "nom": obj.format_name,
            "perenne": obj.long_term_fit,
        },
        "conservation": {
            "regle": obj.retention_rule.code,
            "libelle": obj.retention_rule.label,
            "duree": obj.retention_rule.duration_label,
            "fin": obj.retention_end.isoformat() if obj.retention_end else None,
            "sort_final": obj.final_fate,
            "reference": obj.retention_rule.source,
        },
        "horodatage": {
            "autorite": obj.tsa_name,
            "qualifie": obj.tsa_qualified,
            "date": info.gen_time.isoformat(),
            "numero_de_serie": str(info.serial),
            "politique": info.policy,
            "fichier": "horodatage.tsr",
        }
        | ({"lot": proof} if (proof := batch_proof(obj)) else {}),
        "depot": {
            "le": obj.deposited_at.isoformat(),
            "par": obj.deposited_by_label,
            "origine": obj.source,
        },
        "etat": obj.state,
    }


def _journal_section(obj: ArchivedObject) -> tuple[dict[str, Any], dict[str, bytes]]:
    entries, seals, tokens = [], {}, {}
    for entry in obj.journal.order_by("seq"):
        item = journal.entry_payload(entry) | {"hash": entry.hash}
        found = journal.proof_for(entry)
        if found is not None:
            seal, path = found
            item["preuve"] = {"premiere": seal.first_seq, "derniere": seal.last_seq, "chemin": path}
            name = f"sceaux/sceau-{seal.first_seq}-{seal.last_seq}.tsr"
            seals[seal.pk] = {
                "premiere": seal.first_seq,
                "derniere": seal.last_seq,
                "journee": seal.day.isoformat(),
                "racine": seal.root,
                "jeton": name,
            }
            tokens[name] = bytes(seal.timestamp_token)
        entries.append(item)
    return {"entrees": entries, "sceaux": list(seals.values())}, tokens


def attestation_pdf(obj: ArchivedObject, meta: dict[str, Any], section: dict[str, Any]) -> bytes:
    from weasyprint import HTML

    html = render_to_string(
        "archive/attestation.html",
        {"obj": obj, "meta": meta, "journal": section, "generated_at": timezone.now()},
    )
    # PDF/A-2b, uncompressed so that FIDO sees its XMP identification (fmt/477).
    return bytes(HTML(string=html).write_pdf(pdf_variant="pdf/a-2b", uncompressed_pdf=True))


README = """Paquet de preuve Clocher — {reference}

document/{filename}       le document archivé
metadonnees.json          notice : empreintes SHA-256/SHA-512, format, conservation
horodatage.tsr            jeton d'horodatage RFC 3161 (TimeStampResp) du document
autorite-horodatage.pem   certificat de l'autorité d'horodatage{qualified}
journal.json              entrées du journal d'archivage, preuves de Merkle, sceaux
sceaux/*.tsr              jetons d'horodatage des racines de Merkle des sceaux
attestation.pdf           attestation lisible
verifier.py               vérification hors ligne (Python 3 et openssl)

Vérifier :
  openssl ts -verify {target} -in horodatage.tsr \\
      -CAfile autorite-horodatage.pem{batch}
  python3 verifier.py {zipname}
"""


BATCH_NOTE = """
  (document déposé en lot : le jeton porte sur la racine de Merkle du lot ; verifier.py
  vérifie que le chemin inscrit dans l'entrée de dépôt mène du SHA-256 du document à
  cette racine)"""


def evidence_package(actor: Actor, obj: ArchivedObject) -> bytes:
    """The evidence package (zip) of `obj`; journals the request, then seals the
    journal so that every entry of the object comes with its Merkle proof."""
    journal.append(actor, Event.EVIDENCE, commune=obj.commune, archived_object=obj)
    journal.seal_pending()
    meta = metadata(obj)
    lot = meta["horodatage"].get("lot")
    section, tokens = _journal_section(obj)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if obj.state == ObjectState.SEALED:
            archive.writestr(f"document/{obj.filename}", checked_bytes(obj))
        archive.writestr("metadonnees.json", json.dumps(meta, ensure_ascii=False, indent=2))
        archive.writestr("horodatage.tsr", bytes(obj.timestamp_token))
        pem = tsa.certificate_pem()
        if pem:
            archive.writestr("autorite-horodatage.pem", pem)
        archive.writestr("journal.json", json.dumps(section, ensure_ascii=False, indent=2))
        for name, token in tokens.items():
            archive.writestr(name, token)
        archive.writestr("attestation.pdf", attestation_pdf(obj, meta, section))
        archive.writestr("verifier.py", Path(offline.__file__).read_bytes())
        archive.writestr(
            "LISEZMOI.txt",
            README.format(
                reference=obj.reference,
                filename=obj.filename,
                target=f"-digest {lot['racine']}" if lot else f"-data document/{obj.filename}",
                batch=BATCH_NOTE if lot else "",
                zipname=f"preuve-{obj.reference}.zip",
                qualified="" if obj.tsa_qualified else " (NON QUALIFIÉE)",
            ),
        )
    return buffer.getvalue()


def verify_package(path: str | Path) -> list[str]:
    return offline.check_package(path)


def entries_of(obj: ArchivedObject) -> QuerySet[JournalEntry]:
    return obj.journal.order_by("seq")
