"""RGAA: axe-core's WCAG 2.1 A/AA rules over every page a person reaches by following
links, as anonymous, a commune admin and the operator — one Chromium session per role.
The list of pages audited is kept in artifacts/ (axe-<role>.txt)."""

from __future__ import annotations

import pytest
from django.conf import settings

from clocher.accounts.models import User
from clocher.core import demo as demo_module
from tests.conftest import SYSTEM, logged_in
from tests.e2e.axe import audit_site, check_axe_runs
from tests.e2e.browser import ARTIFACTS, chromium

pytestmark = pytest.mark.browser

PAGES_PER_ROLE = 60


def _audit(live_server, user, start: str, role: str) -> dict[str, list[str]]:
    with chromium() as driver:
        check_axe_runs(driver)
        if user is not None:
            session = logged_in(user).cookies[settings.SESSION_COOKIE_NAME].value
            driver.get(f"{live_server.url}/healthz")
            driver.add_cookie({"name": settings.SESSION_COOKIE_NAME, "value": session, "path": "/"})
        pages = audit_site(driver, live_server.url, start, PAGES_PER_ROLE)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"axe-{role}.txt").write_text("\n".join(sorted(pages)) + "\n", encoding="utf-8")
    return pages


def _failures(pages: dict[str, list[str]]) -> list[str]:
    return [f"{path}: {line}" for path, lines in sorted(pages.items()) for line in lines]


@pytest.mark.django_db(transaction=True)
def test_anonymous_pages_have_no_wcag_violation(live_server, operator):
    pages = _audit(live_server, None, "/", "anonyme")
    assert {"/", "/adhesion/", "/connexion/"} <= set(pages)
    assert _failures(pages) == []


@pytest.fixture
def demo(db, monkeypatch):
    """The demo installation (`clocher init --demo`): energy, finance, forecast, mail and
    vault data, so the pages show their charts and tables rather than empty states."""
    # Sealed archive deposits are append-only: the flush after a live-server test could
    # not remove them, and the archive pages have their own data in tests/archive.
    hooks = [h for h in demo_module.DEMO_HOOKS if h.__module__ != "clocher.archive.hooks"]
    monkeypatch.setattr(demo_module, "DEMO_HOOKS", hooks)
    monkeypatch.setattr(demo_module, "DEMO_COMMUNES", demo_module.DEMO_COMMUNES[:1])
    demo_module.seed(SYSTEM)
    return demo_module


@pytest.mark.django_db(transaction=True)
def test_commune_admin_pages_have_no_wcag_violation(live_server, demo):
    insee, email = demo.DEMO_COMMUNES[0]
    pages = _audit(live_server, User.objects.get(email=email), f"/c/{insee}/", "admin-commune")
    assert f"/c/{insee}/" in pages and len(pages) > 5
    assert _failures(pages) == []


@pytest.mark.django_db(transaction=True)
def test_operator_pages_have_no_wcag_violation(live_server, demo):
    operator = User.objects.get(email=demo.OPERATOR_ADMIN)
    pages = _audit(live_server, operator, "/operateur/", "operateur")
    assert "/operateur/" in pages and len(pages) > 5
    assert _failures(pages) == []
