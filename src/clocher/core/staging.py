"""Staged files: what one node receives and another may process or serve.

With several nodes (docs/operations.md « Plus d'un nœud »), an archive uploaded through
node 1 may be imported by a task that runs on node 2, and an export made by a task may
be downloaded through either. So such files are kept by key, not by local path:

- vault on S3: in their own bucket (CLOCHER_STAGING_S3_BUCKET, never the vault's: its
  garbage collection would take them for orphan blobs), cut in parts each sealed with the
  commune's data key (AES-GCM, key and part number authenticated), a sealed manifest
  written last, so a half-written file is never readable and no plaintext leaves the node;
- otherwise under CLOCHER_SHARED_DIR (a filesystem every node mounts), or the data dir on
  one node, written to a temp name then renamed.

Writes and reads are streamed (one part in memory at a time).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from django.conf import settings

if TYPE_CHECKING:
    from clocher.core.models import Commune

PART_BYTES = 8 * 1024 * 1024
READ_BYTES = 1024 * 1024


def new_key(kind: str, suffix: str = "") -> str:
    """A fresh key such as `imports/<hex>.zip`: unguessable, never reused."""
    return f"{kind}/{uuid.uuid4().hex}{suffix}"


def on_s3() -> bool:
    return bool(settings.VAULT_BACKEND == "s3")


def local_root() -> Path:
    return Path(settings.SHARED_DIR) if settings.SHARED_DIR else Path(settings.DATA_DIR)


def _local_path(key: str) -> Path:
    if os.path.isabs(key):  # a row written before staging: a path on this node
        return Path(key)
    parts = PurePosixPath(key).parts
    if not parts or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"Clé de fichier en transit invalide : {key!r}.")
    return local_root().joinpath(*parts)


def location(key: str) -> str:
    """Where the file is, for a message to the operator."""
    if on_s3():
        return f"s3://{settings.STAGING_S3_BUCKET}/{key}"
    return str(_local_path(key))


def _bucket() -> Any:
    from clocher.storage.blobstore import s3_store

    return s3_store(settings.STAGING_S3_BUCKET)


def _context(commune: Commune, key: str, part: str) -> bytes:
    return f"staging:{commune.pk}:{key}:{part}".encode()


def write(key: str, chunks: Iterable[bytes], commune: Commune) -> int:
    """Store the stream under `key`; the bytes written. Nothing stays if the stream
    raises (a caller refusing a too large upload raises from its iterator)."""
    if not on_s3():
        return _write_local(_local_path(key), chunks)
    from clocher.storage import crypto

    bucket, data_key = _bucket(), crypto.data_key(commune)
    written, parts, buffer = 0, 0, bytearray()

    def flush(piece: bytes) -> None:
        nonlocal parts
        sealed = crypto.seal_bytes(data_key, _context(commune, key, str(parts)), piece)
        bucket.put(f"{key}/{parts:06d}", sealed)
        parts += 1

    try:
        for chunk in chunks:
            written += len(chunk)
            buffer += chunk
            while len(buffer) >= PART_BYTES:
                flush(bytes(buffer[:PART_BYTES]))
                del buffer[:PART_BYTES]
        if buffer or parts == 0:
            flush(bytes(buffer))
        manifest = crypto.seal_bytes(
            data_key, _context(commune, key, "manifest"), f"{parts}:{written}".encode()
        )
        bucket.put(f"{key}/manifest", manifest)
    except BaseException:
        delete(key)
        raise
    return written


def _write_local(path: Path, chunks: Iterable[bytes]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    written = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                written += len(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return written


def read(key: str, commune: Commune) -> Iterator[bytes]:
    """The stored bytes, in pieces; FileNotFoundError if the key is unknown (or was
    half-written), ValueError if a part was altered."""
    if not on_s3():
        with _local_path(key).open("rb") as fh:
            yield from iter(lambda: fh.read(READ_BYTES), b"")
        return
    from cryptography.exceptions import InvalidTag

    from clocher.storage import crypto

    bucket, data_key = _bucket(), crypto.data_key(commune)
    try:
        manifest = crypto.open_bytes(
            data_key, _context(commune, key, "manifest"), bucket.get(f"{key}/manifest")
        )
        parts = int(manifest.decode().split(":", 1)[0])
        for index in range(parts):
            sealed = bucket.get(f"{key}/{index:06d}")
            yield crypto.open_bytes(data_key, _context(commune, key, str(index)), sealed)
    except InvalidTag as exc:
        raise ValueError(f"Fichier en transit altéré : {key}.") from exc


def size(key: str, commune: Commune) -> int:
    if not on_s3():
        return _local_path(key).stat().st_size
    from clocher.storage import crypto

    sealed = _bucket().get(f"{key}/manifest")
    manifest = crypto.open_bytes(
        crypto.data_key(commune), _context(commune, key, "manifest"), sealed
    )
    return int(manifest.decode().split(":", 1)[1])


def exists(key: str) -> bool:
    if not on_s3():
        return _local_path(key).is_file()
    return bool(_bucket().exists(f"{key}/manifest"))


@contextmanager
def local_copy(key: str, commune: Commune) -> Iterator[Path]:
    """A path to the file on this node, for readers that need random access (zip):
    the file itself on a (shared) disk, else a private temp copy removed afterwards."""
    if not on_s3():
        path = _local_path(key)
        if not path.is_file():
            raise FileNotFoundError(key)
        yield path
        return
    cache = Path(settings.DATA_DIR) / "cache"
    cache.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temp = tempfile.mkstemp(dir=cache, prefix="transit-", suffix=PurePosixPath(key).suffix)
    try:
        with os.fdopen(fd, "wb") as out:
            for piece in read(key, commune):
                out.write(piece)
        yield Path(temp)
    finally:
        Path(temp).unlink(missing_ok=True)


def delete(key: str) -> None:
    """Remove the file (every part on S3); absent already is fine."""
    if not on_s3():
        _local_path(key).unlink(missing_ok=True)
        return
    bucket = _bucket()
    bucket.delete(f"{key}/manifest")  # first: no reader sees a file losing its parts
    pages = bucket.client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket.bucket, Prefix=f"{key}/"
    )
    for page in pages:
        for item in page.get("Contents", []):
            bucket.client.delete_object(Bucket=bucket.bucket, Key=item["Key"])
