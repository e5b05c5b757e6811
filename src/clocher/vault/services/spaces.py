"""Spaces (the commune's, personal, group folders) and what a person reaches in them."""

from __future__ import annotations

import secrets
import unicodedata
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from clocher.accounts.models import User
from clocher.core import audit
from clocher.core.audit import Actor
from clocher.core.locks import lock_rows
from clocher.core.models import Commune
from clocher.core.scoping import protocol_communes
from clocher.vault.models import CommuneUsage, Node, Space, SpaceKind
from clocher.vault.services.names import NameConflict, clean_name


def _new_etag() -> str:
    return secrets.token_hex(8)


def _make_space(commune: Commune, kind: str, name: str, owner: User | None = None) -> Space:
    space = Space.objects.create(commune=commune, kind=kind, name=name, owner=owner)
    Node.objects.create(
        space=space,
        parent=None,
        name="",
        is_folder=True,
        etag=_new_etag(),
        modified_at=timezone.now(),
    )
    CommuneUsage.objects.get_or_create(commune=commune)
    return space


def ensure_commune_space(actor: Actor, commune: Commune) -> Space:
    """The commune's shared space (idempotent): made by the onboarding step."""
    existing = Space.objects.filter(commune=commune, kind=SpaceKind.COMMUNE).first()
    if existing:
        return existing
    with transaction.atomic():
        space = _make_space(commune, SpaceKind.COMMUNE, commune.name)
        audit.record(actor, "vault.space_created", commune=commune, target=space.name)
    return space


def ensure_personal_space(commune: Commune, user: User) -> Space:
    existing = Space.objects.filter(commune=commune, kind=SpaceKind.PERSONAL, owner=user).first()
    if existing:
        return existing
    try:
        with transaction.atomic():
            return _make_space(commune, SpaceKind.PERSONAL, "Mes documents", owner=user)
    except IntegrityError:
        return Space.objects.get(commune=commune, kind=SpaceKind.PERSONAL, owner=user)


def _check_group_name(commune: Commune, name: str, space: Space | None = None) -> str:
    """Group names appear beside the commune's and the personal space at the top of a
    person's tree: they must not collide with those, nor with each other."""
    name = clean_name(name)
    taken = {commune.name.casefold(), "mes documents"}
    others = Space.objects.filter(commune=commune, kind=SpaceKind.GROUP)
    if space is not None:
        others = others.exclude(pk=space.pk)
    taken |= {other.casefold() for other in others.values_list("name", flat=True)}
    if name.casefold() in taken:
        raise NameConflict(f"Un espace s'appelle déjà « {name} » dans la commune.")
    return name


def create_group_space(actor: Actor, commune: Commune, name: str, members: list[User]) -> Space:
    name = _check_group_name(commune, name)
    with transaction.atomic():
        space = _make_space(commune, SpaceKind.GROUP, name)
        space.members.set(members)
        audit.record(
            actor,
            "vault.group_created",
            commune=commune,
            target=name,
            data={"members": sorted(u.email for u in members)},
        )
    return space


def set_group_members(actor: Actor, space: Space, members: list[User]) -> None:
    """Who may open a group folder; members must belong to its commune."""
    if space.kind != SpaceKind.GROUP:
        raise ValidationError("Seuls les dossiers de groupe ont une liste de membres.")
    with transaction.atomic():
        space.members.set(members)
        audit.record(
            actor,
            "vault.group_members",
            commune=space.commune,
            target=space.name,
            data={"members": sorted(u.email for u in members)},
        )


def rename_group_space(actor: Actor, space: Space, name: str) -> Space:
    """The folder changes name in everyone's tree (clients see a rename: same file ids)."""
    if space.kind != SpaceKind.GROUP:
        raise ValidationError("Seuls les dossiers de groupe se renomment ici.")
    name = _check_group_name(space.commune, name, space)
    with transaction.atomic():
        old = space.name
        # The root's row (a folder) before the space's: the vault's lock order.
        root = root_of(space)
        Node.objects.filter(pk=root.pk).update(etag=_new_etag(), modified_at=timezone.now())
        space.name = name
        space.save(update_fields=["name"])
        audit.record(
            actor, "vault.group_renamed", commune=space.commune, target=name, data={"from": old}
        )
    return space


