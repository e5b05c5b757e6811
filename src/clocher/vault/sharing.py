"""Share links and favourites.

A share link opens one file or folder to whoever has the link (and its password, if
set) until it expires or is revoked: read-only (download, browse below the folder) or
drop-box (upload only, to a folder, without seeing its content: how citizens send a
document to the town hall). Only the token's hash is stored.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.hashers import check_password, make_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from clocher.accounts.models import User
from clocher.core import audit
from clocher.core.audit import Actor
from clocher.core.models import CommuneStatus
from clocher.storage.chunks import ChunkWriter
from clocher.vault import services
from clocher.vault.models import Favourite, Node, ShareLink, ShareMode, Space


@dataclass
class NewShare:
    link: ShareLink
    token: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_share(
    actor: Actor,
    node: Node,
    *,
    mode: str = ShareMode.READ,
    expires_at: datetime | None = None,
    password: str = "",
) -> NewShare:
    if mode == ShareMode.DROP and not node.is_folder:
        raise ValidationError("Un lien de dépôt se fait sur un dossier.")
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError("La date d'expiration est déjà passée.")
    token = secrets.token_urlsafe(24)
    with transaction.atomic():
        link = ShareLink.objects.create(
            node=node,
            token_hash=_hash(token),
            mode=mode,
            password_hash=make_password(password) if password else "",
            expires_at=expires_at,
            created_by=actor.user,
        )
        audit.record(
            actor,
            "vault.share_created",
            commune=node.space.commune,
            target=services.path_of(node),
            data={"mode": mode, "expires": expires_at.isoformat() if expires_at else None},
        )
    return NewShare(link, token)


def find_share(token: str) -> ShareLink | None:
    """The live link for `token`: not revoked, not expired, its node not in the trash,
    its commune active. A suspended commune's links are closed with the rest of its
    data and open again, unchanged, when it is reactivated (nothing is revoked)."""
    link = (
        ShareLink.objects.select_related("node", "node__space", "node__space__commune")
        .filter(token_hash=_hash(token), revoked_at__isnull=True)
        .filter(node__space__commune__status=CommuneStatus.ACTIVE)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
        .first()
    )
    if link is None or link.node.deleted_at is not None:
        return None
    if any(a.deleted_at for a in services.ancestors(link.node)):
        return None
    return link


def check_share_password(link: ShareLink, password: str) -> bool:
    return not link.password_hash or check_password(password, link.password_hash)


def shares_of(node: Node) -> list[ShareLink]:
    return list(node.shares.filter(revoked_at__isnull=True).order_by("-created_at"))


def revoke_share(actor: Actor, link: ShareLink) -> None:
    with transaction.atomic():
        link.revoked_at = timezone.now()
        link.save(update_fields=["revoked_at"])
        audit.record(
            actor,
            "vault.share_revoked",
            commune=link.node.space.commune,
            target=services.path_of(link.node),
        )


def shared_node(link: ShareLink, node_id: int | None) -> Node | None:
    """The shared node itself, or (read-only folder links) a live node below it."""
    if node_id is None or node_id == link.node_id:
        return link.node
    if link.mode != ShareMode.READ or not link.node.is_folder:
        return None
    node = Node.objects.filter(pk=node_id, space=link.node.space, deleted_at__isnull=True).first()
    if node is None or not services.is_inside(node, link.node):
        return None
    if any(a.deleted_at for a in services.ancestors(node)):
        return None
    return node


def note_use(link: ShareLink) -> None:
    ShareLink.objects.filter(pk=link.pk).update(uses=F("uses") + 1)


def drop_file(link: ShareLink, name: str, upload: ChunkWriter, ip: str | None) -> Node:
    """A file sent through a drop-box link: stored under a free name (never replacing
    anything), charged to the commune's quota, journaled with the sender's address."""
    if link.mode != ShareMode.DROP:
        raise ValidationError("Ce lien ne permet pas de déposer.")
    folder = link.node
    actor = Actor(label="dépôt par lien public", ip=ip)
    name = services.free_name(folder, services.clean_name(name), "dépôt")
    node = services.save_file(actor, folder, name, upload)
    note_use(link)
    return node


def toggle_favourite(user: User, node: Node) -> bool:
    """Star or unstar; returns whether it is now a favourite."""
    deleted, _ = Favourite.objects.filter(user=user, node=node).delete()
    if deleted:
        return False
    try:
        with transaction.atomic():
            Favourite.objects.create(user=user, node=node)
    except IntegrityError:  # a double click
        pass
    return True


def favourite_ids(user: User) -> set[int]:
    return set(Favourite.objects.filter(user=user).values_list("node_id", flat=True))


def favourites(user: User) -> list[Node]:
    spaces = services.spaces_for(user)
    return list(
        Node.objects.filter(favourites__user=user, space__in=spaces, deleted_at__isnull=True)
        .select_related("space", "space__commune")
        .order_by("name")
    )


def live_shares(spaces: list[Space]) -> list[ShareLink]:
    """The links that still open something in `spaces` (not revoked, not expired, their
    node not in the trash), newest first: what the API lists for a person's spaces."""
    return list(
        ShareLink.objects.filter(
            node__space__in=spaces, revoked_at__isnull=True, node__deleted_at__isnull=True
        )
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
        .select_related("node", "node__space", "created_by")
        .order_by("-created_at", "-id")
    )
