"""A journal in front of the local store, for the vault's writer (`vault.dav.writer`).

`LocalStore.put_many` makes a batch of small chunks durable with two flushes of the whole
file system (contents, then names): half of the writer's time went there, waiting on the
disk (docs/performance.md « Ninth pass »). Here a batch is written into one journal file
and made durable with one `fdatasync` (in a helper thread, while the writer goes on); the
chunk files are written meanwhile without a sync, and named once it is done. Every so
often (`checkpoint`), one flush of the file system makes all the chunk files written
since durable, and the journal starts a new generation (the old records no longer count).

After a crash, a chunk file written since the last checkpoint may be missing or hold
something else than its chunk; its content is in the journal, and `replay` (run by the
writer before it accepts anything) writes every chunk of the journal again under its
name, then checkpoints. Until then, such a chunk reads as an error, never as other
content: chunks are sealed and authenticated (`storage.crypto`).

The file is written in place, never grown by an append: its blocks are written once
(zeros) when it is made or grown, and a batch's records are written over them. Its size
and blocks then do not change, so the `fdatasync` flushes the data alone: an append
that grew the file made each sync commit ext4's journal, with every chunk file created
since (a batch of six chunks: 0.51 ms a sync appended, 0.19 ms in place; « Eleventh
pass »).

The file: its header (`!4sQ`: magic, generation), then the records of that generation.
A record: its header (`!4sQIII`: magic, generation, key length, content length, CRC-32
of key and content), the key, the content. A checkpoint starts a new generation (the
header rewritten and synced), so the records of the last one no longer count. The
replay stops at the first record that is torn, damaged or of another generation: a torn
last record (a crash during an append) was never synced, so nothing was committed on it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import struct
import threading
import time
import zlib
from collections.abc import Collection, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from clocher.storage.blobstore.local import LocalStore, _sync_directory

log = logging.getLogger(__name__)

_FILE = struct.Struct("!4sQ")
_FILE_MAGIC = b"CLJ2"
_RECORD = struct.Struct("!4sQIII")
_MAGIC = b"CLR2"
# The format before generations (appended records, the file emptied at checkpoints):
# a journal left by an older writer is replayed as it was written.
_OLD_RECORD = struct.Struct("!4sIII")
_OLD_MAGIC = b"CLJ1"
# The file's first size, and the step it grows by when a batch does not fit.
INITIAL_BYTES = 1 << 20
# A checkpoint once the journal holds this much, or its oldest record is this old.
CHECKPOINT_BYTES = 64 << 20
CHECKPOINT_SECONDS = 1.0


def journal_path(blobs: LocalStore) -> Path:
    """The journal's file, beside the store's folder (not among its chunks)."""
    return blobs.root.with_name("blobs.journal")


class Appended:
    """Chunks appended to the journal, their sync under way (`ChunkJournal.append`)."""

    def __init__(
        self,
        journal: ChunkJournal,
        keys: list[str],
        written: list[tuple[str, str]],
        sync: Future[None] | None,
        length: int,
    ) -> None:
        self.journal, self.keys, self.written = journal, keys, written
        self.sync, self.length = sync, length
        self.done = False

    def wait(self, unused: Collection[str] = ()) -> None:
        """Once the journal is synced, the chunks under their names: durable on return;
        those of `unused` (keys: chunks that nothing is to name, the writer's declined
        files) left unnamed, their records in the journal only. After a failed sync the
        chunks written aside are removed and the append is not counted (the next one is
        written over it)."""
        if self.done:
            return
        self.done = True
        if self.sync is not None:
            try:
                self.sync.result()
            except BaseException:
                # Whatever of it the disk kept holds chunks that nothing names.
                self.journal.blobs.discard_aside(self.written)
                raise
        named = []
        for key, (tmp, name) in zip(self.keys, self.written, strict=True):
            if key in unused:
                os.unlink(tmp)
            else:
                os.replace(tmp, name)
                named.append(name)
        self.journal._synced(self.length, named)

    def abandon(self, unused: Collection[str] = ()) -> None:
        """For a caller whose statements failed: the append finished all the same (its
        chunks named, unused until the GC takes them; or not counted if the sync
        failed), so that the journal's next append starts after it."""
        with contextlib.suppress(Exception):
            self.wait(unused)


