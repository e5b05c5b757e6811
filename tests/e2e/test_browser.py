"""A commune admin, in a real headless Chromium: log in, invite an agent, see them listed.

The screenshots are kept in artifacts/ as evidence of what the person saw.
"""

from __future__ import annotations

import pytest
from django.core import mail
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from clocher.core.models import Membership
from tests.conftest import PASSWORD, invitation_links
from tests.e2e.browser import field, log_in, screenshot

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True)
def test_commune_admin_invites_an_agent(live_server, browser, commune_a, admin_a, settings):
    settings.BASE_URL = live_server.url
    wait = WebDriverWait(browser, 15)
    log_in(browser, wait, live_server.url, admin_a.email, commune_a.insee)
    assert commune_a.name in browser.find_element(By.TAG_NAME, "h1").text
    screenshot(browser, "01-console-commune")

    browser.find_element(By.LINK_TEXT, "Membres").click()
    wait.until(ec.url_contains("/membres/"))
    field(browser, "Adresse électronique").send_keys("nouvelle.agente@flavigny.test")
    field(browser, "Nom complet").send_keys("Nouvelle Agente")
    field(browser, "Fonction").send_keys("Agente d'accueil")
    browser.find_element(By.XPATH, "//button[normalize-space(.)='Inviter']").click()
    notice = wait.until(ec.presence_of_element_located((By.CLASS_NAME, "message-success")))
    assert "envoyé par courriel" in notice.text and not invitation_links(browser.page_source)
    table = browser.find_element(By.TAG_NAME, "table").text
    assert "nouvelle.agente@flavigny.test" in table and "Agente d'accueil" in table
    screenshot(browser, "02-agent-invite")
    membership = Membership.objects.get(user__email="nouvelle.agente@flavigny.test")
    assert membership.commune == commune_a and membership.role == "agent"

    # The invited agent opens the link of their mail in their own session, sets a password.
    assert [m.to for m in mail.outbox] == [["nouvelle.agente@flavigny.test"]]
    (link,) = invitation_links(mail.outbox[0].body)
    browser.delete_all_cookies()
    browser.get(f"{live_server.url}{link}")
    field(browser, "Nom complet").clear()
    field(browser, "Nom complet").send_keys("Nouvelle Agente")
    field(browser, "Mot de passe").send_keys("un-mot-de-passe-solide-2026")
    field(browser, "Confirmez le mot de passe").send_keys(
        "un-mot-de-passe-solide-2026" + Keys.ENTER
    )
    wait.until(ec.url_contains(f"/c/{commune_a.insee}/"))
    assert "Agent" in browser.find_element(By.TAG_NAME, "main").text
    screenshot(browser, "03-agent-connecte")


@pytest.mark.django_db(transaction=True)
def test_keyboard_only_login_and_no_csp_violation(live_server, browser, agent_a):
    browser.get(f"{live_server.url}/")
    # On a page without autofocus, the first Tab reaches the skip link.
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    assert browser.switch_to.active_element.get_attribute("textContent") == "Aller au contenu"
    browser.get(f"{live_server.url}/connexion/")
    # The login page puts the focus in the address field; Tab goes to the password.
    assert browser.switch_to.active_element.get_attribute("name") == "email"
    browser.switch_to.active_element.send_keys(agent_a.email + Keys.TAB)
    assert browser.switch_to.active_element.get_attribute("name") == "password"
    browser.switch_to.active_element.send_keys(PASSWORD + Keys.ENTER)
    WebDriverWait(browser, 15).until(ec.url_matches(r"/c/\d{5}/$"))
    logs = browser.get_log("browser") if hasattr(browser, "get_log") else []
    assert not [entry for entry in logs if "Content Security Policy" in entry.get("message", "")]


@pytest.mark.django_db(transaction=True)
def test_agent_uploads_to_the_vault_with_a_progress_bar(
    live_server, browser, commune_a, agent_a, settings, tmp_path
):
    from clocher.core.audit import Actor
    from clocher.vault import services

    settings.VAULT_DIR = tmp_path / "coffre"
    root = services.root_of(services.ensure_commune_space(Actor(label="tests"), commune_a))
    wait = WebDriverWait(browser, 30)
    log_in(browser, wait, live_server.url, agent_a.email, commune_a.insee)
    browser.find_element(By.LINK_TEXT, "Ouvrir le coffre-fort").click()
    browser.find_element(By.CSS_SELECTOR, "ul.cards a").click()  # the commune's space
    wait.until(ec.url_contains("/coffre/dossiers/"))
    document = tmp_path / "procès-verbal du conseil.pdf"
    document.write_bytes(b"%PDF-1.4\n" + b"x" * (3 << 20))
    field(browser, "Envoyer des fichiers").send_keys(str(document))
    browser.find_element(By.XPATH, "//button[normalize-space(.)='Envoyer']").click()
    progress = browser.find_element(By.CSS_SELECTOR, ".upload-progress")
    wait.until(lambda d: "enregistré" in progress.text)
    screenshot(browser, "04-coffre-envoi")
    wait.until(ec.presence_of_element_located((By.LINK_TEXT, document.name)))
    screenshot(browser, "05-coffre-dossier")
    node = services.child(root, document.name)
    assert node is not None and node.size == document.stat().st_size
    logs = browser.get_log("browser") if hasattr(browser, "get_log") else []
    assert not [entry for entry in logs if "Content Security Policy" in entry.get("message", "")]
