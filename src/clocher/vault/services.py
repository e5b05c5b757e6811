"""Vault services: spaces, the file tree, uploads, versions, trash, quotas, fsck.

Every entry point takes the acting person and checks nothing about HTTP: the web pages,
the WebDAV provider and the CLI all come through here.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import secrets
import unicodedata
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, Subquery, Sum
from django.utils import timezone

from clocher.accounts.models import User
from clocher.core import audit
from clocher.core.audit import Actor
from clocher.core.models import Commune
from clocher.core.scoping import protocol_communes
from clocher.vault import crypto
from clocher.vault.blobstore import store
from clocher.vault.models import (
    Chunk,
    CommuneUsage,
    Node,
    Space,
    SpaceKind,
    Version,
    VersionChunk,
)

WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {
    f"{p}{i}" for p in ("COM", "LPT") for i in range(1, 10)
}
BIDI_CONTROLS = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F)}


class QuotaExceeded(ValidationError):
    pass


class NameConflict(ValidationError):
    pass


# ---------------------------------------------------------------------------- names


def clean_name(name: str) -> str:
    """A file or folder name as stored: NFC, and refused with a reason when it could
    escape its folder, confuse a reader or break a Windows client."""
    name = unicodedata.normalize("NFC", name or "")
    if name in ("", ".", ".."):
        raise ValidationError("Nom vide ou réservé (« . », « .. »).")
    if "/" in name or "\\" in name:
        raise ValidationError(f"Le nom « {name} » contient une barre oblique.")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ValidationError("Le nom contient un caractère de contrôle.")
    if BIDI_CONTROLS & set(name):
        raise ValidationError(
            "Le nom contient un caractère qui inverse le sens du texte (il peut déguiser "
            "une extension, par exemple « facture‮fdp.exe »)."
        )
    if len(name.encode("utf-8")) > 255:
        raise ValidationError("Nom trop long : 255 octets au plus.")
    if name != name.rstrip(". "):
        raise ValidationError("Un nom ne peut pas finir par un point ou une espace (Windows).")
    if name.split(".", 1)[0].upper() in WINDOWS_RESERVED:
        raise ValidationError(f"« {name} » est un nom réservé par Windows.")
    return name


# ---------------------------------------------------------------------------- spaces


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
        space.name = name
        space.save(update_fields=["name"])
        root = root_of(space)
        Node.objects.filter(pk=root.pk).update(etag=_new_etag(), modified_at=timezone.now())
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
    return list(
        Space.objects.filter(commune__in=communes)
        .filter(
            Q(kind=SpaceKind.COMMUNE)
            | Q(kind=SpaceKind.PERSONAL, owner=user)
            | Q(kind=SpaceKind.GROUP, members=user)
        )
        .select_related("commune")
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


# ---------------------------------------------------------------------------- tree


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


def _touch(node: Node) -> None:
    """A change below a folder changes its ETag, up to the root: sync clients compare the
    root's ETag to know something moved."""
    ids = [a.pk for a in ancestors(node)]
    if node.is_folder:
        ids.append(node.pk)
    _new_etags(ids, timezone.now())


def _new_etags(ids: Iterable[int], now: datetime) -> None:
    """One UPDATE: the folders of one change share its new ETag (an ETag only has to
    differ from the same folder's previous one). On PostgreSQL the rows are locked in
    id order first: an UPDATE locks them in the order it finds them on disk, which
    changes as they are rewritten, so two uploads into one folder could each hold the
    row the other waits for (a deadlock, answered 500, under concurrent PUTs)."""
    ids = sorted(set(ids))
    if connection.features.has_select_for_update:
        list(Node.objects.filter(pk__in=ids).order_by("pk").select_for_update().values("pk"))
    Node.objects.filter(pk__in=ids).update(etag=_new_etag(), modified_at=now)


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


# ---------------------------------------------------------------------------- quotas


def available_bytes(space: Space) -> int:
    """What can still be stored in `space` (its own quota, then the commune's)."""
    space.refresh_from_db(fields=["used_bytes", "quota_bytes"])
    commune_used = (
        CommuneUsage.objects.filter(commune_id=space.commune_id)
        .values_list("used_bytes", flat=True)
        .first()
    ) or 0
    limit = Commune.objects.values_list("quota_storage_bytes", flat=True).get(pk=space.commune_id)
    room = limit - commune_used
    if space.quota_bytes is not None:
        room = min(room, space.quota_bytes - space.used_bytes)
    return max(0, room)


