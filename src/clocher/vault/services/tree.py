"""The file tree: reading a path in one query, folders, ETags up to the root."""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Subquery
from django.utils import timezone

from clocher.core import audit
from clocher.core.audit import Actor
from clocher.core.locks import lock_rows
from clocher.core.prepared import Prepared
from clocher.vault.models import Node, Space, Version
from clocher.vault.services.names import NameConflict, clean_name
from clocher.vault.services.spaces import _new_etag, root_of


def _below(node: Node, folder: Node) -> Node:
    """`node`, a member of `folder`, knowing its folder and space without a query (a
    node's space is its folder's: moves across spaces carry whole subtrees), so that
    paths, ETag updates and the commune's key need no more reads."""
    node.parent = folder
    if Node.space.is_cached(folder):
        node.space = folder.space
    return node


def children(folder: Node) -> list[Node]:
    members = Node.objects.filter(parent=folder, deleted_at__isnull=True)
    return [_below(n, folder) for n in members.order_by("-is_folder", "name")]


def child(folder: Node, name: str) -> Node | None:
    found = (
        Node.objects.filter(
            parent=folder, name=unicodedata.normalize("NFC", name), deleted_at__isnull=True
        )
        .select_related("current")
        .first()
    )
    return None if found is None else _below(found, folder)


def walk(folder: Node, parts: list[str]) -> Node | None:
    node: Node | None = folder
    for part in parts:
        if node is None or not node.is_folder:
            return None
        node = child(node, part)
    return node


# Deeper paths are walked folder by folder (a join per level in one query is cheaper
# than a query per level, up to a point).
LOOKUP_MAX_DEPTH = 16


def lookup(space: Space, names: list[str]) -> Node | None:
    """The live node at `names` below the root of `space` (the root for no names), in
    one query: the last name's row joined to each folder up to the root, all of them
    loaded (so `ancestors`, `path_of` and ETag updates need no more reads) with the
    node's current version. The same answer as `walk(root_of(space), names)`."""
    if not names:
        return root_of(space)
    if len(names) > LOOKUP_MAX_DEPTH:
        return walk(root_of(space), names)
    found = _lookup_row(space, [unicodedata.normalize("NFC", n) for n in names])
    if found is None:
        return None
    chain, version = found
    chain[0].space = space
    for folder, node in itertools.pairwise(chain):
        _below(node, folder)
    target = chain[-1]
    target.current = version
    return target


def _lookup_row(space: Space, names: list[str]) -> tuple[list[Node], Version | None] | None:
    """One row: the root, each folder and the target joined by name (live nodes only,
    folders above the target), then the target's current version. Plain SQL, as the
    ORM spent more time building this query than the database answering it."""
    node_fields = Node._meta.concrete_fields
    version_fields = Version._meta.concrete_fields
    quote = connection.ops.quote_name
    node_table, version_table = quote(Node._meta.db_table), quote(Version._meta.db_table)
    depth = len(names)
    columns = [f"n{level}.{quote(f.column)}" for level in range(depth + 1) for f in node_fields] + [
        f"v.{quote(f.column)}" for f in version_fields
    ]
    joins = [
        f"JOIN {node_table} n{level} ON n{level}.parent_id = n{level - 1}.id"
        f" AND n{level}.name = %s AND n{level}.deleted_at IS NULL"
        + (f" AND n{level - 1}.is_folder = %s" if level > 1 else "")
        for level in range(1, depth + 1)
    ]
    params: list[str | int | bool] = []
    for level, name in enumerate(names, start=1):
        params.append(name)
        if level > 1:
            params.append(True)
    sql = (
        f"SELECT {', '.join(columns)} FROM {node_table} n0 {' '.join(joins)}"  # noqa: S608 - names from the models
        f" LEFT JOIN {version_table} v ON v.id = n{depth}.current_id"
        " WHERE n0.space_id = %s AND n0.parent_id IS NULL"
    )
    params.append(space.pk)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    width = len(node_fields)
    chain = [
        _from_row(Node, node_fields, row[level * width : (level + 1) * width])
        for level in range(depth + 1)
    ]
    rest = row[(depth + 1) * width :]
    version = _from_row(Version, version_fields, rest) if rest[0] is not None else None
    return chain, version  # type: ignore[return-value]


