"""Moves and copies, within a commune (rows re-pointed, chunks shared) and across
communes (content re-encrypted under the destination's key)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clocher.core import audit
from clocher.core.audit import Actor
from clocher.core.locks import lock_rows
from clocher.core.models import Commune
from clocher.storage.chunks import ChunkWriter, read_stream
from clocher.vault.models import Node, Version, VersionChunk
from clocher.vault.services.content import VersionReader, _attach_many
from clocher.vault.services.names import NameConflict, QuotaExceeded, clean_name
from clocher.vault.services.quotas import _charge, _stored_size, available_bytes
from clocher.vault.services.spaces import _new_etag
from clocher.vault.services.trashcan import _remove_subtree, _trashed
from clocher.vault.services.tree import _subtree, _touch, child, children, is_inside, path_of


def move(
    actor: Actor, node: Node, new_parent: Node, new_name: str, overwrite: bool = False
) -> Node:
    """Rename and/or move (within the person's reach; across spaces the quota moves,
    across communes the content is re-encrypted: see `_across_communes`)."""
    new_name = clean_name(new_name)
    if node.parent_id is None:
        raise ValidationError("La racine d'un espace ne se déplace pas.")
    if not new_parent.is_folder or is_inside(new_parent, node):
        raise ValidationError("On ne peut pas déplacer un dossier dans lui-même.")
    if new_parent.space.commune_id != node.space.commune_id:
        return _across_communes(actor, node, new_parent, new_name, overwrite, is_move=True)
    with transaction.atomic():
        existing = child(new_parent, new_name)
        replaced = existing if existing is not None and existing.pk != node.pk else None
        if replaced is not None and not overwrite:
            raise NameConflict(f"« {new_name} » existe déjà à la destination.")
        # The vault's lock order (see the package): the files' rows, then the old and the
        # new folders at once, the counters, the journal. A file's new version locks its
        # row, then its folders: a rename locking the folders first waited on it.
        journal = _replace(actor, new_parent, replaced, node)
        if new_parent.space_id != node.space_id:
            size = _stored_size(_subtree(node))
            _charge(new_parent.space, size)
            _charge(node.space, -size)
            Node.objects.filter(pk__in=[n.pk for n in _subtree(node)]).update(
                space=new_parent.space
            )
        old_path = path_of(node)
        node.parent, node.name = new_parent, new_name
        node.modified_at = timezone.now()
        node.save(update_fields=["parent", "name", "modified_at"])
        journal.append(
            audit.Event("vault.moved", new_parent.space.commune, path_of(node), {"from": old_path})
        )
        audit.record_many(actor, journal)
    return node


def _lock_files(*nodes: Node | None) -> None:
    """The rows of the files a change replaces or moves, in id order (folders are
    locked with their chains, `_touch`)."""
    ids = [n.pk for n in nodes if n is not None and not n.is_folder]
    if ids:
        lock_rows(Node.objects.filter(pk__in=ids))


def copy(
    actor: Actor, node: Node, new_parent: Node, new_name: str, overwrite: bool = False
) -> Node:
    """Copy a file (its current content, shared chunks: nothing re-stored) or a folder;
    into another commune, the content is re-encrypted (`_across_communes`)."""
    new_name = clean_name(new_name)
    if node.is_folder and is_inside(new_parent, node):
        raise ValidationError("On ne peut pas copier un dossier dans lui-même.")
    if new_parent.space.commune_id != node.space.commune_id:
        return _across_communes(actor, node, new_parent, new_name, overwrite, is_move=False)
    with transaction.atomic():
        existing = child(new_parent, new_name)
        if existing is not None and not overwrite:
            raise NameConflict(f"« {new_name} » existe déjà à la destination.")
        journal = _replace(actor, new_parent, existing)
        made = _copy_into(node, new_parent, new_name, actor)
        data = {"from": path_of(node)}
        journal.append(audit.Event("vault.copied", new_parent.space.commune, path_of(made), data))
        audit.record_many(actor, journal)
    return made


def _replace(
    actor: Actor, new_parent: Node, existing: Node | None, moved: Node | None = None
) -> list[audit.Event]:
    """The first steps of a copy or a move into `new_parent`, in the vault's lock order
    (see the package): the rows of the files concerned, the folders of the destination
    (and of the place `moved` leaves) at once, then `existing` to the trash. Returns the
    journal's entries so far: the caller writes them last."""
    _lock_files(moved, existing)
    _touch(*[n for n in (new_parent, existing, moved) if n is not None])
    return [] if existing is None else [_trashed(actor, existing)]


def _copy_into(node: Node, parent: Node, name: str, actor: Actor) -> Node:
    now = timezone.now()
    made = Node.objects.create(
        space=parent.space,
        parent=parent,
        name=name,
        is_folder=node.is_folder,
        content_type=node.content_type,
        size=node.size,
        etag=_new_etag(),
        modified_at=now,
    )
    if node.is_folder:
        for sub in children(node):
            _copy_into(sub, made, sub.name, actor)
    elif node.current is not None:
        _charge(parent.space, node.current.size)
        version = Version.objects.create(
            node=made, size=node.current.size, sha256=node.current.sha256, author=actor.label
        )
        VersionChunk.objects.bulk_create(
            VersionChunk(version=version, position=p.position, offset=p.offset, chunk_id=p.chunk_id)
            for p in node.current.chunks.all()
        )
        made.current = version
        made.etag = f"{version.pk:x}-{version.sha256[:12]}"
        made.save(update_fields=["current", "etag"])
    return made