def _charge(space: Space, delta: int) -> None:
    """Count `delta` bytes on the space and the commune, or refuse: one conditional
    UPDATE each, in the caller's transaction, so concurrent uploads cannot together
    pass a quota."""
    if delta == 0:
        return
    if delta < 0:
        Space.objects.filter(pk=space.pk).update(used_bytes=F("used_bytes") + delta)
        CommuneUsage.objects.filter(commune_id=space.commune_id).update(
            used_bytes=F("used_bytes") + delta
        )
        return
    updated = (
        Space.objects.filter(pk=space.pk)
        .filter(Q(quota_bytes__isnull=True) | Q(used_bytes__lte=F("quota_bytes") - delta))
        .update(used_bytes=F("used_bytes") + delta)
    )
    if not updated:
        raise QuotaExceeded(f"Quota de l'espace « {space.name} » atteint.")
    if not _charge_commune(space.commune_id, delta):
        # A commune whose counter row is missing (made before the vault) gets it now.
        _, created = CommuneUsage.objects.get_or_create(commune_id=space.commune_id)
        if not created or not _charge_commune(space.commune_id, delta):
            raise QuotaExceeded("Quota de stockage de la commune atteint.")


def hold(space: Space, delta: int) -> None:
    """Count (or, negative, release) bytes that are stored but not yet a file: the parts
    of a chunked upload, under the same quotas and the same atomic check as files."""
    _charge(space, delta)


def _charge_commune(commune_id: int, delta: int) -> bool:
    """The commune's counter grows by `delta` if its quota allows it, in one statement
    on that row alone (the limit is a scalar subquery, not a join: PostgreSQL re-checks
    a concurrently updated row's own columns only, so a join would let two uploads
    pass the quota together)."""
    limit = Commune.objects.filter(pk=commune_id).values("quota_storage_bytes")
    return bool(
        CommuneUsage.objects.filter(
            commune_id=commune_id, used_bytes__lte=Subquery(limit) - delta
        ).update(used_bytes=F("used_bytes") + delta)
    )


# ---------------------------------------------------------------------------- content


# Chunks of one upload sealed, written and synced at the same time: each fsync waits on
# the disk, and one chunk at a time capped a large upload at the disk's synchronous rate
# (~180 MiB/s on the bench machine, ~250 with two in flight, ~300 with four).
STORE_THREADS = 3
# Chunks handed over ahead of the request thread: one more than the threads so that
# none waits for work, few enough to keep memory bounded (each holds a 4 MiB chunk).
PIPELINE_DEPTH = STORE_THREADS + 1
# Digests per query when a version's chunks are attached (SQLite's variable limit).
ATTACH_BATCH = 500


class ChunkSink(Protocol):
    """What an upload needs of a blob store (an import passes a batch collector)."""

    def exists(self, key: str) -> bool: ...

    def put(self, key: str, data: bytes | bytearray, *, sync_directory: bool = True) -> None: ...

    def sync_directories(self, keys: Iterable[str]) -> None: ...