def remove_group_space(actor: Actor, space: Space) -> int:
    """Remove a group folder that holds nothing any more (refused otherwise: its content
    is confidential to its members, so it is neither moved elsewhere nor deleted with
    the folder; they empty it first). What is still in its trash is purged with it;
    returns the bytes freed."""
    if space.kind != SpaceKind.GROUP:
        raise ValidationError("Seuls les dossiers de groupe se suppriment ici.")
    with transaction.atomic():
        # The root's row (a folder) before the space's: the vault's lock order.
        lock_rows(Node.objects.filter(pk=root_of(space).pk))
        space = Space.objects.select_for_update().get(pk=space.pk)
        # What is under a trashed folder is in the trash too: only the top level counts.
        live = Node.objects.filter(parent=root_of(space), deleted_at__isnull=True)
        if count := live.count():
            raise ValidationError(
                f"« {space.name} » contient encore {count} élément(s) : ses membres doivent "
                "le vider (ou déplacer son contenu) avant qu'il soit supprimé."
            )
        trashed_count = Node.objects.filter(space=space, deleted_at__isnull=False).count()
        # Cascades to versions, favourites and share links; chunks no longer used go
        # with the next `fsck --gc`.
        freed = space.used_bytes
        Node.objects.filter(space=space).update(current=None)
        Node.objects.filter(space=space).delete()
        CommuneUsage.objects.filter(commune_id=space.commune_id).update(
            used_bytes=F("used_bytes") - freed
        )
        audit.record(
            actor,
            "vault.group_removed",
            commune=space.commune,
            target=space.name,
            data={"purged_from_trash": trashed_count, "size": freed},
        )
        space.delete()
    return freed


def _active_communes(user: User) -> list[Commune]:
    """The rule every protocol shares (core.scoping): a deactivated membership or a
    suspended commune hides its spaces at once, and reactivation shows them again."""
    return list(protocol_communes(user))


def spaces_for(user: User, communes: list[Commune] | None = None) -> list[Space]:
    """What `user` may open: each active commune's space, their personal space in it and
    the group folders they belong to. Personal spaces are made on first use (then the
    list is read again: every DAV request asks, so the usual case is two queries, one
    when the caller has just read `communes`, the protocol rule, as DAV's login does)."""
    if communes is None:
        communes = _active_communes(user)
    spaces = _spaces_in(user, communes)
    personal = {s.commune_id for s in spaces if s.kind == SpaceKind.PERSONAL}
    missing = [commune for commune in communes if commune.pk not in personal]
    if not missing:
        return spaces
    for commune in missing:
        ensure_personal_space(commune, user)
    return _spaces_in(user, communes)


def _spaces_in(user: User, communes: list[Commune]) -> list[Space]:
    return list(spaces_query(user, communes).select_related("commune"))


def spaces_query(user: User, communes: Iterable[Commune] | QuerySet[Commune]) -> QuerySet[Space]:
    """The spaces of `communes` that `user` reaches, in the order of their labels (the
    DAV fast path compiles it once with the protocol rule as a subquery). A queryset of
    communes is asked for each space's own commune (`EXISTS`, a lookup in the unique
    membership index): as a list (`IN (SELECT DISTINCT …)`) SQLite built it anew in
    every run of a DAV statement (3.4 of its 12 µs)."""
    within = (
        Q(Exists(communes.filter(pk=OuterRef("commune_id"))))
        if isinstance(communes, QuerySet)
        else Q(commune__in=communes)
    )
    return (
        Space.objects.filter(within)
        .filter(
            Q(kind=SpaceKind.COMMUNE)
            | Q(kind=SpaceKind.PERSONAL, owner=user)
            | Q(kind=SpaceKind.GROUP, members=user)
        )
        .distinct()
        .order_by("commune__name", "kind", "name")
    )


def spaces_by_label(user: User, communes: list[Commune] | None = None) -> dict[str, Space]:
    """The person's spaces by the folder name they have at the top of their tree."""
    spaces = spaces_for(user, communes)
    several = len({s.commune_id for s in spaces}) > 1
    return {space_label(s, several): s for s in spaces}


def space_label(space: Space, several_communes: bool) -> str:
    """The space's folder name at the top of a person's tree."""
    if space.kind == SpaceKind.COMMUNE:
        return space.commune.name
    prefix = f"{space.commune.name} - " if several_communes else ""
    return f"{prefix}{space.name}"


def root_of(space: Space) -> Node:
    root = Node.objects.get(space=space, parent__isnull=True)
    root.space = space  # the caller's copy, with its commune: not read again
    return root


def node_for(user: User, commune: Commune, node_id: int, *, deleted: bool = False) -> Node:
    """A node of one of `user`'s spaces in `commune`; Node.DoesNotExist otherwise (the
    page answers 404: nobody learns what exists elsewhere)."""
    spaces = [s for s in spaces_for(user) if s.commune_id == commune.pk]
    return Node.objects.select_related("space", "space__commune").get(
        pk=node_id, space__in=spaces, deleted_at__isnull=not deleted
    )


def search(user: User, text: str, limit: int = 50) -> list[Node]:
    text = unicodedata.normalize("NFC", text.strip())
    if not text:
        return []
    return list(
        Node.objects.filter(
            space__in=spaces_for(user),
            deleted_at__isnull=True,
            name__icontains=text,
            parent__isnull=False,
        )
        .select_related("space", "space__commune")
        .order_by("name")[:limit]
    )
