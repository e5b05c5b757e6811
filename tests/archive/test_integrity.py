"""Integrity: altered bytes are found by the audit and by `verify`, naming the object;
an edited or deleted journal entry is found and named; the archived copy does not
depend on the vault."""

from __future__ import annotations

from click.testing import CliRunner
from django.db import connection

from clocher.archive import journal, services, tsa
from clocher.archive.models import JournalEntry
from clocher.cli import main
from clocher.vault import services as vault
from tests.archive.conftest import ACTOR, deposit, drop_journal_triggers, pdf, rule


def _blob_path(archive_dir, obj):
    return archive_dir / "blobs" / str(obj.commune_id) / obj.sha256[:2] / obj.sha256


def test_altered_bytes_are_named_by_audit_and_verify(commune_a, archive_dir, db):
    intact = deposit(commune_a, title="Délibération intacte")
    altered = deposit(commune_a, title="Délibération altérée", data=pdf("autre contenu"))
    path = _blob_path(archive_dir, altered)
    sealed = bytearray(path.read_bytes())
    sealed[40] ^= 0x01  # one bit flipped on disk
    path.write_bytes(bytes(sealed))

    result = CliRunner().invoke(main, ["archive", "audit"])
    assert result.exit_code == 1, result.output
    assert altered.reference in result.output and "Délibération altérée" in result.output
    assert intact.reference not in result.output
    last = JournalEntry.objects.filter(event="controle_integrite").last()
    assert last is not None and last.data["alteres"] == [altered.reference]

    result = CliRunner().invoke(main, ["archive", "verify", str(altered.pk)])
    assert result.exit_code == 1 and altered.reference in result.output
    assert "illisible" in result.output
    result = CliRunner().invoke(main, ["archive", "verify", str(intact.pk)])
    assert result.exit_code == 0, result.output


def test_missing_copy_is_reported(commune_a, archive_dir, db):
    obj = deposit(commune_a)
    _blob_path(archive_dir, obj).unlink()
    report = services.audit_integrity(ACTOR)
    assert [(o.reference, p) for o, p in report.altered] == [
        (obj.reference, "copie archivée absente")
    ]


def test_edited_journal_entry_is_named(commune_a, db):
    for n in range(4):
        deposit(commune_a, title=f"Arrêté {n}", code="arretes")
    assert journal.verify().ok
    drop_journal_triggers()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE archive_journalentry SET actor_label = 'faussaire' WHERE seq = 3")
    report = journal.verify()
    assert not report.ok and report.broken_seq == 3
    assert "entrée n°3 modifiée" in report.problem
    result = CliRunner().invoke(main, ["archive", "audit"])
    assert result.exit_code == 1 and "entrée n°3 modifiée" in result.output


def test_deleted_journal_entry_is_named(commune_a, db):
    for n in range(4):
        deposit(commune_a, title=f"Arrêté {n}", code="arretes")
    drop_journal_triggers()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE archive_journalentry SET archived_object_id = NULL WHERE seq = 2")
        cursor.execute("DELETE FROM archive_journalentry WHERE seq = 2")
    report = journal.verify()
    assert report.broken_seq == 2 and "n°2 du journal absente" in report.problem


def test_sealed_day_detects_rewritten_entries(commune_a, db):
    """Even a forger who recomputes the whole chain is caught by the time-stamped root."""
    deposit(commune_a, title="Arrêté A", code="arretes")
    deposit(commune_a, title="Arrêté B", code="arretes")
    journal.seal_pending()
    drop_journal_triggers()
    entries = list(JournalEntry.objects.order_by("seq"))
    prev = journal.GENESIS_HASH
    with connection.cursor() as cursor:
        for entry in entries:
            entry.prev_hash = prev
            if entry.seq == 2:
                entry.data = entry.data | {"titre": "Arrêté falsifié"}
            entry.hash = journal.compute_hash(entry)
            prev = entry.hash
            cursor.execute(
                "UPDATE archive_journalentry SET data = %s, prev_hash = %s, hash = %s "
                "WHERE seq = %s",
                [__import__("json").dumps(entry.data), entry.prev_hash, entry.hash, entry.seq],
            )
    report = journal.verify()
    assert "sceau des entrées 1–2 : racine différente" in report.problem


