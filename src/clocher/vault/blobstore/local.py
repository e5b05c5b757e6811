"""Sealed chunks as files: `<root>/<commune id>/<aa>/<digest>`, written atomically
(temp file, fsync, rename) so a crash never leaves a half-written chunk under its name."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path


class LocalStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root) / "blobs"
        self.configured_for = root

    def _path(self, key: str) -> Path:
        commune, digest = key.split("/", 1)
        if not commune.isdigit() or not digest.isalnum():
            raise ValueError(f"clé de blob invalide : {key!r}")
        return self.root / commune / digest[:2] / digest

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Unique per writer: two uploads of the same content may store the same chunk.
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

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
