"""GET and PUT of a plain file, answered before WsgiDAV (docs/performance.md, issue 14).

Sync clients move files one small request at a time, and WsgiDAV's generic machinery
(a resource object per path level, property and lock lookups, If-header evaluation) cost
several milliseconds of CPU per request, as much again as Django compiling the same few
queries each time. The simple cases are answered here: a GET or a PUT of a file path
with a remembered login, no lock, condition, range or encoding header. The database is
asked one question, its SQL compiled once per process (`dav.lookups`): the file with its
chunks (GET), or its folder with the locks (PUT), in a statement that also checks the
access (the app password still valid, the account active, the space still the person's
under the protocol rule of `core.scoping`, with the same name): a revocation or a cut
bites at the next request. A new small file is handed to the writer process with that
question, which it asks for its whole batch (`dav.writer`), and comes back here when the
answer is not a new name in a folder of the person's. The person's spaces, which name
the space from the path, are read once every PERSON_SECONDS, and afresh whenever that
statement finds nothing. The content goes through the same services as WsgiDAV's path
(`ChunkWriter`, `services.save_file`), so quotas, journal and durability are theirs.

Anything else goes to WsgiDAV unchanged: an unknown or failed login (it verifies, counts
the attempt and answers 401), a missing file or folder (its 404 and 409), a folder, a
locked tree, and every header this path does not read.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from django.core.exceptions import ValidationError
from django.db import connection
from wsgidav import util
from wsgidav.dav_error import HTTP_SERVICE_UNAVAILABLE, DAVError

from clocher.accounts.models import User
from clocher.core.audit import Actor
from clocher.core.models import Commune
from clocher.storage import crypto
from clocher.storage.blobstore import store
from clocher.storage.chunks import ChunkWriter
from clocher.vault import services
from clocher.vault.dav import auth, writer
from clocher.vault.dav.flush import COMMITS, SMALL_BYTES, GroupSink
from clocher.vault.dav.lookups import (
    COMMUNE_FIELDS,
    FILES,
    FOLDER,
    SPACE_FIELDS,
    SPACES,
    FolderRow,
    Query,
)
from clocher.vault.dav.provider import LAST_MTIME, _client_mtime, _dav_error, mime_type
from clocher.vault.dav.store import locks_prefix
from clocher.vault.models import Node, Space

# Set to False (tests only) to compare with WsgiDAV's own answers.
ENABLED = True
PREFIX = "/remote.php/dav/files"
# Headers whose meaning this path does not implement: WsgiDAV answers them.
DEFERRED = (
    "HTTP_IF",
    "HTTP_IF_MATCH",
    "HTTP_IF_NONE_MATCH",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_IF_UNMODIFIED_SINCE",
    "HTTP_IF_RANGE",
    "HTTP_RANGE",
    "HTTP_CONTENT_RANGE",
    "HTTP_CONTENT_ENCODING",
    "HTTP_LOCK_TOKEN",
    "HTTP_DEPTH",
)
BLOCK = 1 << 20
MAX_DEPTH = 12  # path levels below a space answered here (one compiled query per depth)


# Header dates by whole second: each GET formatted two (`email.utils.formatdate`, a few
# percent of its CPU) for values that repeat (the current second, a file's time).
_http_dates: dict[int, str] = {}


def _http_date(seconds: float | None = None) -> str:
    whole = math.floor(time.time() if seconds is None else seconds)
    text = _http_dates.get(whole)
    if text is None:
        if len(_http_dates) >= 4096:
            _http_dates.clear()
        text = _http_dates[whole] = util.get_rfc1123_time(whole)
    return text


@dataclass(slots=True)
class Person:
    ids: tuple[int, int]  # the app password's and the account's
    user: User
    spaces: dict[str, Space]
    read_at: float  # `time.monotonic()` when its spaces were read


def _login(environ: dict[str, Any]) -> tuple[str, str] | None:
    header = environ.get("HTTP_AUTHORIZATION", "")
    if header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    login, sep, password = decoded.partition(":")
    return (login, password) if sep else None


# How long the spaces read for a login name the spaces of its requests. Reading them cost
# two thirds of a small GET's queries; what they grant is checked again in every
# request's own statement (`_access`), so this only delays a new label: a space renamed
# or no longer the person's is refused at once, and its new name read then.
PERSON_SECONDS = 10.0
# People by their remembered login's ids: GET and PUT read them and change none (they
# are shared by the worker's threads).
_PEOPLE: dict[tuple[int, int], Person] = {}


def _request(environ: dict[str, Any]) -> _Request | None:
    """The request's person, its spaces read within PERSON_SECONDS (else now), or None
    for a login not remembered or without spaces (WsgiDAV then verifies)."""
    pair = _login(environ)
    if pair is None:
        return None
    remembered = auth.remembered_ids(*pair)
    if remembered is None:
        return None
    known = _PEOPLE.get(remembered)
    if known is not None and time.monotonic() - known.read_at < PERSON_SECONDS:
        return _Request(known, fresh=False)
    person = _read_person(remembered)
    return None if person is None else _Request(person, fresh=True)


def _read_person(remembered: tuple[int, int]) -> Person | None:
    """The person holding the app password and account `remembered`, their spaces read
    now (and remembered), or None when the password opens no space any more."""
    read_at = time.monotonic()
    rows = SPACES.rows(*remembered)
    if not rows:
        _PEOPLE.pop(remembered, None)
        return None
    if len(_PEOPLE) >= 1024:
        _PEOPLE.clear()
    person = _PEOPLE[remembered] = _build_person(remembered, rows, read_at)
    return person


def _build_person(remembered: tuple[int, int], rows: list[Any], read_at: float) -> Person:
    alias = connection.alias
    width = len(SPACE_FIELDS)
    user = User.from_db(alias, ["id", "email", "is_active"], [remembered[1], rows[0][-1], True])
    communes: dict[int, Commune] = {}
    spaces = []
    for row in rows:
        commune_id = row[SPACE_FIELDS.index("commune_id")]
        commune = communes.get(commune_id)
        if commune is None:
            values = list(row[width : width + len(COMMUNE_FIELDS)])
            commune = communes[commune_id] = Commune.from_db(alias, COMMUNE_FIELDS, values)
        space = Space.from_db(alias, SPACE_FIELDS, list(row[:width]))
        space.commune = commune
        spaces.append(space)
    several = len(communes) > 1
    labels = {services.space_label(s, several): s for s in spaces}
    return Person(remembered, user, labels, read_at)


@dataclass(slots=True)
class _Request:
    """A request's person, and the rows of the space its path names."""

    person: Person
    fresh: bool  # its spaces read for this request: no need to check them again

    def space(self, login: str, label: str) -> Space | None:
        """The space at `label` of the person logged in as `login`, as last read."""
        if login.lower() != (self.person.user.email or "").lower():
            return None
        return self.person.spaces.get(label)

    def rows(
        self, login: str, label: str, query: Query, *args: Any
    ) -> tuple[Space, list[Any]] | None:
        """The space at `label` of the person logged in as `login`, and `query`'s rows
        for it; None when the person has no such space. With a person read earlier,
        the statement checks the access too, and finding nothing it is asked again
        once the person is read afresh (a space renamed, a cut: WsgiDAV answers)."""
        while True:
            space = self.space(login, label)
            if space is not None:
                if self.fresh:
                    return space, query.plain.rows(space.pk, *args)
                user = self.person.user
                rows = query.checked.rows(
                    *self.person.ids, user.email or "", space.name, space.commune.name,
                    space.pk, *args,
                )  # fmt: skip
                if rows:
                    return space, rows
            if self.fresh:
                return None
            person = _read_person(self.person.ids)
            if person is None:
                return None
            self.person, self.fresh = person, True


