"""The webmail end to end: headless Chromium logs into Clocher, follows the console's
« Webmail » link (no second password: Clocher's OIDC, then Dovecot checks the token in
Clocher's database), reads a message that came in over SMTP, and sends one that arrives
over IMAP in a colleague's mailbox. Roundcube from Debian under php-fpm, relayed at
/webmail/ by the production WSGI application (`Dispatcher`); Postfix and Dovecot are the
session's real servers."""

from __future__ import annotations

import imaplib
import subprocess
from collections.abc import Iterator

import pytest
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from clocher.core.models import Membership
from clocher.groupware.webmail import roundcube
from tests.conftest import PASSWORD
from tests.e2e.browser import log_in, screenshot
from tests.e2e.conftest import browser  # noqa: F401 - fixture
from tests.mail.conftest import (
    fetch_by_subject,
    message,
    smtp_in,
    wait_for_messages,
    wait_for_socket,
)
from tests.vault.conftest import dav_server  # noqa: F401 - fixture

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

WAIT = 180  # Roundcube's first page compiles its PHP on a loaded machine


@pytest.fixture(scope="module")
def php_fpm(mail_servers, live_server) -> Iterator[None]:
    """php-fpm with the configuration `clocher serve` writes (tokens asked of the live
    server, as Dovecot's introspection is)."""
    roundcube.prepare(mail_servers, live_server.url)
    log = (roundcube.webmail_dir() / "log" / "fpm.out").open("ab")
    process = subprocess.Popen(roundcube.fpm_argv(), stdout=log, stderr=log)  # noqa: S603
    try:
        wait_for_socket(roundcube.socket_path())
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _present(driver, css: str):
    """The first displayed element for `css`, else False (for WebDriverWait.until)."""
    try:
        return next(
            (e for e in driver.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()), False
        )
    except WebDriverException:
        return False


def _preview_text(driver) -> str:
    """The text of the preview frame, entered afresh at each poll (it navigates)."""
    driver.switch_to.default_content()
    try:
        driver.switch_to.frame("messagecontframe")
        return driver.find_element(By.TAG_NAME, "body").text
    finally:
        driver.switch_to.default_content()


def _text(driver) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


def agent_box(make_box, local: str):
    """A mailbox whose owner logs into Clocher with the tests' password."""
    box = make_box(local)
    box.user.set_password(PASSWORD)
    box.user.save()
    return box


def deliver(config, to: str, subject: str, body: str) -> None:
    """A message from outside, over SMTP to Postfix's port 25."""
    with smtp_in(config) as smtp:
        smtp.sendmail("maire@exemple.fr", [to], message("maire@exemple.fr", to, subject, body))


def open_webmail(driver, base: str, insee: str, email: str) -> WebDriverWait:
    # Roundcube redraws its list and preview as it goes: a poll that meets a replaced
    # element (stale) simply polls again.
    wait = WebDriverWait(driver, WAIT, poll_frequency=0.5, ignored_exceptions=(WebDriverException,))
    log_in(driver, wait, base, email, insee)
    driver.find_element(By.PARTIAL_LINK_TEXT, "Webmail").click()
    try:
        wait.until(lambda d: "_task=mail" in d.current_url and _present(d, "#messagelist"))
    except TimeoutException as exc:
        raise AssertionError(f"webmail not opened: {_state(driver)}") from exc
    return wait


def _state(driver) -> str:
    """Where the browser stands and what Roundcube logged: a failure says why."""
    errors = roundcube.webmail_dir() / "log" / "errors.log"
    logged = errors.read_text(errors="replace").splitlines()[-6:] if errors.exists() else []
    try:
        page = f"{driver.current_url}: {_text(driver)[:600]!r}"
    except WebDriverException as exc:
        page = f"(page unreadable: {exc.msg})"
    return page + "\nRoundcube errors.log:\n" + "\n".join(logged)


def _idle(driver) -> bool:
    """No request of Roundcube's page in flight."""
    return bool(
        driver.execute_script(
            "return !!(window.jQuery && jQuery.active === 0 && window.rcmail && !rcmail.busy);"
        )
    )


