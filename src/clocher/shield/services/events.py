"""The events a box reports: each checked by name, then stored in batches (one statement,
idempotent by box and sequence)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from clocher.core.audit import Actor
from clocher.shield.models import (
    SCENARIO_LABELS,
    BlockEntry,
    Box,
    EventKind,
    ShieldEvent,
)
from clocher.shield.services.allowlist import (
    MIN_COLLECTIVE_PREFIX,
    department_allowlist,
    is_local,
    overlapping,
)
from clocher.shield.services.collective import ATTACK_SCENARIOS, upsert_blocks
from clocher.shield.services.keys import bump_policy
from clocher_box import prefixes

MAX_EVENTS_PER_BATCH = 1000


MAX_BODY_BYTES = 2 * 1024 * 1024


class BatchRefused(ValueError):
    """An events batch refused whole: the message names the faulty event."""


EVENT_FIELDS = {
    "seq",
    "kind",
    "at",
    "source",
    "country",
    "scenario",
    "duration",
    "flows",
    "detail",
    "count",
    "last_at",
}


# Looked up once per event: EventKind.values builds a new list on every access.
EVENT_KINDS = frozenset(EventKind.values)


# The columns' ranges: a larger number must be refused here, by name, not fail the
# INSERT (a 500 that the box would retry for ever).
INT_MAX = 2**31 - 1


BIGINT_MAX = 2**63 - 1


def _int_field(
    event: dict[str, Any], name: str, seq: object, minimum: int = 0, maximum: int = INT_MAX
) -> int:
    value = event.get(name, minimum)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise BatchRefused(
            f"événement seq={seq} : « {name} » doit être un entier entre {minimum} et {maximum}"
        )
    return value


class _Event(NamedTuple):
    """A checked event, as stored (no model instance: 1,000 a batch)."""

    seq: int
    kind: str
    at: dt.datetime
    source: str
    country: str
    scenario: str
    duration: int
    flows: int
    detail: str
    repeats: int  # the `count` column (a tuple has a count method)
    last_at: dt.datetime | None


def _source(value: object) -> str | None:
    """An address or prefix as stored (bare address for a host), None if it is none:
    IPv4 without an ipaddress object, the common case (a 1,000-event batch)."""
    text = str(value) if value else ""
    interval = prefixes.parse_v4(text)  # strict: no leading zeros, ASCII digits only
    if interval is not None:
        first, last = interval
        plen = 33 - (last - first + 1).bit_length()
        return prefixes.cidr_text(first, plen)
    try:
        network = ipaddress.ip_network(text, strict=False) if text else None
    except ValueError:
        return None
    if network is None:
        return None
    return str(network.network_address) if network.num_addresses == 1 else str(network)


def _clean_event(event: object, index: int) -> _Event:
    if not isinstance(event, dict):
        raise BatchRefused(f"événement n°{index + 1} : objet JSON attendu")
    seq = event.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or not 1 <= seq <= BIGINT_MAX:
        raise BatchRefused(
            f"événement n°{index + 1} : « seq » entier de 1 à {BIGINT_MAX} attendu (reçu {seq!r})"
        )
    unknown = set(event) - EVENT_FIELDS
    if unknown:
        raise BatchRefused(
            f"événement seq={seq} : champ(s) inconnu(s) {', '.join(sorted(unknown))}"
        )
    kind = event.get("kind")
    if kind not in EVENT_KINDS:
        raise BatchRefused(f"événement seq={seq} : « kind » doit valoir decision ou drops")
    at = _moment(event, "at", seq)
    last_at = _moment(event, "last_at", seq) if event.get("last_at") is not None else None
    if last_at is not None and last_at < at:
        raise BatchRefused(f"événement seq={seq} : « last_at » précède « at »")
    source = _source(event.get("source"))
    if source is None:
        raise BatchRefused(f"événement seq={seq} : « source » n'est pas une adresse IP")
    country = event.get("country", "")
    if not isinstance(country, str) or not (
        country == "" or (len(country) == 2 and country.isascii() and country.isupper())
    ):
        raise BatchRefused(f"événement seq={seq} : « country » doit être un code ISO à 2 lettres")
    scenario = event.get("scenario")
    if scenario not in SCENARIO_LABELS:
        raise BatchRefused(f"événement seq={seq} : scénario « {scenario} » inconnu")
    detail = event.get("detail", "")
    if not isinstance(detail, str):
        raise BatchRefused(f"événement seq={seq} : « detail » doit être un texte")
    return _Event(
        seq,
        kind,
        at,
        source,
        country,
        str(scenario),
        _int_field(event, "duration", seq),
        _int_field(event, "flows", seq, maximum=BIGINT_MAX),
        detail.replace("\x00", "")[:500],  # PostgreSQL's text holds no NUL
        _int_field(event, "count", seq, minimum=1),
        last_at,
    )


def _moment(event: dict[str, Any], name: str, seq: object) -> dt.datetime:
    value = event.get(name)
    moment: dt.datetime | None = None
    if isinstance(value, str):
        try:  # the standard library's parser first: several times faster
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            try:
                moment = parse_datetime(value)
            except ValueError:  # well formed but no such date
                moment = None
    if moment is None or moment.tzinfo is None:
        raise BatchRefused(
            f"événement seq={seq} : « {name} » doit être une date ISO 8601 avec fuseau"
        )
    return moment


@dataclass
class BatchResult:
    accepted: int
    duplicates: int
    last_seq: int
    collective: list[str] = field(default_factory=list)


EVENT_COLUMNS = (
    "box_id",
    "commune_id",
    *_Event._fields[:-2],
    "count",
    "last_at",
    "received_at",
)


# Rows per INSERT statement: 500 × 14 values stays under every SQLite build's limit.
EVENT_ROWS_PER_INSERT = 500


def receive_events(box: Box, events: object) -> BatchResult:
    """Store a batch exactly once per (box, seq), all or nothing.

    The database's unique constraint decides what is new: one multi-row INSERT … ON
    CONFLICT DO NOTHING RETURNING per 500 events (no lookup of the seqs first, no model
    instance per event: 0.5× plain inserts before, issue 14). The box row is locked for
    the batch, so two overlapping batches of the same box are counted one after the other.
    """
    if not isinstance(events, list):
        raise BatchRefused("« events » doit être une liste")
    if len(events) > MAX_EVENTS_PER_BATCH:
        raise BatchRefused(
            f"au plus {MAX_EVENTS_PER_BATCH} événements par lot ({len(events)} reçus)"
        )
    cleaned = [_clean_event(event, index) for index, event in enumerate(events)]
    seqs = [e.seq for e in cleaned]
    if len(set(seqs)) != len(seqs):
        twice = sorted({s for s in seqs if seqs.count(s) > 1})
        raise BatchRefused(f"événement seq={twice[0]} : présent deux fois dans le lot")
    with transaction.atomic():
        locked = Box.objects.select_for_update().get(pk=box.pk)
        stored = _insert_events(locked, cleaned)
        new = [e for e in cleaned if e.seq in stored]
        last = max(seqs, default=locked.last_seq)
        if stored and max(stored) > locked.last_seq:
            locked.last_seq = max(stored)
            locked.save(update_fields=["last_seq"])
        touched = _collective_from(new, locked)
        if touched:
            bump_policy()
    return BatchResult(
        len(new),
        len(cleaned) - len(new),
        last,
        [entry.source for entry, created in touched if created],
    )


# PostgreSQL: the whole batch as one JSON array of rows, one parameter that the server
# takes apart (json_array_elements, in C). An array per column cost more than the insert
# itself: psycopg quotes every element of a text array through a regular expression, in
# Python (0.60× plain inserts, issue 14); json.dumps is C.
EVENT_PG_ROW = (
    "(r->>0)::bigint, r->>1, (r->>2)::timestamptz, r->>3, r->>4, r->>5, "
    "(r->>6)::integer, (r->>7)::bigint, r->>8, (r->>9)::integer, (r->>10)::timestamptz"
)


def _insert_events(box: Box, events: list[_Event]) -> set[int]:
    """Inserts the events the database does not hold yet; their seqs."""
    table = connection.ops.quote_name(ShieldEvent._meta.db_table)
    names = ", ".join(connection.ops.quote_name(c) for c in EVENT_COLUMNS)
    box_id = Box._meta.pk.get_db_prep_value(box.pk, connection)  # type: ignore[union-attr]
    now = _db_time(timezone.now())
    stored: set[int] = set()
    if not events:
        return stored
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            import psycopg  # the backend's own driver

            rows = json.dumps(
                [
                    (*e[:2], e.at.isoformat(), *e[3:10], e.last_at and e.last_at.isoformat())
                    for e in events
                ]
            )
            # psycopg's own cursor, same connection and transaction, its parameters sent
            # apart (Django's would quote the 200 kB document into the statement's text).
            with psycopg.Cursor(connection.connection) as bound:
                bound.execute(
                    f"INSERT INTO {table} ({names}) SELECT %s::uuid, %s::bigint, "  # noqa: S608 — model names
                    f"{EVENT_PG_ROW}, %s::timestamptz FROM json_array_elements(%s::json) r "
                    "ON CONFLICT (box_id, seq) DO NOTHING RETURNING seq",
                    [box_id, box.commune_id, now, rows],
                )
                return {row[0] for row in bound.fetchall()}
        for start in range(0, len(events), EVENT_ROWS_PER_INSERT):
            chunk = events[start : start + EVENT_ROWS_PER_INSERT]
            marks = "(" + ", ".join(["%s"] * len(EVENT_COLUMNS)) + ")"
            values: list[Any] = []
            for e in chunk:
                values += [box_id, box.commune_id, *e[:2], _db_time(e.at), *e[3:10]]
                values += [_db_time(e.last_at) if e.last_at else None, now]
            cursor.execute(
                f"INSERT INTO {table} ({names}) VALUES {', '.join([marks] * len(chunk))} "  # noqa: S608 — model names
                "ON CONFLICT (box_id, seq) DO NOTHING RETURNING seq",
                values,
            )
            stored.update(row[0] for row in cursor.fetchall())
    return stored


def _db_time(moment: dt.datetime) -> Any:
    """A datetime as the backend stores it (SQLite: text in UTC)."""
    return connection.ops.adapt_datetimefield_value(moment)


def _collective_from(events: list[_Event], box: Box) -> list[tuple[BlockEntry, bool]]:
    """Decisions of an attack scenario put their sources in the département's list."""
    allowed = department_allowlist()
    reasons: dict[str, str] = {}
    for event in events:
        if event.kind != EventKind.DECISION or event.scenario not in ATTACK_SCENARIOS:
            continue
        network = ipaddress.ip_network(event.source, strict=False)
        if is_local(network) or network.prefixlen < MIN_COLLECTIVE_PREFIX[network.version]:
            continue
        if overlapping(network, allowed) is None:
            label = SCENARIO_LABELS[event.scenario]
            reasons.setdefault(str(network), f"{label} signalé par un boîtier du département")
    if not reasons:
        return []
    return upsert_blocks(
        Actor(label=f"boîtier {box.hostname}"),
        "collective",
        reasons,
        reported_by=box,
        origin_commune=box.commune,
    )