def _target(environ: dict[str, Any]) -> tuple[str, list[str]] | None:
    """The path below the DAV prefix and its segments, when it is a plain file path
    (login, space, at least one name; nothing WsgiDAV would normalise)."""
    try:
        path = util.re_encode_wsgi(environ.get("PATH_INFO", ""))[len(PREFIX) :]
    except UnicodeError:
        return None
    parts = path.split("/")[1:]
    if len(parts) < 3 or len(parts) - 2 > MAX_DEPTH or "" in parts:
        return None
    if any(p in (".", "..") for p in parts):
        return None
    return path, parts


def answer(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes] | None:
    """The answer to a simple GET or PUT, or None for WsgiDAV to answer."""
    method = environ.get("REQUEST_METHOD")
    if not ENABLED or method not in ("GET", "PUT") or any(h in environ for h in DEFERRED):
        return None
    target = _target(environ)
    if target is None:
        return None
    path, parts = target
    request = _request(environ)
    if request is None:
        return None
    names = [unicodedata.normalize("NFC", n) for n in parts[2:]]
    if method == "GET":
        return _get(environ, start_response, path, request, (parts[0], parts[1]), names)
    return _put(environ, start_response, request, (parts[0], parts[1]), names)


def _get(
    environ: dict[str, Any],
    start_response: Callable[..., Any],
    path: str,
    request: _Request,
    top: tuple[str, str],
    names: list[str],
) -> Iterable[bytes] | None:
    if environ.get("CONTENT_LENGTH") not in (None, "", "0"):
        return None  # WsgiDAV's 415
    found = request.rows(*top, FILES, *names)
    if found is None:
        return None
    space, rows = found
    if not rows or rows[0][1] or rows[0][6] is None:
        return None  # missing (404), a folder (403), no content yet
    _, _, size, content_type, etag, modified, _, _, digest = rows[0]
    commune = space.commune
    chunks = [row[8] for row in rows if row[8] is not None]
    key = crypto.data_key(commune)
    blobs = store()

    def plain(digest: str) -> bytes:
        return crypto.open_sealed(key, commune.pk, digest, blobs.get(f"{commune.pk}/{digest}"))

    first = plain(chunks[0]) if chunks else b""  # a missing blob fails before the 200
    modified_at = modified.timestamp() if modified else -1
    start_response(
        "200 OK",
        [
            ("Content-Length", str(size)),
            ("Last-Modified", _http_date(modified_at)),
            ("Content-Type", content_type or mime_type(path)),
            ("Date", _http_date()),
            ("ETag", f'"{etag}"'),
            ("Accept-Ranges", "bytes"),
        ],
    )
    if len(chunks) <= 1:
        return [first]

    def rest() -> Iterator[bytes]:
        yield first
        for digest in chunks[1:]:
            yield plain(digest)

    return rest()


