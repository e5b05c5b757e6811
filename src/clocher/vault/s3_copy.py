"""Copy the vault's chunks from the local directory to the S3 bucket, before (and once
more right after) switching CLOCHER_VAULT_BACKEND to s3.

Driven by the database (every chunk a version may use), not by the directory: what is
copied is exactly what the vault needs. Each chunk is checked at the source (it
decrypts and matches its name) before it leaves, and read back from the bucket and
compared after it arrived; a chunk already in the bucket with the same bytes (its
ETag is their MD5) is left alone, so the command can be stopped and run again at will.
The local copies are never touched: removing them is a separate decision, once
`clocher vault fsck` is clean on the bucket.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction

from clocher.core import audit
from clocher.core.audit import Actor
from clocher.core.models import Commune
from clocher.storage import crypto
from clocher.storage.blobstore import local_store, s3_store
from clocher.storage.blobstore.local import LocalStore
from clocher.storage.blobstore.s3 import S3Store
from clocher.vault.models import Chunk

Progress = Callable[[int, int, str], None]


@dataclass
class S3CopyReport:
    copied: int = 0
    already_there: int = 0
    bytes_copied: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _sound(key: bytes, chunk: Chunk, sealed: bytes) -> bool:
    """The sealed bytes open under the commune's key and match the chunk's name."""
    try:
        plain = crypto.open_sealed(key, chunk.commune_id, chunk.digest, sealed)
    except Exception:  # noqa: BLE001 - any failure to open is the finding
        return False
    return crypto.chunk_digest(key, plain) == chunk.digest and len(plain) == chunk.size


def copy_chunks_to_s3(
    actor: Actor,
    communes: list[Commune] | None = None,
    *,
    source: LocalStore | None = None,
    target: S3Store | None = None,
    progress: Progress | None = None,
) -> S3CopyReport:
    """Copy the chunks of `communes` (all when None) that the bucket lacks; one journal
    entry per commune with what was copied."""
    source = source or local_store()
    target = target or s3_store()
    chunks = Chunk.objects.select_related("commune").order_by("commune_id", "pk")
    if communes is not None:
        chunks = chunks.filter(commune__in=communes)
    total = chunks.count()
    report = S3CopyReport()
    keys: dict[int, bytes] = {}
    per_commune: dict[Commune, int] = {}
    for done, chunk in enumerate(chunks.iterator(chunk_size=500), start=1):
        name = f"{chunk.commune_id}/{chunk.digest}"
        if progress:
            progress(done, total, name)
        try:
            sealed = source.get(name)
        except FileNotFoundError:
            if target.exists(name):  # written after a first switch to s3
                report.already_there += 1
            else:
                report.problems.append(f"bloc absent du répertoire local : {name}")
            continue
        if target.etag(name) == _md5(sealed):
            report.already_there += 1
            continue
        key = keys.setdefault(chunk.commune_id, crypto.data_key(chunk.commune))
        if not _sound(key, chunk, sealed):
            report.problems.append(f"bloc local altéré, non copié : {name}")
            continue
        target.put(name, sealed)
        if target.get(name) != sealed:
            report.problems.append(f"copie différente de l'original dans le seau : {name}")
            continue
        report.copied += 1
        report.bytes_copied += len(sealed)
        per_commune[chunk.commune] = per_commune.get(chunk.commune, 0) + 1
    for commune, count in per_commune.items():
        with transaction.atomic():
            audit.record(
                actor,
                "vault.chunks_copied_to_s3",
                commune=commune,
                target=target.bucket,
                data={"chunks": count},
            )
    return report
