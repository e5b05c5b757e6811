"""Many rows inserted as plain values: multi-row `INSERT … VALUES (…), (…)` statements.

Why: `bulk_create` builds a model instance per row and prepares every field of every row
through the ORM's compiler (`field_as_sql`, `pre_save_val`, `get_db_prep_save`); for an
import's thousands of small rows that cost more than the database's work (a profile of
3,000 imported files: 60 % of the import's main thread in `bulk_create`). Here the
columns are adapted by one converter each, chosen once per call, and the statements are
as large as the database's parameter limit allows. What `bulk_create` checks is still
checked: the table's own constraints (NOT NULL, UNIQUE, foreign keys) are the
database's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.db import connection, models
from django.utils import timezone

# Fields whose Python values the drivers (sqlite3, psycopg) take as they are: these exact
# classes (a subclass may adapt its values: it goes through its own `get_db_prep_save`).
_PLAIN = {
    models.CharField,
    models.TextField,
    models.EmailField,
    models.IntegerField,
    models.BigIntegerField,
    models.SmallIntegerField,
    models.PositiveIntegerField,
    models.PositiveBigIntegerField,
    models.PositiveSmallIntegerField,
    models.BooleanField,
    models.ForeignKey,  # given by its attname (`…_id`): the target's id or None
    models.OneToOneField,
}


def _converter(field: Any) -> Callable[[Any], Any] | None:
    """How a value of `field` goes to the driver: None when it goes as it is."""
    if type(field) is models.DateTimeField:
        adapt = connection.ops.adapt_datetimefield_value
        return lambda value: None if value is None else adapt(value)
    if type(field) in _PLAIN:
        return None
    return lambda value: field.get_db_prep_save(value, connection)


def _max_parameters() -> int:
    """Parameters one statement may carry: SQLite's compiled limit (32,766 since 3.32;
    Django assumes the old 999), PostgreSQL's protocol limit (65,535)."""
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        raw = connection.connection
        if hasattr(raw, "getlimit"):
            import sqlite3

            return int(raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
        return int(connection.features.max_query_params or 999)
    return 65_535


def _defaults(model: type[models.Model], given: Sequence[str]) -> dict[str, Any]:
    """The value of every column not `given`, the same for every row: its default (as
    the ORM gives it: "" for a text field without one), or the time of the call for a
    field stamped on creation (`auto_now_add`)."""
    now = timezone.now()
    values: dict[str, Any] = {}
    for field in model._meta.concrete_fields:
        if field.attname in given or isinstance(field, models.AutoField):
            continue
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            values[field.attname] = now
        else:  # its default, or "" for a text field, or None
            values[field.attname] = field.get_default()
            if values[field.attname] is None and not field.null:
                raise ValueError(f"{model.__name__}.{field.attname} : valeur requise, absente")
    return values


def insert(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    returning: bool = False,
    ignore_conflicts: bool = False,
) -> list[int]:
    """Insert `rows` (values in the order of `columns`, attnames) into `model`'s table;
    the other columns take their defaults. Returns the new ids in the rows' order when
    `returning` (as `bulk_create` does, through RETURNING: SQLite ≥ 3.35, PostgreSQL).
    With `ignore_conflicts`, a row that breaks a unique constraint is left out (the
    returned ids would not match the rows: not allowed together)."""
    if returning and ignore_conflicts:
        raise ValueError("returning and ignore_conflicts cannot go together")
    if not rows:
        return []
    meta = model._meta
    defaults = _defaults(model, columns)
    names = [*columns, *defaults]
    by_attname = {f.attname: f for f in meta.concrete_fields}
    unknown = [name for name in names if name not in by_attname]
    if unknown:
        raise ValueError(f"{model.__name__} : colonnes inconnues {unknown}")
    fields = [by_attname[name] for name in names]
    converters = [(i, c) for i, f in enumerate(fields) if (c := _converter(f)) is not None]
    fixed = tuple(defaults.values())
    quote = connection.ops.quote_name
    head = (
        f"INSERT INTO {quote(meta.db_table)} "  # noqa: S608 - the model's own names
        f"({', '.join(quote(f.column) for f in fields)}) VALUES "
    )
    tail = ""
    if ignore_conflicts:
        tail = " ON CONFLICT DO NOTHING"
    elif returning:
        tail = f" RETURNING {quote(meta.pk.column)}"
    one = "(" + ", ".join(["%s"] * len(names)) + ")"
    per_statement = max(1, min(_max_parameters() // len(names), 2_000))
    ids: list[int] = []
    for start in range(0, len(rows), per_statement):
        part = rows[start : start + per_statement]
        parameters: list[Any] = []
        for row in part:
            values = [*row, *fixed]
            for index, convert in converters:
                values[index] = convert(values[index])
            parameters.extend(values)
        found = _execute(head + ", ".join([one] * len(part)) + tail, parameters, returning)
        ids.extend(pk for (pk,) in found)
    return ids


def _execute(statement: str, parameters: list[Any], fetch: bool) -> list[Any]:
    """Run one statement. On SQLite it goes to the driver's own cursor in its
    placeholder style: Django's cursor rewrites the placeholders with a regular
    expression, whose cost grows with a statement of thousands of them. Watched queries
    (DEBUG, `CaptureQueriesContext`, an execute wrapper) go through Django's cursor."""
    db = connection
    if db.vendor != "sqlite" or db.queries_logged or db.execute_wrappers:
        with db.cursor() as cursor:
            cursor.execute(statement, parameters)
            return cursor.fetchall() if fetch else []
    db.ensure_connection()
    db.validate_thread_sharing()
    db.validate_no_broken_transaction()
    with db.wrap_database_errors:
        cursor = db.connection.execute(statement.replace("%s", "?"), parameters)
        try:
            return cursor.fetchall() if fetch else []
        finally:
            cursor.close()
