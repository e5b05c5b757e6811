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

import functools
import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.utils import timezone

from clocher.core import prepared

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
        # The rows of one call mostly share their times (a batch's `now`): each adapted
        # once (equal instants adapt alike), not once a row and column.
        adapted: dict[Any, Any] = {None: None}

        def convert(value: Any) -> Any:
            found = adapted.get(value, adapted)
            if found is adapted:
                found = adapted[value] = adapt(value)
            return found

        return convert
    if type(field) in _PLAIN:
        return None
    return lambda value: field.get_db_prep_save(value, connection)


def _max_parameters() -> int:
    """Parameters one statement may carry: SQLite's compiled limit (32,766 since 3.32;
    Django assumes the old 999), PostgreSQL's protocol limit (65,535). Read once per
    process and database (a small upload's few statements asked it each time)."""
    vendor = connection.vendor
    limit = _LIMITS.get(vendor)
    if limit is None:
        limit = _LIMITS[vendor] = _read_max_parameters()
    return limit


_LIMITS: dict[str, int] = {}


def _read_max_parameters() -> int:
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
    return {
        attname: now if stamped else field.get_default()
        for attname, field, stamped in _defaulted(model, tuple(given))
    }


@functools.cache
def _defaulted(model: type[models.Model], given: tuple[str, ...]) -> list[tuple[str, Any, bool]]:
    """The columns not `given` (attname, field, stamped with the time), checked once."""
    found = []
    for field in model._meta.concrete_fields:
        if field.attname in given or isinstance(field, models.AutoField):
            continue
        stamped = bool(getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False))
        if not stamped and field.get_default() is None and not field.null:
            raise ValueError(f"{model.__name__}.{field.attname} : valeur requise, absente")
        found.append((field.attname, field, stamped))
    return found


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
    returned ids would not match the rows: not allowed together; see `insert_new`)."""
    if returning and ignore_conflicts:
        raise ValueError("returning and ignore_conflicts cannot go together")
    returned = (model._meta.pk.attname,) if returning else ()
    return [pk for (pk,) in _inserted(model, columns, rows, returned, ignore_conflicts)]


def insert_new(
    model: type[models.Model], columns: Sequence[str], rows: Sequence[Sequence[Any]], key: str
) -> dict[Any, int]:
    """`insert` leaving out the rows that break a unique constraint (one made meanwhile
    by another transaction): {value of the `key` column: new id} of those inserted, in
    the same statement (ON CONFLICT DO NOTHING RETURNING), where a SELECT after it cost
    a round trip to the database for every group of uploads."""
    returned = (key, model._meta.pk.attname)
    return dict(_inserted(model, columns, rows, returned, ignore_conflicts=True))


def _inserted(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    returned: tuple[str, ...],
    ignore_conflicts: bool,
) -> list[tuple[Any, ...]]:
    """The rows inserted (`insert`), with the `returned` columns of each."""
    if not rows:
        return []
    fixed = tuple(_defaults(model, columns).values())
    plan = _insert_plan(model, tuple(columns), returned, ignore_conflicts, connection.vendor)
    into, fields, tail = plan
    fetch = bool(returned)
    if connection.vendor == "postgresql":
        return _insert_json(into, fields, fixed, rows, tail, fetch)
    converters = [(i, c) for i, f in enumerate(fields) if (c := _converter(f)) is not None]
    one = "(" + ", ".join(["%s"] * len(fields)) + ")"
    per_statement = max(1, min(_max_parameters() // len(fields), 2_000))
    found: list[tuple[Any, ...]] = []
    for start in range(0, len(rows), per_statement):
        part = rows[start : start + per_statement]
        parameters: list[Any] = []
        for row in part:
            values = [*row, *fixed]
            for index, convert in converters:
                values[index] = convert(values[index])
            parameters.extend(values)
        found += _execute(f"{into} VALUES {', '.join([one] * len(part))}{tail}", parameters, fetch)
    return found


@functools.cache
def _insert_plan(
    model: type[models.Model],
    columns: tuple[str, ...],
    returned: tuple[str, ...],
    ignore_conflicts: bool,
    vendor: str,
) -> tuple[str, list[Any], str]:
    """The statement's head and tail and the fields in order of an insert's shape, built
    once per process: a small upload's few one-row inserts spent more on quoting names
    and finding fields than on their rows."""
    meta = model._meta
    names = [*columns, *(attname for attname, _, _ in _defaulted(model, columns))]
    by_attname = {f.attname: f for f in meta.concrete_fields}
    unknown = [name for name in (*names, *returned) if name not in by_attname]
    if unknown:
        raise ValueError(f"{model.__name__} : colonnes inconnues {unknown}")
    fields = [by_attname[name] for name in names]
    quote = connection.ops.quote_name
    into = (
        f"INSERT INTO {quote(meta.db_table)} "  # noqa: S608 - the model's own names
        f"({', '.join(quote(f.column) for f in fields)})"
    )
    tail = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    if returned:
        tail += f" RETURNING {', '.join(quote(by_attname[name].column) for name in returned)}"
    return into, fields, tail


def _insert_json(
    into: str,
    fields: list[Any],
    fixed: tuple[Any, ...],
    rows: Sequence[Sequence[Any]],
    tail: str,
    fetch: bool,
) -> list[tuple[Any, ...]]:
    """PostgreSQL: the rows as one JSON document a statement, spread into columns by
    the server (`json_array_elements`, in the document's order). Why: Django's psycopg
    cursor binds on the client, and parsing a statement of thousands of placeholders and
    quoting each value cost more than the server's work (a profile of 3,000 imported
    files: 4.2 s in psycopg's `_split_query` alone); one parameter does not."""
    statement = (
        f"{into} SELECT {', '.join(_json_columns(fields))} "  # noqa: S608
        f"FROM json_array_elements(%s::json) WITH ORDINALITY AS r(j, n) ORDER BY r.n{tail}"
    )
    found: list[tuple[Any, ...]] = []
    for document in _json_documents(fields, fixed, rows):
        found += _execute(statement, [document], fetch)
    return found


def _json_columns(fields: list[Any]) -> list[str]:
    """Each field's value read from the row `r.j` (a JSON array) as its column's type."""
    selects = []
    for index, field in enumerate(fields):
        if isinstance(field, models.JSONField):  # SQL NULL for None, as the ORM stores it
            selects.append(f"NULLIF((r.j -> {index})::jsonb, 'null'::jsonb)")
        elif isinstance(field, (models.CharField, models.TextField)):
            selects.append(f"(r.j ->> {index})")  # the column's own type checks the length
        else:
            selects.append(f"(r.j ->> {index})::{field.db_type(connection)}")
    return selects


def _json_documents(
    fields: list[Any], fixed: tuple[Any, ...], rows: Sequence[Sequence[Any]]
) -> Iterator[str]:
    """The rows (with the `fixed` values after each) as JSON documents of _JSON_ROWS."""
    converters = [(i, c) for i, f in enumerate(fields) if (c := _json_converter(f)) is not None]
    for start in range(0, len(rows), _JSON_ROWS):
        document = []
        for row in rows[start : start + _JSON_ROWS]:
            values = [*row, *fixed]
            for index, convert in converters:
                values[index] = convert(values[index])
            document.append(values)
        yield json.dumps(document, default=str)


def update(
    model: type[models.Model], columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Set `columns` (attnames) of many rows of `model`, each row given as (its id, the
    values): one statement for them all (UPDATE … FROM the rows), where the driver's
    `executemany` sends one statement a row (the import's current versions: 3,000
    statements, 0.8 s of psycopg's sending alone)."""
    if not rows:
        return
    meta = model._meta
    by_attname = {f.attname: f for f in meta.concrete_fields}
    fields = [meta.pk, *(by_attname[name] for name in columns)]
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    if connection.vendor == "postgresql":
        values = _json_columns(fields)
        assignments = ", ".join(
            f"{quote(f.column)} = {v}" for f, v in zip(fields[1:], values[1:], strict=True)
        )
        # The ids again as an array: PostgreSQL reckons a JSON document's rows at 100,
        # and joined them to a sequential scan of the whole table (every file's row read
        # for each group of uploads); `= ANY` of the ids takes the primary key's index.
        pk = f"{table}.{quote(meta.pk.column)}"
        statement = (
            f"UPDATE {table} SET {assignments} FROM json_array_elements(%s::json) AS r(j) "  # noqa: S608
            f"WHERE {pk} = {values[0]} AND {pk} = ANY(%s::{meta.pk.db_type(connection)}[])"
        )
        for start in range(0, len(rows), _JSON_ROWS):
            part = rows[start : start + _JSON_ROWS]
            (document,) = _json_documents(fields, (), part)
            _execute(statement, [document, [row[0] for row in part]], False)
        return
    converters = [(i, c) for i, f in enumerate(fields) if (c := _converter(f)) is not None]
    assignments = ", ".join(
        f"{quote(f.column)} = v.column{i + 2}" for i, f in enumerate(fields[1:])
    )
    one = "(" + ", ".join(["%s"] * len(fields)) + ")"
    per_statement = max(1, min(_max_parameters() // len(fields), 2_000))
    for start in range(0, len(rows), per_statement):
        part = rows[start : start + per_statement]
        parameters: list[Any] = []
        for row in part:
            row_values = list(row)
            for index, convert in converters:
                row_values[index] = convert(row_values[index])
            parameters.extend(row_values)
        _execute(
            f"UPDATE {table} SET {assignments} FROM (VALUES {', '.join([one] * len(part))}) "  # noqa: S608
            f"AS v WHERE {table}.{quote(meta.pk.column)} = v.column1",
            parameters,
            False,
        )


# Rows a JSON document carries: statements stay a few hundred kilobytes.
_JSON_ROWS = 2_000


def _json_converter(field: Any) -> Callable[[Any], Any] | None:
    """How a value of `field` goes into the JSON document: None when as it is (a JSON
    field's value is embedded; other values go as JSON text, read back by their cast)."""
    if isinstance(field, models.JSONField) or type(field) in _PLAIN:
        return None
    if type(field) is models.DateTimeField:

        def iso(value: Any) -> str | None:
            if value is not None and value.tzinfo is None:
                value = field.get_prep_value(value)  # made aware, as the ORM does
            return None if value is None else str(value.isoformat())

        return iso
    return lambda value: field.get_db_prep_save(value, connection)


def _execute(statement: str, parameters: list[Any], fetch: bool) -> list[Any]:
    """Run one statement on the driver's own cursor (`prepared.fetched`, `.executed`):
    on SQLite in its placeholder style, as Django's cursor rewrites the placeholders with
    a regular expression whose cost grows with a statement of thousands of them; on PostgreSQL
    prepared once per connection, as the statement of a shape is always the same (its
    rows are one JSON parameter): parsed and planned for every group of uploads, a
    batch's statements cost PostgreSQL more than the writer's own work."""
    if connections[DEFAULT_DB_ALIAS].vendor == "sqlite":
        rows = prepared.fetched(statement, statement.replace("%s", "?"), parameters)
        return rows if fetch else []  # none without RETURNING
    with prepared.executed(statement, statement, parameters) as cursor:
        return cursor.fetchall() if fetch else []
