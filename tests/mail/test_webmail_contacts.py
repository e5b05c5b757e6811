"""Compose's autocomplete in the webmail, in headless Chromium: typing part of a
colleague's name in the To field proposes their address (the commune's directory), and a
contact of the person's own CardDAV address book is proposed as well; both come from
Roundcube's `clocher_addressbook` plugin reading `GET /oauth/carnet` with the webmail's
token. Nothing of another commune is proposed. The endpoint alone:
tests/groupware/test_webmail_contacts.py."""

from __future__ import annotations

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from clocher.accounts.services import create_app_password
from clocher.groupware import dav
from tests.e2e.browser import screenshot
from tests.e2e.conftest import browser  # noqa: F401 - fixture
from tests.mail.conftest import ACTOR, wait_for_messages
from tests.mail.test_webmail import (  # noqa: F401 - php_fpm: a fixture
    WAIT,
    _present,
    agent_box,
    deliver,
    open_compose,
    open_webmail,
    php_fpm,
)
from tests.vault.conftest import dav_server  # noqa: F401 - fixture

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture(autouse=True)
def groupware_dir(settings, tmp_path):
    """The CardDAV store of this test only (the worker's data dir outlives it)."""
    settings.GROUPWARE_DIR = tmp_path / "groupware"
    dav.reset()
    yield
    dav.reset()


def _proposals(driver) -> str:
    """The text of the autocomplete list, when it is shown."""
    pane = _present(driver, "#rcmKSearchpane")
    return pane.text if pane else ""


def test_compose_proposes_a_colleague_and_a_personal_contact(
    mail_servers,
    php_fpm,  # noqa: F811 - the fixture imported above
    dav_server,  # noqa: F811 - the fixture imported above
    make_box,
    commune_a,
    commune_b,
    browser,  # noqa: F811 - the fixture imported above
):
    reader = agent_box(make_box, "redactrice")
    colleague = make_box("collegue")
    colleague.user.full_name = "Colette Dubreuil"
    colleague.user.save()
    stranger = make_box("etrangere", commune=commune_b)
    stranger.user.full_name = "Dorothée Dubreuil"
    stranger.user.save()
    password = create_app_password(ACTOR, reader.user, "contacts").clear
    card = (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:plombier\r\nFN:Plomberie Martin\r\n"
        "N:Martin;Plomberie;;;\r\nEMAIL;TYPE=WORK:contact@plomberie-martin.test\r\nEND:VCARD\r\n"
    )
    put = requests.put(
        f"{dav_server}{dav.CARDDAV_PREFIX}/{reader.user.email}/contacts/plombier.vcf",
        data=card.encode(),
        auth=(reader.user.email, password),
        headers={"Content-Type": "text/vcard; charset=utf-8"},
        timeout=60,
    )
    assert put.status_code == 201, put.text

    # The webmail opens on a list with a message in it (an empty INBOX shows no list).
    deliver(mail_servers, reader.address, "Bienvenue", "Premier message.\r\n")
    wait_for_messages(mail_servers, reader.address, reader.password, 1, timeout=WAIT).logout()

    try:
        wait = open_webmail(browser, dav_server, commune_a.insee, reader.user.email)
        to = open_compose(browser, dav_server, wait)
        to.send_keys("dubreu")
        wait.until(lambda d: colleague.address in _proposals(d))
        assert "Colette Dubreuil" in _proposals(browser)
        assert stranger.address not in _proposals(browser)  # B's member, same name
        to.send_keys(Keys.ENTER)
        wait.until(
            lambda d: colleague.address in d.find_element(By.CSS_SELECTOR, ".recipient-input").text
        )

        to.send_keys("plomb")
        wait.until(lambda d: "contact@plomberie-martin.test" in _proposals(d))
    except Exception:
        screenshot(browser, "webmail-contacts-failure")
        raise