_CHAIN_FIELDS = ["id", "space_id", "parent_id", "name", "is_folder"]


@dataclass(frozen=True, slots=True)
class _Folder:
    """The folder a PUT writes into, as its one statement (this worker's, or the
    writer's check) read it."""

    space: Space
    found: FolderRow

    def node(self) -> Node:
        """The folder with its chain to the root loaded (paths and ETag updates need no
        read), for the services; the writer is sent the chain itself."""
        alias = connection.alias
        folder: Node | None = None
        for pk, label in self.found.chain:
            above = folder.pk if folder is not None else None
            node = Node.from_db(alias, _CHAIN_FIELDS, [pk, self.space.pk, above, label, True])
            node.space, node.parent = self.space, folder
            folder = node
        assert folder is not None
        return folder

    @property
    def takes_file(self) -> bool:
        """Whether this path writes the file: else WsgiDAV answers (405 for a folder of
        that name, 423 for a locked tree without its token)."""
        return not self.found.member_is_folder and not self.found.locked


def _locks(top: tuple[str, str]) -> str:
    """The prefix of the keys of the person's locks: the quoted login's root."""
    return locks_prefix(quote(f"{PREFIX}/{top[0]}"))


def _folder(request: _Request, top: tuple[str, str], names: list[str]) -> _Folder | None:
    """The folder of the file at `names` below the space at `top`; None when there is no
    such folder."""
    found = request.rows(*top, FOLDER, _locks(top), names[-1], *names[:-1])
    if found is None or not found[1]:
        return None
    space, (row, *_) = found
    return _Folder(space, FolderRow.read(row, len(names)))


