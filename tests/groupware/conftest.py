"""A real HTTP server (cheroot, as for the vault) serving the production WSGI application
(`Dispatcher`: Django, WsgiDAV and the groupware's Radicale) on the test database, and
members of two communes with app passwords."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from cheroot import wsgi
from django.core.handlers.wsgi import WSGIHandler

from clocher.accounts.models import User
from clocher.accounts.services import create_app_password
from clocher.core.audit import Actor
from clocher.core.models import Membership, Role
from clocher.groupware import dav, services
from clocher.vault.dav.app import Dispatcher

ACTOR = Actor(label="tests")


@pytest.fixture(autouse=True)
def groupware_dir(settings, tmp_path):
    """Each test its own stores (the database is emptied between tests, files are not),
    and applications built afresh on them."""
    settings.GROUPWARE_DIR = tmp_path / "groupware"
    dav.reset()
    services._directory_synced.clear()
    yield settings.GROUPWARE_DIR
    dav.reset()


@pytest.fixture
def server(transactional_db) -> Iterator[str]:
    httpd = wsgi.Server(("127.0.0.1", 0), Dispatcher(WSGIHandler()), numthreads=8)
    httpd.prepare()
    thread = threading.Thread(target=httpd.serve, daemon=True)
    thread.start()
    host, port = httpd.bind_addr
    yield f"http://{host}:{port}"
    httpd.stop()
    thread.join(timeout=10)


@dataclass
class Account:
    user: User
    password: str
    base: str

    @property
    def auth(self) -> tuple[str, str]:
        return (self.user.email, self.password)

    @property
    def calendars(self) -> str:
        return f"{self.base}{dav.CALDAV_PREFIX}/{self.user.email}/"

    @property
    def addressbooks(self) -> str:
        return f"{self.base}{dav.CARDDAV_PREFIX}/{self.user.email}/"


def account(base: str, user: User) -> Account:
    return Account(user, create_app_password(ACTOR, user, "agenda").clear, base)


@pytest.fixture
def admin(server, admin_a) -> Account:
    return account(server, admin_a)


@pytest.fixture
def agent(server, agent_a) -> Account:
    return account(server, agent_a)


@pytest.fixture
def elected(server, commune_a) -> Account:
    user = User.objects.create_user("elu@example.test", full_name="Élise Maire")
    Membership.objects.create(user=user, commune=commune_a, role=Role.ELECTED, title="Maire")
    return account(server, user)


@pytest.fixture
def other(server, admin_b) -> Account:
    """A member of another commune."""
    return account(server, admin_b)
