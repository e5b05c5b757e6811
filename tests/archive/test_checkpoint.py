"""Audit checkpoints: a successful audit leaves a time-stamped, chained checkpoint; the
next audit checks the checkpoint chain and re-reads and re-hashes only the objects and
journal entries newer than it; `--full` re-reads and re-hashes everything (and so finds
an old copy or entry altered behind the checkpoint, which the incremental audit, relying
on the checkpoint's token, does not re-read)."""

from __future__ import annotations

from click.testing import CliRunner
from django.db import connection

from clocher.archive import services
from clocher.archive.models import AuditCheckpoint, JournalEntry
from clocher.cli import main
from tests.archive.conftest import ACTOR, deposit, drop_journal_triggers, drop_trigger, pdf


def _audited(commune, count: int = 3) -> AuditCheckpoint:
    for n in range(count):
        deposit(commune, title=f"Arrêté {n}", code="arretes", data=pdf(f"Arrêté {n}"))
    assert services.audit_integrity(ACTOR).ok
    return AuditCheckpoint.objects.get()


def _drop_checkpoint_triggers() -> None:
    table = "archive_auditcheckpoint"
    if connection.vendor == "postgresql":
        drop_trigger(f"{table}_append_only", table)
    else:
        for op in ("update", "delete"):
            drop_trigger(f"{table}_append_only_{op}", table)


def test_a_successful_audit_leaves_a_chained_checkpoint(commune_a, db):
    first = _audited(commune_a)
    assert first.last_seq == JournalEntry.objects.get(data__point=first.pk).seq - 1
    report = services.audit_integrity(ACTOR)
    assert report.ok and report.since == first
    second = AuditCheckpoint.objects.latest("id")
    assert second.prev_hash == first.hash and second.last_seq > first.last_seq
    assert JournalEntry.objects.filter(event="point_de_controle").count() == 2


def test_checkpointed_audit_finds_a_modified_newer_entry(commune_a, db):
    _audited(commune_a)
    newer = deposit(commune_a, title="Arrêté récent", code="arretes", data=pdf("récent"))
    entry = JournalEntry.objects.get(archived_object=newer)
    drop_journal_triggers()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE archive_journalentry SET actor_label = 'faussaire' WHERE seq = %s", [entry.seq]
        )
    report = services.audit_integrity(ACTOR)
    assert report.since is not None
    assert report.journal_problem == f"entrée n°{entry.seq} modifiée : empreinte différente"
    assert AuditCheckpoint.objects.count() == 1  # no checkpoint over a broken journal


def _flip_last_bit(archive_dir, obj) -> None:
    path = archive_dir / "blobs" / str(obj.commune_id) / obj.sha256[:2] / obj.sha256
    sealed = bytearray(path.read_bytes())
    sealed[-1] ^= 0x01
    path.write_bytes(bytes(sealed))


def test_a_tampered_old_copy_is_found_by_full_only(commune_a, archive_dir, db):
    """The checkpoint vouches for the copies it covered: the incremental audit does not
    re-read them; `clocher archive audit --full` does, and names the altered one."""
    checkpoint = _audited(commune_a)
    old = JournalEntry.objects.filter(event="depot").first().archived_object
    _flip_last_bit(archive_dir, old)
    report = services.audit_integrity(ACTOR)
    assert report.ok and report.since == checkpoint and report.checked == 0

    result = CliRunner().invoke(main, ["archive", "audit", "--full"])
    assert result.exit_code == 1, result.output
    assert f"{old.reference} (ID {old.pk})" in result.output
    assert "copie chiffrée illisible (altérée)" in result.output


def test_a_new_object_after_the_checkpoint_is_reread(commune_a, archive_dir, db):
    checkpoint = _audited(commune_a)
    newer = deposit(commune_a, title="Arrêté récent", code="arretes", data=pdf("récent"))
    assert services.copies_to_reread() == 1 and services.copies_to_reread(full=True) == 4
    report = services.audit_integrity(ACTOR)
    assert report.ok and report.since == checkpoint
    assert (report.checked, report.bytes_read) == (1, newer.size)

    latest = AuditCheckpoint.objects.latest("id")
    assert latest.last_object_id == newer.pk
    newest = deposit(commune_a, title="Arrêté du jour", code="arretes", data=pdf("du jour"))
    _flip_last_bit(archive_dir, newest)
    report = services.audit_integrity(ACTOR)
    assert report.since == latest and report.checked == 1
    assert [(o.pk, p) for o, p in report.altered] == [
        (newest.pk, "copie chiffrée illisible (altérée)")
    ]


