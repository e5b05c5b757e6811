"""Content of the vault's files: the chunks a `ChunkWriter` stored (clocher.storage)
recorded as a version's, and a version read back as a seekable file."""

from __future__ import annotations

from collections.abc import Iterator

from django.core.exceptions import ValidationError

from clocher.core import bulk
from clocher.core.prepared import Prepared
from clocher.storage.chunks import ChunkReader, ChunkWriter
from clocher.vault.models import Chunk, Node, Version, VersionChunk

# Digests per query when a version's chunks are attached (SQLite's variable limit).
ATTACH_BATCH = 500


# Compiled once per process (`core.prepared`): every small upload runs it.
# Up to this many digests the chunks' ids are read by a statement compiled once per
# number of digests (`core.prepared`): a group commit of small uploads has a few.
PREPARED_DIGESTS = 16
_CHUNK_IDS = Prepared(
    lambda commune_id, *digests: Chunk.objects.filter(
        commune_id=commune_id, digest__in=digests
    ).values_list("digest", "id")
)


def _attach_many(pairs: list[tuple[int, ChunkWriter]]) -> None:
    """The chunk rows (made if new; a concurrent upload may make the same ones) and each
    version's list of them (versions by id), in a few statements whatever the number of
    chunks or versions (all of one commune): multi-row INSERTs of plain values
    (`core.bulk`), no model instances."""
    commune = pairs[0][1].commune
    sizes = {d: size for _, upload in pairs for d, size in upload.chunks}
    # The new chunks' ids come back from their INSERT; those it left out (already there,
    # or made meanwhile by a concurrent upload) are read after it, when there are any.
    ids = bulk.insert_new(
        Chunk,
        ["commune_id", "digest", "size"],
        [(commune.pk, d, size) for d, size in sizes.items()],
        key="digest",
    )
    digests = [d for d in sizes if d not in ids]
    few = len(digests) <= PREPARED_DIGESTS
    if digests and few:  # a small upload's (one, or a group's): compiled once per number
        ids.update(_CHUNK_IDS.rows(commune.pk, *digests))
    for start in range(0, 0 if few else len(digests), ATTACH_BATCH):
        # A batch's (an import's): compiled each time, as a prepared query would be for
        # each new number of digests, and its compilation grows with their square.
        part = digests[start : start + ATTACH_BATCH]
        ids.update(
            Chunk.objects.filter(commune_id=commune.pk, digest__in=part).values_list("digest", "id")
        )
    parts = []
    for version_id, upload in pairs:
        offset = 0
        for position, (digest, size) in enumerate(upload.chunks):
            parts.append((version_id, position, offset, ids[digest]))
            offset += size
    bulk.insert(VersionChunk, ["version_id", "position", "offset", "chunk_id"], parts)


class VersionReader(ChunkReader):
    """A version's content as a seekable file (HTTP Range reads one chunk at a time)."""

    def __init__(self, version: Version) -> None:
        self.version = version
        # (offset, digest) of each chunk in order: plain values, no model instances.
        parts: list[tuple[int, str]] = list(
            version.chunks.order_by("position").values_list("offset", "chunk__digest")
        )
        super().__init__(version.node.space.commune, version.size, parts)


def open_file(node: Node) -> VersionReader:
    if node.is_folder or node.current is None:
        raise ValidationError("Ce n'est pas un fichier.")
    node.current.node = node  # known: its space and commune need no query
    return VersionReader(node.current)


def iter_content(node: Node, block: int = 1 << 20) -> Iterator[bytes]:
    reader = open_file(node)
    while True:
        data = reader.read(block)
        if not data:
            return
        yield data