@dataclass
class Upload:
    """Content being received: cut into chunks, each sealed and stored as it fills, so
    memory stays bounded. Nothing is visible until `commit`; `abort` (or a crash) leaves
    only unreferenced chunks that `fsck --gc` removes.

    Full chunks are sealed and stored (each durable: file fsynced, then renamed) by a few
    helper threads, and hashed in order into the file's SHA-256 by one more, while the
    request thread keeps reading; `finish` waits for them and syncs the chunks'
    directories once, before the version can be committed."""

    commune: Commune
    chunk_bytes: int = field(default_factory=lambda: settings.VAULT_CHUNK_BYTES)
    size: int = 0
    _parts: list[bytes] = field(default_factory=list)
    _buffered: int = 0
    _digests: list[tuple[str, int]] = field(default_factory=list)
    _sha256: object = field(default_factory=hashlib.sha256)
    _pending: deque[tuple[Future[None], Future[tuple[str, int]]]] = field(default_factory=deque)
    _stored: set[str] = field(default_factory=set)
    _worker: ThreadPoolExecutor | None = None
    _hasher: ThreadPoolExecutor | None = None
    _finished: bool = False
    # The commune's data key when the caller already holds it (an import makes
    # thousands of uploads for one commune): one query and one unwrap saved each.
    key: bytes | None = field(default=None, repr=False)
    # Where the chunks go, when not straight to the store: an import hands a collector
    # that writes a whole batch's chunks with one flush of the file system.
    blobs: ChunkSink | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._key = self.key or crypto.data_key(self.commune)
        self._blobs: ChunkSink = self.blobs or store()

    def write(self, data: bytes) -> int:
        self.size += len(data)
        self._parts.append(bytes(data))  # kept as is (no copy) when it is bytes already
        self._buffered += len(data)
        if self._buffered >= self.chunk_bytes:
            self._cut()
        return len(data)

    def _cut(self) -> None:
        """Hand over every full chunk buffered: the pieces are joined once, and a join
        that is exactly one chunk (1 MiB reads, 4 MiB chunks) goes as it is."""
        joined = b"".join(self._parts)
        if len(joined) == self.chunk_bytes:
            self._parts, self._buffered = [], 0
            self._submit(joined)
            return
        with memoryview(joined) as view:
            start = 0
            while len(joined) - start >= self.chunk_bytes:
                self._submit(bytes(view[start : start + self.chunk_bytes]))
                start += self.chunk_bytes
            rest = bytes(view[start:])
        self._parts, self._buffered = ([rest] if rest else []), len(rest)

    def _submit(self, plaintext: bytes) -> None:
        if self._worker is None or self._hasher is None:
            self._worker = ThreadPoolExecutor(STORE_THREADS, thread_name_prefix="vault-upload")
            # One thread, so the file's SHA-256 takes the chunks in their order.
            self._hasher = ThreadPoolExecutor(1, thread_name_prefix="vault-sha256")
        while len(self._pending) >= PIPELINE_DEPTH:
            self._collect()
        hashed = self._hasher.submit(self._sha256.update, plaintext)  # type: ignore[attr-defined]
        self._pending.append((hashed, self._worker.submit(self._store, plaintext)))

    def _collect(self) -> None:
        """Wait for the oldest chunk handed over: hashed and stored."""
        hashed, stored = self._pending.popleft()
        hashed.result()
        self._digests.append(stored.result())

    def _store(self, plaintext: bytes) -> tuple[str, int]:
        digest = crypto.chunk_digest(self._key, plaintext)
        key = f"{self.commune.pk}/{digest}"
        # Two threads may store the same new chunk at once: same bytes, atomic renames.
        if key not in self._stored and not self._blobs.exists(key):
            sealed = crypto.seal(self._key, self.commune.pk, digest, plaintext)
            self._blobs.put(key, sealed, sync_directory=False)
        self._stored.add(key)
        return digest, len(plaintext)

    def finish(self, *, sync_directories: bool = True) -> None:
        """Wait for the helper threads, hash and store the last partial chunk (an empty
        file has none), and make the new chunks' names durable (unless the caller syncs
        the directories of many uploads at once, before committing any: `stored_keys`).
        Once is enough: a second call does nothing."""
        if self._finished:
            return
        try:
            while self._pending:
                self._collect()
            if self._parts:
                last = b"".join(self._parts)
                self._sha256.update(last)  # type: ignore[attr-defined]
                self._digests.append(self._store(last))
                self._parts, self._buffered = [], 0
        finally:
            self.discard()
        if sync_directories:
            self._blobs.sync_directories(self._stored)
        self._finished = True

    @property
    def stored_keys(self) -> set[str]:
        return self._stored

    def discard(self) -> None:
        """Stop the helper threads once the chunks in their hands are stored (at most
        PIPELINE_DEPTH; those of an aborted upload are garbage for `fsck --gc`)."""
        for pool in (self._worker, self._hasher):
            if pool is not None:
                pool.shutdown(wait=True)
        self._worker = self._hasher = None

    @property
    def sha256(self) -> str:
        """The content's SHA-256, known once `finish` has run (the helper threads may
        still be hashing before)."""
        if not self._finished:
            raise RuntimeError("Upload.sha256 is known once the upload is finished")
        return self._sha256.hexdigest()  # type: ignore[attr-defined]

    def _attach(self, version: Version) -> None:
        """The chunk rows (made if new; a concurrent upload may make the same ones) and
        the version's list of them, in a few statements whatever the number of chunks."""
        _attach_many([(version, self)])


def read_stream(
    stream: io.RawIOBase | io.BufferedIOBase, upload: Upload, block: int = 1 << 20
) -> None:
    while True:
        data = stream.read(block)
        if not data:
            break
        upload.write(data)


