"""The chunk pipeline: content cut into chunks as it arrives, each sealed under its
commune's key and stored by a few helper threads (`ChunkWriter`), and read back as a
seekable file (`ChunkReader`). Which chunks make which file is the caller's record (the
vault's versions); here only bytes, keys and names."""

from __future__ import annotations

import hashlib
import io
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from django.conf import settings

from clocher.core.models import Commune
from clocher.storage import crypto
from clocher.storage.blobstore import store

# Chunks of one upload sealed, written and synced at the same time: each fsync waits on
# the disk, and one chunk at a time capped a large upload at the disk's synchronous rate
# (~180 MiB/s on the bench machine, ~250 with two in flight, ~300 with four).
STORE_THREADS = 3
# Chunks handed over ahead of the request thread: one more than the threads so that
# none waits for work, few enough to keep memory bounded (each holds a 4 MiB chunk).
PIPELINE_DEPTH = STORE_THREADS + 1


class ChunkSink(Protocol):
    """What an upload needs of a blob store (an import passes a batch collector)."""

    def exists(self, key: str) -> bool: ...

    def put(self, key: str, data: bytes | bytearray, *, sync_directory: bool = True) -> None: ...

    def sync_directories(self, keys: Iterable[str]) -> None: ...


@dataclass
class ChunkWriter:
    """Content being received: cut into chunks, each sealed and stored as it fills, so
    memory stays bounded. Nothing is visible until the caller records its `chunks` (the
    vault's `save_file`); `discard` (or a crash) leaves only unreferenced chunks that the
    vault's `fsck --gc` removes.

    Full chunks are sealed and stored (each durable: file fsynced, then renamed) by a few
    helper threads, and hashed in order into the file's SHA-256 by one more, while the
    request thread keeps reading; `finish` waits for them and syncs the chunks'
    directories once, before the version can be committed."""

    commune: Commune
    chunk_bytes: int = field(default_factory=lambda: settings.VAULT_CHUNK_BYTES)
    size: int = 0
    _parts: list[bytes] = field(default_factory=list)
    _buffered: int = 0
    _digests: list[tuple[str, int]] = field(default_factory=list)
    _sha256: object = field(default_factory=hashlib.sha256)
    _pending: deque[tuple[Future[None], Future[tuple[str, int]]]] = field(default_factory=deque)
    _stored: set[str] = field(default_factory=set)
    _worker: ThreadPoolExecutor | None = None
    _hasher: ThreadPoolExecutor | None = None
    _finished: bool = False
    # The commune's data key when the caller already holds it (an import makes
    # thousands of uploads for one commune): one query and one unwrap saved each.
    key: bytes | None = field(default=None, repr=False)
    # Where the chunks go, when not straight to the store: an import hands a collector
    # that writes a whole batch's chunks with one flush of the file system.
    blobs: ChunkSink | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._key = self.key or crypto.data_key(self.commune)
        self._blobs: ChunkSink = self.blobs or store()

    def write(self, data: bytes) -> int:
        self.size += len(data)
        self._parts.append(bytes(data))  # kept as is (no copy) when it is bytes already
        self._buffered += len(data)
        if self._buffered >= self.chunk_bytes:
            self._cut()
        return len(data)

    def _cut(self) -> None:
        """Hand over every full chunk buffered: the pieces are joined once, and a join
        that is exactly one chunk (1 MiB reads, 4 MiB chunks) goes as it is."""
        joined = b"".join(self._parts)
        if len(joined) == self.chunk_bytes:
            self._parts, self._buffered = [], 0
            self._submit(joined)
            return
        with memoryview(joined) as view:
            start = 0
            while len(joined) - start >= self.chunk_bytes:
                self._submit(bytes(view[start : start + self.chunk_bytes]))
                start += self.chunk_bytes
            rest = bytes(view[start:])
        self._parts, self._buffered = ([rest] if rest else []), len(rest)

    def _submit(self, plaintext: bytes) -> None:
        if self._worker is None or self._hasher is None:
            self._worker = ThreadPoolExecutor(STORE_THREADS, thread_name_prefix="vault-upload")
            # One thread, so the file's SHA-256 takes the chunks in their order.
            self._hasher = ThreadPoolExecutor(1, thread_name_prefix="vault-sha256")
        while len(self._pending) >= PIPELINE_DEPTH:
            self._collect()
        hashed = self._hasher.submit(self._sha256.update, plaintext)  # type: ignore[attr-defined]
        self._pending.append((hashed, self._worker.submit(self._store, plaintext)))

    def _collect(self) -> None:
        """Wait for the oldest chunk handed over: hashed and stored."""
        hashed, stored = self._pending.popleft()
        hashed.result()
        self._digests.append(stored.result())

    def _store(self, plaintext: bytes) -> tuple[str, int]:
        digest = crypto.chunk_digest(self._key, plaintext)
        key = f"{self.commune.pk}/{digest}"
        # Two threads may store the same new chunk at once: same bytes, atomic renames.
        if key not in self._stored and not self._blobs.exists(key):
            sealed = crypto.seal(self._key, self.commune.pk, digest, plaintext)
            self._blobs.put(key, sealed, sync_directory=False)
        self._stored.add(key)
        return digest, len(plaintext)

    def finish(self, *, sync_directories: bool = True) -> None:
        """Wait for the helper threads, hash and store the last partial chunk (an empty
        file has none), and make the new chunks' names durable (unless the caller syncs
        the directories of many uploads at once, before committing any: `stored_keys`).
        Once is enough: a second call does nothing."""
        if self._finished:
            return
        try:
            while self._pending:
                self._collect()
            if self._parts:
                last = b"".join(self._parts)
                self._sha256.update(last)  # type: ignore[attr-defined]
                self._digests.append(self._store(last))
                self._parts, self._buffered = [], 0
        finally:
            self.discard()
        if sync_directories:
            self._blobs.sync_directories(self._stored)
        self._finished = True

    @property
    def stored_keys(self) -> set[str]:
        return self._stored

    @property
    def chunks(self) -> list[tuple[str, int]]:
        """(digest, size) of each chunk in order, once `finish` has run: what the
        caller records as the content's chunks (the vault's `attach`)."""
        return self._digests

    def discard(self) -> None:
        """Stop the helper threads once the chunks in their hands are stored (at most
        PIPELINE_DEPTH; those of an aborted upload are garbage for `fsck --gc`)."""
        for pool in (self._worker, self._hasher):
            if pool is not None:
                pool.shutdown(wait=True)
        self._worker = self._hasher = None

    @property
    def sha256(self) -> str:
        """The content's SHA-256, known once `finish` has run (the helper threads may
        still be hashing before)."""
        if not self._finished:
            raise RuntimeError("ChunkWriter.sha256 is known once it is finished")
        return self._sha256.hexdigest()  # type: ignore[attr-defined]


