"""The WebDAV application and the WSGI dispatcher that puts it beside Django.

`/remote.php/dav/files/…` goes to WsgiDAV (with our provider, app-password login, and
locks and properties in the database); `/remote.php/dav/calendars/…`,
`/remote.php/dav/addressbooks/users/…` and DAV discovery go to the groupware's Radicale
(`clocher.groupware.dav`); the awareness tracking image of a sent message is answered
before Django (`clocher.awareness.tracking`); everything else, including Nextcloud's
`status.php` and OCS endpoints, is Django's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

from django.db import DEFAULT_DB_ALIAS, close_old_connections, connections

DAV_PREFIX = "/remote.php/dav/files"
# Every DAV path (files, Nextcloud's chunked uploads, calendars, address books).
DAV_ROOT = "/remote.php/dav/"
# The largest body of a request that is not a file's content (PROPFIND, PROPPATCH, LOCK:
# a few kilobytes from real clients), which WsgiDAV and `FastPropfind` read whole into
# memory: without a bound, one authenticated request could fill a worker's memory.
XML_BODY_MAX = 1024 * 1024
OVERSIZED_BODY = (
    "Requête refusée : son corps dépasse 1 Mio. Seul un envoi de fichier (PUT) peut être "
    "plus grand."
).encode()
UNREADABLE_PATH = (
    "Chemin illisible : le nom demandé (ou la destination) n'est pas de l'UTF-8 valide. "
    "Renommez le fichier sur votre poste avant de le synchroniser."
).encode()
TRACKING_PREFIX = "/sensibilisation/o/"
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def build_dav_app() -> WSGIApp:
    from wsgidav.error_printer import ErrorPrinter
    from wsgidav.http_authenticator import HTTPAuthenticator
    from wsgidav.request_resolver import RequestResolver
    from wsgidav.wsgidav_app import WsgiDAVApp

    from clocher.vault.dav.auth import AppPasswordDomainController
    from clocher.vault.dav.propfind import FastPropfind
    from clocher.vault.dav.provider import VaultProvider
    from clocher.vault.dav.store import DatabaseLockStorage, DatabasePropertyManager

    return WsgiDAVApp(
        {
            "provider_mapping": {DAV_PREFIX: VaultProvider()},
            "http_authenticator": {
                "domain_controller": AppPasswordDomainController,
                "accept_basic": True,
                "accept_digest": False,
                "default_to_digest": False,
            },
            "lock_storage": DatabaseLockStorage(),
            "property_manager": DatabasePropertyManager(),
            "middleware_stack": [ErrorPrinter, HTTPAuthenticator, FastPropfind, RequestResolver],
            "dir_browser": {"enable": False},
            "verbose": 1,
            "logging": {"enable": False},
            "suppress_version_info": True,
            "honor_mtime_header": True,
            # Bodies are read and sent by 1 MiB (WsgiDAV's default is 8 KiB): a quarter
            # of a chunk per call instead of 512 calls per chunk.
            "block_size": 1024 * 1024,
        }
    )


class Dispatcher:
    """Routes DAV paths to WsgiDAV, the rest to Django."""

    def __init__(self, django_app: WSGIApp) -> None:
        self.django_app = django_app
        self._dav: WSGIApp | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if path == DAV_PREFIX or path.startswith(DAV_PREFIX + "/"):
            from clocher.vault.dav import fast

            # What Django's request signals do, for the one database the fast path uses
            # (`close_old_connections` went through every alias: 2 µs, twice a GET).
            database = connections[DEFAULT_DB_ALIAS]
            database.close_if_unusable_or_obsolete()
            start = _with_sync_headers(environ, start_response)
            body = fast.answer(environ, start)
            if body is not None:
                # Answered whole: its body reads chunks, not the database (a tenth of a
                # small GET's CPU went through WsgiDAV's wrappers below).
                database.close_if_unusable_or_obsolete()
                return body
            if not readable_names(environ):
                return _refused(start_response, "400 Bad Request", UNREADABLE_PATH)
            if _oversized_body(environ):
                return _refused(start_response, "413 Content Too Large", OVERSIZED_BODY)
            from clocher.vault.dav.provider import MTIME_OUT_OF_RANGE, mtime_in_range

            if not mtime_in_range(environ):
                return _refused(start_response, "400 Bad Request", MTIME_OUT_OF_RANGE.encode())
            if self._dav is None:
                self._dav = build_dav_app()
            return _started(_closing(self._dav, environ, start))
        if path.startswith(DAV_ROOT) and not readable_names(environ):
            return _refused(start_response, "400 Bad Request", UNREADABLE_PATH)
        from clocher.groupware.dav import GroupwareApp, application

        if GroupwareApp.handles(path):  # CalDAV and CardDAV (Radicale)
            return application()(environ, start_response)
        from clocher.groupware.webmail.front import WebmailFront

        if WebmailFront.handles(path):  # Roundcube, relayed to php-fpm
            from clocher.groupware.webmail.roundcube import front

            return front()(environ, start_response)
        if path.startswith(TRACKING_PREFIX):  # the awareness image, the busiest address
            from clocher.awareness import tracking

            body = tracking.answer(environ, start_response)
            if body is not None:
                return body
        return self.django_app(environ, start_response)


def readable_names(environ: dict[str, Any]) -> bool:
    """Whether the request's path and its Destination (MOVE, COPY, a chunked upload's
    assembly) are UTF-8 once percent-decoded. WsgiDAV failed on such a path (500) and
    decoded such a Destination with replacement characters: a MOVE then renamed the
    file to a name nobody asked for."""
    try:
        environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8")
        unquote(urlsplit(environ.get("HTTP_DESTINATION", "")).path, errors="strict")
    except UnicodeError:
        return False
    return True


def _oversized_body(environ: dict[str, Any]) -> bool:
    """Whether a request other than a PUT announces a body over XML_BODY_MAX."""
    if environ.get("REQUEST_METHOD") == "PUT":
        return False
    try:
        return int(environ.get("CONTENT_LENGTH") or 0) > XML_BODY_MAX
    except ValueError:
        return False  # WsgiDAV answers 400


def _refused(start_response: Callable[..., Any], status: str, message: bytes) -> list[bytes]:
    start_response(
        status,
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(message)))],
    )
    return [message]


class _Started:
    """An answer whose first piece was already pulled (`_started`)."""

    __slots__ = ("first", "rest")

    def __init__(self, first: bytes, rest: Iterator[bytes]) -> None:
        self.first, self.rest = first, rest

    def __iter__(self) -> Iterator[bytes]:
        yield self.first
        yield from self.rest

    def close(self) -> None:
        close = getattr(self.rest, "close", None)
        if close is not None:
            close()


def _started(body: Iterator[bytes]) -> Iterable[bytes]:
    """The answer with its first piece pulled, so that its status is known when the
    application returns. WsgiDAV (and `_closing`) call `start_response` on the first
    iteration, as PEP 3333 allows; granian, the file server (`clocher.vault.dav.server`),
    reads the status as soon as the application returns."""
    try:
        first = next(body)
    except StopIteration:
        return []
    return _Started(first, body)


def _with_sync_headers(
    environ: dict[str, Any], start_response: Callable[..., Any]
) -> Callable[..., Any]:
    """`start_response` adding what Nextcloud clients read after a PUT: the file id (to
    follow renames) and whether their modification time was kept."""

    def start(status: str, headers: list[Any], *args: Any) -> Any:
        node = environ.get("clocher.written")
        if node is not None:
            headers = [*headers, ("OC-FileId", str(node.pk)), ("OC-ETag", f'"{node.etag}"')]
            if environ.get("clocher.mtime_accepted"):
                headers.append(("X-OC-MTime", "accepted"))
        return start_response(status, headers, *args)

    return start


def _closing(
    dav: WSGIApp, environ: dict[str, Any], start_response: Callable[..., Any]
) -> Iterator[bytes]:
    """Stream WsgiDAV's answer (a download can be large), then give the database
    connection back: Django's request signals do not run for DAV requests."""
    from clocher.vault.dav.store import request_scope

    with request_scope():
        body = dav(environ, start_response)
        try:
            yield from body
        finally:
            close = getattr(body, "close", None)
            if close:
                close()
            close_old_connections()
