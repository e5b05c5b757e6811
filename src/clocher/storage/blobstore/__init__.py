"""Where sealed chunks live: a local directory by default, an S3 bucket at scale.
Backends store opaque bytes under a key `<commune id>/<digest>`; they never see
plaintext."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Protocol

from django.conf import settings

if TYPE_CHECKING:
    from clocher.storage.blobstore.local import LocalStore
    from clocher.storage.blobstore.s3 import S3Store


class BlobStore(Protocol):
    def put(self, key: str, data: bytes | bytearray, *, sync_directory: bool = True) -> None:
        """Store durably; with sync_directory=False the name is durable only once
        `sync_directories` has run for it (one sync for many chunks)."""

    def sync_directories(self, keys: Iterable[str]) -> None: ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...

    def names(self) -> Iterator[str]: ...

    def modified(self, key: str) -> float: ...


_store: BlobStore | None = None
_store_for: tuple[str, ...] = ()


def _configuration() -> tuple[str, ...]:
    if settings.VAULT_BACKEND == "s3":
        return ("s3", settings.VAULT_S3_ENDPOINT, settings.VAULT_S3_BUCKET)
    return ("local", str(settings.VAULT_DIR))


def store() -> BlobStore:
    """The configured backend (CLOCHER_VAULT_BACKEND=local|s3), made once per process
    (again if the settings change, as tests do)."""
    global _store, _store_for
    wanted = _configuration()
    if _store is None or _store_for != wanted:
        _store = _make_store()
        _store_for = wanted
    return _store


def _make_store() -> BlobStore:
    if settings.VAULT_BACKEND == "s3":
        return s3_store()
    if settings.VAULT_BACKEND != "local":
        raise ValueError(f"CLOCHER_VAULT_BACKEND inconnu : {settings.VAULT_BACKEND!r}")
    return local_store()


def local_store() -> LocalStore:
    """The local directory, whatever the configured backend (migration reads it)."""
    from clocher.storage.blobstore.local import LocalStore

    return LocalStore(settings.VAULT_DIR)


def s3_store(bucket: str | None = None) -> S3Store:
    """The bucket of the CLOCHER_VAULT_S3_* settings (or `bucket` on the same server),
    whatever the configured backend (migration fills it before the switch), created if
    absent."""
    from clocher.storage.blobstore.s3 import S3Store

    if not settings.VAULT_S3_ENDPOINT:
        raise ValueError("CLOCHER_VAULT_S3_ENDPOINT est requis avec le stockage s3.")
    s3 = S3Store(
        endpoint=settings.VAULT_S3_ENDPOINT,
        bucket=bucket or settings.VAULT_S3_BUCKET,
        access_key=settings.VAULT_S3_ACCESS_KEY,
        secret_key=settings.VAULT_S3_SECRET_KEY,
        region=settings.VAULT_S3_REGION,
    )
    s3.ensure_bucket()
    return s3
