"""A large feed import: its rows go in a few statements (the sources as one JSON array
on both databases) and read back as the ORM would have written them."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clocher.shield import feeds
from clocher.shield.models import BlockEntry, Feed, FeedChange
from tests.conftest import SYSTEM

pytestmark = pytest.mark.django_db


def _prefixes(start: int, count: int) -> list[str]:
    return [
        f"{10 + i // 65536}.{(i // 256) % 256}.{i % 256}.0/24" for i in range(start, start + count)
    ]


def _inserts(queries: CaptureQueriesContext, table: str) -> int:
    return sum(1 for q in queries.captured_queries if q["sql"].startswith(f'INSERT INTO "{table}"'))


def test_a_large_feed_goes_in_a_few_statements_and_reads_back_as_orm_rows():
    first = _prefixes(0, 25_000)
    before = timezone.now()
    with CaptureQueriesContext(connection) as queries:
        report = feeds.import_feed(SYSTEM, "grande", "m", lines=first)
    assert (report.added, report.removed, report.kept) == (25_000, 0, 0)
    # 10,000 a statement, not one row at a time (nor a row formatted in Python by COPY)
    assert _inserts(queries, BlockEntry._meta.db_table) == 3
    assert _inserts(queries, FeedChange._meta.db_table) == 3
    feed = Feed.objects.get(name="grande")
    entries = list(feed.entries.all())
    assert sorted(e.source for e in entries) == sorted(first)
    sample = entries[12_345]
    assert (sample.scenario, sample.reason, sample.reports) == ("blocklist", "liste grande", 1)
    assert sample.expires_at is None and sample.reported_by is None
    assert before - dt.timedelta(seconds=1) <= sample.created_at <= timezone.now()
    version = FeedChange.objects.get(source=first[0]).version
    assert FeedChange.objects.filter(version=version, added=True).count() == 25_000

    second = first[1_000:] + _prefixes(25_000, 1_000)
    report = feeds.import_feed(SYSTEM, "grande", "m", lines=second)
    assert (report.added, report.removed, report.kept) == (1_000, 1_000, 24_000)
    assert set(feed.entries.values_list("source", flat=True)) == set(second)
    changes = FeedChange.objects.exclude(version=version)
    added = {c.source for c in changes if c.added is True}
    removed = {c.source for c in changes if c.added is False}
    assert (added, removed) == (set(_prefixes(25_000, 1_000)), set(first[:1_000]))

    # Emptied: 25,000 entries go, 10,000 a statement, and the journal says so.
    with CaptureQueriesContext(connection) as queries:
        report = feeds.import_feed(SYSTEM, "grande", "m", lines=[])
    assert (report.added, report.removed, report.kept) == (0, 25_000, 0)
    deletes = [q for q in queries.captured_queries if q["sql"].startswith("DELETE FROM")]
    assert len(deletes) == 3 and not feed.entries.exists()
    last = FeedChange.objects.order_by("-version").values_list("version", flat=True)[0]
    assert FeedChange.objects.filter(version=last, added=False).count() == 25_000


def _index_sizes() -> dict[str, int]:
    """What each index of the entries' table holds: its cells (SQLite's `dbstat`) or its
    bytes (PostgreSQL: index pages stay allocated after a rollback, so compare growth)."""
    table = BlockEntry._meta.db_table
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
        names = [n for n, c in constraints.items() if c["index"] or c["primary_key"]]
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name, sum(ncell) FROM dbstat GROUP BY name")
        else:
            cursor.execute("SELECT relname, pg_relation_size(oid) FROM pg_class")
        sizes = dict(cursor.fetchall())
    return {name: sizes[name] for name in names if name in sizes}


def test_a_feeds_entries_go_into_the_feed_index_only():
    """A feed's entries have no expiry, reporter or origin: the indexes on those columns
    are partial and a bulk import writes nothing into them (nor into an index on the feed
    alone, which (feed, source) covers)."""
    before = _index_sizes()
    feeds.import_feed(SYSTEM, "grande", "m", lines=_prefixes(0, 5_000))
    after = _index_sizes()
    grown = {name for name in after if after[name] > before.get(name, 0)}
    primary = {"shield_blockentry_pkey"} if connection.vendor == "postgresql" else set()
    assert grown - {"entry_once_per_feed", *primary} == set()
    if connection.vendor == "sqlite":  # cells counted exactly; PostgreSQL may fill pages
        assert grown == {"entry_once_per_feed"}  # a vacuum freed (no growth then)


@pytest.mark.parametrize(
    ("lookup", "index"),
    [
        (lambda: BlockEntry.objects.filter(expires_at__lte=timezone.now()), "entry_expires"),
        (lambda: BlockEntry.objects.filter(reported_by__in=[uuid.uuid4()]), "entry_reported_by"),
        (lambda: BlockEntry.objects.filter(origin_commune__in=[1, 2]), "entry_origin_commune"),
        (lambda: BlockEntry.objects.filter(feed=1), "entry_once_per_feed"),
        (
            lambda: BlockEntry.objects.filter(feed__isnull=True, scenario="manual", source="x"),
            "entry_once_per_scenario",
        ),
    ],
    ids=["expiry purge", "deleted box", "deleted commune", "by feed", "collective"],
)
def test_entry_lookups_find_their_index(lookup, index):
    """The lookups by expiry (purge), reporter and origin (SET_NULL when a box or commune
    is deleted), feed and scenario name a value, which the partial indexes' NOT NULL
    predicates need to be usable."""
    if connection.vendor == "postgresql":  # a near-empty table is otherwise read in full
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
    assert index in lookup().explain()
