"""One flush of the file system for the small uploads that arrive together.

A small PUT stored its chunk with two fsyncs (the file, then its directory): on a disk
where each costs a journal commit, they were most of a small upload's time, and sync
clients send many small files at once over several connections. Here the chunks of the
small uploads that wait at the same moment in one process are written with the store's
`put_many` (everything written aside, one flush, the renames, one flush): the first
upload to arrive flushes for all those queued behind it, and each upload returns once
its own chunks are durable, before its version is committed, as with `put`.

New small files go further (`GroupCommit`): those of a space that wait together are
stored with one `put_many` and committed in one transaction by one of their requests,
each answered once its own file is committed (as durable as alone: the chunks before
the rows, SQLite's WAL and PostgreSQL's commit unchanged). When the writer process runs
(`dav.writer`), it does this for the new small files of every worker at once; the
groups here are for a worker without it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

# Uploads up to this size keep their sealed chunks in memory until the flush (as the
# document import does); larger ones go to the store chunk by chunk.
SMALL_BYTES = 1 << 20


@dataclass(eq=False)
class _Ticket:
    item: Any
    done: bool = False
    answer: Any = None
    error: BaseException | None = None


@dataclass
class Group:
    """Work that arrives together in one process, done once for all: the first to find
    nobody at work takes everything queued and runs `run(items)` (one answer per item, in
    order) for all; the others wait for their answer or their turn. An error raised by
    `run` is every item's of that batch."""

    _queue: list[_Ticket] = field(default_factory=list)
    _busy: bool = False
    _ready: threading.Condition = field(default_factory=threading.Condition)
    runs: int = 0  # how many batches (tests and the bench's profile)

    def submit(self, item: Any, run: Callable[[list[Any]], list[Any]]) -> Any:
        ticket = _Ticket(item)
        with self._ready:
            self._queue.append(ticket)
            while not ticket.done:
                if self._busy:
                    self._ready.wait()
                    continue
                batch, self._queue, self._busy = self._queue, [], True
                self._ready.release()
                answers: list[Any] = []
                error: BaseException | None = None
                try:
                    answers = run([one.item for one in batch])
                except BaseException as exc:  # every item of the batch learns it
                    error = exc
                finally:
                    self._ready.acquire()
                self.runs += 1
                self._busy = False
                for index, one in enumerate(batch):
                    one.done, one.error = True, error
                    if error is None:
                        one.answer = answers[index]
                self._ready.notify_all()
        if ticket.error is not None:
            raise ticket.error
        return ticket.answer


@dataclass
class SharedFlush(Group):
    """The chunks of one process's small uploads: a leader flushes for all."""

    @property
    def flushes(self) -> int:  # how many `put_many` calls
        return self.runs

    def write(self, blobs: Any, items: dict[str, bytes | bytearray]) -> None:
        """Store `items` durably, with whatever else is queued meanwhile."""

        def flush(batch: list[dict[str, bytes | bytearray]]) -> list[None]:
            blobs.put_many([pair for one in batch for pair in one.items()])
            return [None] * len(batch)

        self.submit(items, flush)


class GroupCommit:
    """The new small files of one space that wait at the same moment in one process,
    stored and committed in one transaction (`dav.fast._stored_and_saved`) by whichever
    of their requests finds the space's group idle: one flush, one transaction, one
    journal append and one update of the space's and the commune's counters for the
    group, where each upload took its own (SQLite has one writer anyway, and PostgreSQL
    locked the counters' rows until each commit). One group per space: a group's files
    share their commune's counters."""

    def __init__(self) -> None:
        self._groups: dict[int, Group] = {}
        self._guard = threading.Lock()

    def submit(self, space_id: int, item: Any, run: Callable[[list[Any]], list[Any]]) -> Any:
        """`item`'s answer from `run`; an answer that is an exception is raised."""
        group = self._groups.get(space_id)
        if group is None:
            with self._guard:
                group = self._groups.setdefault(space_id, Group())
        answer = group.submit(item, run)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def waiting(self, space_id: int) -> int:
        """How many of the space's files wait for the next group (tests)."""
        group = self._groups.get(space_id)
        return 0 if group is None else len(group._queue)


SHARED = SharedFlush()
COMMITS = GroupCommit()


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
