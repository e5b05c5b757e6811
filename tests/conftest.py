"""Shared fixtures: an operator, two active communes with their people, signed-in clients.

`commune_a` and `commune_b` are the two tenants of the isolation matrix: everything of
`commune_b` must stay invisible to the people of `commune_a`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pyotp
import pytest
from django.test import Client
from django.utils import timezone

from clocher.accounts.models import User
from clocher.core import services
from clocher.core.audit import Actor
from clocher.core.models import Commune, CommuneStatus, Role

PASSWORD = "correct-horse-battery-staple-42"
_INVITATION_LINK = re.compile(r"/invitation/[A-Za-z0-9_-]{20,}/")


def invitation_links(text: str) -> list[str]:
    """The one-time links in a page, an API answer, a CLI output or a mail."""
    return _INVITATION_LINK.findall(text)


SYSTEM = Actor(label="tests")


@pytest.fixture
def actor() -> Actor:
    return SYSTEM


@pytest.fixture
def operator(db):
    return services.ensure_operator(
        SYSTEM, "Département de la Côte-d'Or", "communes.cotedor.fr", "numerique@cotedor.fr", "21"
    )


def _user(email: str, full_name: str = "") -> User:
    user = User.objects.create_user(email=email, password=PASSWORD, full_name=full_name)
    return user


@pytest.fixture
def operator_admin(operator) -> User:
    membership = services.add_operator_member(SYSTEM, "admin@cotedor.fr", Role.OPERATOR_ADMIN)
    user = membership.user
    user.set_password(PASSWORD)
    user.totp_secret = pyotp.random_base32()
    user.totp_confirmed_at = timezone.now()
    user.save()
    return user


@pytest.fixture
def make_commune(operator) -> Callable[..., Commune]:
    def make(insee: str, status: str = CommuneStatus.ACTIVE) -> Commune:
        return services.create_commune(SYSTEM, insee, status=status)

    return make


@pytest.fixture
def commune_a(make_commune) -> Commune:
    return make_commune("21271")  # Flavigny-sur-Ozerain


@pytest.fixture
def commune_b(make_commune) -> Commune:
    return make_commune("21716")  # Vougeot


def _member(commune: Commune, email: str, role: str) -> User:
    added = services.add_member(SYSTEM, commune, email, role, invite=False)
    user = added.membership.user
    user.set_password(PASSWORD)
    user.save()
    return user


@pytest.fixture
def admin_a(commune_a) -> User:
    return _member(commune_a, "secretaire@flavigny.test", Role.COMMUNE_ADMIN)


@pytest.fixture
def agent_a(commune_a) -> User:
    return _member(commune_a, "agent@flavigny.test", Role.AGENT)


@pytest.fixture
def admin_b(commune_b) -> User:
    return _member(commune_b, "secretaire@vougeot.test", Role.COMMUNE_ADMIN)


@pytest.fixture
def agent_b(commune_b) -> User:
    return _member(commune_b, "agent@vougeot.test", Role.AGENT)


def logged_in(user: User) -> Client:
    """A client with a fully authenticated session (password and, if set, TOTP done)."""
    client = Client()
    client.force_login(user)
    session = client.session
    session["clocher_2fa_ok"] = True
    session.save()
    return client


@pytest.fixture
def client_operator(operator_admin) -> Client:
    return logged_in(operator_admin)


@pytest.fixture
def client_admin_a(admin_a) -> Client:
    return logged_in(admin_a)


@pytest.fixture
def client_agent_a(agent_a) -> Client:
    return logged_in(agent_a)


@pytest.fixture
def client_admin_b(admin_b) -> Client:
    return logged_in(admin_b)


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """`make test` runs `-n 3 --dist loadfile`: each test file whole in one worker (its
    module fixtures start once), and all of tests/mail/ as one unit in one worker: one
    set of mail servers (rspamd, Postfix, Dovecot) per run, not one per worker starting
    at once. (xdist's own `loadgroup` marks do not take under pytest 9.)"""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByFileMailTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "tests/mail/" if path.startswith("tests/mail/") else path

    return ByFileMailTogether(config, log)
