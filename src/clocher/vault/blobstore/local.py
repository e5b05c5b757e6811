"""Sealed chunks as files: `<root>/<commune id>/<aa>/<digest>`, written atomically
(temp file, fsync, rename) so a crash never leaves a half-written chunk under its name."""

from __future__ import annotations

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
        return self._path(key).exists()

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
