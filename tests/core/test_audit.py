"""The audit journal is hash-chained: any edit or deletion is found and named."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from django.db import connection, transaction

from clocher.cli import main
from clocher.core import audit
from clocher.core.models import AuditEntry


def _write(actor, n: int) -> None:
    for i in range(n):
        with transaction.atomic():
            audit.record(actor, "test.event", target=f"objet {i}", data={"i": i, "é": "à"})


@pytest.mark.django_db
def test_chain_verifies_and_links_entries(actor):
    _write(actor, 5)
    entries = list(AuditEntry.objects.order_by("seq"))
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == audit.GENESIS_HASH
    for previous, entry in zip(entries, entries[1:], strict=False):
        assert entry.prev_hash == previous.hash
    result = audit.verify()
    assert result.ok and result.checked == 5


@pytest.mark.django_db
def test_edited_entry_is_named(actor):
    _write(actor, 5)
    # Tamper below the ORM, as an attacker with database access would.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE core_auditentry SET target = 'falsifié' WHERE seq = 3")
    result = audit.verify()
    assert not result.ok
    assert result.first_break.seq == 3
    assert "modifiée" in result.first_break.reason
    assert result.checked == 2


@pytest.mark.django_db
def test_deleted_entry_is_named(actor):
    _write(actor, 5)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM core_auditentry WHERE seq = 4")
    result = audit.verify()
    assert result.first_break.seq == 4
    assert "absente" in result.first_break.reason


@pytest.mark.django_db
def test_rehashed_edit_still_breaks_the_next_link(actor):
    _write(actor, 4)
    entry = AuditEntry.objects.get(seq=2)
    entry.target = "réécrit"
    entry.hash = audit.compute_hash(entry)
    entry.save()
    result = audit.verify()
    assert result.first_break.seq == 3
    assert "lien" in result.first_break.reason


@pytest.mark.django_db(transaction=True)
def test_record_outside_a_transaction_is_refused(actor):
    with pytest.raises(RuntimeError):
        audit.record(actor, "test.event")


@pytest.mark.django_db(transaction=True)
def test_cli_audit_verify_exit_codes(actor):
    _write(actor, 3)
    runner = CliRunner()
    ok = runner.invoke(main, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "3 entrée(s)" in ok.output
    with connection.cursor() as cursor:
        cursor.execute("UPDATE core_auditentry SET action = 'x' WHERE seq = 2")
    broken = runner.invoke(main, ["audit", "verify"])
    assert broken.exit_code == 2
    assert "n°2" in broken.output


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_fork_the_chain(actor):
    """Writers from several threads (several connections) are serialised by the lock."""
    import threading

    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            _write(actor, n)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(15,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert AuditEntry.objects.count() == 60
    result = audit.verify()
    assert result.ok, result.first_break


@pytest.mark.django_db
def test_record_many_chains_like_successive_records(actor, commune_a):
    """A batch append continues the chain exactly; verify sees no seam on either side."""
    _write(actor, 2)
    base = AuditEntry.objects.count()
    events = [
        audit.Event("test.batch", commune=commune_a, target=f"lot {i}", data={"i": i})
        for i in range(5)
    ]
    with transaction.atomic():
        appended = audit.record_many(actor, events)
        assert audit.record_many(actor, []) == []
    _write(actor, 1)
    entries = list(AuditEntry.objects.order_by("seq"))
    assert [e.seq for e in entries] == list(range(1, base + 7))
    assert [e.seq for e in appended] == list(range(base + 1, base + 6))
    batch = entries[base : base + 5]
    assert [e.target for e in batch] == [f"lot {i}" for i in range(5)]
    assert all(e.commune_insee == commune_a.insee for e in batch)
    for previous, entry in zip(entries, entries[1:], strict=False):
        assert entry.prev_hash == previous.hash
    result = audit.verify()
    assert result.ok and result.checked == base + 6
    # An entry of the batch edited below the ORM is named like any other.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE core_auditentry SET target = 'falsifié' WHERE seq = %s", [base + 3])
    assert audit.verify().first_break.seq == base + 3


@pytest.mark.django_db(transaction=True)
def test_record_many_outside_a_transaction_is_refused(actor):
    with pytest.raises(RuntimeError):
        audit.record_many(actor, [audit.Event("test.event")])
    assert AuditEntry.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_record_many_beside_single_writers_never_forks_the_chain(actor):
    """Batch and single writers on several connections share the one chain lock."""
    import threading

    errors: list[BaseException] = []

    def batcher() -> None:
        try:
            for _ in range(5):
                with transaction.atomic():
                    audit.record_many(actor, [audit.Event("test.batch")] * 6)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    def single() -> None:
        try:
            _write(actor, 15)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=f) for f in (batcher, batcher, single, single)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert AuditEntry.objects.count() == 90
    result = audit.verify()
    assert result.ok, result.first_break
