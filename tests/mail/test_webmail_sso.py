"""The webmail's single sign-on against the real Dovecot: the token Clocher gives Roundcube
opens its own mailbox over IMAP (XOAUTH2, checked by Dovecot in Clocher's database; the
introspection endpoint answers the same), no other one, and stops the moment the console
cuts the person off, or they log out of Clocher. The browser half: test_webmail.py."""

from __future__ import annotations

import base64
import imaplib
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from clocher.groupware.webmail import sso
from tests.access_cuts import cuts
from tests.conftest import logged_in
from tests.mail.conftest import tls_context

pytestmark = pytest.mark.django_db(transaction=True)

REDIRECT = "http://testserver/webmail/index.php/login/oauth"


def authorize(client: Client, **extra: str) -> str:
    """The code that `oauth/autoriser` sends back to Roundcube."""
    answer = client.get(
        "/oauth/autoriser",
        {
            "client_id": sso.CLIENT_ID,
            "response_type": "code",
            "redirect_uri": REDIRECT,
            "state": "etat-1",
            "scope": sso.SCOPE,
            **extra,
        },
    )
    assert answer.status_code == 302, answer.content
    location = urlsplit(answer["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    query = parse_qs(location.query)
    assert query["state"] == ["etat-1"]
    return query["code"][0]


def exchange(code: str, **extra: str):
    return Client().post(
        "/oauth/jeton",
        {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": sso.CLIENT_ID,
            "client_secret": sso.secret("client"),
            "redirect_uri": REDIRECT,
            **extra,
        },
    )


def access_token(client: Client) -> str:
    answer = exchange(authorize(client))
    assert answer.status_code == 200, answer.content
    return answer.json()["access_token"]


def imap_xoauth2(config, address: str, token: str) -> bool:
    client = imaplib.IMAP4("127.0.0.1", config.imap_port, timeout=60)
    try:
        client.starttls(ssl_context=tls_context())
        client.authenticate(
            "XOAUTH2", lambda _: f"user={address}\x01auth=Bearer {token}\x01\x01".encode()
        )
        status, _ = client.select("Signaler")  # the awareness folder is there too
        return status == "OK"
    except imaplib.IMAP4.error:
        return False
    finally:
        client.logout()


def introspected(token: str) -> dict:
    answer = Client().post(
        "/interne/webmail/introspection",
        {"token": token},
        HTTP_AUTHORIZATION="Basic "
        + base64.b64encode(f"dovecot:{sso.secret('introspection')}".encode()).decode(),
    )
    assert answer.status_code == 200
    return answer.json()


@cuts
def test_token_opens_the_mailbox_until_the_console_cuts_access(
    mail_servers, make_box, commune_a, cut, restore
):
    box = make_box("lecture")
    token = access_token(logged_in(box.user))
    assert imap_xoauth2(mail_servers, box.address, token)
    assert introspected(token) == {
        "active": True,
        "username": box.address,
        "client_id": sso.CLIENT_ID,
        "scope": sso.SCOPE,
        "sub": str(box.user.pk),
    }

    cut(box.user, commune_a)
    assert not imap_xoauth2(mail_servers, box.address, token)
    assert introspected(token) == {"active": False}
    refreshed = Client().post(
        "/oauth/jeton",
        {"grant_type": "refresh_token", "refresh_token": "x", "client_id": sso.CLIENT_ID},
    )
    assert refreshed.status_code == 401  # no secret: the client itself is refused

    if restore is not None:
        restore(box.user, commune_a)
        assert imap_xoauth2(mail_servers, box.address, token)


def test_token_opens_no_other_mailbox(mail_servers, make_box, commune_b):
    mine = make_box("mienne")
    other = make_box("autre-commune", commune=commune_b)
    client = logged_in(mine.user)
    # Another commune's mailbox: not offered by the console link, not given by a session
    # that names it, and the token does not open it over IMAP.
    assert client.get(f"/c/{commune_b.insee}/webmail/{other.mailbox.pk}/").status_code == 404
    session = client.session
    session["webmail_mailbox"] = other.mailbox.pk
    session.save()
    token = access_token(client)
    assert introspected(token)["username"] == mine.address
    assert not imap_xoauth2(mail_servers, other.address, token)
    assert imap_xoauth2(mail_servers, mine.address, token)
    assert not imap_xoauth2(mail_servers, mine.address, token + "x")


def test_shared_mailbox_opens_for_its_delegate_from_the_console(mail_servers, make_box, commune_a):
    from clocher.mail import services
    from clocher.mail.models import MailboxKind
    from tests.mail.conftest import ACTOR, DOMAIN

    agent = make_box("delegue")
    shared = services.create_mailbox(ACTOR, commune_a, f"accueil@{DOMAIN}", kind=MailboxKind.SHARED)
    shared.delegates.add(agent.user)
    client = logged_in(agent.user)
    opened = client.get(f"/c/{commune_a.insee}/webmail/{shared.pk}/")
    assert opened.status_code == 302
    assert opened["Location"] == "/webmail/?_task=login&_action=oauth"
    token = access_token(client)
    assert imap_xoauth2(mail_servers, shared.address, token)
    assert not imap_xoauth2(mail_servers, agent.address, token)


def test_code_is_single_use_and_logout_closes_the_webmail(mail_servers, make_box):
    box = make_box("session")
    client = logged_in(box.user)
    code = authorize(client)
    first = exchange(code)
    assert first.status_code == 200
    token = first.json()["access_token"]
    assert exchange(code).json()["error"] == "invalid_grant"
    # A replayed code revokes what it gave (RFC 6749 §4.1.2).
    assert not imap_xoauth2(mail_servers, box.address, token)

    token = access_token(client)
    refresh = Client().post(
        "/oauth/jeton",
        {
            "grant_type": "refresh_token",
            "refresh_token": "inconnu",
            "client_id": sso.CLIENT_ID,
            "client_secret": sso.secret("client"),
        },
    )
    assert refresh.json()["error"] == "invalid_grant"
    assert imap_xoauth2(mail_servers, box.address, token)
    client.post("/deconnexion/")
    assert not imap_xoauth2(mail_servers, box.address, token)


def test_authorize_refuses_another_redirect_and_a_wrong_secret(make_box):
    box = make_box("redirection")
    client = logged_in(box.user)
    answer = client.get(
        "/oauth/autoriser",
        {
            "client_id": sso.CLIENT_ID,
            "response_type": "code",
            "redirect_uri": "https://ailleurs.example/webmail/index.php/login/oauth",
            "state": "x",
        },
    )
    assert answer.status_code == 400
    assert "Adresse de retour refusée" in answer.content.decode()
    assert exchange(authorize(client), client_secret="faux").status_code == 401


def test_pkce_s256_is_checked_when_the_client_sends_it(make_box):
    import hashlib

    verifier = "v" * 64
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    client = logged_in(make_box("pkce").user)
    pkce = {"code_challenge": challenge.decode(), "code_challenge_method": "S256"}
    wrong = exchange(authorize(client, **pkce), code_verifier="w" * 64)
    assert wrong.json()["error"] == "invalid_grant"
    assert exchange(authorize(client, **pkce), code_verifier=verifier).status_code == 200
    plain = client.get(
        "/oauth/autoriser",
        {
            "client_id": sso.CLIENT_ID,
            "response_type": "code",
            "redirect_uri": REDIRECT,
            "code_challenge": verifier,
            "code_challenge_method": "plain",
        },
    )
    assert plain.status_code == 403
