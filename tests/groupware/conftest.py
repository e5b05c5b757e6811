"""A real HTTP server (cheroot, as for the vault) serving the production WSGI application
(`Dispatcher`: Django, WsgiDAV and the groupware's Radicale) on the test database, and
members of two communes with app passwords."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import requests

from clocher.accounts.models import User
from clocher.accounts.services import create_app_password
from clocher.core.audit import Actor
from clocher.core.models import Membership, Role
from clocher.groupware import dav, services
from tests.vault.conftest import dav_server  # noqa: F401 - a fixture, used by `server`

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
def server(dav_server) -> str:  # noqa: F811 - the imported fixture, by name
    """The vault's test server: the same `Dispatcher` serves the groupware."""
    return dav_server


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


def report(who: Account, url: str, body: str) -> requests.Response:
    """A REPORT (Depth 1) as `who`."""
    return requests.request(
        "REPORT",
        url,
        auth=who.auth,
        data=body.encode(),
        headers={"Depth": "1", "Content-Type": "application/xml"},
        timeout=30,
    )


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