def _stored_and_saved(group: list[tuple[GroupSink, services.NewFile]]) -> list[Any]:
    """The chunks of a group of new small files made durable with one flush (the store's
    `put_many`), then their rows committed in one transaction (`services.save_each`).
    One step, not two groups in a row: the requests leaving a shared flush reached the
    next group one by one (measured: groups of one file)."""
    chunks = [pair for sink, _ in group for pair in sink.pending.items()]
    if chunks:
        group[0][0].blobs.put_many(chunks)
    return services.save_each([new for _, new in group])


_CREATED_PAGE = (
    b"<!DOCTYPE html><html><head><title>201 Created</title></head>"
    b"<body><h1>201 Created</h1></body></html>"
)
_CREATED_HEADERS = (
    ("Content-Type", "text/html; charset=utf-8"),
    ("Content-Length", str(len(_CREATED_PAGE))),
)


def _written(start_response: Callable[..., Any], exists: bool, etag: str) -> list[bytes]:
    """A PUT's answer: 204 without a body, or 201 with a page as WsgiDAV's (made once:
    building WsgiDAV's cost a tenth of the request's CPU)."""
    tail = [("Date", _http_date()), ("ETag", f'"{etag}"')]
    if exists:
        start_response("204 No Content", [("Content-Length", "0"), *tail])
        return [b""]
    start_response("201 Created", [*_CREATED_HEADERS, *tail])
    return [_CREATED_PAGE]


def _saved_here(sink: GroupSink, folder: _Folder, small: writer.SmallFile) -> Node:
    """A new small file stored and committed in this process, with those of its space
    that wait meanwhile (`_stored_and_saved`), when there is no writer."""
    new = services.NewFile(
        folder.node(), small.name, small.upload, small.modified_at, small.actor,
        small.content_type,
    )  # fmt: skip
    saved: Node = COMMITS.submit(folder.space.pk, (sink, new), _stored_and_saved)
    return saved


def _received(
    environ: dict[str, Any], length: int, upload: ChunkWriter, *, keep: bool
) -> list[bytes]:
    """The request's body written into `upload`; with `keep`, its blocks as read (a
    small file read before its folder: WsgiDAV gets them when it is not this path's)."""
    stream, blocks, remaining = environ["wsgi.input"], [], length
    while remaining > 0:
        data = stream.read(min(BLOCK, remaining))
        if not data:
            break
        remaining -= len(data)
        upload.write(data)
        if keep:
            blocks.append(data)
    if remaining:
        raise ValueError("corps de requête incomplet")
    return blocks


@dataclass(slots=True)
class _Put:
    """A PUT's file once its body is read: what saving it needs."""

    space: Space
    names: list[str]
    upload: ChunkWriter
    sink: GroupSink | None
    actor: Actor
    content_type: str
    modified_at: datetime | None

    def small(
        self, folders: tuple[tuple[int, str], ...] | None, check: Sequence[Any] | None = None
    ) -> writer.SmallFile:
        """The new small file for the writer (its chain, or its check)."""
        self.upload.finish(sync_directories=False)
        name = services.clean_name(self.names[-1])
        return writer.SmallFile(
            self.space, folders, name, self.upload, self.modified_at, self.actor,
            self.content_type, check,
        )  # fmt: skip


def _checked_by_writer(
    request: _Request, top: tuple[str, str], put: _Put
) -> writer.Written | writer.Declined | None:
    """A new small file handed to the writer before its folder is read: the writer runs
    the folder's statement (the access checked in it) for its whole batch, where each
    worker ran one for each file with cold caches (« Thirteenth pass »). None when there
    is no writer, or the name is not one a file may have (the usual way then answers)."""
    person, space = request.person, put.space
    check = (
        *person.ids, person.user.email or "", space.name, space.commune.name, space.pk,
        _locks(top), put.names[-1], *put.names[:-1],
    )  # fmt: skip
    try:
        new = put.small(None, check)
    except ValidationError:
        return None
    assert put.sink is not None
    return writer.submit(new, put.sink.pending)


