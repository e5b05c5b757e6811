"""The vault's writer: one process that stores and commits the new small files of all
the file server's workers (issue 14, docs/performance.md « Seventh pass »).

Each granian worker grouped the new small files that waited together in it
(`dav.flush.GroupCommit`), but a group's commit ran in a worker whose seven other
threads wanted the interpreter's lock, while it held SQLite's only write lock: the other
worker's group waited at BEGIN for that (3.5 ms a group), and the groups stayed small
(3.4 files). Here the workers only receive, seal and hash; they hand each new small file
(its sealed chunks and what its rows need) to this process over a Unix socket and wait
for its answer; a file's folder is found and the person's access checked here, once for
the batch's files of one folder (`_placed`, « Thirteenth pass »), not by each worker.
One thread takes everything that has arrived from every worker, writes
the chunks into its journal and starts the journal's `fdatasync` in a helper thread
(`storage.blobstore.journal`, replayed when the writer starts; two flushes of the file
system before, « Ninth pass »), writes each space's files meanwhile, commits the batch
once the sync is done (« Eleventh pass »), and answers each file then. Each space's
files go in as a whole without a savepoint (`services.save_together`; two round trips
fewer to PostgreSQL a space); if one space's group fails, the batch is rolled back and
written again space by space (`services.save_each`, a savepoint each: the same
statements, quotas, journal and fallbacks as in a worker, « Twelfth pass »). The
durability is the same: chunks before rows.

A worker that finds no writer (not started, restarting) groups in its own process as
before: the writer only makes the same work cheaper. A file already sent when the
writer goes away is answered 503 (its commit is unknown; sync clients send it again).

The socket is the data directory's (`run/vault-writer.sock`, mode 0600): only the
platform's own user reaches it, as it reaches the database.
"""

from __future__ import annotations

import json
import logging
import os
import selectors
import socket
import struct
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from django.core.exceptions import ValidationError
from django.db import connection, transaction

from clocher.accounts.models import User
from clocher.core.audit import Actor
from clocher.core.models import Commune
from clocher.core.supervisor import Child, run_socket
from clocher.storage.blobstore import local_store, store
from clocher.storage.blobstore.journal import (
    CHECKPOINT_SECONDS,
    Appended,
    ChunkJournal,
    JournalBusy,
)
from clocher.storage.blobstore.local import LocalStore
from clocher.storage.chunks import ChunkWriter
from clocher.vault import services
from clocher.vault.dav.lookups import FOLDER, MEMBERS, FolderRow
from clocher.vault.models import Node, Space

log = logging.getLogger(__name__)

# A frame: the lengths of its JSON header and of its payload (the sealed chunks, one
# after the other, as the header lists them), then both.
_LENGTHS = struct.Struct("!II")
MAX_FRAME = 16 << 20  # a small file is at most 1 MiB of chunks (`dav.flush.SMALL_BYTES`)
# After a failed connection a worker groups in its own process for this long before
# trying the writer again (not a connect() per upload while it is down).
RETRY_SECONDS = 1.0
ANSWER_TIMEOUT = 300.0
_ERRORS: dict[str, type[ValidationError]] = {
    "QuotaExceeded": services.QuotaExceeded,
    "NameConflict": services.NameConflict,
    "ValidationError": ValidationError,
}


class WriterGone(Exception):
    """The writer went away after the file was sent: its commit is unknown (503)."""


def socket_path() -> Path:
    return run_socket("vault-writer.sock")


