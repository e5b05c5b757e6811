"""Queries compiled once and run with new values (`core/prepared.py`, issue 14): the same
rows and the same updates as the querysets they come from."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import transaction
from django.db.models import F

from clocher.core.audit import Actor
from clocher.core.prepared import Prepared
from clocher.vault import services
from clocher.vault.models import Node

pytestmark = pytest.mark.django_db
ACTOR = Actor(label="tests")


@pytest.fixture
def folders(commune_a) -> list[Node]:
    root = services.root_of(services.ensure_commune_space(ACTOR, commune_a))
    return [services.create_folder(ACTOR, root, name) for name in ("a", "b", "c")]


def test_rows_follow_their_arguments_and_convert_as_the_orm_does(folders):
    by_name = Prepared(
        lambda parent_id, name: Node.objects.filter(parent_id=parent_id, name=name).values_list(
            "pk", "is_folder", "modified_at"
        )
    )
    parent = folders[0].parent_id
    for folder in folders:
        expected = Node.objects.filter(pk=folder.pk).values_list("pk", "is_folder", "modified_at")
        assert [tuple(row) for row in by_name.rows(parent, folder.name)] == list(expected)
    assert by_name.rows(parent, "absent") == []
    row = by_name.rows(parent, "a")[0]
    assert row[1] is True and isinstance(row[2], datetime)  # SQLite: 1 and text, converted


def test_updates_take_times_lists_and_expressions(folders):
    stamp = Prepared(
        lambda etag, when, *ids: (
            Node.objects.filter(pk__in=ids),
            {"etag": etag, "modified_at": when},
        )
    )
    grow = Prepared(lambda pk, delta: (Node.objects.filter(pk=pk), {"size": F("size") + delta}))
    when = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
    with transaction.atomic():
        assert stamp.update("e1", when, folders[0].pk, folders[2].pk) == 2
        assert stamp.update("e2", when, folders[1].pk) == 1  # another length, compiled apart
        assert grow.update(folders[1].pk, 7) == 1
        assert grow.update(folders[1].pk, 5) == 1
    rows = {n.name: n for n in Node.objects.filter(pk__in=[f.pk for f in folders])}
    assert [rows[n].etag for n in "abc"] == ["e1", "e2", "e1"]
    assert all(rows[n].modified_at == when for n in "abc")
    assert rows["b"].size == 12


def test_an_argument_missing_from_the_parameters_is_refused(folders):
    unused = Prepared(lambda pk, other: Node.objects.filter(pk=pk).values_list("pk"))
    with pytest.raises(ValueError, match="not one of its parameters"):
        unused.rows(folders[0].pk, 1)


def test_a_like_pattern_escapes_its_argument_as_the_lookup_does():
    from clocher.vault.models import DavEntry

    for key in ("lock:a%b_c/1", "lock:aXbYc/2", "lock:a%b_d/3"):
        DavEntry.objects.create(key=key, value={})
    under = Prepared(
        lambda prefix: (
            DavEntry.objects.filter(key__startswith=prefix)
            .order_by("key")
            .values_list("key", flat=False)
        )
    )
    assert [k for (k,) in under.rows("lock:a%b_c")] == ["lock:a%b_c/1"]
    assert [k for (k,) in under.rows("lock:a%b_")] == ["lock:a%b_c/1", "lock:a%b_d/3"]
    assert under.rows("lock:z") == []


def test_statements_go_to_the_drivers_cursor_unless_queries_are_watched(folders, monkeypatch):
    """Django's cursor wrapper (and its placeholder conversion on SQLite) is not built for
    a prepared statement; DEBUG's log, `assertNumQueries` and execute wrappers still see
    it, and a broken transaction still refuses it."""
    from django.db import connection
    from django.db.transaction import TransactionManagementError
    from django.test.utils import CaptureQueriesContext

    by_name = Prepared(
        lambda parent_id, name: Node.objects.filter(parent_id=parent_id, name=name).values_list(
            "pk"
        )
    )
    parent, first = folders[0].parent_id, folders[0]
    rename = Prepared(lambda pk, name: (Node.objects.filter(pk=pk), {"name": name}))
    with monkeypatch.context() as patched:
        patched.setattr(connection, "make_cursor", lambda cursor: pytest.fail("wrapped"))
        assert by_name.rows(parent, "a") == [(first.pk,)]
        assert rename.update(first.pk, "a2") == 1  # inside the test's transaction
    with CaptureQueriesContext(connection) as watched:
        assert by_name.rows(parent, "a2") == [(first.pk,)]
    assert len(watched.captured_queries) == 1
    seen: list[str] = []
    with connection.execute_wrapper(lambda run, sql, *rest: seen.append(sql) or run(sql, *rest)):
        assert rename.update(first.pk, "a") == 1
    assert len(seen) == 1
    with transaction.atomic():
        connection.set_rollback(True)
        with pytest.raises(TransactionManagementError):
            by_name.rows(parent, "a")


def test_constants_of_the_query_are_written_into_sqlite_statements(folders, commune_a):
    """SQLite compiles a statement anew on each run when a bound value could change its
    plan (a column a partial index restricts): the query's own constants go into the
    text, quoted; the arguments stay bound; the rows are the queryset's."""
    from django.db import connection

    from clocher.vault.models import Space, SpaceKind

    odd = "l'été 100%"
    services.create_folder(ACTOR, folders[0], odd)
    named = Prepared(
        lambda parent_id: (
            Node.objects.filter(parent_id=parent_id, is_folder=True)
            .filter(name__in=[odd, "x"])
            .exclude(space__kind=SpaceKind.PERSONAL)
            .values_list("name")
        )
    )
    assert named.rows(folders[0].pk) == [(odd,)]
    assert named.rows(folders[1].pk) == []
    (compiled,) = named._compiled.values()
    if connection.vendor == "sqlite":
        assert "'l''été 100%'" in compiled.native_sql and "'personal'" in compiled.native_sql
        assert compiled.native_sql.count("?") == 1 and len(compiled.fixed) == 1
    spaces = Prepared(
        lambda commune_id: Space.objects.filter(commune_id=commune_id).values_list("kind")
    )
    assert spaces.rows(commune_a.pk) == list(
        Space.objects.filter(commune=commune_a).values_list("kind")
    )


def test_postgresql_plans_a_statement_once_per_connection(folders):
    """PostgreSQL gets the statement prepared (server-side binding), SQLite its own
    placeholders: neither re-reads the text on each run."""
    from django.db import connection

    by_name = Prepared(
        lambda parent_id, name: Node.objects.filter(parent_id=parent_id, name=name).values_list(
            "pk"
        )
    )
    parent = folders[0].parent_id
    assert by_name.rows(parent, "a") == [(folders[0].pk,)]
    assert by_name.rows(parent, "b") == [(folders[1].pk,)]
    (compiled,) = by_name._compiled.values()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_prepared_statements WHERE statement = %s",
                [compiled.native_sql.replace("%s", "$1", 1).replace("%s", "$2", 1)],
            )
            found = cursor.fetchone()[0]
            cursor.execute("SELECT statement FROM pg_prepared_statements")
            assert found == 1, (cursor.fetchall(), compiled.native_sql)
    else:
        assert compiled.native_sql.count("?") == 2 and "%s" not in compiled.native_sql
