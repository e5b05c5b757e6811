"""Multi-row INSERTs of plain values (`core.bulk`): what `bulk_create` stored, in the same
columns, with ids in the rows' order (issue 14: the import's rows)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from clocher.core import bulk
from clocher.core.models import AuditEntry
from clocher.vault.models import Chunk

pytestmark = pytest.mark.django_db

AT = datetime(2026, 12, 5, 17, 0, 0, 123456, tzinfo=UTC)


@pytest.mark.parametrize("watched", [False, True], ids=["driver", "django-cursor"])
def test_rows_are_stored_as_the_orm_stores_them_with_ids_in_order(commune_a, monkeypatch, watched):
    # Three rows a statement (SQLite: 12 columns, 40 parameters; PostgreSQL: a JSON
    # document of three rows), so that the rows span several statements.
    monkeypatch.setattr(bulk, "_max_parameters", lambda: 40)
    monkeypatch.setattr(bulk, "_JSON_ROWS", 3)
    columns = ["seq", "at", "actor_label", "commune_id", "action", "data", "ip", "prev_hash"]
    rows = [
        (
            1000 - i,  # ids and seqs in opposite orders: the ids must follow the rows
            AT + timedelta(seconds=i),
            f"agent {i}",
            commune_a.pk if i % 2 else None,
            "test.bulk",
            {"i": i, "é": ["à", None, 1.5]},
            "192.0.2.7" if i % 3 else None,
            f"{i:064x}",
        )
        for i in range(23)
    ]
    columns.append("hash")
    rows = [(*row, f"{n:064x}") for n, row in enumerate(rows)]
    context = CaptureQueriesContext(connection) if watched else None
    with transaction.atomic():
        if context is not None:
            with context:
                ids = bulk.insert(AuditEntry, columns, rows, returning=True)
            # 23 rows, 3 a statement.
            assert len(context.captured_queries) == 8
        else:
            ids = bulk.insert(AuditEntry, columns, rows, returning=True)
    assert len(ids) == 23 and len(set(ids)) == 23
    stored = AuditEntry.objects.in_bulk(ids)
    for pk, row in zip(ids, rows, strict=True):
        entry = stored[pk]
        assert (entry.seq, entry.at, entry.actor_label, entry.commune_id) == row[:4]
        assert (entry.action, entry.data, entry.ip, entry.prev_hash, entry.hash) == row[4:]
        # Not given: the field's default, as the ORM would give it.
        assert (entry.commune_insee, entry.actor_id, entry.target) == ("", None, "")


def test_conflicting_rows_are_left_out_when_asked(commune_a):
    columns = ["commune_id", "digest", "size"]
    with transaction.atomic():
        bulk.insert(Chunk, columns, [(commune_a.pk, "a" * 64, 10)])
        bulk.insert(
            Chunk,
            columns,
            [(commune_a.pk, "a" * 64, 10), (commune_a.pk, "b" * 64, 20)],
            ignore_conflicts=True,
        )
        with pytest.raises(IntegrityError), transaction.atomic():
            bulk.insert(Chunk, columns, [(commune_a.pk, "b" * 64, 20)])
    assert sorted(Chunk.objects.values_list("digest", "size")) == [("a" * 64, 10), ("b" * 64, 20)]
    # Stamped on creation, though not given.
    assert all(c.created_at is not None for c in Chunk.objects.all())
    with pytest.raises(ValueError, match="cannot go together"):
        bulk.insert(Chunk, columns, [], returning=True, ignore_conflicts=True)


def test_insert_new_gives_the_ids_of_the_rows_it_made_in_one_statement(commune_a, monkeypatch):
    monkeypatch.setattr(bulk, "_max_parameters", lambda: 8)  # 2 rows of 4 a statement
    monkeypatch.setattr(bulk, "_JSON_ROWS", 2)
    columns = ["commune_id", "digest", "size"]
    with transaction.atomic():
        (there,) = bulk.insert(Chunk, columns, [(commune_a.pk, "a" * 64, 10)], returning=True)
        rows = [(commune_a.pk, d * 64, 10) for d in "bacd"]
        with CaptureQueriesContext(connection) as context:
            made = bulk.insert_new(Chunk, columns, rows, key="digest")
    # The conflicting row is left out, the others' ids are theirs, without a SELECT.
    assert set(made) == {"b" * 64, "c" * 64, "d" * 64}
    assert made == dict(Chunk.objects.exclude(pk=there).values_list("digest", "id"))
    assert len(context.captured_queries) == 2  # two statements of two rows
    assert all(q["sql"].startswith("INSERT") for q in context.captured_queries)
    assert bulk.insert_new(Chunk, columns, [], key="digest") == {}


def test_a_required_column_left_out_is_refused_before_any_statement(commune_a):
    with (
        CaptureQueriesContext(connection) as context,
        pytest.raises(ValueError, match="Chunk.size"),
    ):
        bulk.insert(Chunk, ["commune_id", "digest"], [(commune_a.pk, "c" * 64)])
    assert context.captured_queries == []
    assert bulk.insert(Chunk, ["commune_id", "digest", "size"], []) == []


def test_many_rows_updated_in_few_statements_others_untouched(commune_a, monkeypatch):
    monkeypatch.setattr(bulk, "_max_parameters", lambda: 12)  # 3 rows of 4 a statement
    monkeypatch.setattr(bulk, "_JSON_ROWS", 3)
    columns = ["seq", "at", "actor_label", "action", "data", "prev_hash", "hash"]
    with transaction.atomic():
        ids = bulk.insert(
            AuditEntry,
            columns,
            [
                (10_000 + i, AT, "agent", "test.bulk", {}, "0" * 64, f"{i:064x}")
                for i in range(1, 12)
            ],
            returning=True,
        )
        with CaptureQueriesContext(connection) as context:
            bulk.update(
                AuditEntry,
                ["at", "target", "ip"],
                [
                    (pk, AT + timedelta(days=n), f"cible {n} ‘é’", "192.0.2.1")
                    for n, pk in enumerate(ids[:7])
                ],
            )
        assert len(context.captured_queries) == 3
    changed = AuditEntry.objects.in_bulk(ids)
    for n, pk in enumerate(ids):
        entry = changed[pk]
        if n < 7:
            assert (entry.at, entry.target, entry.ip) == (
                AT + timedelta(days=n),
                f"cible {n} ‘é’",
                "192.0.2.1",
            )
        else:
            assert (entry.at, entry.target, entry.ip) == (AT, "", None)
        assert entry.hash == f"{n + 1:064x}"
