"""One flush of the file system for the small uploads that arrive together.

A small PUT stored its chunk with two fsyncs (the file, then its directory): on a disk
where each costs a journal commit, they were most of a small upload's time, and sync
clients send many small files at once over several connections. Here the chunks of the
small uploads that wait at the same moment in one process are written with the store's
`put_many` (everything written aside, one flush, the renames, one flush): the first
upload to arrive flushes for all those queued behind it, and each upload returns once
its own chunks are durable, before its version is committed, as with `put`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# Uploads up to this size keep their sealed chunks in memory until the flush (as the
# document import does); larger ones go to the store chunk by chunk.
SMALL_BYTES = 1 << 20


@dataclass(eq=False)
class _Ticket:
    items: dict[str, bytes | bytearray]
    done: bool = False
    error: BaseException | None = None


@dataclass
class SharedFlush:
    """The queue of one process: a leader flushes, the others wait for their turn."""

    _queue: list[_Ticket] = field(default_factory=list)
    _flushing: bool = False
    _ready: threading.Condition = field(default_factory=threading.Condition)
    flushes: int = 0  # how many `put_many` calls (tests and the bench's profile)

    def write(self, blobs: Any, items: dict[str, bytes | bytearray]) -> None:
        """Store `items` durably, with whatever else is queued meanwhile."""
        ticket = _Ticket(items)
        with self._ready:
            self._queue.append(ticket)
            while not ticket.done:
                if self._flushing:
                    self._ready.wait()
                    continue
                batch, self._queue, self._flushing = self._queue, [], True
                self._ready.release()
                error: BaseException | None = None
                try:
                    blobs.put_many([pair for one in batch for pair in one.items.items()])
                except BaseException as exc:  # every upload of the batch learns it
                    error = exc
                finally:
                    self._ready.acquire()
                self.flushes += 1
                self._flushing = False
                for one in batch:
                    one.done, one.error = True, error
                self._ready.notify_all()
        if ticket.error is not None:
            raise ticket.error


SHARED = SharedFlush()


class GroupSink:
    """What one small upload writes its chunks into (`ChunkSink`): kept until the
    upload asks for its names to be durable, then flushed with the others."""

    def __init__(self, blobs: Any, shared: SharedFlush = SHARED) -> None:
        self.blobs, self.shared = blobs, shared
        self.pending: dict[str, bytes | bytearray] = {}

    def exists(self, key: str) -> bool:
        return key in self.pending or bool(self.blobs.exists(key))

    def put(self, key: str, data: bytes | bytearray, *, sync_directory: bool = True) -> None:
        self.pending[key] = data

    def sync_directories(self, keys: Iterable[str]) -> None:
        if self.pending:
            self.shared.write(self.blobs, self.pending)
        self.pending = {}
