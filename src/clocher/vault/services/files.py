"""Files: a received upload made a file's new version, or many new files at once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from clocher.core import audit, bulk
from clocher.core.audit import Actor
from clocher.core.prepared import Prepared
from clocher.storage.chunks import ChunkWriter
from clocher.vault.models import Node, Version
from clocher.vault.services.content import _attach_many
from clocher.vault.services.names import NameConflict, QuotaExceeded, clean_name
from clocher.vault.services.quotas import _charge
from clocher.vault.services.tree import _below, _new_etags, _touch, ancestors, path_of


def save_file(
    actor: Actor,
    parent: Node,
    name: str,
    upload: ChunkWriter,
    content_type: str = "",
    if_match: str | None = None,
    modified_at: datetime | None = None,
    held: int = 0,
) -> Node:
    """Make the received content the file `name`'s new version (or a new file).
    `modified_at` is the client's own modification time (sync clients send it), else now.
    `held`: bytes of the parent's space already counted for this content (a chunked
    upload's parts), counted as the file's own in the same update."""
    name = clean_name(name)
    upload.finish()
    with transaction.atomic():
        found = _LIVE_CHILD.rows(parent.pk, name)
        node = Node.from_db(connection.alias, NODE_COLUMNS, found[0]) if found else None
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
        _attach_many([(version.pk, upload)])
        node.current = version
        node.size = upload.size
        node.content_type = content_type[:120]
        node.etag = f"{version.pk:x}-{upload.sha256[:12]}"
        node.modified_at = modified_at or timezone.now()
        _SET_CURRENT.update(
            node.pk, version.pk, node.size, node.content_type, node.etag, node.modified_at
        )
        _touch(node)
        # Counted last, just before the journal: the counters are rows every upload of
        # the space and the commune updates, locked until the commit (on PostgreSQL),
        # so they are held for the end of the transaction only. Refused, it all rolls back.
        _charge(parent.space, upload.size - held)
        audit.record(
            actor,
            action,
            commune=parent.space.commune,
            target=path_of(node),
            data={"size": upload.size, "sha256": upload.sha256},
        )
    return node


NODE_COLUMNS = [f.attname for f in Node._meta.concrete_fields]
# Compiled once per process (`core.prepared`): every upload runs them.
_LIVE_CHILD = Prepared(
    lambda parent_id, name: (
        Node.objects.select_for_update()
        .filter(parent_id=parent_id, name=name, deleted_at__isnull=True)
        .values_list(*NODE_COLUMNS)
    )
)
_SET_CURRENT = Prepared(
    lambda pk, current_id, size, content_type, etag, modified_at: (
        Node.objects.filter(pk=pk),
        {
            "current_id": current_id,
            "size": size,
            "content_type": content_type,
            "etag": etag,
            "modified_at": modified_at,
        },
    )
)


@dataclass
class NewFile:
    """A file to add (see `save_new_files`): its folder, clean name, finished upload;
    for `save_each`, who sends it and its type too."""

    parent: Node
    name: str
    upload: ChunkWriter
    modified_at: datetime | None = None
    actor: Actor | None = None
    content_type: str = ""


def save_each(files: list[NewFile]) -> list[Node | Exception]:
    """New files of one space sent together by several requests (`dav.flush.GroupCommit`),
    each with its own `actor`: what `save_file` does for each, in one transaction for all
    (`save_new_files`' statements). Their chunks must be durable already (`finish`).

    Each file gets its own answer, in order: its new node, or the error `save_file` gives
    it alone. If the group cannot be added as a whole (a name taken meanwhile, a quota
    that the total passes), nothing of it is kept and each file goes through `save_file`
    on its own, as if it had come alone (a name taken meanwhile becomes a new version)."""
    try:
        return list(save_together(files))
    except (IntegrityError, QuotaExceeded):
        return _each_alone(files)


def save_together(files: list[NewFile], *, savepoint: bool = True) -> list[Node]:
    """`save_each`'s first step: the group added as a whole, or IntegrityError or
    QuotaExceeded having kept nothing of it. Without `savepoint`, within the caller's
    transaction, which must then be rolled back whole on any error (the writer's: a
    savepoint and its release cost two round trips to PostgreSQL a group)."""
    added = _add_files(files, savepoint=savepoint)
    alias = connection.alias
    return [
        Node.from_db(
            alias, _ADDED_COLUMNS, [pk, f.parent.space.pk, f.parent.pk, f.name, False, etag]
        )
        for (pk, etag), f in zip(added, files, strict=True)
    ]


def _each_alone(files: list[NewFile]) -> list[Node | Exception]:
    """`save_each`'s fallback: each file through `save_file` on its own, as if it had
    come alone; its new node or its error, in order."""
    answers: list[Node | Exception] = []
    for f in files:
        assert f.actor is not None
        try:
            node = save_file(
                f.actor, f.parent, f.name, f.upload, f.content_type, None, f.modified_at
            )
        except Exception as exc:  # noqa: BLE001 - the error is that file's answer
            answers.append(exc)
        else:
            answers.append(node)
    return answers


_ADDED_COLUMNS = ["id", "space_id", "parent_id", "name", "is_folder", "etag"]


def save_new_files(actor: Actor, files: list[NewFile]) -> list[int]:
    """Add many new files of one space at once (an import's batch): what `save_file`
    does for each, in a few statements for them all: the rows by multi-row INSERTs of
    plain values (`core.bulk`: the ORM's `bulk_create` cost more than the database's
    work), the ETags of their folders in one UPDATE, the quotas charged once for the
    total (the same conditional UPDATEs: all fit or none is added), one journal entry per
    file appended in one go (`audit.record_many`). A folder's path is built once for all
    its files. Returns the new files' ids, in order.

    Raises IntegrityError if a name was taken meanwhile and QuotaExceeded if the total
    does not fit, having written nothing: the caller then saves them one by one."""
    return [pk for pk, _ in _add_files(files, actor)]


def _add_files(
    files: list[NewFile], actor: Actor | None = None, *, savepoint: bool = True
) -> list[tuple[int, str]]:
    """`save_new_files` for files of one space, each file's `actor` unless `actor` is
    given: (id, ETag) of each new file, in order (`savepoint`: see `save_together`)."""
    if not files:
        return []
    space = files[0].parent.space
    now = timezone.now()
    actors = [actor or f.actor for f in files]
    with transaction.atomic(savepoint=savepoint):
        node_ids = bulk.insert(
            Node,
            [
                "space_id",
                "parent_id",
                "name",
                "is_folder",
                "size",
                "content_type",
                "modified_at",
                "created_at",
            ],
            [
                (
                    space.pk,
                    f.parent.pk,
                    f.name,
                    False,
                    f.upload.size,
                    f.content_type[:120],
                    f.modified_at or now,
                    now,
                )
                for f in files
            ],
            returning=True,
        )
        version_ids = bulk.insert(
            Version,
            ["node_id", "size", "sha256", "author", "created_at"],
            [
                (node_id, f.upload.size, f.upload.sha256, by.label, now)  # type: ignore[union-attr]
                for node_id, f, by in zip(node_ids, files, actors, strict=True)
            ],
            returning=True,
        )
        _attach_many([(v, f.upload) for v, f in zip(version_ids, files, strict=True)])
        etags = [f"{v:x}-{f.upload.sha256[:12]}" for v, f in zip(version_ids, files, strict=True)]
        # One statement for all (`core.bulk.update`): `bulk_update` builds a CASE
        # expression per row and cost more than the batch's other statements together.
        bulk.update(
            Node,
            ["current_id", "etag"],
            list(zip(node_ids, version_ids, etags, strict=True)),
        )
        folders = {f.parent.pk: f.parent for f in files}
        ids = {a.pk for folder in folders.values() for a in [folder, *ancestors(folder)]}
        _new_etags(ids, now)
        # The quotas once for the total (the same conditional UPDATEs: all fit or none is
        # added): one update of the space's and the commune's counters for the group.
        _charge(space, sum(f.upload.size for f in files))
        paths = {pk: path_of(folder).rstrip("/") for pk, folder in folders.items()}
        # One journal append per sender (the files of one request's person in one go).
        by_sender: dict[tuple[int | None, str, str | None], list[audit.Event]] = {}
        senders: dict[tuple[int | None, str, str | None], Actor] = {}
        for f, by in zip(files, actors, strict=True):
            assert by is not None
            key = (by.user.pk if by.user is not None else None, by.label, by.ip)
            senders.setdefault(key, by)
            by_sender.setdefault(key, []).append(
                audit.Event(
                    "vault.file_created",
                    commune=space.commune,
                    target=f"{paths[f.parent.pk]}/{f.name}",
                    data={"size": f.upload.size, "sha256": f.upload.sha256},
                )
            )
        for key, events in by_sender.items():
            audit.record_many(senders[key], events)
    return list(zip(node_ids, etags, strict=True))


def set_modified(node: Node, timestamp: float) -> None:
    """The file's modification time as its author's computer has it (not a change of
    content: no version, no journal entry)."""
    node.modified_at = datetime.fromtimestamp(timestamp, tz=UTC)
    node.save(update_fields=["modified_at"])


def write_bytes(actor: Actor, parent: Node, name: str, data: bytes, content_type: str = "") -> Node:
    upload = ChunkWriter(parent.space.commune)
    upload.write(data)
    return save_file(actor, parent, name, upload, content_type)
