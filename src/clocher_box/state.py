"""What the box must remember across restarts: decisions, the policy in force, counters.

The kernel's sets are a cache of this: at start the agent recreates its table and
reapplies the decisions still running (with their remaining time), the feed (kept as a
packed file beside the database: a million rows would cost seconds to write, with the
deltas applied since as rows of the database, `feed_log`) and the policy's sets.
"""

from __future__ import annotations

import json
import os
import struct
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clocher_box import prefixes
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
CREATE TABLE IF NOT EXISTS feed_log (
    id INTEGER PRIMARY KEY,
    generation INTEGER NOT NULL,
    body BLOB NOT NULL
);
"""


FEED_FILE = "feed.bin"
FEED_HEADER = "<QQQ"  # loaded IPv4 CIDRs, raw IPv4 prefixes, bytes of the JSON tail
# A delta logged in `feed_log`: IPv4 CIDRs loaded (+, -), raw prefixes (+, -), JSON tail.
LOG_HEADER = "<QQQQQ"
# feed.bin is written again whole (and the log emptied) once the log holds more changes
# than this, or than an eighth of the feed: replaying it at start stays cheap.
LOG_COMPACT = 50_000


@dataclass
class RawFeed:
    """The bulk list as the central sent it (before the allowlist), at `version`: IPv4
    prefixes packed `address << 8 | length` and sorted, IPv6 prefixes as text."""

    v4: array  # type: ignore[type-arg]
    v6: list[str]
    version: int


# What feed.bin holds: loaded IPv4 CIDRs (packed), loaded IPv6, the list as sent.
_Feed = tuple[array, list[str], RawFeed | None]  # type: ignore[type-arg]


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


def write_atomic(path: Path, data: bytes | Sequence[bytes | memoryview], mode: int = 0o644) -> None:
    """`data` (or its parts, written one after the other without joining them: the feed
    is 16 MB at a million prefixes) into `path`, whole or not at all."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        for part in [data] if isinstance(data, bytes) else data:
            handle.write(part)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class State:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.db, self.recovered_from = open_db(directory / "state.db", SCHEMA)
        # feed.bin and its log as last read or written, with the identity they had (the
        # file's `_identity`, the log's last row): the agent reads it several times per
        # policy (0.05 s each at a million prefixes), and another process (`clocher-box
        # blocklist`) may replace it.
        self._feed: tuple[tuple[tuple[int, ...], int], _Feed] | None = None
        # feed.bin's generation (its log rows carry it) and the changes logged since.
        self._generation, self._logged = 0, 0

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

    # the bulk feed: one file, so that what is loaded, the list as the central sent it
    # and its version never disagree after a crash (a delta is then asked again from the
    # version in the file, and applying it twice changes nothing).
    def save_feed(
        self,
        packed4: array,  # type: ignore[type-arg]
        v6: list[str],
        raw: RawFeed | None = None,
    ) -> None:
        """Writes feed.bin whole, under a new generation (the log's rows of the previous
        one are then dropped: a crash in between leaves rows that no file matches). The
        arrays are kept as they are: the caller must not change them afterwards."""
        raw4 = raw.v4 if raw is not None else array("Q")
        generation = time.time_ns()
        tail: dict[str, Any] = {"v6": v6, "generation": generation}
        if raw is not None:
            tail |= {"raw6": raw.v6, "version": raw.version}
        text = json.dumps(tail).encode()
        head = struct.pack(FEED_HEADER, len(packed4), len(raw4), len(text))
        path = self.directory / FEED_FILE
        write_atomic(path, [head, memoryview(packed4), memoryview(raw4), text])
        for old in ("feed4.bin", "feed6.json"):
            (self.directory / old).unlink(missing_ok=True)
        self.db.execute("DELETE FROM feed_log WHERE generation != ?", (generation,))
        kept = RawFeed(raw.v4, list(raw.v6), raw.version) if raw is not None else None
        self._feed = ((_identity(path), 0), (packed4, list(v6), kept))
        self._generation, self._logged = generation, 0

    def save_feed_delta(
        self,
        packed4: array,  # type: ignore[type-arg]
        v6: list[str],
        raw: RawFeed,
        changes: tuple[Sequence[int], Sequence[int], Sequence[int], Sequence[int]],
    ) -> None:
        """The feed after a delta: `changes` (loaded CIDRs added, removed; raw prefixes
        added, removed) appended to `feed_log` in one row instead of feed.bin's 16 MB
        written again at a million prefixes; the same durability as the state's other
        rows (WAL), in the same database as the policy's version. feed.bin is written
        whole when the log grows past `LOG_COMPACT` or nothing matches it in memory."""
        path = self.directory / FEED_FILE
        count = sum(len(c) for c in changes)
        if (
            self._feed is None
            or self._feed[0][0] != _identity(path)
            or self._logged + count > max(LOG_COMPACT, len(packed4) // 8)
        ):
            self.save_feed(packed4, v6, raw)
            return
        tail = json.dumps({"v6": v6, "raw6": raw.v6, "version": raw.version}).encode()
        parts = [array("Q", c) for c in changes]
        body = struct.pack(LOG_HEADER, *(len(p) for p in parts), len(tail))
        body += b"".join(p.tobytes() for p in parts) + tail
        row = self.db.execute(
            "INSERT INTO feed_log (generation, body) VALUES (?, ?)", (self._generation, body)
        ).lastrowid
        kept = RawFeed(raw.v4, list(raw.v6), raw.version)
        self._feed = ((self._feed[0][0], row or 0), (packed4, list(v6), kept))
        self._logged += count

    def _read_feed(self) -> tuple[array, list[str], RawFeed | None]:  # type: ignore[type-arg]
        """What feed.bin and the log after it hold, as copies (callers build on them)."""
        packed, v6, raw = self.held_feed()
        if raw is not None:
            raw = RawFeed(raw.v4[:], list(raw.v6), raw.version)
        return packed[:], list(v6), raw

    def held_feed(self) -> _Feed:
        """The feed as kept in memory, read from disk when another process changed it
        since: not to be changed by the caller (no copies: 16 MB at a million)."""
        path = self.directory / FEED_FILE
        last = self.db.execute("SELECT max(id) FROM feed_log").fetchone()[0] or 0
        identity = (_identity(path), last)
        if self._feed is None or self._feed[0] != identity:
            self._feed = (identity, self._read_feed_file(path))
        return self._feed[1]

    def _read_feed_file(self, path: Path) -> _Feed:
        packed = array("Q")
        self._generation, self._logged = 0, 0
        if not path.exists():  # written by an agent before deltas
            legacy = self.directory / "feed4.bin"
            if legacy.exists():
                packed.frombytes(legacy.read_bytes())
            path6 = self.directory / "feed6.json"
            return packed, json.loads(path6.read_text()) if path6.exists() else [], None
        data = path.read_bytes()
        count, raw_count, size = struct.unpack_from(FEED_HEADER, data)
        offset = struct.calcsize(FEED_HEADER)
        packed.frombytes(data[offset : offset + 8 * count])
        offset += 8 * count
        raw4 = array("Q", data[offset : offset + 8 * raw_count])
        tail = json.loads(data[offset + 8 * raw_count : offset + 8 * raw_count + size])
        raw = RawFeed(raw4, list(tail["raw6"]), int(tail["version"])) if "version" in tail else None
        v6 = list(tail["v6"])
        self._generation = int(tail.get("generation", 0))
        rows = self.db.execute(
            "SELECT body FROM feed_log WHERE generation = ? ORDER BY id", (self._generation,)
        )
        for (body,) in rows:
            counts = struct.unpack_from(LOG_HEADER, body)
            offset = struct.calcsize(LOG_HEADER)
            plus, minus, raw_plus, raw_minus = (array("Q") for _ in range(4))
            for part, length in zip((plus, minus, raw_plus, raw_minus), counts, strict=False):
                part.frombytes(body[offset : offset + 8 * length])
                offset += 8 * length
            logged = json.loads(body[offset : offset + counts[4]])
            packed = prefixes.apply_sorted(packed, plus, minus)
            raw4 = prefixes.apply_sorted(
                raw.v4 if raw is not None else array("Q"), raw_plus, raw_minus
            )
            raw = RawFeed(raw4, list(logged["raw6"]), int(logged["version"]))
            v6 = list(logged["v6"])
            self._logged += sum(counts[:4])
        return packed, v6, raw

    def load_feed(self) -> tuple[array, list[str]]:  # type: ignore[type-arg]
        """What is loaded: packed IPv4 CIDRs (sorted), IPv6 prefixes."""
        packed, v6, _ = self._read_feed()
        return packed, v6

    def load_raw_feed(self) -> RawFeed | None:
        """The list as the central last sent it, with its version (None: none kept)."""
        return self._read_feed()[2]

    def close(self) -> None:
        self.db.close()


def _identity(path: Path) -> tuple[int, ...]:
    """(inode, mtime, ctime, size) of a file, zeros if absent: a replaced file differs."""
    try:
        found = path.stat()
    except FileNotFoundError:
        return 0, 0, 0, 0
    return found.st_ino, found.st_mtime_ns, found.st_ctime_ns, found.st_size