def test_seal_past_the_end_of_the_journal_is_named(commune_a, db):
    """The last sealed entry deleted: the chain that remains holds, the seal does not."""
    deposit(commune_a, title="Arrêté A", code="arretes")
    deposit(commune_a, title="Arrêté B", code="arretes")
    journal.seal_pending()
    drop_journal_triggers()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE archive_journalentry SET archived_object_id = NULL WHERE seq = 2")
        cursor.execute("DELETE FROM archive_journalentry WHERE seq = 2")
    report = journal.verify()
    assert report.checked == 1
    assert "sceau des entrées 1–2 : racine différente" in report.problem
    with connection.cursor() as cursor:  # every sealed entry gone: named, not a crash
        cursor.execute("UPDATE archive_journalentry SET archived_object_id = NULL WHERE seq = 1")
        cursor.execute("DELETE FROM archive_journalentry WHERE seq = 1")
    report = journal.verify()
    assert report.checked == 0
    assert "sceau des entrées 1–2 : racine différente" in report.problem


def test_audit_reports_progress_for_every_object(commune_a, db):
    for n in range(3):
        deposit(commune_a, title=f"Arrêté {n}", data=pdf(f"arrêté {n}"))
    steps: list[int] = []
    report = services.audit_integrity(ACTOR, steps.append)
    assert report.ok and report.checked == 3 and sum(steps) == 3


def test_archived_copy_survives_vault_purge_and_gc(commune_a, agent_a, db, settings):
    root = vault.root_of(vault.ensure_commune_space(ACTOR, commune_a))
    node = vault.write_bytes(ACTOR, root, "délibération.pdf", pdf("du coffre"))
    given = services.DepositInput(
        "Délibération du coffre", "Délibération", node.modified_at.date(), "Le conseil",
        rule("deliberations"), "", b"",
    )  # fmt: skip
    obj = services.deposit_from_vault(ACTOR, agent_a, commune_a, node.pk, given).obj
    assert obj.source.startswith("coffre-fort : ") and obj.filename == "délibération.pdf"
    vault.trash(ACTOR, node)
    vault.purge(ACTOR, node)
    vault.collect_garbage(remove=True, grace_seconds=0)
    assert services.audit_integrity(ACTOR).ok
    assert services.read_document(ACTOR, obj) == pdf("du coffre")


def test_token_check_refuses_another_document(commune_a, db):
    obj = deposit(commune_a)
    other = bytes.fromhex(deposit(commune_a, title="Autre", data=pdf("autre")).sha256)
    try:
        tsa.check_response(bytes(obj.timestamp_token), other)
    except tsa.TimeStampError as exc:
        assert "ne porte pas sur ce document" in str(exc)
    else:
        raise AssertionError("token accepted for another document")


def test_daily_task_seals_the_day_and_audits(commune_a, db):
    """The scheduled task (django-tasks; the immediate backend in tests) seals the
    journal of the days before today and journals an integrity check."""
    from datetime import timedelta

    from django.utils import timezone

    from clocher.archive import tasks
    from clocher.archive.models import JournalSeal

    deposit(commune_a)
    assert tasks.daily_seal_and_audit.enqueue().return_value.startswith("rien à sceller")
    tomorrow = timezone.localdate() + timedelta(days=1)
    assert journal.seal_days_before(tomorrow) is not None  # what tomorrow's run will do
    seal = JournalSeal.objects.get()
    assert (seal.first_seq, seal.day) == (1, timezone.localdate())
    assert JournalEntry.objects.filter(event="controle_integrite").count() == 1