def save_file(
    actor: Actor,
    parent: Node,
    name: str,
    upload: Upload,
    content_type: str = "",
    if_match: str | None = None,
    modified_at: datetime | None = None,
) -> Node:
    """Make the received content the file `name`'s new version (or a new file).
    `modified_at` is the client's own modification time (sync clients send it), else now."""
    name = clean_name(name)
    upload.finish()
    with transaction.atomic():
        node = (
            Node.objects.select_for_update()
            .filter(parent=parent, name=name, deleted_at__isnull=True)
            .first()
        )
        if if_match is not None and (node is None or node.etag != if_match):
            raise NameConflict("Le fichier a changé entre-temps (ETag différent).")
        if node is not None and node.is_folder:
            raise NameConflict(f"« {name} » est un dossier.")
        if node is not None:
            _below(node, parent)
        if node is None:
            try:
                with transaction.atomic():
                    node = Node.objects.create(
                        space=parent.space,
                        parent=parent,
                        name=name,
                        is_folder=False,
                        modified_at=timezone.now(),
                    )
            except IntegrityError as exc:
                raise NameConflict(f"« {name} » existe déjà ici.") from exc
            action = "vault.file_created"
        else:
            action = "vault.file_updated"
        version = Version.objects.create(
            node=node, size=upload.size, sha256=upload.sha256, author=actor.label
        )
        upload._attach(version)
        node.current = version
        node.size = upload.size
        node.content_type = content_type[:120]
        node.etag = f"{version.pk:x}-{upload.sha256[:12]}"
        node.modified_at = modified_at or timezone.now()
        node.save(update_fields=["current", "size", "content_type", "etag", "modified_at"])
        _touch(node)
        # Counted last, just before the journal: the counters are rows every upload of
        # the space and the commune updates, locked until the commit (on PostgreSQL),
        # so they are held for the end of the transaction only. Refused, it all rolls back.
        _charge(parent.space, upload.size)
        audit.record(
            actor,
            action,
            commune=parent.space.commune,
            target=path_of(node),
            data={"size": upload.size, "sha256": upload.sha256},
        )
    return node


@dataclass
class NewFile:
    """A file to add (see `save_new_files`): its folder, clean name, finished upload."""

    parent: Node
    name: str
    upload: Upload
    modified_at: datetime | None = None


def save_new_files(actor: Actor, files: list[NewFile]) -> list[Node]:
    """Add many new files of one space at once (an import's batch): what `save_file`
    does for each, in a few statements for them all: the rows in bulk, the ETags of
    their folders in one UPDATE, the quotas charged once for the total (the same
    conditional UPDATEs: all fit or none is added), one journal entry per file appended
    in one go (`audit.record_many`).

    Raises IntegrityError if a name was taken meanwhile and QuotaExceeded if the total
    does not fit, having written nothing: the caller then saves them one by one."""
    if not files:
        return []
    space = files[0].parent.space
    now = timezone.now()
    with transaction.atomic():
        nodes = Node.objects.bulk_create(
            [
                Node(
                    space=space,
                    parent=f.parent,
                    name=f.name,
                    is_folder=False,
                    size=f.upload.size,
                    modified_at=f.modified_at or now,
                )
                for f in files
            ]
        )
        versions = Version.objects.bulk_create(
            [
                Version(node=n, size=f.upload.size, sha256=f.upload.sha256, author=actor.label)
                for n, f in zip(nodes, files, strict=True)
            ]
        )
        _attach_many([(v, f.upload) for v, f in zip(versions, files, strict=True)])
        for node, version, f in zip(nodes, versions, files, strict=True):
            node.current = version
            node.etag = f"{version.pk:x}-{f.upload.sha256[:12]}"
            _below(node, f.parent)
        # One prepared UPDATE run for every row: `bulk_update` builds a CASE expression
        # per row and cost more than the rest of the batch's statements together.
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {Node._meta.db_table} SET current_id = %s, etag = %s WHERE id = %s",  # noqa: S608 - the model's own table name
                [(n.current_id, n.etag, n.pk) for n in nodes],
            )
        folders = {f.parent.pk: f.parent for f in files}
        ids = {a.pk for folder in folders.values() for a in [folder, *ancestors(folder)]}
        _new_etags(ids, now)
        _charge(space, sum(f.upload.size for f in files))
        audit.record_many(
            actor,
            [
                audit.Event(
                    "vault.file_created",
                    commune=space.commune,
                    target=path_of(node),
                    data={"size": f.upload.size, "sha256": f.upload.sha256},
                )
                for node, f in zip(nodes, files, strict=True)
            ],
        )
    return nodes


