"""Vault and archive blobs kept in S3 buckets, in the backup: restic reads files, so each
bucket is mirrored into the data dir (`miroir-s3/<role>`, the local store's layout), then
backed up with the rest.

Incremental by content address: a blob's name is its digest and an object is never
rewritten, so only names the mirror lacks are downloaded, and names gone from the bucket
(collected orphans) are dropped from it. The mirror is refreshed after the database
snapshot: every blob the snapshot names was written before its row committed, so it is
in the listing. The cost is local disk the size of the buckets on the node that backs up
(said in docs/operations.md).

On restore, the mirror's blobs go back into the destination's store: the configured
buckets (only the objects they lack), or the local vault and archive directories when
the destination runs without S3 (the drill's scratch copy, a one-machine fallback)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from django.conf import settings

from clocher.storage.blobstore import BlobStore
from clocher.storage.blobstore.local import LocalStore

MIRROR = "miroir-s3"
ROLES = ("coffre", "archives")
# Downloads and uploads side by side: one request's latency is most of a small blob's cost.
PARALLEL = 8


def _stores() -> dict[str, BlobStore]:
    from clocher.archive.store import archive_store
    from clocher.storage import blobstore

    return {"coffre": blobstore.store(), "archives": archive_store()}


def mirror(role: str) -> LocalStore:
    return LocalStore(Path(settings.DATA_DIR) / MIRROR / role)


def _copy(keys: Iterable[str], source: BlobStore, target: BlobStore) -> int:
    keys = list(keys)

    def one(key: str) -> None:
        target.put(key, source.get(key), sync_directory=False)

    _each(one, keys)
    target.sync_directories(keys)
    return len(keys)


def _each(work: Callable[[str], None], keys: list[str]) -> None:
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        for _ in pool.map(work, keys):
            pass


def refresh() -> dict[str, dict[str, object]]:
    """Each bucket's new objects downloaded into its mirror, vanished ones dropped;
    nothing when the blobs are on local disk (backed up where they are)."""
    if settings.VAULT_BACKEND != "s3":
        return {}
    out: dict[str, dict[str, object]] = {}
    for role, store in _stores().items():
        local = mirror(role)
        have = set(local.names())
        wanted = set(store.names())
        added = _copy(sorted(wanted - have), store, local)
        for key in have - wanted:
            local.delete(key)
        out[role] = {
            "seau": getattr(store, "bucket", ""),
            "objets": len(wanted),
            "nouveaux": added,
            "retires": len(have - wanted),
        }
    return out


def put_back() -> dict[str, int]:
    """The restored mirrors' blobs into this platform's stores, those missing only."""
    out: dict[str, int] = {}
    for role, store in _stores().items():
        local = mirror(role)
        if not local.root.is_dir():
            continue
        present = set(store.names())
        out[role] = _copy(sorted(set(local.names()) - present), local, store)
    return out
