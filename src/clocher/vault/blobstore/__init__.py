"""Where sealed chunks live: a local directory by default, an S3 bucket at scale.
Backends store opaque bytes under a key `<commune id>/<digest>`; they never see
plaintext."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from django.conf import settings


class BlobStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...

    def names(self) -> Iterator[str]: ...

    def modified(self, key: str) -> float: ...


_store: BlobStore | None = None


def store() -> BlobStore:
    """The configured backend (CLOCHER_VAULT_BACKEND=local|s3)."""
    global _store
    if _store is None or getattr(_store, "configured_for", None) != settings.VAULT_DIR:
        from clocher.vault.blobstore.local import LocalStore

        _store = LocalStore(settings.VAULT_DIR)
    return _store