def _attach_many(pairs: list[tuple[Version, Upload]]) -> None:
    """`Upload._attach` for many versions of one commune: each statement once."""
    commune = pairs[0][1].commune
    sizes = {d: size for _, upload in pairs for d, size in upload._digests}
    Chunk.objects.bulk_create(
        [Chunk(commune=commune, digest=d, size=size) for d, size in sizes.items()],
        ignore_conflicts=True,
    )
    ids: dict[str, int] = {}
    digests = list(sizes)
    for start in range(0, len(digests), ATTACH_BATCH):
        ids.update(
            Chunk.objects.filter(
                commune=commune, digest__in=digests[start : start + ATTACH_BATCH]
            ).values_list("digest", "id")
        )
    parts = []
    for version, upload in pairs:
        offset = 0
        for position, (digest, size) in enumerate(upload._digests):
            parts.append(
                VersionChunk(
                    version=version, position=position, offset=offset, chunk_id=ids[digest]
                )
            )
            offset += size
    VersionChunk.objects.bulk_create(parts, batch_size=ATTACH_BATCH)


def set_modified(node: Node, timestamp: float) -> None:
    """The file's modification time as its author's computer has it (not a change of
    content: no version, no journal entry)."""
    node.modified_at = datetime.fromtimestamp(timestamp, tz=UTC)
    node.save(update_fields=["modified_at"])


def write_bytes(actor: Actor, parent: Node, name: str, data: bytes, content_type: str = "") -> Node:
    upload = Upload(parent.space.commune)
    upload.write(data)
    return save_file(actor, parent, name, upload, content_type)