def read_stream(
    stream: io.RawIOBase | io.BufferedIOBase, upload: ChunkWriter, block: int = 1 << 20
) -> None:
    while True:
        data = stream.read(block)
        if not data:
            break
        upload.write(data)


class ChunkReader(io.RawIOBase):
    """Content stored by a `ChunkWriter` as a seekable file (HTTP Range reads one chunk
    at a time): `parts` are the (offset, digest) of its chunks in order, plain values."""

    def __init__(self, commune: Commune, size: int, parts: list[tuple[int, str]]) -> None:
        self.commune = commune
        self.size = size
        self.key = crypto.data_key(commune)
        self.parts = parts
        self.position = 0
        self._cached: tuple[int, bytes] | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}
        self.position = max(0, base[whence] + offset)
        return self.position

    def tell(self) -> int:
        return self.position

    def _plain(self, index: int) -> bytes:
        if self._cached and self._cached[0] == index:
            return self._cached[1]
        digest = self.parts[index][1]
        data = crypto.open_sealed(
            self.key, self.commune.pk, digest, store().get(f"{self.commune.pk}/{digest}")
        )
        self._cached = (index, data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        """Fills the buffer across chunk boundaries (callers such as Range handling
        expect a full read until the end of the content)."""
        filled = 0
        while filled < len(buffer) and self.position < self.size:
            index = max(i for i, p in enumerate(self.parts) if p[0] <= self.position)
            data = self._plain(index)
            start = self.position - self.parts[index][0]
            piece = data[start : start + len(buffer) - filled]
            buffer[filled : filled + len(piece)] = piece
            filled += len(piece)
            self.position += len(piece)
        return filled
