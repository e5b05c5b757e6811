"""A journal in front of the local store, for the vault's writer (`vault.dav.writer`).

`LocalStore.put_many` makes a batch of small chunks durable with two flushes of the whole
file system (contents, then names): half of the writer's time went there, waiting on the
disk (docs/performance.md « Ninth pass »). Here a batch is appended to one journal file
and made durable with one `fdatasync`; the chunk files are then written under their names
without a sync. Every so often (`checkpoint`), one flush of the file system makes all the
chunk files written since durable, and the journal is emptied.

After a crash, a chunk file written since the last checkpoint may be missing or hold
something else than its chunk; its content is in the journal, and `replay` (run by the
writer before it accepts anything) writes every chunk of the journal again under its
name, then checkpoints. Until then, such a chunk reads as an error, never as other
content: chunks are sealed and authenticated (`storage.crypto`).

A record: its length header (`!4sIII`: magic, key length, content length, CRC-32 of key
and content), the key, the content. A torn last record (a crash during an append) fails
its check and ends the replay: it was never synced, so nothing was committed on it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import struct
import time
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from clocher.storage.blobstore.local import LocalStore

log = logging.getLogger(__name__)

_HEADER = struct.Struct("!4sIII")
_MAGIC = b"CLJ1"
# A checkpoint once the journal holds this much, or its oldest record is this old.
CHECKPOINT_BYTES = 64 << 20
CHECKPOINT_SECONDS = 1.0


def journal_path(blobs: LocalStore) -> Path:
    """The journal's file, beside the store's folder (not among its chunks)."""
    return blobs.root.with_name("blobs.journal")


class JournalBusy(Exception):
    """Another process holds the journal (a second writer on the same data)."""


class ChunkJournal:
    def __init__(self, blobs: LocalStore) -> None:
        self.blobs = blobs
        self.path = journal_path(blobs)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise JournalBusy(f"journal des blocs déjà ouvert : {self.path}") from None
        self.size = os.fstat(self.fd).st_size
        self.since = 0.0  # when the oldest record not checkpointed was appended
        self.unsynced: list[str] = []  # chunk files written since (without syncfs)

    def close(self) -> None:
        os.close(self.fd)  # releases the lock

    def put_many(self, items: Iterable[tuple[str, bytes | bytearray]]) -> None:
        """Store the chunks: durable on return (in the journal), readable under their
        names. The store's guarantee holds once `replay` has run after a crash."""
        items = list(items)
        if not items:
            return
        written: list[tuple[str, str]] = []
        records = bytearray()
        try:
            for key, data in items:  # aside first: a bad key fails before the journal
                written.append(self.blobs.write_aside(key, data, sync=False))
                encoded = key.encode()
                check = zlib.crc32(data, zlib.crc32(encoded))
                records += _HEADER.pack(_MAGIC, len(encoded), len(data), check)
                records += encoded + data
            self._append(records)
        except BaseException:
            self.blobs.discard_aside(written)
            raise
        for tmp, name in written:
            os.replace(tmp, name)
        self.unsynced += [name for _, name in written]

    def _append(self, records: bytes | bytearray) -> None:
        try:
            view = memoryview(records)
            while view:
                view = view[os.write(self.fd, view) :]
            os.fdatasync(self.fd)
        except BaseException:
            # A failed append (a full disk) is cut off, or the replay would stop at its
            # torn record and miss every later one.
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, self.size)
            raise
        if not self.size:
            self.since = time.monotonic()
        self.size += len(records)

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
        os.ftruncate(self.fd, 0)
        os.fdatasync(self.fd)
        self.size, self.unsynced = 0, []

    def records(self) -> Iterator[tuple[str, bytes]]:
        """The journal's whole records, up to the first torn or damaged one."""
        with open(self.path, "rb") as journal:
            data = journal.read()
        offset = 0
        while offset + _HEADER.size <= len(data):
            magic, key_size, size, check = _HEADER.unpack_from(data, offset)
            start = offset + _HEADER.size
            end = start + key_size + size
            if magic != _MAGIC or end > len(data):
                return
            encoded, content = data[start : start + key_size], data[start + key_size : end]
            if zlib.crc32(content, zlib.crc32(encoded)) != check:
                return
            yield encoded.decode(), content
            offset = end

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
        self.checkpoint()  # a damaged tail is emptied with the rest
        return count


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
