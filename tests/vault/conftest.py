"""A real HTTP/1.1 server (cheroot, WsgiDAV's own) in a thread, serving the same WSGI
application as gunicorn does in production, on the test database."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from cheroot import wsgi
from django.core.handlers.wsgi import WSGIHandler

from clocher.accounts.models import User
from clocher.accounts.services import create_app_password
from clocher.core.audit import Actor
from clocher.vault import services
from clocher.vault.dav.app import DAV_PREFIX, Dispatcher

ACTOR = Actor(label="tests")


@pytest.fixture(autouse=True)
def vault_dir(settings, tmp_path):
    """Each test its own blob directory and master key (the database is emptied between
    tests; the files would not be)."""
    settings.VAULT_DIR = tmp_path / "vault"
    return settings.VAULT_DIR


def alter_last_byte(path: Path) -> None:
    """Change a stored blob for sure (setting its last byte to a constant is a no-op one
    time in 256: the GCM tag is random)."""
    sealed = path.read_bytes()
    path.write_bytes(sealed[:-1] + bytes([sealed[-1] ^ 0xFF]))


class _DecodedOptionsPath:
    """cheroot leaves the path of an OPTIONS request percent-encoded (that of every other
    method is decoded, as WSGI asks; gunicorn, in production, decodes them all): davfs2,
    which sends the login's `@` as `%40`, would get 404 before mounting."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("REQUEST_METHOD") == "OPTIONS":
            environ["PATH_INFO"] = unquote(environ["PATH_INFO"], encoding="latin-1")
        return self.app(environ, start_response)


@pytest.fixture
def dav_server(transactional_db) -> Iterator[str]:
    app = _DecodedOptionsPath(Dispatcher(WSGIHandler()))
    server = wsgi.Server(("127.0.0.1", 0), app, numthreads=8)
    server.prepare()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    host, port = server.bind_addr
    yield f"http://{host}:{port}"
    server.stop()
    thread.join(timeout=10)


@dataclass
class DavUser:
    user: User
    password: str
    base: str

    @property
    def root(self) -> str:
        return f"{self.base}{DAV_PREFIX}/{self.user.email}/"


@pytest.fixture
def dav_user(dav_server, admin_a, commune_a) -> DavUser:
    services.ensure_commune_space(ACTOR, commune_a)
    return DavUser(admin_a, create_app_password(ACTOR, admin_a, "tests").clear, dav_server)


@pytest.fixture
def dav_user_b(dav_server, admin_b, commune_b) -> DavUser:
    services.ensure_commune_space(ACTOR, commune_b)
    return DavUser(admin_b, create_app_password(ACTOR, admin_b, "tests").clear, dav_server)
