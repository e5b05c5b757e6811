"""Versions: a file's history, and an old version restored as the newest."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clocher.core import audit
from clocher.core.audit import Actor
from clocher.vault.models import Node, Version, VersionChunk
from clocher.vault.services.quotas import _charge
from clocher.vault.services.tree import _touch, path_of


def versions(node: Node) -> list[Version]:
    return list(node.versions.all())


def restore_version(actor: Actor, node: Node, version: Version) -> Node:
    """The old content becomes the newest version (history is never rewritten)."""
    if version.node_id != node.pk:
        raise ValidationError("Cette version n'est pas celle de ce fichier.")
    with transaction.atomic():
        new = Version.objects.create(
            node=node, size=version.size, sha256=version.sha256, author=actor.label
        )
        VersionChunk.objects.bulk_create(
            VersionChunk(version=new, position=p.position, offset=p.offset, chunk_id=p.chunk_id)
            for p in version.chunks.all()
        )
        node.current, node.size = new, new.size
        node.etag = f"{new.pk:x}-{new.sha256[:12]}"
        node.modified_at = timezone.now()
        node.save(update_fields=["current", "size", "etag", "modified_at"])
        _touch(node)
        _charge(node.space, version.size)  # last before the journal: the lock order
        audit.record(
            actor,
            "vault.version_restored",
            commune=node.space.commune,
            target=path_of(node),
            data={"version": version.pk},
        )
    return node