def open_compose(driver, base: str, wait: WebDriverWait):
    """The compose page's To field. Each Roundcube request writes back the PHP session it
    read at its start: a request still running when compose opens can drop the new draft's
    id, and compose then answers « invalid compose ID » (450). So compose opens once the
    page is idle, as a person clicks « Écrire » after the list shows, and again if a
    periodic refresh raced it all the same."""
    for attempt in range(3):
        wait.until(_idle)
        driver.get(f"{base}/webmail/?_task=mail&_action=compose")
        try:
            return WebDriverWait(
                driver,
                WAIT if attempt == 2 else 60,
                poll_frequency=0.5,
                ignored_exceptions=(WebDriverException,),
            ).until(lambda d: _present(d, ".recipient-input input"))
        except TimeoutException:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def test_agent_reads_and_sends_mail_in_the_webmail(
    mail_servers,
    php_fpm,
    dav_server,  # noqa: F811 - the fixture imported above
    make_box,
    commune_a,
    browser,  # noqa: F811 - the fixture imported above
):
    reader, colleague = agent_box(make_box, "lectrice"), make_box("collegue")
    deliver(
        mail_servers,
        reader.address,
        "Conseil municipal du 12",
        "Ordre du jour : budget primitif.\r\n",
    )
    wait_for_messages(mail_servers, reader.address, reader.password, 1, timeout=WAIT).logout()

    try:
        wait = open_webmail(browser, dav_server, commune_a.insee, reader.user.email)
        # French, and the awareness folder is there.
        assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "fr"
        wait.until(lambda d: _present(d, '#mailboxlist a[rel="Signaler"]'))
        row = wait.until(
            lambda d: (
                _present(d, "#messagelist tr")
                if "Conseil municipal du 12" in d.find_element(By.ID, "messagelist").text
                else False
            )
        )
        row.click()
        wait.until(lambda d: "budget primitif" in _preview_text(d))

        to = open_compose(browser, dav_server, wait)
        to.send_keys(colleague.address + ",")
        browser.find_element(By.ID, "compose-subject").send_keys("Réponse depuis le webmail")
        browser.find_element(By.ID, "composebody").send_keys("Bien reçu, merci.")
        browser.find_element(By.CSS_SELECTOR, "button.send, a.send").click()
        wait.until(lambda d: "_action=compose" not in d.current_url)
    except Exception:
        screenshot(browser, "webmail-failure")
        raise

    inbox = wait_for_messages(mail_servers, colleague.address, colleague.password, 1, timeout=WAIT)
    received = fetch_by_subject(inbox)
    inbox.logout()
    assert "Réponse depuis le webmail" in received
    sent = received["Réponse depuis le webmail"]
    assert sent["From"].addresses[0].addr_spec == reader.address
    assert "Bien reçu, merci." in sent.get_body(("plain",)).get_content()


def test_deactivated_member_is_shut_out_of_the_open_webmail(
    mail_servers,
    php_fpm,
    dav_server,  # noqa: F811 - the fixture imported above
    make_box,
    commune_a,
    browser,  # noqa: F811 - the fixture imported above
):
    from clocher.core import services
    from tests.access_cuts import ACTOR

    box = agent_box(make_box, "partante")
    deliver(mail_servers, box.address, "Budget confidentiel", "Chiffres du budget.\r\n")
    wait_for_messages(mail_servers, box.address, box.password, 1, timeout=WAIT).logout()
    wait = open_webmail(browser, dav_server, commune_a.insee, box.user.email)
    wait.until(lambda d: "Budget confidentiel" in d.find_element(By.ID, "messagelist").text)

    services.deactivate_member(ACTOR, Membership.objects.get(user=box.user, commune=commune_a))
    # The open webmail's next page logs into IMAP with the same token: Dovecot refuses it.
    browser.get(f"{dav_server}/webmail/?_task=mail&_mbox=INBOX")
    # Roundcube keeps its session and shows the refusal (its notice fades after a few
    # seconds; the emptied list stays); were it to sign in again, Clocher refuses.
    wait.until(
        lambda d: (
            "Erreur de connexion au serveur de stockage" in _text(d)
            or "la messagerie web ne peut pas s'ouvrir" in _text(d)
            or "La liste est vide" in d.find_element(By.ID, "messagelist").text
        )
    )
    assert "Budget confidentiel" not in _text(browser)
    with pytest.raises(imaplib.IMAP4.error):  # and with its app password, as before
        wait_for_messages(mail_servers, box.address, box.password, 1, timeout=5)