class VersionReader(io.RawIOBase):
    """A version's content as a seekable file (HTTP Range reads one chunk at a time)."""

    def __init__(self, version: Version) -> None:
        self.version = version
        self.commune = version.node.space.commune
        self.key = crypto.data_key(self.commune)
        # (offset, digest) of each chunk in order: plain values, no model instances.
        self.parts: list[tuple[int, str]] = list(
            version.chunks.order_by("position").values_list("offset", "chunk__digest")
        )
        self.position = 0
        self._cached: tuple[int, bytes] | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.version.size}
        self.position = max(0, base[whence] + offset)
        return self.position

    def tell(self) -> int:
        return self.position

    def _plain(self, index: int) -> bytes:
        if self._cached and self._cached[0] == index:
            return self._cached[1]
        digest = self.parts[index][1]
        data = crypto.open_sealed(
            self.key, self.commune.pk, digest, store().get(f"{self.commune.pk}/{digest}")
        )
        self._cached = (index, data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        """Fills the buffer across chunk boundaries (callers such as Range handling
        expect a full read until the end of the content)."""
        filled = 0
        while filled < len(buffer) and self.position < self.version.size:
            index = max(i for i, p in enumerate(self.parts) if p[0] <= self.position)
            data = self._plain(index)
            start = self.position - self.parts[index][0]
            piece = data[start : start + len(buffer) - filled]
            buffer[filled : filled + len(piece)] = piece
            filled += len(piece)
            self.position += len(piece)
        return filled


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


# ---------------------------------------------------------------------------- moves


def _subtree(node: Node) -> list[Node]:
    found, frontier = [node], [node]
    while frontier:
        frontier = list(Node.objects.filter(parent__in=frontier))
        found.extend(frontier)
    return found


def _stored_size(nodes: list[Node]) -> int:
    return Version.objects.filter(node__in=nodes).aggregate(total=Sum("size"))["total"] or 0


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
        if existing is not None and existing.pk != node.pk:
            if not overwrite:
                raise NameConflict(f"« {new_name} » existe déjà à la destination.")
            trash(actor, existing)
        if new_parent.space_id != node.space_id:
            size = _stored_size(_subtree(node))
            _charge(new_parent.space, size)
            _charge(node.space, -size)
            Node.objects.filter(pk__in=[n.pk for n in _subtree(node)]).update(
                space=new_parent.space
            )
        old_path = path_of(node)
        _touch(node)
        node.parent, node.name = new_parent, new_name
        node.modified_at = timezone.now()
        node.save(update_fields=["parent", "name", "modified_at"])
        _touch(node)
        audit.record(
            actor,
            "vault.moved",
            commune=new_parent.space.commune,
            target=path_of(node),
            data={"from": old_path},
        )
    return node


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
        if existing is not None:
            if not overwrite:
                raise NameConflict(f"« {new_name} » existe déjà à la destination.")
            trash(actor, existing)
        made = _copy_into(node, new_parent, new_name, actor)
        _touch(made)
        audit.record(
            actor,
            "vault.copied",
            commune=new_parent.space.commune,
            target=path_of(made),
            data={"from": path_of(node)},
        )
    return made


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


# ---------------------------------------------------------------------------- across communes


@dataclass
class _Recut:
    """A node to copy into another commune: the versions to carry, read under the source
    commune's key and stored again under the destination's (`uploads`, same order)."""

    source: Node
    versions: list[Version] = field(default_factory=list)
    uploads: list[Upload] = field(default_factory=list)
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
        upload = Upload(commune)
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
        upload._attach(new)
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
        if _live_fingerprint(node) != recut.fingerprint():
            raise NameConflict(f"« {node.name} » a changé pendant la copie : recommencez.")
        existing = child(new_parent, new_name)
        if existing is not None:
            if not overwrite:
                raise NameConflict(f"« {new_name} » existe déjà à la destination.")
            trash(actor, existing)
        _charge(new_parent.space, needed)
        made = _commit_recut(recut, new_parent, new_name)
        _touch(made)
        old_path, source_commune = path_of(node), node.space.commune
        data = {"from": old_path, "from_commune": source_commune.insee, "reencrypted": True}
        if is_move:
            _touch(node)
            freed = _remove_subtree(node)
            audit.record(
                actor,
                "vault.moved_out",
                commune=source_commune,
                target=old_path,
                data={"to_commune": commune.insee, "size": freed},
            )
        audit.record(
            actor,
            "vault.moved" if is_move else "vault.copied",
            commune=commune,
            target=path_of(made),
            data=data,
        )
    return made


# ---------------------------------------------------------------------------- trash


def trash(actor: Actor, node: Node) -> None:
    """To the trash: invisible at once, restorable until purged (quota still counted)."""
    if node.parent_id is None:
        raise ValidationError("La racine d'un espace ne se supprime pas.")
    with transaction.atomic():
        node.deleted_at = timezone.now()
        node.deleted_by = actor.label[:254]
        node.save(update_fields=["deleted_at", "deleted_by"])
        _touch(node)
        audit.record(actor, "vault.trashed", commune=node.space.commune, target=path_of(node))


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


def node_for(user: User, commune: Commune, node_id: int, *, deleted: bool = False) -> Node:
    """A node of one of `user`'s spaces in `commune`; Node.DoesNotExist otherwise (the
    page answers 404: nobody learns what exists elsewhere)."""
    spaces = [s for s in spaces_for(user) if s.commune_id == commune.pk]
    return Node.objects.select_related("space", "space__commune").get(
        pk=node_id, space__in=spaces, deleted_at__isnull=not deleted
    )


def restore(actor: Actor, node: Node) -> Node:
    with transaction.atomic():
        name = free_name(node.parent, node.name, "restauré")  # type: ignore[arg-type]
        node.name, node.deleted_at, node.deleted_by = name, None, ""
        node.save(update_fields=["name", "deleted_at", "deleted_by"])
        _touch(node)
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


# ---------------------------------------------------------------------------- versions


def versions(node: Node) -> list[Version]:
    return list(node.versions.all())


def restore_version(actor: Actor, node: Node, version: Version) -> Node:
    """The old content becomes the newest version (history is never rewritten)."""
    if version.node_id != node.pk:
        raise ValidationError("Cette version n'est pas celle de ce fichier.")
    with transaction.atomic():
        _charge(node.space, version.size)
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
        audit.record(
            actor,
            "vault.version_restored",
            commune=node.space.commune,
            target=path_of(node),
            data={"version": version.pk},
        )
    return node


# ---------------------------------------------------------------------------- reports


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


@dataclass
class FsckReport:
    checked_chunks: int = 0
    problems: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    removed: int = 0

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
    report = FsckReport()
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


@dataclass
class Usage:
    commune: Commune
    used_bytes: int
    quota_bytes: int
    files: int


def usage(commune: Commune) -> Usage:
    row = CommuneUsage.objects.filter(commune=commune).first()
    return Usage(
        commune,
        row.used_bytes if row else 0,
        commune.quota_storage_bytes,
        Node.objects.filter(
            space__commune=commune, is_folder=False, deleted_at__isnull=True
        ).count(),
    )
