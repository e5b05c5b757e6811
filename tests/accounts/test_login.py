"""Web sign-in: throttling, second factor, sessions, headers."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from clocher.accounts.models import LoginAttempt
from clocher.core.models import AuditEntry
from tests.conftest import PASSWORD

LOGIN = "/connexion/"


def _post_login(client: Client, email: str, password: str):
    return client.post(LOGIN, {"email": email, "password": password})


@pytest.mark.django_db
def test_agent_logs_in_and_reaches_their_commune(agent_a, commune_a):
    client = Client()
    response = _post_login(client, "AGENT@flavigny.test", PASSWORD)
    assert response.status_code == 302
    assert client.session["clocher_2fa_ok"] is True
    home = client.get("/", follow=True)
    assert commune_a.name in home.content.decode()


@pytest.mark.django_db
def test_wrong_password_and_unknown_address_get_the_same_message(agent_a):
    client = Client()
    wrong = _post_login(client, "agent@flavigny.test", "nope-nope-nope")
    unknown = _post_login(client, "nobody@flavigny.test", "nope-nope-nope")
    message = "Adresse électronique ou mot de passe incorrect."
    assert wrong.status_code == unknown.status_code == 401
    assert message in wrong.content.decode() and message in unknown.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_lockout_after_failures_even_with_the_right_password(agent_a, settings):
    client = Client()
    for _ in range(settings.LOGIN_MAX_FAILURES - 1):
        assert _post_login(client, agent_a.email, "wrong-password!").status_code == 401
    locked = _post_login(client, agent_a.email, "wrong-password!")
    assert locked.status_code == 429
    assert "Réessayez dans" in locked.content.decode()
    still = _post_login(client, agent_a.email, PASSWORD)
    assert still.status_code == 429
    assert "_auth_user_id" not in client.session
    assert AuditEntry.objects.filter(action="account.login_locked", target=agent_a.email).exists()
    # Once the window has passed, the right password works again.
    LoginAttempt.objects.update(
        at=timezone.now() - timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES + 1)
    )
    assert _post_login(client, agent_a.email, PASSWORD).status_code == 302


@pytest.mark.django_db
def test_operator_without_totp_must_set_it_up_first(operator_admin):
    operator_admin.totp_secret = ""
    operator_admin.totp_confirmed_at = None
    operator_admin.save()
    client = Client()
    response = _post_login(client, operator_admin.email, PASSWORD)
    assert response.headers["Location"] == reverse("accounts:totp_setup")
    blocked = client.get("/compte/")
    assert blocked.status_code == 302
    assert blocked.headers["Location"].startswith(reverse("accounts:totp_setup"))
    page = client.get(reverse("accounts:totp_setup"))
    assert page.status_code == 200 and "<svg" in page.content.decode()
    operator_admin.refresh_from_db()
    code = pyotp.TOTP(operator_admin.totp_secret).now()
    done = client.post(reverse("accounts:totp_setup"), {"action": "confirm", "code": code})
    assert done.status_code == 302
    assert client.get("/compte/").status_code == 200
    assert AuditEntry.objects.filter(action="account.totp_enabled").exists()


@pytest.mark.django_db
def test_totp_step_accepts_a_code_once(operator_admin):
    client = Client()
    response = _post_login(client, operator_admin.email, PASSWORD)
    assert response.headers["Location"] == reverse("accounts:totp")
    assert client.get("/compte/").headers["Location"] == reverse("accounts:totp")
    code = pyotp.TOTP(operator_admin.totp_secret).now()
    assert (
        client.post(
            reverse("accounts:totp"), {"code": "000000" if code != "000000" else "111111"}
        ).status_code
        == 401
    )
    assert client.post(reverse("accounts:totp"), {"code": code}).status_code == 302
    assert client.get("/compte/").status_code == 200
    # The same code cannot open a second session.
    other = Client()
    _post_login(other, operator_admin.email, PASSWORD)
    replay = other.post(reverse("accounts:totp"), {"code": code})
    assert replay.status_code == 401
    assert "déjà utilisé" in replay.content.decode()


@pytest.mark.django_db
def test_login_is_csrf_protected(agent_a):
    client = Client(enforce_csrf_checks=True)
    response = _post_login(client, agent_a.email, PASSWORD)
    assert response.status_code == 403


@pytest.mark.django_db
def test_security_headers_on_pages():
    response = Client().get(LOGIN)
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


@pytest.mark.django_db
def test_open_redirect_is_refused(agent_a):
    client = Client()
    response = client.post(
        LOGIN + "?next=https://evil.example/",
        {"email": agent_a.email, "password": PASSWORD, "next": "https://evil.example/"},
    )
    assert response.headers["Location"] == "/"


@pytest.mark.django_db
def test_logout_needs_post(client_agent_a):
    assert client_agent_a.get("/deconnexion/").status_code == 405
    assert client_agent_a.post("/deconnexion/").status_code == 302
    assert "_auth_user_id" not in client_agent_a.session


@pytest.mark.django_db
def test_an_english_browser_still_gets_french_errors_and_formats():
    """No other catalogue exists yet: one language, not French text with English bits."""
    client = Client(HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    page = client.post(LOGIN, {"email": "", "password": ""}).content.decode()
    assert "Ce champ est obligatoire." in page and "This field is required" not in page
    assert 'lang="fr"' in page