def listening(path: Path) -> bool:
    """Whether a writer accepts connections on `path`."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(2)
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def writer_child() -> Child:
    import sys

    return Child("coffre (écritures)", [sys.executable, "-m", "clocher.cli", "vault", "writer"])


def _frame(header: dict[str, Any], payload: bytes = b"") -> bytes:
    encoded = json.dumps(header, separators=(",", ":")).encode()
    return _LENGTHS.pack(len(encoded), len(payload)) + encoded + payload


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        part = sock.recv(size - len(data))
        if not part:
            raise ConnectionError("connexion fermée par le processus d'écriture")
        data += part
    return bytes(data)


# ---------------------------------------------------------------------------------------
# The worker's side.


class _Client(threading.local):
    sock: socket.socket | None = None


_client = _Client()
_down_until = 0.0


def _connection() -> socket.socket | None:
    global _down_until
    if _client.sock is not None:
        return _client.sock
    if time.monotonic() < _down_until:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(ANSWER_TIMEOUT)
    try:
        sock.connect(str(socket_path()))
    except OSError:
        sock.close()
        _down_until = time.monotonic() + RETRY_SECONDS
        return None
    _client.sock = sock
    return sock


def reachable() -> bool:
    """Whether this thread may hand a file to the writer: connected, or not known to be
    down (a connect failed less than RETRY_SECONDS ago)."""
    return _client.sock is not None or time.monotonic() >= _down_until


def _drop() -> None:
    if _client.sock is not None:
        _client.sock.close()
        _client.sock = None


def _sent(frame: bytes) -> socket.socket | None:
    """The thread's connection to the writer with `frame` sent on it, or None without a
    writer. A connection that fails on sending is tried once afresh (a writer restarted
    since this thread's last upload: nothing of this one was sent)."""
    for attempt in (1, 2):
        sock = _connection()
        if sock is None:
            return None
        try:
            sock.sendall(frame)
            return sock
        except OSError as exc:
            _drop()
            if attempt == 2:
                raise WriterGone(str(exc)) from exc
    return None


@dataclass(frozen=True, slots=True)
class Written:
    """A file the writer committed: what the answer names of it (`OC-FileId`, ETags)."""

    pk: int
    etag: str


# Where the file's name stands in a `SmallFile.check`: after the person's access (five
# values and the space's id) and the locks' prefix, before the folders' names.
_NAME_AT = 7


@dataclass(frozen=True, slots=True)
class Declined:
    """A file sent with its `check` that the writer did not write: its folder as the
    check found it (the name taken, or the tree locked), or None (no such folder, or no
    access any more): the worker then goes the way it would have gone without."""

    found: FolderRow | None


@dataclass(frozen=True, slots=True)
class SmallFile:
    """A new small file as a worker hands it over: its space, its folder's chain from
    the space's root down (ids and names, as the worker's one statement read them), its
    clean name, its finished upload (chunks not yet stored), who sends it.

    Or, without the chain, its `check`: the arguments of `lookups.FOLDER.checked` (the
    person's access, the locks' prefix, the name as sent, the folders' names), which the
    writer runs for the files of its batch (« Thirteenth pass »): the file is written
    only where the worker's own statement would have let it through."""

    space: Space
    folders: Sequence[tuple[int, str]] | None
    name: str
    upload: ChunkWriter
    modified_at: datetime | None
    actor: Actor
    content_type: str
    check: Sequence[Any] | None = None


def submit(new: SmallFile, blobs: dict[str, bytes | bytearray]) -> Written | Declined | None:
    """`new` (its chunks `blobs` not yet stored) stored and committed by the writer: its
    id and ETag; Declined when its check let it not through (nothing of it stored); or
    None when there is no writer (the caller then does it in its process). Raises the
    file's own error (a quota, a name) as `save_file` would, and WriterGone."""
    sock = _sent(_frame(_request(new, blobs), b"".join(blobs.values())))
    if sock is None:
        return None
    try:
        head_size, _ = _LENGTHS.unpack(_read_exactly(sock, _LENGTHS.size))
        answer = json.loads(_read_exactly(sock, head_size))
    except (OSError, ValueError) as exc:
        _drop()
        raise WriterGone(str(exc)) from exc
    if "error" in answer:
        raise _ERRORS.get(answer["error"], ValidationError)(answer["message"])
    if "failure" in answer:
        raise RuntimeError(f"processus d'écriture du coffre : {answer['failure']}")
    if "declined" in answer:
        found = answer["declined"]
        if found is None:
            return Declined(None)
        chain = tuple((pk, name) for pk, name in found["chain"])
        return Declined(FolderRow(chain, found["member"], found["locked"]))
    return Written(answer["id"], answer["etag"])


def _request(new: SmallFile, blobs: dict[str, bytes | bytearray]) -> dict[str, Any]:
    """What the writer needs to commit `new` as `save_each` would in this process."""
    space, upload, actor = new.space, new.upload, new.actor
    commune = space.commune
    user = actor.user
    request = {
        "space": [space.pk, space.name, commune.pk, commune.insee, commune.name],
        "folders": new.folders,
        "name": new.name,
        "size": upload.size,
        "sha256": upload.sha256,
        "chunks": upload.chunks,
        "modified": new.modified_at.timestamp() if new.modified_at else None,
        "type": new.content_type,
        "actor": [user.pk if user else None, actor.display, actor.label, actor.ip],
        "blobs": [[key, len(data)] for key, data in blobs.items()],
    }
    if new.check is not None:
        request["check"] = list(new.check)
    return request


# ---------------------------------------------------------------------------------------
# The writer's side.


@dataclass
class _Received:
    """A worker's finished upload as the services read it (`ChunkWriter`'s attributes
    that saving uses; its chunks are already stored)."""

    commune: Commune
    size: int
    sha256: str
    chunks: list[tuple[str, int]]

    def finish(self, *, sync_directories: bool = True) -> None:
        """Finished in the worker."""


@dataclass
class _Pending:
    sock: socket.socket
    header: dict[str, Any]
    payload: bytes


class _Objects:
    """The objects the files' rows are built from (a space with its commune, each folder
    with its chain, a user), made once and kept across batches: making them for each
    batch was a sixteenth of the writer's CPU. Each is found by everything it is made
    of (ids, names, the objects above it), so a renamed folder or space is made afresh
    with what is below it."""

    LIMIT = 4096

    def __init__(self) -> None:
        self.spaces: dict[tuple[Any, ...], Space] = {}
        self.folders: dict[tuple[Any, ...], Node] = {}
        self.users: dict[tuple[Any, ...], User] = {}

    def new_file(self, header: dict[str, Any]) -> services.NewFile:
        if len(self.folders) + len(self.spaces) + len(self.users) > self.LIMIT:
            self.spaces, self.folders, self.users = {}, {}, {}
        made = tuple(header["space"])
        space = self.spaces.get(made)
        if space is None:
            space_id, space_name, commune_id, insee, commune_name = made
            commune = Commune(pk=commune_id, insee=insee, name=commune_name)
            space = self.spaces[made] = Space(pk=space_id, name=space_name, commune=commune)
        parent = None
        for pk, name in header["folders"]:
            key = (space.pk, parent.pk if parent is not None else None, pk, name)
            folder = self.folders.get(key)
            if folder is None or folder.space is not space or folder.parent is not parent:
                folder = self.folders[key] = Node(
                    pk=pk, space=space, parent=parent, name=name, is_folder=True
                )
            parent = folder
        assert parent is not None
        user_id, email, label, ip = header["actor"]
        user = None
        if user_id is not None:
            user = self.users.get((user_id, email))
            if user is None:
                user = self.users[(user_id, email)] = User(pk=user_id, email=email)
        modified = header["modified"]
        received = _Received(
            space.commune, header["size"], header["sha256"], [tuple(c) for c in header["chunks"]]
        )
        return services.NewFile(
            parent,
            header["name"],
            cast(ChunkWriter, received),
            datetime.fromtimestamp(modified, tz=UTC) if modified is not None else None,
            Actor(user=user, label=label, ip=ip),
            header["type"],
        )


_OBJECTS = _Objects()


def _answer(result: Node | Exception) -> dict[str, Any]:
    if isinstance(result, ValidationError):
        kind = type(result).__name__
        return {"error": kind if kind in _ERRORS else "ValidationError",
                "message": " ".join(result.messages)}  # fmt: skip
    if isinstance(result, Exception):
        return {"failure": type(result).__name__}
    return {"id": result.pk, "etag": result.etag}


def write(pending: list[_Pending], blobs: Any = None) -> list[dict[str, Any]]:
    """Everything received together: every chunk made durable at once (`blobs`, the
    writer's journal, else the store's `put_many`), the folders of the files sent with a
    check found (`_placed`), then each space's files kept committed. One answer per
    file, in order.

    With the journal, its sync runs while the folders are found and the rows written:
    they are committed in one transaction for the batch, once the sync is done (the
    chunks durable before any row names them, as with `put_many` first); the chunks of
    the files declined are left unnamed. Without it, only the files kept are stored."""
    if blobs is None:
        blobs = store()  # one with `put_many`: workers send only then (`fast._put`)
    appended: Appended | None = None
    if hasattr(blobs, "append"):
        try:
            appended = blobs.append(_chunks(pending))
        except Exception as exc:  # noqa: BLE001 - every file of the batch learns it
            return _failed(pending, exc, "stockage des blocs refusé")
    try:
        answers = _placed(pending)
    except Exception as exc:  # noqa: BLE001 - every file of the batch learns it
        if appended is not None:
            appended.abandon()
        connection.close()
        return _failed(pending, exc, "vérification refusée")
    kept = [index for index, answer in enumerate(answers) if answer is None]
    taken = [pending[index] for index in kept]
    unused = _keys(pending) - _keys(taken)  # the declined files' (and no kept file's)
    if not taken:
        if appended is not None:
            appended.abandon(unused)
        written = []
    elif appended is None:
        written = _stored_and_saved(taken, blobs)
    else:
        written = _saved_after(taken, appended, unused)
    for index, answer in zip(kept, written, strict=True):
        answers[index] = answer
    return cast(list[dict[str, Any]], answers)


def _chunks(pending: list[_Pending]) -> list[tuple[str, bytes]]:
    """The files' chunks (key, sealed content), as their frames carry them."""
    chunks: list[tuple[str, bytes]] = []
    for one in pending:
        offset = 0
        for key, size in one.header["blobs"]:
            chunks.append((key, one.payload[offset : offset + size]))
            offset += size
    return chunks


def _keys(pending: list[_Pending]) -> set[str]:
    return {key for one in pending for key, _ in one.header["blobs"]}


def _placed(pending: list[_Pending]) -> list[dict[str, Any] | None]:
    """The folder of each file sent with a check (`SmallFile.check`), found by the
    statement the worker would have run (`lookups.FOLDER.checked`: the access, the
    chain, the locks, the name's member), once for the files of one folder and person,
    with one more statement for their other names (`lookups.MEMBERS`). A file found
    writable gets its chain (None here); any other its Declined answer."""
    answers: list[dict[str, Any] | None] = [None] * len(pending)
    groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for index, one in enumerate(pending):
        check = one.header.get("check")
        if check is not None:  # the name aside: the rest is the folder's
            groups[(*check[:_NAME_AT], *check[_NAME_AT + 1 :])].append(index)
    for indexes in groups.values():
        first = pending[indexes[0]].header["check"]
        rows = FOLDER.checked.rows(*first)
        if not rows:
            for index in indexes:
                answers[index] = {"declined": None}
            continue
        # The levels: the folders named after the name, and the space's root.
        found = FolderRow.read(rows[0], len(first) - _NAME_AT)
        names = [pending[index].header["check"][_NAME_AT] for index in indexes]
        members = {names[0]: found.member_is_folder}
        others = sorted(set(names) - set(members))
        if others and not found.locked:
            members.update(MEMBERS.rows(found.chain[-1][0], *others))
        for index, name in zip(indexes, names, strict=True):
            member = members.get(name)
            if found.locked or member is not None:
                answers[index] = {"declined": {"chain": found.chain, "member": member,
                                               "locked": found.locked}}  # fmt: skip
            else:
                pending[index].header["folders"] = found.chain
    return answers


def _stored_and_saved(pending: list[_Pending], blobs: Any) -> list[dict[str, Any]]:
    """`write` without a journal, for the files it keeps: their chunks stored first."""
    chunks = _chunks(pending)
    try:
        if chunks:
            blobs.put_many(chunks)
    except Exception as exc:  # noqa: BLE001 - every file of the batch learns it
        return _failed(pending, exc, "stockage des blocs refusé")
    return _saved_after(pending, None, set())


def _saved_after(
    pending: list[_Pending], appended: Appended | None, unused: set[str]
) -> list[dict[str, Any]]:
    """The files' rows written, and committed once their chunks are durable (`appended`
    waited for: a failed sync commits nothing; the `unused` chunks left unnamed)."""
    try:
        files = [_OBJECTS.new_file(one.header) for one in pending]
        try:
            with transaction.atomic():
                answers = _saved_together(files)
                if appended is not None:
                    appended.wait(unused)  # before the commit
        except _Refused:  # rolled back whole: each space on its own (its savepoint)
            with transaction.atomic():
                answers = _saved(files)
                if appended is not None:
                    appended.wait(unused)
    except Exception as exc:  # noqa: BLE001 - every file of the batch learns it
        if appended is not None:
            appended.abandon(unused)
        connection.close()  # a broken connection is opened afresh for the next
        return _failed(pending, exc, "enregistrement refusé")
    return answers


class _Refused(Exception):
    """A space's files could not be added together (`_saved_together`)."""


def _failed(pending: list[_Pending], exc: Exception, what: str) -> list[dict[str, Any]]:
    log.error("coffre : %s", what, exc_info=exc)
    return [{"failure": type(exc).__name__}] * len(pending)


def _spaces_locked(files: list[services.NewFile]) -> list[list[int]]:
    """The files' indexes, space by space; with files of several spaces, their folders
    locked first, all at once (`services.lock_chains`), for the spaces are then written
    one after the other (counters and journal each), and an upload into a later space
    holding its folders would wait on the journal held since an earlier one."""
    by_space: dict[int, list[int]] = defaultdict(list)
    for index, new in enumerate(files):
        by_space[new.parent.space.pk].append(index)
    if len(by_space) > 1:
        services.lock_chains(new.parent for new in files)
    return list(by_space.values())


def _saved_together(files: list[services.NewFile]) -> list[dict[str, Any]]:
    """Each space's files added as a whole (`services.save_together`), with no savepoint
    (two round trips to PostgreSQL each): the common case, where every group fits. Any
    error raises _Refused, and the caller rolls the transaction back whole."""
    answers: list[dict[str, Any]] = [{}] * len(files)
    try:
        for indexes in _spaces_locked(files):
            added = services.save_together([files[i] for i in indexes], savepoint=False)
            for index, node in zip(indexes, added, strict=True):
                answers[index] = _answer(node)
    except Exception as exc:
        raise _Refused from exc
    return answers


def _saved(files: list[services.NewFile]) -> list[dict[str, Any]]:
    """Each space's files saved (`services.save_each`: together, else one by one),
    within the caller's transaction; a space whose statements fail is rolled back alone
    (a savepoint), its files answered so."""
    answers: list[dict[str, Any]] = [{}] * len(files)
    for indexes in _spaces_locked(files):
        try:
            with transaction.atomic():
                results: list[Node | Exception] = services.save_each([files[i] for i in indexes])
        except Exception as exc:  # noqa: BLE001 - the space's files learn it
            log.exception("coffre : enregistrement refusé")
            results = [exc] * len(indexes)
        for index, result in zip(indexes, results, strict=True):
            answers[index] = _answer(result)
    return answers


class Writer:
    """The loop: whatever every worker sent meanwhile, written at once (`write`).

    The chunks go through a journal (`ChunkJournal`: one append and one `fdatasync` a
    batch, where the store's `put_many` flushed the file system twice), replayed here
    before anything is accepted, and checkpointed when the writer has nothing to do or
    the journal is big or old enough."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # The local store's journal is replayed whatever the backend (one switched to
        # S3 since the crash still copies its local chunks), kept for the local one.
        self.journal: ChunkJournal | None = ChunkJournal(local_store())
        replayed = self.journal.replay()
        if replayed:
            log.warning("coffre : %d blocs réécrits depuis le journal", replayed)
        if not isinstance(store(), LocalStore):
            self.journal.close()
            self.journal = None
        self.selector = selectors.DefaultSelector()
        self.buffers: dict[socket.socket, bytearray] = {}
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        path.parent.mkdir(parents=True, exist_ok=True)
        aside = path.with_name(path.name + ".new")
        aside.unlink(missing_ok=True)
        self.listener.bind(str(aside))
        os.chmod(aside, 0o600)
        os.replace(aside, path)  # a worker never meets a half-made socket
        self.listener.listen(256)
        self.listener.setblocking(False)
        self.selector.register(self.listener, selectors.EVENT_READ)

    def close(self) -> None:
        for sock in list(self.buffers):
            self._forget(sock)
        self.selector.close()
        self.listener.close()
        if self.journal is not None:
            self.journal.checkpoint()
            self.journal.close()

    def _forget(self, sock: socket.socket) -> None:
        self.selector.unregister(sock)
        self.buffers.pop(sock, None)
        sock.close()

    def step(self, timeout: float | None = None) -> int:
        """Wait for requests, write all those received; how many were written."""
        pending: list[_Pending] = []
        events = self.selector.select(timeout)
        if not events and self.journal is not None:
            self.journal.checkpoint()  # idle: the chunk files synced meanwhile
        for key, _ in events:
            sock = cast(socket.socket, key.fileobj)
            if sock is self.listener:
                self._accept()
            else:
                self._receive(sock, pending)
        if not pending:
            return 0
        for one, answer in zip(pending, write(pending, self.journal), strict=True):
            try:
                one.sock.sendall(_frame(answer))
            except OSError:  # the worker went away; its request is answered nowhere
                if one.sock in self.buffers:
                    self._forget(one.sock)
        if self.journal is not None and self.journal.due():
            self.journal.checkpoint()  # after the answers: they do not wait for it
        return len(pending)

    def _accept(self) -> None:
        try:
            sock, _ = self.listener.accept()
        except BlockingIOError:
            return
        sock.setblocking(False)
        self.buffers[sock] = bytearray()
        self.selector.register(sock, selectors.EVENT_READ)

    def _receive(self, sock: socket.socket, pending: list[_Pending]) -> None:
        buffer = self.buffers[sock]
        try:
            data = sock.recv(1 << 20)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._forget(sock)
            return
        buffer += data
        while len(buffer) >= _LENGTHS.size:
            head_size, payload_size = _LENGTHS.unpack_from(buffer)
            end = _LENGTHS.size + head_size + payload_size
            if head_size + payload_size > MAX_FRAME:
                log.warning("coffre : trame trop grande, connexion fermée")
                self._forget(sock)
                return
            if len(buffer) < end:
                return
            header = json.loads(bytes(buffer[_LENGTHS.size : _LENGTHS.size + head_size]))
            pending.append(_Pending(sock, header, bytes(buffer[end - payload_size : end])))
            del buffer[:end]


def serve(path: Path | None = None) -> None:
    """Run the writer until the process is stopped. Another writer on the same data
    (one left running by a killed `clocher serve`) holds the journal: this one stops
    with that said, and its supervisor tries again later."""
    try:
        writer = Writer(path or socket_path())
    except JournalBusy as exc:
        raise SystemExit(f"coffre : un autre processus d'écriture tourne ({exc})") from None
    try:
        while True:
            writer.step(timeout=CHECKPOINT_SECONDS)
    finally:
        writer.close()
