"""Where archived bytes live: the vault's blob backends (local directory or S3), but in a
place of the archive's own, encrypted with the commune's vault data key.

Why not the vault's own blob namespace: the vault's garbage collector removes every blob
no vault version uses, and its keys are HMACs of 4 MiB chunks; an archived document must
outlive any vault deletion and be addressed by its public SHA-256. So the archive keeps
its copy under `ARCHIVE_DIR/blobs/<commune id>/<sha256>` (local) or in its own bucket
`ARCHIVE_S3_BUCKET` (S3, where the operator can also turn on Object Lock), written once:
an existing name is never overwritten.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.conf import settings

from clocher.core.models import Commune
from clocher.storage import crypto
from clocher.storage.blobstore import BlobStore

_store: BlobStore | None = None
_store_for: tuple[str, ...] = ()


def _configuration() -> tuple[str, ...]:
    if settings.VAULT_BACKEND == "s3":
        return ("s3", settings.VAULT_S3_ENDPOINT, settings.ARCHIVE_S3_BUCKET)
    return ("local", str(settings.ARCHIVE_DIR))


def archive_store() -> BlobStore:
    """The archive's backend (same kind as the vault's), made once per configuration."""
    global _store, _store_for
    wanted = _configuration()
    if _store is None or _store_for != wanted:
        if wanted[0] == "s3":
            from clocher.storage.blobstore.s3 import S3Store

            s3 = S3Store(
                endpoint=settings.VAULT_S3_ENDPOINT,
                bucket=settings.ARCHIVE_S3_BUCKET,
                access_key=settings.VAULT_S3_ACCESS_KEY,
                secret_key=settings.VAULT_S3_SECRET_KEY,
                region=settings.VAULT_S3_REGION,
            )
            s3.ensure_bucket()
            _store = s3
        else:
            from clocher.storage.blobstore.local import LocalStore

            _store = LocalStore(settings.ARCHIVE_DIR)
        _store_for = wanted
    return _store


def blob_key(commune: Commune, sha256: str) -> str:
    return f"{commune.pk}/{sha256}"


def _context(key: str) -> bytes:
    return f"archive:{key}".encode()


def put_many_once(commune: Commune, items: list[tuple[str, bytes]]) -> None:
    """Store the sealed copies of one commune's documents unless their names already
    exist (same content, same commune: the first copy stays, nothing is ever
    overwritten), with one data key and one cipher. Several copies on the local disk go
    through `LocalStore.put_many`: two flushes of the file system for the whole batch
    instead of two fsyncs per copy. One copy keeps its two fsyncs: flushing the whole
    file system for one small file could wait on others' writes."""
    store = archive_store()
    aead = crypto.cipher(crypto.data_key(commune))
    sealed, seen = [], set()
    for key, plaintext in items:
        if key in seen or store.exists(key):
            continue
        seen.add(key)
        sealed.append((key, crypto.seal_bytes(aead, _context(key), plaintext)))
    put_many = getattr(store, "put_many", None)
    if put_many is not None and len(sealed) > 1:
        put_many(sealed)
    else:  # one copy, or S3 (an acknowledged object is durable)
        for key, data in sealed:
            store.put(key, data)


class CopyReader:
    """Reads the copies of the communes whose data keys it is given, with one cipher
    per commune made once: the integrity audit opens thousands of small copies, and a
    cipher costs as much to make as a copy to decrypt."""

    def __init__(self, data_keys: Mapping[int, bytes]) -> None:
        self._store = archive_store()
        self._ciphers = {pk: crypto.cipher(key) for pk, key in data_keys.items()}

    def read(self, commune_id: int, key: str) -> bytes:
        """The plaintext; raises FileNotFoundError if absent, ValueError if the
        ciphertext was altered (AES-GCM refuses it)."""
        aead, sealed = self._ciphers[commune_id], self._store.get(key)
        try:
            return crypto.open_bytes(aead, _context(key), sealed)
        except Exception as exc:  # noqa: BLE001 - InvalidTag and truncated input alike
            raise ValueError("copie chiffrée illisible (altérée)") from exc


def read(commune: Commune, key: str, data_key: bytes | None = None) -> bytes:
    """The plaintext of one copy (see `CopyReader.read`)."""
    return CopyReader({commune.pk: data_key or crypto.data_key(commune)}).read(commune.pk, key)


def destroy(key: str) -> None:
    archive_store().delete(key)
