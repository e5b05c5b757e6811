"""A queryset's SQL compiled once per process, run with new values on every request.

Building SQL is most of what a small DAV request cost: about half of a GET's samples were
Django compiling querysets (`as_sql`, `pre_sql_setup`), not the database answering them.
The hot queries keep their ORM form (the same rules as everywhere, e.g.
`core.scoping.protocol_communes`), compiled with stand-in values that are then found in
the parameters and replaced; rows go through the same converters the ORM applies.
The statement then goes to the driver's own cursor, in the driver's own placeholder style:
Django's cursor wrapper converted SQLite's placeholders with a regular expression on every
call (a tenth of a small GET's CPU with its wrappers). When queries are watched (DEBUG,
`assertNumQueries`, an execute wrapper) they go through Django's cursor as before.
"""

from __future__ import annotations

import enum
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import psycopg
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import sql

# Stand-ins: values no real argument takes (negative ids, strings with NUL bytes, times
# in 1901).
_INT_BASE = -7_340_000_000
# Django's SQLite backend turns "format" placeholders into "qmark" ones the same way.
_FORMAT_PLACEHOLDER = re.compile(r"(?<!%)%s")


def _stand_in(value: Any, index: int) -> Any:
    if isinstance(value, datetime):
        return datetime(1901, 1, 1, 0, 0, 1, index, tzinfo=UTC)
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError("prepared queries take ints, strings and datetimes")
    return _INT_BASE - index if isinstance(value, int) else f"\x00prepared-{index}\x00"


def _as_parameter(value: Any) -> Any:
    """What the ORM passes to the driver for a value (a time: as its fields adapt it)."""
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    return value


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    native_sql: str  # in the driver's placeholder style
    fixed: tuple[Any, ...]
    # (position in the parameters, argument index, the driver's type to wrap it in)
    slots: tuple[tuple[int, int, Any], ...]
    compiler: Any
    converters: dict[int, Any]


class Prepared:
    """`build(*args)` must return a `values_list` queryset (for `rows`), or a queryset
    and the values of an UPDATE (for `update`), whose parameters contain each argument
    as it was given (filters on ids and names, `F(...) + value` expressions do). One
    compiled statement per database and per argument types (a list's length counts:
    `pk__in` of three ids is another statement than of two)."""

    def __init__(self, build: Callable[..., Any]) -> None:
        self.build = build
        self._compiled: dict[tuple[str, tuple[type, ...]], _Compiled] = {}
        self._guard = threading.Lock()

    def rows(self, *args: Any) -> list[Any]:
        compiled, params = self._statement(args, update=False)
        rows = fetched(compiled.sql, compiled.native_sql, params)
        if compiled.converters:
            return list(compiled.compiler.apply_converters(rows, compiled.converters))
        return rows

    def update(self, *args: Any) -> int:
        """The number of rows updated, as `QuerySet.update` returns it."""
        compiled, params = self._statement(args, update=True)
        with executed(compiled.sql, compiled.native_sql, params) as cursor:
            return int(cursor.rowcount)

    def _statement(self, args: tuple[Any, ...], *, update: bool) -> tuple[_Compiled, list[Any]]:
        shape = (connections[DEFAULT_DB_ALIAS].vendor, tuple(type(a) for a in args))
        compiled = self._compiled.get(shape)
        if compiled is None:
            with self._guard:
                compiled = self._compiled.setdefault(shape, self._compile(args, update=update))
        params = list(compiled.fixed)
        for position, index, wrap in compiled.slots:
            value = _as_parameter(args[index])
            params[position] = value if wrap is None else wrap(value)
        return compiled, params

    def _compile(self, args: tuple[Any, ...], *, update: bool) -> _Compiled:
        stand_ins = [_stand_in(a, i) for i, a in enumerate(args)]
        if update:
            queryset, values = self.build(*stand_ins)
            query = queryset.query.chain(sql.UpdateQuery)
            query.add_update_values(values)
            compiler = query.get_compiler(connection.alias)
        else:
            compiler = self.build(*stand_ins).query.get_compiler(connection.alias)
        statement, params = compiler.as_sql()
        slots = _slots(params, [_as_parameter(value) for value in stand_ins])
        if sorted({index for _, index, _ in slots}) != list(range(len(args))):
            raise ValueError("an argument of the prepared query is not one of its parameters")
        native = statement
        if connection.vendor == "sqlite":
            statement, params, slots = _constants_inlined(statement, params, slots)
            native = _FORMAT_PLACEHOLDER.sub("?", statement).replace("%%", "%")
        if update:
            return _Compiled(statement, native, tuple(params), slots, compiler, {})
        fields = [selected[0] for selected in compiler.select[: compiler.col_count]]
        converters = compiler.get_converters(fields)
        return _Compiled(statement, native, tuple(params), slots, compiler, converters)


