"""CalDAV and CardDAV: Radicale, mounted inside Clocher at the paths Nextcloud uses.

Endpoints (Basic auth with a Clocher app password, like the vault's WebDAV):
- `/remote.php/dav/calendars/<email>/` — the calendar home (and principal) of `<email>`:
  `personnel/`, `commune-<insee>/`, `ressource-<insee>-<slug>/` (see `layout`);
- `/remote.php/dav/addressbooks/users/<email>/` — the address-book home: `contacts/`,
  `commune-<insee>/`, `annuaire-<insee>/`;
- `/remote.php/dav/` and `/remote.php/dav/principals/users/<email>/` — discovery: answer a
  PROPFIND with current-user-principal and both home sets (what DAVx5 and the Nextcloud
  apps ask when given the server's address);
- `/.well-known/caldav`, `/.well-known/carddav` — redirects (Django, `groupware.urls`).

One Radicale application per store. Authentication happens here, before Radicale, with
`vault.dav.auth.authenticate` (throttling, revocation, `protocol_communes` on every
request); Radicale's auth plugin only takes the name this layer vouched for, and its
rights plugin asks the `Grants` computed here for this request.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

from django.db import close_old_connections
from radicale import config as radicale_config
from radicale.app import Application
from radicale.auth import BaseAuth
from radicale.rights import BaseRights

from clocher.accounts.models import User
from clocher.core.models import Commune, Membership
from clocher.groupware import layout, recurrence

DAV_ROOT = "/remote.php/dav"
CALDAV_PREFIX = f"{DAV_ROOT}/calendars"
CARDDAV_PREFIX = f"{DAV_ROOT}/addressbooks/users"
PRINCIPALS_PREFIX = f"{DAV_ROOT}/principals/users"
PREFIXES = (CALDAV_PREFIX, CARDDAV_PREFIX)
REALM = "Clocher"
MAX_CONTENT = 20 * 1024 * 1024  # Radicale's max_content_length: larger, it answers 413

StartResponse = Callable[..., Any]

_request = threading.local()


class Auth(BaseAuth):
    """Takes the login that `GroupwareApp` has verified for this request."""

    def get_external_login(self, environ: Mapping[str, Any]) -> tuple[()] | tuple[str, str]:
        email = environ.get("clocher.groupware.email")
        return (email, "") if email else ()

    def _login(self, login: str, password: str) -> str:
        grants = getattr(_request, "grants", None)
        return login if grants is not None and login == grants.email else ""


class Rights(BaseRights):
    """Radicale asks this for every collection it touches."""

    def authorization(self, user: str, user_groups: set[str], path: str) -> str:
        grants = getattr(_request, "grants", None)
        if not user or grants is None or user != grants.email:
            return ""
        return grants.permissions(path)


def _configuration(kind: str) -> Any:
    configuration = radicale_config.load()
    configuration.update(
        {
            "auth": {"type": Auth, "delay": "0", "cache_logins": "False"},
            "rights": {"type": Rights, "permit_delete_collection": "True"},
            "storage": {
                "type": "multifilesystem",
                "filesystem_folder": str(layout.store_dir(kind)),
                "max_sync_token_age": str(30 * 86400),
                # Only Radicale writes these files: an item's cache entry is checked by its
                # mtime and size instead of hashing its content on every read
                # (docs/performance.md, CalDAV REPORT).
                "use_mtime_and_size_for_item_cache": "True",
            },
            # A module path: Radicale's hook setting takes no class (unlike auth and rights).
            "hook": {"type": "clocher.groupware.imip" if kind == "calendars" else "none"},
            "web": {"type": "none"},
            "sharing": {"type": "none"},
            "server": {"max_content_length": str(MAX_CONTENT)},
            "logging": {"level": "warning", "mask_passwords": "True"},
        },
        "clocher",
        privileged=True,
    )
    return configuration


class GroupwareApp:
    """Routes a request to the right store after authenticating it."""

    def __init__(self) -> None:
        # Radicale logs every request at INFO: the platform's logs keep its warnings.
        logging.getLogger("radicale").setLevel(logging.WARNING)
        self.apps = {
            CALDAV_PREFIX: Application(_configuration("calendars")),
            CARDDAV_PREFIX: Application(_configuration("addressbooks")),
        }
        self._lock = threading.Lock()

    @staticmethod
    def handles(path: str) -> bool:
        if path in (DAV_ROOT, DAV_ROOT + "/") or path.startswith(PRINCIPALS_PREFIX):
            return True
        return any(path == p or path.startswith(p + "/") for p in PREFIXES)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        close_old_connections()
        try:
            return self._serve(environ, start_response)
        finally:
            _request.__dict__.clear()
            close_old_connections()

    def _serve(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") == "OPTIONS":
            return _options(start_response)
        found = _authenticate(environ)
        if found is None:
            start_response(
                "401 Unauthorized",
                [
                    ("WWW-Authenticate", f'Basic realm="{REALM}", charset="UTF-8"'),
                    ("Content-Type", "text/plain; charset=utf-8"),
                ],
            )
            return [b"Identifiant ou mot de passe d'application refuse.\n"]
        user, communes = found
        prefix = next((p for p in PREFIXES if path == p or path.startswith(p + "/")), None)
        if prefix is None:
            return _discovery(environ, start_response, user)
        from clocher.groupware import services

        grants = services.prepare_home(self.apps[prefix], prefix, user, communes)
        _request.grants = grants
        environ.pop("HTTP_X_SCRIPT_NAME", None)
        environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + prefix
        environ["PATH_INFO"] = path[len(prefix) :] or "/"
        environ["clocher.groupware.email"] = user.email
        _request.addresses = _addresses(user)
        _request.pending = []
        if prefix == CALDAV_PREFIX and environ.get("REQUEST_METHOD") == "PUT":
            refused = _refused_recurrence(environ, start_response)
            if refused is not None:
                return refused
        principal = environ["PATH_INFO"].strip("/") == user.email
        if principal and environ.get("REQUEST_METHOD") == "PROPFIND":
            environ.pop("HTTP_ACCEPT_ENCODING", None)  # the answer is rewritten below
            answer = _with_homes(self.apps[prefix], environ, start_response, user)
        else:
            answer = list(self.apps[prefix](environ, start_response))
        if _request.pending:
            from clocher.groupware.imip import send_pending

            for reply in send_pending(_request.pending):
                services.apply_local_reply(self.apps[CALDAV_PREFIX], reply)
        return answer


def _refused_recurrence(
    environ: dict[str, Any], start_response: StartResponse
) -> list[bytes] | None:
    """A PUT whose recurrence rules `recurrence` refuses: 403 with the reason, as a
    CalDAV precondition (RFC 4791, valid-calendar-object-resource) and Sabre's message
    that clients show. Otherwise the body is put back for Radicale."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None  # Radicale answers
    if not 0 < length <= MAX_CONTENT:
        return None
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    reason = recurrence.refusal(body)
    if reason is None:
        return None
    answer = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<d:error xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav" '
        'xmlns:s="http://sabredav.org/ns"><c:valid-calendar-object-resource/>'
        f"<s:message>{escape(reason)}</s:message></d:error>"
    ).encode()
    start_response(
        "403 Forbidden",
        [("Content-Type", "application/xml; charset=utf-8"), ("Content-Length", str(len(answer)))],
    )
    return [answer]


