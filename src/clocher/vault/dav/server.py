"""The file server: the platform's WSGI application served by granian, for sync clients.

A Nextcloud client (or rclone, davfs2) moves a folder one small request at a time over
several connections. Under gunicorn's threaded workers each request paid about 0.16 ms
of CPU in the server itself and the worker's threads handed the GIL back and forth
around every system call: a small GET cost 0.77 ms of CPU served, 0.36 ms called in
one process. granian parses HTTP and holds the connections in Rust, outside the GIL
(0.065 ms per request for a trivial application, measured with the same client), and
runs the application in a few Python threads: the same GETs served at twice the rate
(docs/performance.md, "Vault small files", fifth pass).

It serves the same application as gunicorn (`clocher.wsgi`), every path included, on
its own address (CLOCHER_FILES_BIND, by default the web port + 1): HAProxy sends it
`/remote.php/dav/files/` (deploy/haproxy/haproxy.cfg), and a client pointed at it
directly gets the whole platform. gunicorn stays the web server of the pages and
the API (its PROXY protocol, access log, worker timeout and control socket).

Behind HAProxy the client's address comes from the last `X-Forwarded-For` hop, trusted
only from CLOCHER_PROXY_FROM (granian reads no PROXY protocol line): the journal and the
login throttle see the client, and a client cannot name another address itself.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from django.conf import settings

from clocher.core.supervisor import Child
from clocher.vault.dav.app import WSGIApp

# Python threads per granian worker (CLOCHER_FILES_THREADS): eight measured best on 2
# cores with 16 connections (two: GETs −40 %, PUTs −80 %, as the uploads that arrive
# together are committed together only when they wait in the same worker; sixteen: both
# −30 to −50 %, the threads contend for the interpreter's lock).
THREADS = 8


def files_bind() -> str:
    """CLOCHER_FILES_BIND, or the web address with the next port."""
    if settings.FILES_BIND:
        return str(settings.FILES_BIND)
    host, _, port = str(settings.BIND).rpartition(":")
    return f"{host}:{int(port) + 1}"


def files_server(bind: str, workers: int) -> Child:
    """granian serving the platform on `bind`, `workers` processes."""
    host, _, port = bind.rpartition(":")
    return Child(
        "fichiers (WebDAV)",
        [
            sys.executable,
            "-m",
            "granian",
            "--interface",
            "wsgi",
            "clocher.files_wsgi:application",
            "--host",
            host.strip("[]") or "0.0.0.0",  # noqa: S104 - ":8001" means every address
            "--port",
            port,
            "--workers",
            str(workers),
            "--blocking-threads",
            os.environ.get("CLOCHER_FILES_THREADS", str(THREADS)),
            "--no-access-log",  # HAProxy logs each request (option httplog)
            "--log-level",
            "warning",
            "--workers-kill-timeout",
            "10",
            "--respawn-failed-workers",
        ],
    )


def files_workers() -> int:
    return int(os.environ.get("CLOCHER_FILES_WORKERS", os.environ.get("CLOCHER_WEB_WORKERS", "2")))


def behind_proxy(app: WSGIApp, proxies: frozenset[str]) -> WSGIApp:
    """`app` seeing the client's address a trusted proxy forwarded (its last hop)."""

    def forwarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        hops = environ.get("HTTP_X_FORWARDED_FOR")
        if hops and environ.get("REMOTE_ADDR") in proxies:
            environ["REMOTE_ADDR"] = hops.rpartition(",")[2].strip()
        return app(environ, start_response)

    return forwarded if proxies else app


def trusted_proxies() -> frozenset[str]:
    """CLOCHER_PROXY_FROM's addresses."""
    return frozenset(a.strip() for a in str(settings.PROXY_FROM).split(",") if a.strip())
