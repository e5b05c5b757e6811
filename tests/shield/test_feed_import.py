"""A large feed import: its rows go in a few statements (the sources as one JSON array
on SQLite, COPY on PostgreSQL) and read back as the ORM would have written them."""

from __future__ import annotations

import datetime as dt

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
    if connection.vendor == "sqlite":  # 10,000 a statement, not one row at a time
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
