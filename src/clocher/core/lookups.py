"""`field__prefix=value`: the rows whose text starts with `value`, found through the
column's own index on SQLite and PostgreSQL.

Django's `startswith` is a LIKE with an ESCAPE clause: SQLite never answers it from an
index, and PostgreSQL only when it plans with the value known (not in a prepared
statement's generic plan, `core.prepared`). Every DAV PUT asked whether the person's
tree holds a lock that way, scanning all the locks and dead properties of the platform:
5 ms of CPU a PUT at 30,000 dead properties (a Windows client stores three per file).

Here the same set as a range of the index, in the byte order of UTF-8, which is the
order of code points: `value <= text < value || U+10FFFF`. A text in that range starts
with `value` (one that differs from it before its end is on one side of both bounds), and
every text that starts with `value` is in it unless its next character is U+10FFFF itself
(the last code point, a noncharacter: the DAV keys are percent-encoded URLs, ASCII).
SQLite compares text as bytes (BINARY); PostgreSQL's `~>=~`/`~<~` are the byte-wise
operators of the `_like` index Django gives a unique or indexed CharField.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Lookup

LAST_CODE_POINT = 0x10FFFF


@models.CharField.register_lookup
class Prefix(Lookup):
    lookup_name = "prefix"

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        if connection.vendor == "postgresql":
            low, high, char = "~>=~", "~<~", "chr"
        else:
            low, high, char = ">=", "<", "char"
        sql = f"({lhs} {low} {rhs} AND {lhs} {high} ({rhs} || {char}({LAST_CODE_POINT})))"
        return sql, [*lhs_params, *rhs_params, *lhs_params, *rhs_params]