@dataclass
class _Recut:
    """A node to copy into another commune: the versions to carry, read under the source
    commune's key and stored again under the destination's (`uploads`, same order)."""

    source: Node
    versions: list[Version] = field(default_factory=list)
    uploads: list[ChunkWriter] = field(default_factory=list)
    children: list[_Recut] = field(default_factory=list)

    def size(self) -> int:
        return sum(v.size for v in self.versions) + sum(c.size() for c in self.children)

    def fingerprint(self) -> list[tuple[int, int | None]]:
        own = [(self.source.pk, self.source.current_id)]
        return own + [item for c in self.children for item in c.fingerprint()]

    def discard(self) -> None:
        for upload in self.uploads:
            upload.discard()
        for sub in self.children:
            sub.discard()


def _plan(node: Node, *, history: bool) -> _Recut:
    """What a copy into another commune carries: the live tree under `node`, and each
    file's current version (a copy) or all of them (a move keeps the history)."""
    recut = _Recut(node)
    if node.is_folder:
        recut.children = [_plan(sub, history=history) for sub in children(node)]
    elif history:
        recut.versions = list(node.versions.order_by("created_at", "id"))
    elif node.current is not None:
        recut.versions = [node.current]
    return recut


def _reencrypt(recut: _Recut, commune: Commune) -> None:
    """Read each version chunk by chunk and store it under `commune`'s key (memory stays
    at a few chunks whatever the size; nothing is visible before `_commit_recut`)."""
    for version in recut.versions:
        version.node = recut.source  # its space and commune are known: the key to read
        upload = ChunkWriter(commune)
        recut.uploads.append(upload)
        read_stream(VersionReader(version), upload)
        upload.finish()
    for sub in recut.children:
        _reencrypt(sub, commune)


def _commit_recut(recut: _Recut, parent: Node, name: str) -> Node:
    source = recut.source
    made = Node.objects.create(
        space=parent.space,
        parent=parent,
        name=name,
        is_folder=source.is_folder,
        content_type=source.content_type,
        etag=_new_etag(),
        modified_at=source.modified_at,
    )
    for version, upload in zip(recut.versions, recut.uploads, strict=True):
        new = Version.objects.create(
            node=made, size=upload.size, sha256=upload.sha256, author=version.author
        )
        Version.objects.filter(pk=new.pk).update(created_at=version.created_at)
        _attach_many([(new.pk, upload)])
        if version.pk == source.current_id:
            made.current, made.size = new, new.size
            made.etag = f"{new.pk:x}-{new.sha256[:12]}"
    if made.current is not None:
        made.save(update_fields=["current", "size", "etag"])
    for sub in recut.children:
        _commit_recut(sub, made, sub.source.name)
    return made


def _live_fingerprint(node: Node) -> list[tuple[int, int | None]]:
    """The live tree under `node` and its current versions, rows locked: what
    `_across_communes` copied must still be what there is when it commits."""
    fresh = Node.objects.select_for_update().filter(pk=node.pk, deleted_at__isnull=True).first()
    return [] if fresh is None else _plan(fresh, history=False).fingerprint()


def _across_communes(
    actor: Actor, node: Node, new_parent: Node, new_name: str, overwrite: bool, *, is_move: bool
) -> Node:
    """Move or copy into a space of another commune. Each commune has its own data key
    and its own chunks, so re-pointing the nodes would leave content that the
    destination cannot open (and that goes when the source commune leaves): the content
    is read and stored again under the destination's key, streamed chunk by chunk.
    A copy carries the current version (as a copy within a commune does), a move all
    versions (as a move keeps its history); the trash under a folder stays behind.
    The destination's quota is checked before anything is read, then charged in the
    committing transaction as an upload is; a move then removes the source from its
    commune as a move within it would (not to the trash: nothing was deleted)."""
    if not overwrite and child(new_parent, new_name) is not None:
        raise NameConflict(f"« {new_name} » existe déjà à la destination.")
    recut = _plan(node, history=is_move)
    needed = recut.size()
    if needed > available_bytes(new_parent.space):
        raise QuotaExceeded(
            f"Quota de l'espace « {new_parent.space.name} » insuffisant pour « {node.name} » "
            f"({needed} octets à recopier)."
        )
    commune = new_parent.space.commune
    try:
        _reencrypt(recut, commune)
    except BaseException:
        recut.discard()  # what was already stored is garbage for `fsck --gc`
        raise
    with transaction.atomic():
        existing = child(new_parent, new_name)
        if existing is not None and not overwrite:
            raise NameConflict(f"« {new_name} » existe déjà à la destination.")
        moved = node if is_move else None
        journal = _replace(actor, new_parent, existing, moved)
        if _live_fingerprint(node) != recut.fingerprint():
            raise NameConflict(f"« {node.name} » a changé pendant la copie : recommencez.")
        _charge(new_parent.space, needed)
        made = _commit_recut(recut, new_parent, new_name)
        old_path, source_commune = path_of(node), node.space.commune
        data = {"from": old_path, "from_commune": source_commune.insee, "reencrypted": True}
        if is_move:
            freed = _remove_subtree(node)
            journal.append(
                audit.Event(
                    "vault.moved_out",
                    source_commune,
                    old_path,
                    {"to_commune": commune.insee, "size": freed},
                )
            )
        action = "vault.moved" if is_move else "vault.copied"
        journal.append(audit.Event(action, commune, path_of(made), data))
        audit.record_many(actor, journal)
    return made