def _from_row(model: Any, fields: Any, values: Any) -> Any:
    """A model instance from raw column values, through the fields' database converters
    (SQLite returns dates as text and booleans as integers)."""
    converted = []
    for model_field, value in zip(fields, values, strict=True):
        col = model_field.get_col(model._meta.db_table)
        converters = connection.ops.get_db_converters(col)
        for converter in converters + model_field.get_db_converters(connection):
            value = converter(value, col, connection)
        converted.append(value)
    return model.from_db(connection.alias, [f.attname for f in fields], converted)


def ancestors(node: Node) -> list[Node]:
    chain = []
    current = node.parent
    while current is not None:
        chain.append(current)
        current = current.parent
    return chain


def is_inside(node: Node, folder: Node) -> bool:
    return node.pk == folder.pk or any(a.pk == folder.pk for a in ancestors(node))


def _touch(*nodes: Node) -> None:
    """A change below a folder changes its ETag, up to the root: sync clients compare the
    root's ETag to know something moved. Several nodes' chains (a move's old and new
    places) are renewed, and locked, in one statement."""
    ids = [a.pk for node in nodes for a in ancestors(node)]
    ids += [node.pk for node in nodes if node.is_folder]
    _new_etags(ids, timezone.now())


def lock_chains(folders: Iterable[Node]) -> None:
    """Lock the folders and every folder above them, in id order, at once (PostgreSQL;
    see the package): a change that adds files in several spaces in one transaction
    takes them all before any space's counters or the journal, as one upload does."""
    ids = {a.pk for folder in folders for a in [folder, *ancestors(folder)]}
    lock_rows(Node.objects.filter(pk__in=ids))


def _save_touched(node: Node, fields: list[str]) -> None:
    """Save `node`'s `fields` and renew its folders' ETags in the vault's lock order (see
    the package): a file's row before its folders, a folder's row with its chain."""
    if node.is_folder:
        _touch(node)
        node.save(update_fields=fields)
    else:
        node.save(update_fields=fields)
        _touch(node)


def _new_etags(ids: Iterable[int], now: datetime) -> None:
    """One UPDATE: the folders of one change share its new ETag (an ETag only has to
    differ from the same folder's previous one). On PostgreSQL the rows are locked in
    id order first, within the same statement (a sorted `FOR UPDATE` subquery): an
    UPDATE locks them in the order it finds them on disk, which changes as they are
    rewritten, so two uploads into one folder could each hold the row the other waits
    for (a deadlock, answered 500, under concurrent PUTs)."""
    ids = sorted(set(ids))
    locked = connection.features.has_select_for_update
    (_NEW_ETAGS_LOCKED if locked else _NEW_ETAGS).update(_new_etag(), now, *ids)


def _new_etags_update(locked: bool) -> Prepared:
    """The folders' ETag UPDATE, compiled once per process (`core.prepared`): every
    upload runs it. `locked`: the rows taken through a sorted `FOR UPDATE` subquery."""

    def build(etag: str, now: datetime, *ids: int) -> tuple[Any, dict[str, Any]]:
        folders = Node.objects.filter(pk__in=ids)
        if locked:
            in_order = folders.order_by("pk").select_for_update().values("pk")
            folders = Node.objects.filter(pk__in=Subquery(in_order))
        return folders, {"etag": etag, "modified_at": now}

    return Prepared(build)


_NEW_ETAGS = _new_etags_update(locked=False)
_NEW_ETAGS_LOCKED = _new_etags_update(locked=True)


def create_folder(actor: Actor, parent: Node, name: str) -> Node:
    name = clean_name(name)
    if not parent.is_folder:
        raise ValidationError("On ne peut créer un dossier que dans un dossier.")
    try:
        with transaction.atomic():
            folder = Node.objects.create(
                space=parent.space,
                parent=parent,
                name=name,
                is_folder=True,
                etag=_new_etag(),
                modified_at=timezone.now(),
            )
            _touch(folder)
            audit.record(
                actor, "vault.folder_created", commune=parent.space.commune, target=path_of(folder)
            )
    except IntegrityError as exc:
        raise NameConflict(f"« {name} » existe déjà ici.") from exc
    return folder


def path_of(node: Node) -> str:
    names = [a.name for a in reversed(ancestors(node)) if a.parent_id is not None]
    return "/" + "/".join([*names, node.name]) if node.parent_id else "/"


def _subtree(node: Node) -> list[Node]:
    found, frontier = [node], [node]
    while frontier:
        frontier = list(Node.objects.filter(parent__in=frontier))
        found.extend(frontier)
    return found
