"""Store-and-forward: events spooled in SQLite on disk until the central acknowledges them.

Each event gets the next sequence number of this box (strictly increasing, never reused,
even after the spool file is lost: the last number handed out is mirrored in the state
database); the central stores (box, seq) once, so a batch resent after a timeout or a
restart is harmless. An event leaves the spool only when a batch containing it has been
acknowledged. A spool file that SQLite cannot read (truncated, corrupt) is moved aside
and a fresh one started: the agent keeps working and reports the recovery.

Repeated events are aggregated (one row with a `count`, `flows` summed, `at` the first
and `last_at` the last seen) and the number of rows is capped, so that a flood while the
central is down (a LAN host asking a sinkholed name 100,000 times) keeps the file small
while every event still counts once at the central.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("clocher_box.spool")

BATCH = 1000


def open_db(path: Path, schema: str) -> tuple[sqlite3.Connection, str | None]:
    """A WAL SQLite database with `schema`; if the file is unreadable it is renamed
    `<name>.corrupt-<time>` and a fresh one is created. Returns (connection, moved path)."""
    moved: str | None = None
    for attempt in (1, 2):
        db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            problem = db.execute("PRAGMA quick_check").fetchone()[0]
            if problem != "ok":
                raise sqlite3.DatabaseError(problem)
            db.executescript(schema)
            return db, moved
        except sqlite3.DatabaseError as exc:
            db.close()
            if attempt == 2:
                raise
            aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
            for suffix in ("", "-wal", "-shm"):
                part = Path(f"{path}{suffix}")
                if part.exists():
                    part.rename(f"{aside}{suffix}")
            moved = str(aside)
            log.error("%s illisible (%s) : mis de côté sous %s, nouveau fichier", path, exc, aside)
    raise AssertionError("unreachable")


SCHEMA = """
CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

# Events of these kinds repeat (a LAN host asking a sinkholed name again and again, a
# blocked source knocking every few seconds): one row per (kind, source, scenario,
# detail) and window, with a count, instead of one row per event.
AGGREGATED_KINDS = frozenset({"drops"})
# How long a row keeps taking repeats (seconds from its first event): bounds the rows
# one key makes during a long outage of the central (24 a day).
AGGREGATE_WINDOW = 3600
# The last resort: past this many rows, an event that joins no row is only counted, in
# one row per (kind, scenario) with an unknown source ("spool plein"), so that totals
# stay exact while the file stays bounded (20,000 rows: under 16 MiB with its journal).
MAX_ROWS = 20_000
OVERFLOW_SOURCE = "0.0.0.0"  # noqa: S104 — "source not kept", not a bind
OVERFLOW_DETAIL = "spool plein : sources non conservées"


class Spool:
    """The events waiting for the central. `seq_floor`/`save_seq` keep numbering monotonic
    across a lost spool file (the agent passes its state database's counter).

    A row offered to the central (returned by `pending`) is frozen: the central may have
    stored it under its seq already, so a repeat counted into it afterwards would be
    lost; repeats then start a new row. The highest seq offered is kept in the file, so
    this holds across a restart between a send and its acknowledgement."""

    def __init__(
        self,
        path: Path,
        seq_floor: int = 0,
        save_seq: Callable[[int], None] | None = None,
        window: float = AGGREGATE_WINDOW,
        max_rows: int = MAX_ROWS,
    ) -> None:
        self.path = path
        self.db, self.recovered_from = open_db(path, SCHEMA)
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(events)")}
        if "agg" not in columns:  # a spool written before aggregation: its rows stay alone
            self.db.execute("ALTER TABLE events ADD COLUMN agg TEXT")
            self.db.execute("ALTER TABLE events ADD COLUMN opened REAL")
        self.db.execute(
            "CREATE INDEX IF NOT EXISTS events_agg ON events (agg) WHERE agg IS NOT NULL"
        )
        self._save_seq = save_seq
        self.window = window
        self.max_rows = max_rows
        row = self.db.execute("SELECT max(seq), count(*) FROM events").fetchone()
        self.last_seq = max(row[0] or 0, seq_floor)
        self.rows = int(row[1])
        offered = self.db.execute("SELECT value FROM meta WHERE key = 'offered'").fetchone()
        self.offered = int(offered[0]) if offered else 0

    def append(self, event: dict[str, Any], now: float | None = None) -> int:
        """Spools one event (without its seq) and returns the seq of the row holding it:
        a new row, or the open row of the same repeated event (its count and flows grow)."""
        now = time.time() if now is None else now
        key = None
        if event.get("kind") in AGGREGATED_KINDS:
            key = json.dumps([event.get(k) for k in ("kind", "source", "scenario", "detail")])
        if self.rows >= self.max_rows and (key is None or self._open_row(key, now) is None):
            event = dict(event, source=OVERFLOW_SOURCE, country="", detail=OVERFLOW_DETAIL)
            key = json.dumps(["overflow", event.get("kind"), event.get("scenario")])
        if key is not None:
            seq = self._merge(key, event, now)
            if seq is not None:
                return seq
        seq = self.last_seq + 1
        body = dict(event, seq=seq)
        self.db.execute(
            "INSERT INTO events (seq, body, agg, opened) VALUES (?, ?, ?, ?)",
            (seq, json.dumps(body), key, now),
        )
        self.last_seq = seq
        self.rows += 1
        if self._save_seq is not None:
            self._save_seq(seq)
        return seq

    def _open_row(self, key: str, now: float) -> tuple[int, str] | None:
        """The row still taking repeats of `key`: not offered yet, within its window."""
        row = self.db.execute(
            "SELECT seq, body FROM events WHERE agg = ? AND seq > ? AND opened > ? "
            "ORDER BY seq DESC LIMIT 1",
            (key, self.offered, now - self.window),
        ).fetchone()
        return (int(row[0]), str(row[1])) if row else None

    def _merge(self, key: str, event: dict[str, Any], now: float) -> int | None:
        row = self._open_row(key, now)
        if row is None:
            return None
        seq, text = row
        body = json.loads(text)
        body["count"] = int(body.get("count", 1)) + int(event.get("count", 1))
        body["flows"] = int(body.get("flows", 0)) + int(event.get("flows", 0))
        if event.get("at"):
            body["last_at"] = event["at"]
        self.db.execute("UPDATE events SET body = ? WHERE seq = ?", (json.dumps(body), seq))
        return seq

    def pending(self, limit: int = BATCH) -> list[dict[str, Any]]:
        """The oldest rows, to send; from now on they are frozen (see the class)."""
        rows = self.db.execute("SELECT seq, body FROM events ORDER BY seq LIMIT ?", (limit,))
        batch = [(int(seq), body) for seq, body in rows]
        if batch and batch[-1][0] > self.offered:
            self.offered = batch[-1][0]
            self.db.execute(
                "INSERT INTO meta (key, value) VALUES ('offered', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (self.offered,),
            )
        return [json.loads(body) for _, body in batch]

    def acknowledge(self, seqs: list[int]) -> None:
        """Deletes the events of an acknowledged batch."""
        self.db.execute("BEGIN")
        deleted = 0
        for seq in seqs:
            deleted += self.db.execute("DELETE FROM events WHERE seq = ?", (seq,)).rowcount
        self.db.execute("COMMIT")
        self.rows -= deleted

    def backlog(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM events").fetchone()[0])

    def close(self) -> None:
        self.db.close()
