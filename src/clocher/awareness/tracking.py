"""The tracking image answered before Django's stack.

Every mail client loads an exercise's image, often several times per message, so during
a campaign it is the platform's busiest address. Through Django it paid the whole
middleware chain (session, CSRF, locale, messages, CSP) for a request that reads no
cookie and renders nothing: about as much CPU as the statement that records the open
(docs/performance.md, awareness). Here a recorded open answers the GIF at once; anything
else (unknown token, other method, a host Django would refuse) goes on to Django, which
answers it as before (404, 405, 400).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.db import close_old_connections
from django.http.request import split_domain_port, validate_host

from clocher.awareness import services
from clocher.awareness.views import GIF

PATH = re.compile(r"/sensibilisation/o/(?P<token>[A-Za-z0-9_-]{1,43})/image\.gif")

HEADERS = [
    ("Content-Type", "image/gif"),
    ("Content-Length", str(len(GIF))),
    # A recorded open must not be served from a cache next time (as `never_cache`).
    ("Cache-Control", "max-age=0, no-cache, no-store, must-revalidate, private"),
    ("Expires", "Thu, 01 Jan 1970 00:00:00 GMT"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    # Embedded in a message, the image is read from whatever origin shows the mail.
    ("Cross-Origin-Resource-Policy", "cross-origin"),
]


def _host_allowed(environ: dict[str, Any]) -> bool:
    host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
    domain, _port = split_domain_port(host)
    return bool(domain) and validate_host(domain, settings.ALLOWED_HOSTS)


def answer(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes] | None:
    """The GIF if this request is the image of a sent message; None to let Django answer."""
    match = PATH.fullmatch(environ.get("PATH_INFO", ""))
    method = environ.get("REQUEST_METHOD")
    if match is None or method not in ("GET", "HEAD") or not _host_allowed(environ):
        return None
    close_old_connections()  # what Django's request_started signal does
    try:
        recorded = services.record_open(match["token"])
    finally:
        close_old_connections()  # and request_finished
    if not recorded:
        return None
    start_response("200 OK", list(HEADERS))
    return [b""] if method == "HEAD" else [GIF]
