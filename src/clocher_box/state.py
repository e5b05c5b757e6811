"""What the box must remember across restarts: decisions, the policy in force, counters.

The kernel's sets are a cache of this: at start the agent recreates its table and
reapplies the decisions still running (with their remaining time), the feed (kept as a
packed file beside the database: a million rows would cost seconds to write) and the
policy's sets.
"""

from __future__ import annotations

import json
import os
import time
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clocher_box.spool import open_db

SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    source TEXT PRIMARY KEY,
    scenario TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    decided_at REAL NOT NULL,
    expires_at REAL,
    origin TEXT NOT NULL DEFAULT 'local'
);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Decision:
    source: str
    scenario: str
    reason: str
    decided_at: float
    expires_at: float | None
    origin: str

    def remaining(self, now: float) -> int | None:
        """Seconds left (None: until unblocked)."""
        return None if self.expires_at is None else max(1, int(self.expires_at - now))


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class State:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.db, self.recovered_from = open_db(directory / "state.db", SCHEMA)

    # key/value
    def get(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def put(self, key: str, value: Any) -> None:
        self.db.execute(
            "INSERT INTO kv (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )

    # decisions
    def decisions(self, now: float | None = None) -> list[Decision]:
        """Decisions still running (expired ones are purged first)."""
        now = time.time() if now is None else now
        self.db.execute(
            "DELETE FROM decisions WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,)
        )
        rows = self.db.execute(
            "SELECT source, scenario, reason, decided_at, expires_at, origin FROM decisions "
            "ORDER BY decided_at"
        )
        return [Decision(*row) for row in rows]

    def decision(self, source: str) -> Decision | None:
        row = self.db.execute(
            "SELECT source, scenario, reason, decided_at, expires_at, origin FROM decisions "
            "WHERE source = ?",
            (source,),
        ).fetchone()
        return Decision(*row) if row else None

    def save_decision(self, decision: Decision) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO decisions VALUES (?, ?, ?, ?, ?, ?)",
            (
                decision.source,
                decision.scenario,
                decision.reason,
                decision.decided_at,
                decision.expires_at,
                decision.origin,
            ),
        )

    def delete_decision(self, source: str) -> bool:
        return self.db.execute("DELETE FROM decisions WHERE source = ?", (source,)).rowcount > 0

    def delete_origin(self, origin: str) -> None:
        self.db.execute("DELETE FROM decisions WHERE origin = ?", (origin,))

    # the bulk feed
    def save_feed(self, packed4: array, v6: list[str]) -> None:  # type: ignore[type-arg]
        write_atomic(self.directory / "feed4.bin", packed4.tobytes())
        write_atomic(self.directory / "feed6.json", json.dumps(v6).encode())

    def load_feed(self) -> tuple[array, list[str]]:  # type: ignore[type-arg]
        packed = array("Q")
        path = self.directory / "feed4.bin"
        if path.exists():
            packed.frombytes(path.read_bytes())
        path6 = self.directory / "feed6.json"
        return packed, json.loads(path6.read_text()) if path6.exists() else []

    def close(self) -> None:
        self.db.close()
