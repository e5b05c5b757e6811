"""fsck and garbage collection: every chunk present and sound, unused blobs removed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db.models import F, Sum
from django.utils import timezone

from clocher.storage import crypto
from clocher.storage.blobstore import local_store, store
from clocher.storage.blobstore.journal import replay_left
from clocher.vault.models import Chunk, Node, Version, VersionChunk
from clocher.vault.services.tree import path_of


@dataclass
class FsckReport:
    checked_chunks: int = 0
    problems: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    removed: int = 0
    replayed: int = 0  # chunks written again from the writer's journal

    @property
    def ok(self) -> bool:
        return not self.problems


def collect_garbage(*, remove: bool, grace_seconds: float | None = None) -> tuple[list[str], int]:
    """Blobs no version uses, and how many were removed (those older than the grace
    delay: an upload in progress has unreferenced blobs too)."""
    import time

    grace = settings.VAULT_GC_GRACE_SECONDS if grace_seconds is None else grace_seconds
    blobs = store()
    used = set(
        f"{c}/{d}"
        for c, d in Chunk.objects.filter(uses__isnull=False).values_list("commune_id", "digest")
    )
    orphans = [name for name in blobs.names() if name not in used]
    removed = 0
    if remove:
        now = time.time()
        for name in orphans:
            if now - blobs.modified(name) >= grace:
                blobs.delete(name)
                removed += 1
        Chunk.objects.filter(
            uses__isnull=True, created_at__lte=timezone.now() - timedelta(seconds=grace)
        ).delete()
    return orphans, removed


def fsck(gc: bool = False, grace_seconds: float | None = None) -> FsckReport:
    """Every referenced chunk present, decrypting and matching its name; blobs no version
    uses (left by an interrupted upload or a purge) are listed, and removed with gc once
    older than the grace delay (an upload in progress has unreferenced blobs too)."""
    # A journal left by a writer that is not running holds chunks whose files a crash
    # may have lost: written again first (`storage.blobstore.journal`).
    report = FsckReport(replayed=replay_left(local_store()))
    blobs = store()
    keys: dict[int, bytes] = {}
    for chunk in Chunk.objects.select_related("commune").iterator():
        report.checked_chunks += 1
        name = f"{chunk.commune_id}/{chunk.digest}"
        try:
            sealed = blobs.get(name)
        except FileNotFoundError:
            report.problems.append(f"bloc absent : {name}")
            continue
        key = keys.setdefault(chunk.commune_id, crypto.data_key(chunk.commune))
        try:
            plain = crypto.open_sealed(key, chunk.commune_id, chunk.digest, sealed)
        except Exception:  # noqa: BLE001 - any failure to open is the finding
            report.problems.append(f"bloc illisible (altéré ?) : {name}")
            continue
        if crypto.chunk_digest(key, plain) != chunk.digest or len(plain) != chunk.size:
            report.problems.append(f"bloc ne correspondant pas à son nom : {name}")
    _check_chunk_communes(report)
    for version in Version.objects.filter(node__isnull=False).annotate(
        total=Sum("chunks__chunk__size")
    ):
        if (version.total or 0) != version.size:
            report.problems.append(
                f"version {version.pk} incomplète ({version.total} ≠ {version.size})"
            )
    report.orphans, report.removed = collect_garbage(remove=gc, grace_seconds=grace_seconds)
    return report


def _check_chunk_communes(report: FsckReport) -> None:
    """Files whose chunks are not their commune's: each chunk opens under its own
    commune's key (checked above), so a file opens under its commune's key exactly when
    every chunk of its versions belongs to that commune (the reader looks for them
    there; a move that re-pointed nodes across communes broke this)."""
    foreign = (
        VersionChunk.objects.exclude(chunk__commune_id=F("version__node__space__commune_id"))
        .values_list("version__node_id", flat=True)
        .distinct()
    )
    for node in Node.objects.filter(pk__in=list(foreign)).select_related("space__commune"):
        report.problems.append(
            "fichier illisible sous la clé de sa commune (blocs d'une autre commune) : "
            f"{node.space.commune.name}, {node.space.name} {path_of(node)}"
        )
