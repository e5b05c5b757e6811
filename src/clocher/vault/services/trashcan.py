"""The trash: deleted nodes stay restorable until purged (by hand or after VAULT_TRASH_DAYS)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clocher.core import audit
from clocher.core.audit import Actor
from clocher.vault.models import Node, Space
from clocher.vault.services.quotas import _charge, _stored_size
from clocher.vault.services.tree import _save_touched, _subtree, child, path_of


def trash(actor: Actor, node: Node) -> None:
    """To the trash: invisible at once, restorable until purged (quota still counted)."""
    if node.parent_id is None:
        raise ValidationError("La racine d'un espace ne se supprime pas.")
    with transaction.atomic():
        audit.record_many(actor, [_trashed(actor, node)])


def _trashed(actor: Actor, node: Node) -> audit.Event:
    """`node` put in the trash (in the caller's transaction); its journal entry is
    returned, for the caller to write last (the vault's lock order, see the package)."""
    node.deleted_at = timezone.now()
    node.deleted_by = actor.label[:254]
    _save_touched(node, ["deleted_at", "deleted_by"])
    return audit.Event("vault.trashed", node.space.commune, path_of(node))


def trashed(space: Space) -> list[Node]:
    return list(Node.objects.filter(space=space, deleted_at__isnull=False).order_by("-deleted_at"))


def free_name(folder: Node, name: str, label: str) -> str:
    """`name`, or `name (label 2).ext`, `(label 3)`… if taken: nothing is overwritten."""
    stem, dot, ext = name.rpartition(".")
    candidate, counter = name, 1
    while child(folder, candidate) is not None:
        counter += 1
        candidate = (
            f"{stem} ({label} {counter}).{ext}" if dot and stem else f"{name} ({label} {counter})"
        )
    return candidate


def restore(actor: Actor, node: Node) -> Node:
    with transaction.atomic():
        name = free_name(node.parent, node.name, "restauré")  # type: ignore[arg-type]
        node.name, node.deleted_at, node.deleted_by = name, None, ""
        _save_touched(node, ["name", "deleted_at", "deleted_by"])
        audit.record(actor, "vault.restored", commune=node.space.commune, target=path_of(node))
    return node


def purge(actor: Actor, node: Node) -> int:
    """Delete for good (a trashed node and everything under it); frees the quota.
    Chunks no longer used are removed by `fsck --gc`."""
    with transaction.atomic():
        target = path_of(node)
        size = _remove_subtree(node)
        audit.record(
            actor, "vault.purged", commune=node.space.commune, target=target, data={"size": size}
        )
    return size


def _remove_subtree(node: Node) -> int:
    """Delete `node` and everything under it, versions included, and free their bytes;
    returns how many (in the caller's transaction)."""
    nodes = _subtree(node)
    size = _stored_size(nodes)
    Node.objects.filter(pk__in=[n.pk for n in nodes]).update(current=None)
    node.delete()
    _charge(node.space, -size)
    return size


def purge_expired_trash(actor: Actor) -> int:
    limit = timezone.now() - timedelta(days=settings.VAULT_TRASH_DAYS)
    count = 0
    for node in Node.objects.filter(deleted_at__lt=limit):
        if Node.objects.filter(pk=node.pk).exists():
            purge(actor, node)
            count += 1
    return count