_HOME_SET = re.compile(
    rb"(<(?:\w+:)?(calendar-home-set|addressbook-home-set|calendar-user-address-set)>\s*"
    rb"<(?:\w+:)?href>)[^<]*(</(?:\w+:)?href>)"
)


def _with_homes(
    app: Any, environ: dict[str, Any], start_response: StartResponse, user: User
) -> list[bytes]:
    """Radicale names the principal itself as both home sets, and as the calendar user's
    address: each store's principal is told the right home of the other store, and the
    user's mail address (what schedulers compare ORGANIZER and ATTENDEE with)."""
    captured: dict[str, Any] = {}

    def capture(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
        captured["status"], captured["headers"] = status, headers
        return lambda data: None

    body = b"".join(app(environ, capture))
    email = quote(user.email).encode()
    homes = {
        b"calendar-home-set": CALDAV_PREFIX.encode() + b"/" + email + b"/",
        b"addressbook-home-set": CARDDAV_PREFIX.encode() + b"/" + email + b"/",
        b"calendar-user-address-set": b"mailto:" + user.email.encode(),
    }
    body = _HOME_SET.sub(lambda m: m.group(1) + homes[m.group(2)] + m.group(3), body)
    headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
    start_response(captured["status"], [*headers, ("Content-Length", str(len(body)))])
    return [body]


def _addresses(user: User) -> set[str]:
    """The addresses an organiser or attendee may appear under in an event."""
    from clocher.mail.models import Mailbox

    found = {user.email.lower()}
    found.update(
        a.lower() for a in Mailbox.objects.filter(user=user).values_list("address", flat=True)
    )
    return found


def _authenticate(environ: dict[str, Any]) -> tuple[User, list[Commune]] | None:
    from clocher.vault.dav.auth import authenticate

    header = environ.get("HTTP_AUTHORIZATION", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        login, sep, password = base64.b64decode(encoded.strip()).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    if not sep:
        return None
    return authenticate(login, password, environ.get("REMOTE_ADDR"))


def member_roles(user: User, communes: list[Commune]) -> list[tuple[Commune, str]]:
    """(commune, role) for each commune this request may open, in a stable order."""
    roles = dict(
        Membership.objects.filter(user=user, commune__in=communes, is_active=True).values_list(
            "commune_id", "role"
        )
    )
    return [(c, roles[c.pk]) for c in sorted(communes, key=lambda c: c.insee) if c.pk in roles]


def _options(start_response: StartResponse) -> list[bytes]:
    start_response(
        "200 OK",
        [
            ("DAV", "1, 2, 3, calendar-access, addressbook, extended-mkcol"),
            (
                "Allow",
                "DELETE, GET, HEAD, MKCALENDAR, MKCOL, MOVE, OPTIONS, PROPFIND, "
                "PROPPATCH, PUT, REPORT",
            ),
            ("Content-Length", "0"),
        ],
    )
    return []


def _discovery(environ: dict[str, Any], start_response: StartResponse, user: User) -> list[bytes]:
    """`/remote.php/dav/` and the Nextcloud principal: where this user's principal and
    homes are. Any other method than PROPFIND is refused."""
    if environ.get("REQUEST_METHOD") != "PROPFIND":
        start_response("405 Method Not Allowed", [("Allow", "OPTIONS, PROPFIND")])
        return []
    path = environ.get("PATH_INFO", "")
    principal = f"{PRINCIPALS_PREFIX}/{user.email}/"
    if path.startswith(PRINCIPALS_PREFIX) and path.rstrip("/") != principal.rstrip("/"):
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"Principal inconnu.\n"]
    href = escape(path if path.endswith("/") else path + "/")
    email = escape(user.email)
    body = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav" '
        'xmlns:card="urn:ietf:params:xml:ns:carddav">'
        f"<d:response><d:href>{href}</d:href><d:propstat><d:prop>"
        "<d:resourcetype><d:collection/>"
        + ("<d:principal/>" if path.startswith(PRINCIPALS_PREFIX) else "")
        + "</d:resourcetype>"
        f"<d:current-user-principal><d:href>{escape(principal)}</d:href>"
        "</d:current-user-principal>"
        f"<d:principal-URL><d:href>{escape(principal)}</d:href></d:principal-URL>"
        f"<c:calendar-home-set><d:href>{CALDAV_PREFIX}/{email}/</d:href></c:calendar-home-set>"
        f"<card:addressbook-home-set><d:href>{CARDDAV_PREFIX}/{email}/</d:href>"
        "</card:addressbook-home-set>"
        f"<c:calendar-user-address-set><d:href>mailto:{email}</d:href>"
        "</c:calendar-user-address-set>"
        f"<d:displayname>{escape(user.full_name or user.email)}</d:displayname>"
        "</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>"
        "</d:multistatus>"
    ).encode()
    start_response(
        "207 Multi-Status",
        [("Content-Type", "application/xml; charset=utf-8"), ("Content-Length", str(len(body)))],
    )
    return [body]


_app: GroupwareApp | None = None
_app_lock = threading.Lock()


def application() -> GroupwareApp:
    """One per process, built at the first CalDAV/CardDAV request."""
    global _app
    with _app_lock:
        if _app is None:
            _app = GroupwareApp()
        return _app


def reset() -> None:
    """Forget the applications (tests change GROUPWARE_DIR between tests)."""
    global _app
    with _app_lock:
        _app = None
