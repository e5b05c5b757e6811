"""Rows locked now, for the rest of the transaction, in the order of their keys.

Why: on PostgreSQL a change holds its row locks until it commits, and two changes that
take the same rows in other orders wait on each other until one is killed (the lock
order: docs/architecture.md, « Lock order on PostgreSQL »). SQLite runs one writer at a
time (BEGIN IMMEDIATE): nothing to lock, no query.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import QuerySet


def lock_rows(rows: QuerySet[Any], *, no_key: bool = False) -> None:
    """Lock `rows` in id order, in one statement. `no_key`: FOR NO KEY UPDATE, which
    lets rows naming them be inserted meanwhile (their foreign key checks do not wait)."""
    if connection.features.has_select_for_update:
        list(rows.order_by("pk").select_for_update(no_key=no_key).values("pk"))
