"""Sealed chunks as files: `<root>/<commune id>/<aa>/<digest>`, written atomically
(temp file, fsync, rename) so a crash never leaves a half-written chunk under its name."""

from __future__ import annotations

import ctypes
import os
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path


def _sync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# Linux's syncfs(2): one flush of the file system for a batch, where an fsync per small
# file costs a journal commit each (~7 ms on this disk). None elsewhere.
_SYNCFS = getattr(ctypes.CDLL(None, use_errno=True), "syncfs", None)


def _sync_file_system(directory: str) -> bool:
    """Flush the file system holding `directory`; False when syncfs is unavailable."""
    if _SYNCFS is None:
        return False
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if _SYNCFS(fd) != 0:
            error = ctypes.get_errno()
            raise OSError(error, os.strerror(error), directory)
    finally:
        os.close(fd)
    return True


class LocalStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root) / "blobs"
        self._root = str(self.root)
        self.configured_for = root

    def _filename(self, key: str) -> str:
        """The file of `key`, built as a string: path objects cost more than reading a
        small chunk (the archive audit reads thousands)."""
        commune, digest = key.split("/", 1)
        if not commune.isdigit() or not digest.isalnum():
            raise ValueError(f"clé de blob invalide : {key!r}")
        return f"{self._root}/{commune}/{digest[:2]}/{digest}"

    def check_key(self, key: str) -> None:
        """Raises ValueError for a key that is not a chunk's (`<commune id>/<digest>`)."""
        self._filename(key)

    def _path(self, key: str) -> Path:
        return Path(self._filename(key))

    def put(self, key: str, data: bytes | bytearray, *, sync_directory: bool = True) -> None:
        """The content is synced before the rename, so a name never points at lost
        content (an upload of the same chunk later trusts a name that exists)."""
        path = self._path(key)
        if not path.parent.is_dir():
            path.parent.mkdir(parents=True, exist_ok=True)
            _sync_directory(path.parent.parent)
        # Unique per writer: two uploads of the same content may store the same chunk.
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        if sync_directory:
            _sync_directory(path.parent)

    def put_many(self, items: Iterable[tuple[str, bytes | bytearray]]) -> None:
        """Store several blobs with two flushes of the file system in all, not two fsyncs
        each: every content written aside, one flush, the renames, one flush (names and
        directories). The guarantee of `put` holds: a name never points at lost content,
        and every name is durable on return. Without syncfs, one fsync per file."""
        written: list[tuple[str, str]] = []
        try:
            for key, data in items:
                written.append(self.write_aside(key, data))
        except BaseException:
            self.discard_aside(written)
            raise
        self.commit_aside(written)

    def write_aside(
        self, key: str, data: bytes | bytearray, *, sync: bool = True
    ) -> tuple[str, str]:
        """`put_many`'s first step for one blob, which callers may run from several
        threads (an import writes while it reads): the content in a new file beside its
        name, not under it. Returns (that file, the name) for `commit_aside` or
        `discard_aside`. Without syncfs the file is fsynced here, unless `sync` is False
        (the journal's chunks, durable in the journal)."""
        name = self._filename(key)
        directory = name.rpartition("/")[0]
        if not os.path.isdir(directory):
            os.makedirs(directory, exist_ok=True)
        # Unique per writer: two uploads of the same content may store the same chunk.
        tmp = f"{directory}/.{name.rpartition('/')[2]}.{secrets.token_hex(8)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if sync and _SYNCFS is None:
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        os.close(fd)
        return tmp, name

    def commit_aside(self, written: list[tuple[str, str]]) -> None:
        """Make blobs written aside durable under their names: one flush (their
        contents), the renames, one flush (names and new directories). If the first
        flush fails, nothing is renamed and the files aside are removed."""
        try:
            _sync_file_system(self._root)
        except BaseException:
            self.discard_aside(written)
            raise
        for tmp, name in written:
            os.replace(tmp, name)
        if not _sync_file_system(self._root):
            self.sync_names(name for _, name in written)

    def make_durable(self, names: list[str]) -> None:
        """Make blob files written without a sync durable (the journal's checkpoint):
        one flush of the file system, or each file's content then their names fsynced
        (a file removed since, the GC of an unused chunk, is skipped)."""
        if _sync_file_system(self._root):
            return
        for name in names:
            try:
                fd = os.open(name, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        self.sync_names(names)

    def sync_names(self, names: Iterable[str]) -> None:
        """Make blob files' names (and new directories) durable without syncfs: their
        directories fsynced, up to the root."""
        parents = {name.rpartition("/")[0] for name in names}
        grandparents = {directory.rpartition("/")[0] for directory in parents}
        for directory in parents | grandparents | {self._root}:
            _sync_directory(Path(directory))

    def discard_aside(self, written: Iterable[tuple[str, str]]) -> None:
        """Remove blobs written aside and not committed (an import that failed)."""
        for tmp, _ in written:
            Path(tmp).unlink(missing_ok=True)

    def sync_directories(self, keys: Iterable[str]) -> None:
        for directory in {self._path(key).parent for key in keys}:
            _sync_directory(directory)

    def get(self, key: str) -> bytes:
        """One open and one read of the file's size, without the file object and the
        read to see the end that `Path.read_bytes` costs. A stored file never changes
        under its name (written aside, then renamed), so its size is all there is."""
        fd = os.open(self._filename(key), os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            data = os.read(fd, size)
            while len(data) < size and (more := os.read(fd, size - len(data))):
                data += more  # a short read (a signal): go on
        finally:
            os.close(fd)
        return data

    def exists(self, key: str) -> bool:
        return os.path.exists(self._filename(key))  # every small PUT asks: no Path object

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def modified(self, key: str) -> float:
        return self._path(key).stat().st_mtime

    def names(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for commune_dir in sorted(self.root.iterdir()):
            for path in sorted(commune_dir.glob("*/*")):
                if not path.name.startswith("."):
                    yield f"{commune_dir.name}/{path.name}"