def test_a_checkpoint_with_a_bad_token_is_refused(commune_a, db):
    checkpoint = _audited(commune_a)
    _drop_checkpoint_triggers()
    other = _audited_token_for_another_digest(checkpoint)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE archive_auditcheckpoint SET timestamp_token = %s WHERE id = %s",
            [other, checkpoint.pk],
        )
    report = services.audit_integrity(ACTOR)
    assert not report.ok
    assert report.journal_problem.startswith(f"point de contrôle n°{checkpoint.pk} : ")
    assert "ne porte pas sur ce document" in report.journal_problem


def _audited_token_for_another_digest(checkpoint: AuditCheckpoint) -> bytes:
    """A genuine token of the same TSA, but over another digest."""
    from clocher.archive import tsa

    return tsa.stamp(bytes.fromhex("00" * 32)).response


def test_a_forged_checkpoint_breaking_the_chain_is_refused(commune_a, db):
    """An intruder rewrites an old entry and the chain after it, then makes a checkpoint
    over the forged chain, with a genuine token: its link to the previous one is broken
    (and if it pretended to be the first, the older checkpoint's anchor would not match)."""
    from clocher.archive import checkpoints, journal, tsa

    first = _audited(commune_a)
    deposit(commune_a, title="Arrêté récent", code="arretes", data=pdf("récent"))
    last = JournalEntry.objects.order_by("-seq").first()
    forged = AuditCheckpoint(
        last_seq=last.seq,
        chain_hash=last.hash,
        last_object_id=0,
        copies=0,
        copies_digest=checkpoints.copies_digest([], 0),
        at=first.at,
        prev_hash=journal.GENESIS_HASH,  # not first.hash: the chain is broken
    )
    forged.hash = checkpoints.checkpoint_hash(forged)
    forged.timestamp_token = tsa.stamp(bytes.fromhex(forged.hash)).response
    forged.save(force_insert=True)
    report = services.audit_integrity(ACTOR)
    assert (
        report.journal_problem
        == f"point de contrôle n°{forged.pk} : lien vers le point précédent rompu"
    )


def test_an_edited_checkpoint_is_refused(commune_a, db):
    checkpoint = _audited(commune_a)
    _drop_checkpoint_triggers()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE archive_auditcheckpoint SET last_seq = 1 WHERE id = %s", [checkpoint.pk]
        )
    report = services.audit_integrity(ACTOR)
    assert (
        report.journal_problem
        == f"point de contrôle n°{checkpoint.pk} modifié : empreinte différente"
    )


def test_an_edited_old_entry_is_found_by_full_only(commune_a, db):
    """The incremental audit does not re-hash entries its checkpoint's token vouches for;
    `clocher archive audit --full` does."""
    _audited(commune_a)
    drop_journal_triggers()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE archive_journalentry SET actor_label = 'faussaire' WHERE seq = 2")
    assert services.audit_integrity(ACTOR).ok  # relies on the checkpoint for entry 2

    result = CliRunner().invoke(main, ["archive", "audit", "--full"])
    assert result.exit_code == 1, result.output
    assert "entrée n°2 modifiée" in result.output
    result = CliRunner().invoke(main, ["archive", "audit"])
    assert result.exit_code == 0 and "depuis le point de contrôle" in result.output


def test_an_old_objects_fingerprint_changed_in_the_database_is_found(commune_a, archive_dir, db):
    """Rewriting an old object's SHA-256 (and its copy) behind the triggers breaks the
    checkpoint's digest of the copies' hashes."""
    checkpoint = _audited(commune_a)
    drop_trigger("archive_object_write_once", "archive_archivedobject")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE archive_archivedobject SET sha256 = %s WHERE id = %s",
            ["ab" * 32, checkpoint.last_object_id],
        )
    report = services.audit_integrity(ACTOR)
    assert not report.ok and report.checked == 0  # found without re-reading the copy
    assert f"depuis le point de contrôle n°{checkpoint.pk}" in report.journal_problem


def test_a_full_audit_falls_due_a_month_after_the_last(commune_a, db):
    """The daily task re-reads every copy once a month: the incremental audits between
    rely on the checkpoints for the older copies."""
    from datetime import timedelta

    def last_audit_at():
        return JournalEntry.objects.filter(event="controle_integrite").latest("seq").at

    month, second = services.FULL_AUDIT_EVERY, timedelta(seconds=1)
    assert services.full_audit_due()  # never audited
    _audited(commune_a)  # the first audit, from the start, counts as a full one
    first = last_audit_at()
    assert not services.full_audit_due(first + month - second)
    assert services.full_audit_due(first + month)
    assert services.audit_integrity(ACTOR).since is not None  # incremental: does not count
    assert services.full_audit_due(first + month)
    assert services.audit_integrity(ACTOR, full=True).ok
    assert not services.full_audit_due(last_audit_at() + month - second)
