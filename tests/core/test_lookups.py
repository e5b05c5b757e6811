"""`field__prefix` (`core/lookups.py`): the same rows as `startswith`, found through the
column's index on SQLite and PostgreSQL (the DAV PUT asked for the person's locks by a
LIKE that scanned every lock and dead property of the platform)."""

from __future__ import annotations

import pytest
from django.db import connection

from clocher.core.prepared import Prepared
from clocher.vault.models import DavEntry

pytestmark = pytest.mark.django_db

KEYS = [
    "lock:/files/a@x.fr",
    "lock:/files/a@x.fr/",
    "lock:/files/a@x.fr/Été 100%/_x",
    "lock:/files/a@x.fr/\U0010fffe",
    "lock:/files/a@x.fr/日本",
    "lock:/files/a@x.fr0",
    "lock:/files/a@x.fq\U0010ffff",
    "lock:/files/a@x.fs",
    "lock:/files/a@x.f",
    "lock:/files/A@x.fr/b",
    "lock:/files/a_x.fr/b",
    "lock:/files/a%x.fr/b",
    "prop:/files/a@x.fr/b",
]
PREFIXES = ["lock:/files/a@x.fr", "lock:/files/a@x.fr/", "lock:/files/a", "lock:/files/a%", "", "z"]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_prefix_finds_what_startswith_finds(prefix):
    DavEntry.objects.bulk_create(DavEntry(key=key, value=1) for key in KEYS)
    expected = {key for key in KEYS if key.startswith(prefix)}
    assert set(DavEntry.objects.filter(key__prefix=prefix).values_list("key", flat=True)) == (
        expected
    )
    prepared = Prepared(lambda p: DavEntry.objects.filter(key__prefix=p).values_list("key"))
    assert {row[0] for row in prepared.rows(prefix)} == expected


def test_prefix_is_answered_from_the_index():
    DavEntry.objects.bulk_create(DavEntry(key=f"prop:/files/u{i}/f", value=1) for i in range(500))
    query = DavEntry.objects.filter(key__prefix="lock:/files/u1/").values_list("pk")
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN " + sql, params)
            plan = " ".join(row[0] for row in cursor.fetchall())
            assert "Index" in plan and "_like" in plan, plan
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            plan = " ".join(str(row[-1]) for row in cursor.fetchall())
            assert "USING" in plan and "INDEX" in plan and "SCAN" not in plan, plan
