"""PROPFIND of a folder (Depth 0 or 1) answered from two queries and written out as text.

WsgiDAV builds a resource object per member, asks each for each property through its
generic machinery, then an lxml tree of the whole answer: about 0.1 ms per member and
property, which made a 10,000-entry folder several times slower than a plain file
server. Sync clients list folders all the time, so this path answers the common requests
(allprop, and prop lists, Nextcloud's `oc:`/`nc:` properties included) straight from one
query of the members and one of their dead properties, with the same values WsgiDAV
gives (`tests/vault/test_propfind.py` compares both answers).

It also answers `<propname/>` (RFC 4918 §9.1), which WsgiDAV 4.4 mistakes for an
unknown element. A file is answered the same way (rclone asks for each file it has just
sent). Anything else goes to WsgiDAV unchanged: `<include>`, `If` headers, a target
that is neither a folder nor a file (a person's root), and a tree where the person holds
a lock (then `lockdiscovery` has something to say).

Depth infinity on a folder (or no Depth, which RFC 4918 §9.1 reads as infinity) is
refused with 403 and `propfind-finite-depth`, as Apache's mod_dav and nginx do by
default: one request would otherwise walk a commune's whole tree in a worker (2,000
entries: 0.22 s; a commune's 100,000 files: seconds of CPU and their answer in memory).
No sync client asks for it (Nextcloud's, rclone, davfs2 and the systems' own clients list
by Depth 1); on a file it means Depth 0 and is answered.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

from django.db import connection
from django.db.models import FloatField, Func
from lxml import etree
from wsgidav import util
from wsgidav.mw.base_mw import BaseMiddleware

from clocher.vault.dav.provider import (
    HREF_SAFE,
    OC,
    FileResource,
    FolderResource,
    HomeRoot,
    mime_type,
)
from clocher.vault.dav.store import dead_properties, holds_locks
from clocher.vault.models import Node

# Set to False (tests only) to compare with WsgiDAV's own answer.
ENABLED = True

DAV = "{DAV:}"
PREFIXES = {"DAV:": "D", "http://owncloud.org/ns": "oc", "http://nextcloud.org/ns": "nc"}
OPENING = (
    b'<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:"'
    b' xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns">'
)
CLOSING = b"</D:multistatus>"
SUPPORTED_LOCK = (
    "<D:lockentry><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/>"
    "</D:locktype></D:lockentry><D:lockentry><D:lockscope><D:shared/></D:lockscope>"
    "<D:locktype><D:write/></D:locktype></D:lockentry>"
)
SAFE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
BATCH = 500  # members per block of output


@dataclass(slots=True)
class Member:
    """What a response needs of a node, read as one row."""

    href: str
    ref_url: str
    pk: int
    display_name: str
    is_folder: bool
    size: int
    content_type: str
    etag: str
    created: float
    modified: float


@dataclass(slots=True)
class Quota:
    used: int
    available: int


# A live property: its XML content for a member, or None where it does not apply (404).
# Whether it applies depends only on the kind of member (folder or file).
Getter = Callable[[Member, Quota], str | None]
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _http_date(timestamp: float) -> str:
    """RFC 1123 date, as `email.utils.formatdate(usegmt=True)` writes it, at a fraction
    of its cost (it runs once per member)."""
    t = time.gmtime(timestamp)
    return (
        f"{DAYS[t.tm_wday]}, {t.tm_mday:02d} {MONTHS[t.tm_mon - 1]} {t.tm_year:04d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


def _resourcetype(member: Member, quota: Quota) -> str:
    return "<D:collection/>" if member.is_folder else ""


LIVE: dict[str, Getter] = {
    f"{DAV}resourcetype": _resourcetype,
    f"{DAV}creationdate": lambda m, q: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(m.created)),
    f"{DAV}getcontentlength": lambda m, q: None if m.is_folder else str(m.size),
    f"{DAV}getcontenttype": lambda m, q: None if m.is_folder else escape(m.content_type),
    f"{DAV}quota-used-bytes": lambda m, q: str(q.used) if m.is_folder else None,
    f"{DAV}quota-available-bytes": lambda m, q: str(q.available) if m.is_folder else None,
    f"{DAV}getlastmodified": lambda m, q: _http_date(m.modified),
    f"{DAV}displayname": lambda m, q: escape(m.display_name),
    f"{DAV}getetag": lambda m, q: escape(m.etag),
    f"{DAV}lockdiscovery": lambda m, q: "",  # only reached when the person holds no lock
    f"{DAV}supportedlock": lambda m, q: SUPPORTED_LOCK,
    f"{OC}fileid": lambda m, q: str(m.pk),
    f"{OC}id": lambda m, q: str(m.pk),
    f"{OC}permissions": lambda m, q: "RGDNVCK" if m.is_folder else "RGDNVW",
    f"{OC}size": lambda m, q: str(m.size),
    "{http://nextcloud.org/ns}has-preview": lambda m, q: "false",
}
# allprop: RFC 4918's live properties, the Nextcloud ones, then the dead ones.
ALLPROP = list(LIVE)


def _tag(clark: str) -> tuple[str, str]:
    """Opening text (with its namespace declaration when not a usual one) and closing
    name of an element."""
    if clark.startswith("{"):
        namespace, _, local = clark[1:].partition("}")
        prefix = PREFIXES.get(namespace)
        if prefix:
            return f"{prefix}:{local}", f"{prefix}:{local}"
        return f"x:{local} xmlns:x={quoteattr(namespace)}", f"x:{local}"
    return f"{clark} xmlns=''", clark


_TAGS: dict[str, tuple[str, str]] = {}


def _element(clark: str, content: str) -> str:
    tags = _TAGS.get(clark)
    if tags is None:
        tags = _TAGS[clark] = _tag(clark)
    if content:
        return f"<{tags[0]}>{content}</{tags[1]}>"
    return f"<{tags[0]}/>"


def _dead_xml(value: Any) -> str:
    """A stored dead property (WsgiDAV keeps the whole element, declaration included)."""
    element = etree.fromstring(value if isinstance(value, bytes) else value.encode(), SAFE_PARSER)
    return etree.tostring(element, encoding="unicode")


def _response(member: Member, quota: Quota, request: Request, dead: dict[str, Any]) -> str:
    """One `<response>`: found properties under 200, the others under 404. Live
    properties win over dead ones of the same name, and `DAV:` names are never dead
    (as in WsgiDAV); allprop leaves out what does not apply instead of listing it as
    missing."""
    allprop = request.names is None
    names = request.names
    if names is None:
        names = ALLPROP + [name for name in dead if name not in LIVE]
    found: list[str] = []
    missing: list[str] = []
    for name in names:
        getter = LIVE.get(name)
        if getter is not None:
            content = getter(member, quota)
            if content is not None:
                found.append(_element(name, "" if request.names_only else content))
            elif not allprop:
                missing.append(_element(name, ""))
        elif name in dead and not name.startswith(DAV):
            found.append(_element(name, "") if request.names_only else _dead_xml(dead[name]))
        else:
            missing.append(_element(name, ""))
    parts = [f"<D:response><D:href>{escape(member.href)}</D:href>"]
    if found:
        parts.append("<D:propstat><D:prop>")
        parts.extend(found)
        parts.append("</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>")
    if missing:
        parts.append("<D:propstat><D:prop>")
        parts.extend(missing)
        parts.append("</D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat>")
    parts.append("</D:response>")
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class Request:
    """What is asked: `names` None for allprop (or propname, with `names_only`)."""

    names: list[str] | None = None
    names_only: bool = False


def _braces(text: str) -> str:
    """Static text inside a format string."""
    return text.replace("{", "{{").replace("}", "}}")


class Renderer:
    """`_response` compiled, for members without dead properties: which properties are
    found or missing depends only on the kind of member, so each kind gets one format
    string with a slot per value."""

    def __init__(self, request: Request, quota: Quota) -> None:
        self.request, self.quota = request, quota
        self.kinds = {is_folder: self._compile(is_folder) for is_folder in (True, False)}

    def _compile(self, is_folder: bool) -> tuple[str, tuple[Getter, ...]]:
        sample = Member("", "", 0, "", is_folder, 0, "", "", 0.0, 0.0)
        other = Member("/b", "/b", 7, "b", is_folder, 9, "a/b", "e", 1e9, 2e9)
        names = self.request.names if self.request.names is not None else ALLPROP
        found: list[str] = []
        getters: list[Getter] = []
        missing: list[str] = []
        for name in names:
            getter = LIVE.get(name)
            value = getter(sample, self.quota) if getter is not None else None
            if getter is not None and value is not None:
                if self.request.names_only:
                    found.append(_braces(_element(name, "")))
                elif value == getter(other, self.quota):  # the same for every member
                    found.append(_braces(_element(name, value)))
                else:
                    opening, closing = (_braces(t) for t in _tag(name))
                    found.append(f"<{opening}>{{}}</{closing}>")
                    getters.append(getter)
            elif self.request.names is not None:
                missing.append(_braces(_element(name, "")))
        parts = ["<D:response><D:href>{}</D:href>"]
        if found:
            parts += ["<D:propstat><D:prop>", *found, "</D:prop><D:status>HTTP/1.1 200 OK"]
            parts.append("</D:status></D:propstat>")
        if missing:
            parts += ["<D:propstat><D:prop>", *missing, "</D:prop><D:status>HTTP/1.1 404 "]
            parts.append("Not Found</D:status></D:propstat>")
        parts.append("</D:response>")
        return "".join(parts), tuple(getters)

    def render(self, member: Member, dead: dict[str, Any]) -> str:
        if dead:
            return _response(member, self.quota, self.request, dead)
        template, getters = self.kinds[member.is_folder]
        quota = self.quota
        return template.format(escape(member.href), *[get(member, quota) for get in getters])


def parse_request(body: bytes) -> Request | None:
    """The PROPFIND body, or None when WsgiDAV should answer (bad XML gets its 400)."""
    if not body.strip():
        return Request()
    try:
        root = etree.fromstring(body, SAFE_PARSER)
    except etree.XMLSyntaxError:
        return None
    children = [c for c in root if isinstance(c.tag, str)]
    if root.tag != f"{DAV}propfind" or len(children) != 1:
        return None
    if children[0].tag == f"{DAV}allprop":
        return Request()
    if children[0].tag == f"{DAV}propname":
        return Request(names_only=True)
    if children[0].tag == f"{DAV}prop":
        return Request([c.tag for c in children[0] if isinstance(c.tag, str)])
    return None


def _timestamp(value: Any) -> float:
    return value.timestamp() if value else time.time()


def _members(
    target: FolderResource | FileResource, depth: str, with_refs: bool
) -> Iterator[Member]:
    """The target, then (a folder at Depth 1) its members; their reference URLs (the
    key of dead properties) only when some member has any."""
    is_folder = isinstance(target, FolderResource)
    yield Member(
        target.get_href(),
        target.get_ref_url(),
        target.node.pk,
        target.get_display_name(),
        is_folder,
        target.node.size,
        "" if is_folder else target.get_content_type(),
        target.node.etag,
        _timestamp(target.node.created_at),
        _timestamp(target.node.modified_at),
    )
    if depth != "1" or not isinstance(target, FolderResource):
        return
    folder, provider = target, target.provider
    own_path = folder.get_preferred_path()
    href_base = quote(provider.mount_path + provider.share_path + own_path, safe=HREF_SAFE)
    ref_base = quote(provider.share_path + own_path)
    rows = (
        Node.objects.filter(parent=folder.node, deleted_at__isnull=True)
        .order_by("-is_folder", "name")
        .annotate(created=_Epoch("created_at"), modified=_Epoch("modified_at"))
        .values_list(
            "pk", "name", "is_folder", "size", "content_type", "etag", "created", "modified"
        )
    )
    for pk, name, is_folder, size, content_type, etag, created, modified in _fetched(rows):
        tail = "/" if is_folder else ""
        yield Member(
            href_base + quote(name, safe=HREF_SAFE) + tail,
            ref_base + quote(name) + tail if with_refs else "",
            pk,
            name,
            is_folder,
            size,
            content_type or ("" if is_folder else mime_type(name)),
            etag,
            created,
            modified,
        )


class _Epoch(Func):
    """A time column as whole seconds since 1970, computed by the database: the dates of
    a listing are written to the second, and parsing two timestamps per member into
    aware datetimes was a quarter of a large PROPFIND. Truncated, as WsgiDAV writes a
    date: SQLite's date functions round to the millisecond first (…:45.9996 would be
    :46), so its text is cut to the second before (`YYYY-MM-DD HH:MM:SS`, Django's)."""

    output_field = FloatField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        template = "unixepoch(substr(%(expressions)s, 1, 19))"
        return self.as_sql(compiler, connection, template=template, **extra)

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        template = "floor(extract(epoch from %(expressions)s))::float8"
        return self.as_sql(compiler, connection, template=template, **extra)


def _fetched(rows: Any) -> Iterator[Any]:
    """The rows by blocks from a plain cursor. `QuerySet.iterator` declares a server-side
    cursor on PostgreSQL, `WITH HOLD` outside a transaction: the server copies the whole
    result aside before the first row. A plain cursor's result is held by the driver (a
    few MB for 10,000 entries) and converted to Python by blocks."""
    compiler = rows.query.get_compiler(connection.alias)
    statement, params = compiler.as_sql()
    fields = [selected[0] for selected in compiler.select[: compiler.col_count]]
    converters = compiler.get_converters(fields)
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        while block := cursor.fetchmany(BATCH):
            yield from compiler.apply_converters(block, converters) if converters else block


def multistatus(
    target: FolderResource | FileResource, depth: str, request: Request
) -> Iterator[bytes]:
    """The answer, by blocks of `BATCH` members."""
    space = target.node.space
    limit = space.quota_bytes or space.commune.quota_storage_bytes
    quota = Quota(space.used_bytes, max(0, limit - space.used_bytes))
    own_ref = target.get_ref_url()
    dead = dead_properties(own_ref)
    renderer = Renderer(request, quota)
    with_refs = any(ref != own_ref for ref in dead)
    yield OPENING
    batch: list[str] = []
    for member in _members(target, depth, with_refs):
        batch.append(renderer.render(member, dead.get(member.ref_url, {}) if dead else {}))
        if len(batch) >= BATCH:
            yield "".join(batch).encode()
            batch = []
    batch.append(CLOSING.decode())
    yield "".join(batch).encode()


class FastPropfind(BaseMiddleware):
    """Sits between WsgiDAV's authentication and its request handling."""

    def __init__(self, wsgidav_app: Any, next_app: Any, config: dict[str, Any]) -> None:
        super().__init__(wsgidav_app, next_app, config)

    def is_disabled(self) -> bool:
        return False

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "PROPFIND":
            return self.next_app(environ, start_response)
        if environ.get("HTTP_DEPTH", "infinity").lower() == "infinity":
            refused = _folder_walk_refused(environ, start_response)
            return self.next_app(environ, start_response) if refused is None else refused
        if not ENABLED:
            return self.next_app(environ, start_response)
        answer = self._answer(environ, start_response)
        if answer is None:
            return self.next_app(environ, start_response)
        return answer

    def _answer(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> list[bytes] | None:
        depth = environ.get("HTTP_DEPTH")
        if depth not in ("0", "1") or "HTTP_IF" in environ:
            return None
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            return None
        provider = environ.get("wsgidav.provider")
        if provider is None:
            return None
        request = parse_request(_read_body(environ))
        if request is None:
            return None
        target = provider.get_resource_inst(environ["PATH_INFO"], environ)
        if not isinstance(target, (FolderResource, FileResource)) or isinstance(target, HomeRoot):
            return None  # a person's root lists their spaces beside their own files
        if holds_locks(target.get_ref_url()):
            return None
        # Whole answer in memory (a few MB for 10,000 members) so it has a Content-Length:
        # without one WsgiDAV closes the connection, and clients reconnect for every list.
        blocks = list(multistatus(target, depth, request))
        start_response(
            "207 Multi-Status",
            [
                ("Content-Type", "application/xml; charset=utf-8"),
                ("Date", util.get_rfc1123_time()),
                ("Content-Length", str(sum(len(b) for b in blocks))),
            ],
        )
        return blocks


INFINITE_DEPTH_REFUSED = (
    "PROPFIND avec « Depth: infinity » (ou sans Depth) n'est pas servi sur un dossier : "
    "listez-le dossier par dossier avec « Depth: 1 » (RFC 4918, § 9.1)."
)


def _folder_walk_refused(
    environ: dict[str, Any], start_response: Callable[..., Any]
) -> list[bytes] | None:
    """403 with the `propfind-finite-depth` condition (and the message in Sabre's
    element, which Nextcloud's clients show) when the target is a folder; None for a
    file, or for nothing the person may see (WsgiDAV's 404)."""
    provider = environ.get("wsgidav.provider")
    target = provider.get_resource_inst(environ["PATH_INFO"], environ) if provider else None
    if target is None or not target.is_collection:
        return None
    body = (
        '<?xml version="1.0" encoding="utf-8"?>\n<D:error xmlns:D="DAV:"'
        ' xmlns:s="http://sabredav.org/ns"><D:propfind-finite-depth/>'
        f"<s:message>{escape(INFINITE_DEPTH_REFUSED)}</s:message></D:error>"
    ).encode()
    start_response(
        "403 Forbidden",
        [
            ("Content-Type", "application/xml; charset=utf-8"),
            ("Date", util.get_rfc1123_time()),
            ("Content-Length", str(len(body))),
        ],
    )
    return [body]


def _read_body(environ: dict[str, Any]) -> bytes:
    """The request body, put back for WsgiDAV in case it answers instead."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["wsgidav.all_input_read"] = 1  # else WsgiDAV would close the connection
    return body
