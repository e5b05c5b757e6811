"""A mailbox shared read-only shows in the delegate's own webmail (Roundcube from Debian,
headless Chromium) as a folder, with the owner's messages: Dovecot's shared namespace
and ACLs (`mail.sharing`), no link nor login of its own."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from clocher.mail import services
from tests.e2e.browser import screenshot
from tests.e2e.conftest import browser  # noqa: F401 - fixture
from tests.mail.conftest import ACTOR, wait_for_messages
from tests.mail.test_webmail import (  # noqa: F401 - php_fpm: fixture
    WAIT,
    _present,
    agent_box,
    deliver,
    open_webmail,
    php_fpm,
)
from tests.vault.conftest import dav_server  # noqa: F401 - fixture

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_shared_mailbox_is_a_folder_of_the_delegates_webmail(
    mail_servers,
    php_fpm,  # noqa: F811 - the fixture imported above
    dav_server,  # noqa: F811 - the fixture imported above
    make_box,
    commune_a,
    browser,  # noqa: F811 - the fixture imported above
):
    accueil, secretaire = make_box("accueil"), agent_box(make_box, "secretaire")
    deliver(mail_servers, accueil.address, "Demande d'acte de naissance", "Merci.\r\n")
    # Her own INBOX is not empty (Roundcube hides an empty message list).
    deliver(mail_servers, secretaire.address, "Note de service", "Horaires d'été.\r\n")
    for box in (accueil, secretaire):
        wait_for_messages(mail_servers, box.address, box.password, 1, timeout=WAIT).logout()
    services.set_delegates(
        ACTOR, accueil.mailbox, [], readers=[secretaire.user], vmail_dir=mail_servers.vmail_dir
    )
    folder = f"shared/{accueil.address}"
    try:
        wait = open_webmail(browser, dav_server, commune_a.insee, secretaire.user.email)
        # In the folder list (subscribed at the grant), without any step of the person.
        link = wait.until(lambda d: _present(d, f'#mailboxlist a[rel="{folder}"]'))
        link.click()
        wait.until(
            lambda d: "Demande d'acte de naissance" in d.find_element(By.ID, "messagelist").text
        )
    except Exception:
        screenshot(browser, "webmail-shared-failure")
        raise