@contextmanager
def executed(statement: str, native: str, params: list[Any]) -> Iterator[Any]:
    """A cursor that ran `statement` (Django's placeholders; `native`: the same in the
    driver's own style): the driver's own cursor, with the checks Django's cursor makes
    (thread, broken transaction, errors as Django's), or Django's when queries are
    watched. The thread's connection is looked up once (not at each attribute read
    through the `connection` proxy)."""
    db = connections[DEFAULT_DB_ALIAS]
    if db.queries_logged or db.execute_wrappers:
        with db.cursor() as watched:
            watched.execute(statement, params)
            yield watched
        return
    _ready(db)
    with db.wrap_database_errors:
        if db.vendor == "sqlite":  # Django's SQLite cursor would convert again
            cursor = db.connection.execute(native, params)
        else:
            # Server-side binding, prepared once per connection: Django's client-side
            # cursor had PostgreSQL parse and plan the statement on every run (0.6 ms of
            # the server's CPU for the DAV spaces query, three times its execution).
            cursor = psycopg.Cursor(db.connection)
            cursor.execute(native, params, prepare=True)
        try:
            yield cursor
        finally:
            cursor.close()


def fetched(statement: str, native: str, params: list[Any]) -> list[Any]:
    """The rows of `statement` as `executed` runs it, without its context manager and
    cursor on SQLite (a tenth of a small GET's statement, in Python)."""
    db = connections[DEFAULT_DB_ALIAS]
    if db.vendor != "sqlite" or db.queries_logged or db.execute_wrappers:
        with executed(statement, native, params) as cursor:
            return cast(list[Any], cursor.fetchall())
    _ready(db)
    with db.wrap_database_errors:
        return cast(list[Any], db.connection.execute(native, params).fetchall())


def _ready(db: Any) -> None:
    """The checks Django's cursor makes before a statement: connected, in its own
    thread, not in a transaction that must be rolled back."""
    db.ensure_connection()
    db.validate_thread_sharing()
    db.validate_no_broken_transaction()


def _constants_inlined(
    statement: str, params: Any, slots: tuple[tuple[int, int, Any], ...]
) -> tuple[str, tuple[Any, ...], tuple[tuple[int, int, Any], ...]]:
    """The query's own constants (a kind, a status, a flag: no argument) written into
    the SQL text. SQLite compiles a statement again on every run when a bound value
    might change its plan, as a value compared with a column that a partial index
    restricts does (`vault_space.kind`): the spaces query of every DAV request was
    compiled anew each time (0.2 ms, five times its run), and not with literals."""
    arguments = {position for position, _, _ in slots}
    pieces = _FORMAT_PLACEHOLDER.split(statement)
    text = [pieces[0]]
    kept: list[Any] = []
    moved: dict[int, int] = {}
    for position, (value, piece) in enumerate(zip(params, pieces[1:], strict=True)):
        literal = None if position in arguments else _literal(value)
        if literal is None:
            moved[position] = len(kept)
            kept.append(value)
            literal = "%s"
        text.append(literal + piece)
    slots = tuple((moved[position], index, wrap) for position, index, wrap in slots)
    return "".join(text), tuple(kept), slots


def _literal(value: Any) -> str | None:
    """`value` as an SQL literal in Django's format style, for plain ints and text."""
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, bool):
        return "1" if value else "0"
    if type(value) is int:
        return str(value)
    if type(value) is str and "\x00" not in value:
        return "'" + value.replace("'", "''").replace("%", "%%") + "'"
    return None


def _slots(params: Any, adapted: list[Any]) -> tuple[tuple[int, int, Any], ...]:
    """Where each argument goes in the parameters, and how it is passed there."""
    slots: list[tuple[int, int, Any]] = []
    for position, value in enumerate(params):
        for index, stand_in in enumerate(adapted):
            if value == stand_in and isinstance(value, type(stand_in)):
                # psycopg's backend passes an int inside an expression as Int4 or Int8
                # (an int subclass naming the SQL type): the argument is passed the same.
                wrap = type(value) if type(value) is not type(stand_in) else None
                slots.append((position, index, wrap))
            elif isinstance(stand_in, str) and isinstance(value, str) and stand_in in value:
                # A LIKE pattern (`startswith`, `contains`): the argument escaped as the
                # lookup escapes it, inside the same wildcards.
                before, _, after = value.partition(stand_in)
                slots.append((position, index, _Like(before, after)))
    return tuple(slots)


@dataclass(frozen=True, slots=True)
class _Like:
    before: str
    after: str

    def __call__(self, value: str) -> str:
        return self.before + connection.ops.prep_for_like_query(value) + self.after
