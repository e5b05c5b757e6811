"""GET and PUT of a plain file, answered before WsgiDAV (docs/performance.md, issue 14).

Sync clients move files one small request at a time, and WsgiDAV's generic machinery
(a resource object per path level, property and lock lookups, If-header evaluation) cost
several milliseconds of CPU per request, as much again as Django compiling the same few
queries each time. The simple cases are answered here: a GET or a PUT of a file path
with a remembered login, no lock, condition, range or encoding header. The database is
asked one question, its SQL compiled once per process (`core.prepared.Prepared`): the
file with its chunks (GET), or its folder with the locks (PUT), in a statement that also
checks the access (`_access`: the app password still valid, the account active, the
space still the person's under the protocol rule of `core.scoping`, with the same name):
a revocation or a cut bites at the next request. The person's spaces, which name the
space from the path, are read once every PERSON_SECONDS, and afresh whenever that
statement finds nothing. The content goes through the same services as WsgiDAV's path
(`ChunkWriter`, `services.save_file`), so quotas, journal and durability are theirs.

Anything else goes to WsgiDAV unchanged: an unknown or failed login (it verifies, counts
the attempt and answers 401), a missing file or folder (its 404 and 409), a folder, a
locked tree, and every header this path does not read.
"""

from __future__ import annotations

import base64
import binascii
import math
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from wsgidav import util
from wsgidav.dav_error import HTTP_SERVICE_UNAVAILABLE, DAVError

from clocher.accounts.models import AppPassword, User
from clocher.core.audit import Actor
from clocher.core.models import Commune
from clocher.core.prepared import Prepared
from clocher.core.scoping import protocol_communes
from clocher.storage import crypto
from clocher.storage.blobstore import store
from clocher.storage.chunks import ChunkWriter
from clocher.vault import services
from clocher.vault.dav import auth, writer
from clocher.vault.dav.flush import COMMITS, SMALL_BYTES, GroupSink
from clocher.vault.dav.provider import _client_mtime, _dav_error, mime_type
from clocher.vault.dav.store import locks_prefix
from clocher.vault.models import DavEntry, Node, Space
from clocher.vault.services.spaces import spaces_query

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


_SPACES = Prepared(_spaces_query)


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
class _Query:
    """A query of a space's rows (the space's id its first argument), and the same with
    the person's access checked in it (`_access`'s arguments before the space's id)."""

    plain: Prepared
    checked: Prepared


def _query(build: Callable[..., QuerySet[Any]]) -> _Query:
    def checked(
        password_id: int, user_id: int, email: str, space: str, commune: str, space_id: int,
        *rest: Any,
    ) -> QuerySet[Any]:  # fmt: skip
        access = _access(password_id, user_id, email, space_id, space, commune)
        return build(space_id, *rest).filter(access)

    return _Query(Prepared(build), Prepared(checked))


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


_FILES = _query(_file_query)


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
    rows = _SPACES.rows(*remembered)
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

    def rows(
        self, login: str, label: str, query: _Query, *args: Any
    ) -> tuple[Space, list[Any]] | None:
        """The space at `label` of the person logged in as `login`, and `query`'s rows
        for it; None when the person has no such space. With a person read earlier,
        the statement checks the access too, and finding nothing it is asked again
        once the person is read afresh (a space renamed, a cut: WsgiDAV answers)."""
        while True:
            space = None
            if login.lower() == (self.person.user.email or "").lower():
                space = self.person.spaces.get(label)
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
    found = request.rows(*top, _FILES, *names)
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


_FOLDER = _query(_folder_query)
_CHAIN_FIELDS = ["id", "space_id", "parent_id", "name", "is_folder"]


@dataclass(frozen=True, slots=True)
class _Folder:
    """The folder a PUT writes into, as its one statement read it."""

    space: Space
    chain: tuple[tuple[int, str], ...]  # (id, name) of each folder, the space's root first
    member_is_folder: bool | None  # whether the file's name is a folder (None: no member)
    locked: bool  # whether the person's tree holds a lock

    def node(self) -> Node:
        """The folder with its chain to the root loaded (paths and ETag updates need no
        read), for the services; the writer is sent the chain itself."""
        alias = connection.alias
        folder: Node | None = None
        for pk, label in self.chain:
            above = folder.pk if folder is not None else None
            node = Node.from_db(alias, _CHAIN_FIELDS, [pk, self.space.pk, above, label, True])
            node.space, node.parent = self.space, folder
            folder = node
        assert folder is not None
        return folder


def _folder(request: _Request, top: tuple[str, str], names: list[str]) -> _Folder | None:
    """The folder of the file at `names` below the space at `top`; None when there is no
    such folder."""
    # The locks of the person's tree: their keys start with the quoted login's root.
    locks = locks_prefix(quote(f"{PREFIX}/{top[0]}"))
    found = request.rows(*top, _FOLDER, locks, names[-1], *names[:-1])
    if found is None or not found[1]:
        return None
    space, (row, *_) = found
    depth = len(names)
    chain = tuple(zip(reversed(row[:depth]), reversed(row[depth : 2 * depth]), strict=True))
    return _Folder(space, chain, row[-2], bool(row[-1]))


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
    if mtime is not None and not mtime.isdigit():
        return None  # WsgiDAV's 400
    folder = _folder(request, top, names)
    if folder is None:
        return None  # 409
    if folder.member_is_folder:
        return None  # 405
    if folder.locked:
        return None  # WsgiDAV checks the person's locks (423 without their token)
    space, user = folder.space, request.person.user
    exists = folder.member_is_folder is not None
    blobs = store()
    small = length <= SMALL_BYTES and hasattr(blobs, "put_many")
    sink = GroupSink(blobs) if small else None
    upload = ChunkWriter(space.commune, blobs=sink)
    try:
        stream = environ["wsgi.input"]
        remaining = length
        while remaining > 0:
            data = stream.read(min(BLOCK, remaining))
            if not data:
                break
            remaining -= len(data)
            upload.write(data)
        if remaining:
            raise ValueError("corps de requête incomplet")
        actor = Actor(user=user, label=user.email, ip=environ.get("REMOTE_ADDR", ""))
        content_type = environ.get("CONTENT_TYPE") or ""
        if sink is not None and not exists:
            # A new small file: stored and committed with those of the space that wait
            # meanwhile, by one of them (`_stored_and_saved`).
            name = services.clean_name(names[-1])
            upload.finish(sync_directories=False)
            modified = _client_mtime(environ)
            new = writer.SmallFile(space, folder.chain, name, upload, modified, actor, content_type)
            # The writer process's (`dav.writer`), or this process's when it has none.
            saved = writer.submit(new, sink.pending) or _saved_here(sink, folder, new)
        else:
            saved = services.save_file(
                actor, folder.node(), names[-1], upload, content_type,
                modified_at=_client_mtime(environ),
            )  # fmt: skip
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
    environ["wsgidav.all_input_read"] = 1
    environ["clocher.written"] = saved
    if mtime is not None:
        environ["clocher.mtime_accepted"] = True
    return _written(start_response, exists, saved.etag)
