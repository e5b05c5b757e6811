"""Store-and-forward: events spooled in SQLite on disk until the central acknowledges them.

Each event gets the next sequence number of this box (strictly increasing, never reused,
even after the spool file is lost: the last number handed out is mirrored in the state
database); the central stores (box, seq) once, so a batch resent after a timeout or a
restart is harmless. An event leaves the spool only when a batch containing it has been
acknowledged. A spool file that SQLite cannot read (truncated, corrupt) is moved aside
and a fresh one started: the agent keeps working and reports the recovery.
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
"""


class Spool:
    """The events waiting for the central. `seq_floor`/`save_seq` keep numbering monotonic
    across a lost spool file (the agent passes its state database's counter)."""

    def __init__(
        self,
        path: Path,
        seq_floor: int = 0,
        save_seq: Callable[[int], None] | None = None,
    ) -> None:
        self.path = path
        self.db, self.recovered_from = open_db(path, SCHEMA)
        self._save_seq = save_seq
        row = self.db.execute("SELECT max(seq) FROM events").fetchone()
        self.last_seq = max(row[0] or 0, seq_floor)

    def append(self, event: dict[str, Any]) -> int:
        """Spools one event (without its seq) and returns the seq it was given."""
        seq = self.last_seq + 1
        body = dict(event, seq=seq)
        self.db.execute("INSERT INTO events (seq, body) VALUES (?, ?)", (seq, json.dumps(body)))
        self.last_seq = seq
        if self._save_seq is not None:
            self._save_seq(seq)
        return seq

    def pending(self, limit: int = BATCH) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT body FROM events ORDER BY seq LIMIT ?", (limit,))
        return [json.loads(body) for (body,) in rows]

    def acknowledge(self, seqs: list[int]) -> None:
        """Deletes the events of an acknowledged batch."""
        self.db.execute("BEGIN")
        self.db.executemany("DELETE FROM events WHERE seq = ?", [(s,) for s in seqs])
        self.db.execute("COMMIT")

    def backlog(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM events").fetchone()[0])

    def close(self) -> None:
        self.db.close()