class JournalBusy(Exception):
    """Another process holds the journal (a second writer on the same data)."""


def record(generation: int, key: bytes, content: bytes | bytearray) -> bytes:
    """One record of the journal (its header, the key, the content)."""
    check = zlib.crc32(content, zlib.crc32(key))
    return _RECORD.pack(_MAGIC, generation, len(key), len(content), check) + key + content


class ChunkJournal:
    def __init__(self, blobs: LocalStore) -> None:
        self.blobs = blobs
        self.path = journal_path(blobs)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise JournalBusy(f"journal des blocs déjà ouvert : {self.path}") from None
        self.capacity = os.fstat(self.fd).st_size
        head = os.pread(self.fd, _FILE.size, 0)
        self.old_format = head[:4] == _OLD_MAGIC  # replayed, then rewritten (`replay`)
        if len(head) == _FILE.size and head[:4] == _FILE_MAGIC:
            self.generation = _FILE.unpack(head)[1]
        else:
            self.generation = 0
            if not self.old_format:
                self._start(1)  # new, or not a journal: nothing in it was ever synced
        # The records' bytes after the header (appends go after those found).
        self.size = sum(_RECORD.size + len(k) + len(c) for k, c in self._records())
        self.since = time.monotonic() if self.size else 0.0  # the oldest record's time
        self.unsynced: list[str] = []  # chunk files written since (without syncfs)
        self._sync_thread: ThreadPoolExecutor | None = None

    def close(self) -> None:
        if self._sync_thread is not None:
            self._sync_thread.shutdown()
        os.close(self.fd)  # releases the lock

    def put_many(self, items: Iterable[tuple[str, bytes | bytearray]]) -> None:
        """Store the chunks: durable on return (in the journal), readable under their
        names. The store's guarantee holds once `replay` has run after a crash."""
        self.append(items).wait()

    def append(self, items: Iterable[tuple[str, bytes | bytearray]]) -> Appended:
        """`put_many` in two steps: the chunks written (aside and into the journal) and
        the journal's sync started in a helper thread; the caller works meanwhile (the
        writer runs its statements) and calls `wait` before anything may name them (the
        commit). The writer then waits for the disk only for what its statements did
        not cover."""
        items = list(items)
        if self.old_format:
            raise RuntimeError("journal des blocs d'un ancien format : rejouez-le d'abord")
        if not items:
            return Appended(self, [], [], None, 0)
        for key, _ in items:
            self.blobs.check_key(key)  # a bad key fails before the journal
        length = sum(_RECORD.size + len(key.encode()) + len(data) for key, data in items)
        self._make_room(length)  # may start a generation: records after it
        records = bytearray()
        for key, data in items:
            records += record(self.generation, key.encode(), data)
        _pwrite_all(self.fd, records, _FILE.size + self.size)
        sync = self._sync_started()
        # The chunk files are written while the journal syncs (in place, its sync waits
        # for no file creation), named once it is done (`Appended.wait`).
        written: list[tuple[str, str]] = []
        try:
            for key, data in items:
                written.append(self.blobs.write_aside(key, data, sync=False))
        except BaseException:
            self.blobs.discard_aside(written)
            with contextlib.suppress(Exception):
                sync.result()  # not counted: the next append is written over it
            raise
        return Appended(self, [key for key, _ in items], written, sync, len(records))

    def _sync_started(self) -> Future[None]:
        """The journal's `fdatasync` running in the helper thread on return. Handed over
        alone, it waited for the interpreter's lock while the caller ran its statements
        (the switch interval, 5 ms), and the sync began after them."""
        if self._sync_thread is None:
            self._sync_thread = ThreadPoolExecutor(1, thread_name_prefix="vault-journal")
        started = threading.Event()

        def sync() -> None:
            started.set()
            os.fdatasync(self.fd)  # releases the lock: the caller goes on

        running = self._sync_thread.submit(sync)
        started.wait()
        return running

    def _make_room(self, length: int) -> None:
        """Room for `length` bytes of records after those of the generation, in blocks
        the file already has: a full file is checkpointed if one is due, else grown
        (it settles at what a checkpoint's interval holds)."""
        end = _FILE.size + self.size + length
        if end > self.capacity and self.due():
            self.checkpoint()
            end = _FILE.size + length
        if end > self.capacity:
            self._grow(end)

    def _grow(self, end: int) -> None:
        """Blocks written (zeros) up to `end` and as many again (up to a step of
        CHECKPOINT_BYTES), made durable with the file's size: appends then change
        neither."""
        capacity = end + min(max(self.capacity, INITIAL_BYTES), CHECKPOINT_BYTES)
        _pwrite_all(self.fd, bytes(capacity - self.capacity), self.capacity)
        os.fsync(self.fd)
        self.capacity = capacity

    def _start(self, generation: int) -> None:
        """A new generation: the header rewritten and synced (no record counts now)."""
        if self.capacity < _FILE.size + INITIAL_BYTES:
            self._grow(_FILE.size)
            _sync_directory(self.path.parent)
        os.pwrite(self.fd, _FILE.pack(_FILE_MAGIC, generation), 0)
        os.fdatasync(self.fd)
        self.generation, self.old_format = generation, False

    def _synced(self, length: int, names: list[str]) -> None:
        if not self.size:
            self.since = time.monotonic()
        self.size += length
        self.unsynced += names

    def due(self) -> bool:
        """Whether a checkpoint should run now (big or old enough)."""
        return bool(self.size) and (
            self.size >= CHECKPOINT_BYTES or time.monotonic() - self.since >= CHECKPOINT_SECONDS
        )

    def checkpoint(self) -> None:
        """Make every chunk file written since the last checkpoint durable, then empty
        the journal (if the emptying is lost in a crash, the replay rewrites chunks
        that were fine: nothing is lost)."""
        if not self.size:
            return
        self.blobs.make_durable(self.unsynced)
        self._start(self.generation + 1)
        self.size, self.unsynced = 0, []

    def records(self) -> Iterator[tuple[str, bytes]]:
        """The journal's whole records, up to the first torn or damaged one."""
        for key, content in self._records():
            yield key.decode(), content

    def _records(self) -> Iterator[tuple[bytes, bytes]]:
        with open(self.path, "rb") as journal:
            data = journal.read()
        if self.old_format:
            yield from _parsed(data, 0, _OLD_RECORD, _OLD_MAGIC, None)
            return
        yield from _parsed(data, _FILE.size, _RECORD, _MAGIC, self.generation)

    def replay(self) -> int:
        """Write every chunk of the journal again under its name, make them durable and
        empty the journal; how many chunks. Run before anything is accepted."""
        count = 0
        for key, content in self.records():
            try:
                tmp, name = self.blobs.write_aside(key, content, sync=False)
            except ValueError:  # not a chunk's key: nothing was committed on it
                log.warning("coffre : clé invalide dans le journal des blocs : %r", key)
                continue
            os.replace(tmp, name)
            self.unsynced.append(name)
            count += 1
        if self.old_format:
            self.blobs.make_durable(self.unsynced)
            self._start(1)
            self.size, self.unsynced = 0, []
        self.checkpoint()  # a damaged tail is emptied with the rest
        return count


def _parsed(
    data: bytes, offset: int, header: struct.Struct, magic: bytes, generation: int | None
) -> Iterator[tuple[bytes, bytes]]:
    """The (key, content) of the whole records from `offset`, up to the first torn,
    damaged or other generation's one. `generation` None: the format before them (its
    header has no generation)."""
    while offset + header.size <= len(data):
        found, *rest = header.unpack_from(data, offset)
        if generation is not None and rest.pop(0) != generation:
            return
        key_size, size, check = rest
        start = offset + header.size
        end = start + key_size + size
        if found != magic or end > len(data):
            return
        key, content = data[start : start + key_size], data[start + key_size : end]
        if zlib.crc32(content, zlib.crc32(key)) != check:
            return
        yield key, content
        offset = end


def _pwrite_all(fd: int, data: bytes | bytearray, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def replay_left(blobs: LocalStore) -> int:
    """Replay the journal a writer left (`clocher vault fsck`, before it reads the
    chunks): how many chunks; 0 without a journal, or while a writer holds it (it
    replayed it when it started)."""
    if not journal_path(blobs).exists():
        return 0
    try:
        journal = ChunkJournal(blobs)
    except JournalBusy:
        return 0
    try:
        return journal.replay()
    finally:
        journal.close()
