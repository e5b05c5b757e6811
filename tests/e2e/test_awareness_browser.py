"""An exercise's landing page in a real browser: a click is the page shown to a person,
not a fetch of its address (mail gateways open every link before the agent does)."""

from __future__ import annotations

import urllib.request

import pytest
from django.core import mail
from selenium.webdriver.support.ui import WebDriverWait

from clocher.awareness import services
from clocher.awareness.models import Event, EventKind
from tests.awareness.conftest import ACTOR, enrolled, make_box  # noqa: F401 - fixtures
from tests.awareness.test_awareness import FAR, LINK, MONDAY, path_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def clicks() -> int:
    return Event.objects.filter(kind=EventKind.CLICKED).count()


def test_the_page_shown_in_a_browser_is_a_click_a_fetch_is_not(
    live_server,
    browser,
    enrolled,  # noqa: F811 - the fixture imported above
    commune_a,
    settings,
):
    settings.BASE_URL = live_server.url
    enrolled(1)
    campaign = services.create_campaign(ACTOR, commune_a, "Exercice", MONDAY, 1)
    services.send_due(FAR, campaign=campaign)
    (message,) = mail.outbox
    url = live_server.url + path_of(LINK.search(message.body).group(0))

    with urllib.request.urlopen(url, timeout=30) as answer:  # noqa: S310 - the live server
        assert answer.status == 200  # what a link scanner does
    assert clicks() == 0

    browser.get(url)
    WebDriverWait(browser, 30, poll_frequency=0.2).until(lambda _: clicks() == 1)
    browser.refresh()  # shown again: still one click
    WebDriverWait(browser, 30).until(
        lambda b: b.execute_script("return document.readyState") == "complete"
    )
    assert clicks() == 1
    logs = browser.get_log("browser") if hasattr(browser, "get_log") else []
    assert not [entry for entry in logs if "Content Security Policy" in entry.get("message", "")]
