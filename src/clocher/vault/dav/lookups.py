"""The statements of the file server's plain GET and PUT (`dav.fast`) and of the
writer's check of a new small file (`dav.writer`), each compiled once per process
(`core.prepared.Prepared`): a person's spaces, a file with its chunks, a folder with its
chain to the space's root, its member and the person's locks, each with the person's
access checked in the same statement (`_access`: the app password still valid, the
account active, the space still the person's under the protocol rule of
`core.scoping`, with the same names), so that a revocation or a cut bites at the next
request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery

from clocher.accounts.models import AppPassword, User
from clocher.core.models import Commune
from clocher.core.prepared import Prepared
from clocher.core.scoping import protocol_communes
from clocher.vault.models import DavEntry, Node, Space
from clocher.vault.services.spaces import spaces_query


def _in_model_order(model: Any, names: set[str]) -> tuple[str, ...]:
    """`Model.from_db` takes the loaded columns in the model's own order."""
    return tuple(f.attname for f in model._meta.concrete_fields if f.attname in names)


# Not the counters (`used_bytes`, `quota_bytes`): nothing here reads them (quotas are
# charged by conditional UPDATEs), and an upload moved them, so that the person built
# from the rows could not be kept for the next upload (`_PEOPLE`).
SPACE_FIELDS = _in_model_order(Space, {"id", "kind", "name", "owner_id", "commune_id"})
COMMUNE_FIELDS = _in_model_order(
    Commune, {"id", "name", "insee", "quota_storage_bytes", "created_at", "status"}
)
FILE_FIELDS = ("id", "is_folder", "size", "content_type", "etag", "modified_at", "current_id")


def _valid_password(password_id: int, user_id: int) -> QuerySet[AppPassword]:
    """The app password, while it is not revoked and its account is active."""
    return AppPassword.objects.filter(
        pk=password_id, user_id=user_id, revoked_at__isnull=True, user__is_active=True
    )


def _spaces_query(password_id: int, user_id: int) -> QuerySet[Any]:
    """`services.spaces_for` under the protocol rule, for the holder of a valid app
    password, with the commune's columns and the person's address."""
    person = User(pk=user_id, is_active=True)
    valid = _valid_password(password_id, user_id)
    email = Subquery(User.objects.filter(pk=user_id, is_active=True).values("email")[:1])
    return (
        spaces_query(person, protocol_communes(person))
        .filter(Exists(valid))
        .annotate(person_email=email)
        .values_list(*SPACE_FIELDS, *(f"commune__{f}" for f in COMMUNE_FIELDS), "person_email")
    )


SPACES = Prepared(_spaces_query)


def _access(
    password_id: int, user_id: int, email: str, space_id: int, space: str, commune: str
) -> Q:
    """The app password still valid for the account at `email`, still active, and the
    space still theirs under the protocol rule, with the names its label was made of:
    what `_spaces_query` read, checked for one space inside the request's statement."""
    person = User(pk=user_id, is_active=True)
    valid = _valid_password(password_id, user_id).filter(user__email=email)
    theirs = spaces_query(person, protocol_communes(person)).filter(
        pk=space_id, name=space, commune__name=commune
    )
    return Q(Exists(valid)) & Q(Exists(theirs))


@dataclass(frozen=True, slots=True)
class Query:
    """A query of a space's rows (the space's id its first argument), and the same with
    the person's access checked in it (`_access`'s arguments before the space's id)."""

    plain: Prepared
    checked: Prepared


def _query(build: Callable[..., QuerySet[Any]]) -> Query:
    def checked(
        password_id: int, user_id: int, email: str, space: str, commune: str, space_id: int,
        *rest: Any,
    ) -> QuerySet[Any]:  # fmt: skip
        access = _access(password_id, user_id, email, space_id, space, commune)
        return build(space_id, *rest).filter(access)

    return Query(Prepared(build), Prepared(checked))


def _file_query(space_id: int, *names: str) -> QuerySet[Any]:
    """The live node at `names` below the root of the space, one row per chunk of its
    current version (one row with no chunk for an empty file or a folder)."""
    filters: dict[str, Any] = {
        "name": names[-1],
        "deleted_at__isnull": True,
        "parent__isnull": False,
    }
    above = ""
    for name in reversed(names[:-1]):
        above += "parent__"
        filters.update(
            {f"{above}name": name, f"{above}deleted_at__isnull": True, f"{above}is_folder": True}
        )
    # Joined down from the space's root (its own unique index): from the space's nodes
    # up, the database read every node of the space to find one name.
    filters[f"{above}parent__space_id"] = space_id
    filters[f"{above}parent__parent__isnull"] = True
    return (
        Node.objects.filter(**filters)
        .order_by("current__chunks__position")
        .values_list(*FILE_FIELDS, "current__chunks__offset", "current__chunks__chunk__digest")
    )


FILES = _query(_file_query)


def _folder_query(space_id: int, locks: str, name: str, *names: str) -> QuerySet[Any]:
    """The live folder at `names` below the root of the space (the root for none): the
    id and name of it and of each folder above it up to the root, whether its member
    `name` is a folder (None when there is none), and whether the person's tree holds
    a lock (its keys start with `locks`). One statement where an upload asked three."""
    filters: dict[str, Any] = {}
    above = ""
    for folder in reversed(names):
        filters.update(
            {f"{above}name": folder, f"{above}deleted_at__isnull": True, f"{above}is_folder": True}
        )
        above += "parent__"
    filters[f"{above}space_id"] = space_id
    filters[f"{above}parent__isnull"] = True
    member = Node.objects.filter(parent_id=OuterRef("pk"), name=name, deleted_at__isnull=True)
    levels = ["parent__" * depth for depth in range(len(names) + 1)]
    return (
        Node.objects.filter(**filters)
        .annotate(
            member_is_folder=Subquery(member.values("is_folder")[:1]),
            locked=Exists(DavEntry.objects.filter(key__prefix=locks)),
        )
        .values_list(
            *(f"{level}id" for level in levels),
            *(f"{level}name" for level in levels),
            "member_is_folder",
            "locked",
        )
    )


FOLDER = _query(_folder_query)


def _members_query(folder_id: int, *names: str) -> QuerySet[Any]:
    """Which of `names` are live members of the folder, and whether each is a folder."""
    return Node.objects.filter(
        parent_id=folder_id, name__in=names, deleted_at__isnull=True
    ).values_list("name", "is_folder")


MEMBERS = Prepared(_members_query)


@dataclass(frozen=True, slots=True)
class FolderRow:
    """A row of FOLDER for a file `depth` levels below the space's root, read."""

    chain: tuple[tuple[int, str], ...]  # (id, name) of each folder, the space's root first
    member_is_folder: bool | None  # whether the file's name is a folder (None: no member)
    locked: bool  # whether the person's tree holds a lock

    @classmethod
    def read(cls, row: Any, depth: int) -> FolderRow:
        ids, names = reversed(row[:depth]), reversed(row[depth : 2 * depth])
        return cls(tuple(zip(ids, names, strict=True)), row[-2], bool(row[-1]))