def _saved(
    request: _Request, top: tuple[str, str], put: _Put, folder: _Folder | None
) -> tuple[writer.Written | Node, bool] | None:
    """The file saved, and whether it replaced one (204, else 201); None for WsgiDAV to
    answer. A new small file goes to the writer (its check, without `folder`, read by
    nobody yet), else is saved by this process."""
    sink = put.sink
    if folder is None:
        outcome = _checked_by_writer(request, top, put)
        if isinstance(outcome, writer.Written):
            return outcome, False
        if isinstance(outcome, writer.Declined) and outcome.found is not None:
            folder = _Folder(put.space, outcome.found)
        else:
            folder = _folder(request, top, put.names)
        # Not the space the body was sealed for (its label given to another since the
        # person was read): WsgiDAV reads it again.
        if folder is None or not folder.takes_file or folder.space.pk != put.space.pk:
            return None
    exists = folder.found.member_is_folder is not None
    if sink is not None and not exists:
        # A new small file: stored and committed with those of the space that wait
        # meanwhile (the writer process's `dav.writer`, or this process's).
        new = put.small(folder.found.chain)
        written = writer.submit(new, sink.pending)
        assert not isinstance(written, writer.Declined)  # sent with its chain: no check
        return written or _saved_here(sink, folder, new), False
    if sink is not None and sink.pending:  # read (and finished) for the writer's check
        sink.sync_directories(put.upload.stored_keys)
    saved = services.save_file(
        put.actor, folder.node(), put.names[-1], put.upload, put.content_type,
        modified_at=put.modified_at,
    )  # fmt: skip
    return saved, exists


def _put(
    environ: dict[str, Any],
    start_response: Callable[..., Any],
    request: _Request,
    top: tuple[str, str],
    names: list[str],
) -> Iterable[bytes] | None:
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return None
    try:
        length = int(environ.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
    mtime = environ.get("HTTP_X_OC_MTIME")
    if mtime is not None and (not mtime.isdigit() or int(mtime) > LAST_MTIME):
        return None  # WsgiDAV's 400
    blobs = store()
    small = length <= SMALL_BYTES and hasattr(blobs, "put_many")
    # A small file goes to the writer before its folder is read (it reads it), in a
    # space of the person's as last read; anything else finds its folder first, so
    # that a missing one is answered before the body is read.
    folder = None
    space = request.space(*top) if small and writer.reachable() else None
    if space is None:
        folder = _folder(request, top, names)
        if folder is None or not folder.takes_file:
            return None  # WsgiDAV's 409, 405 or its locks
        space = folder.space
    sink = GroupSink(blobs) if small else None
    upload = ChunkWriter(space.commune, blobs=sink)
    try:
        blocks = _received(environ, length, upload, keep=folder is None)
        user = request.person.user
        actor = Actor(user=user, label=user.email, ip=environ.get("REMOTE_ADDR", ""))
        content_type = environ.get("CONTENT_TYPE") or ""
        put = _Put(space, names, upload, sink, actor, content_type, _client_mtime(environ))
        outcome = _saved(request, top, put, folder)
        if outcome is None:  # not this path's: WsgiDAV reads the body as it came
            upload.discard()
            environ["wsgi.input"] = io.BytesIO(b"".join(blocks))
            return None
    except ValidationError as exc:
        upload.discard()
        return util.send_status_response(environ, start_response, _dav_error(exc))
    except writer.WriterGone:
        upload.discard()
        gone = DAVError(
            HTTP_SERVICE_UNAVAILABLE, "Processus d'écriture du coffre perdu : renvoyez."
        )
        return util.send_status_response(environ, start_response, gone)
    except BaseException:
        upload.discard()
        raise
    saved, exists = outcome
    environ["wsgidav.all_input_read"] = 1
    environ["clocher.written"] = saved
    if mtime is not None:
        environ["clocher.mtime_accepted"] = True
    return _written(start_response, exists, saved.etag)
