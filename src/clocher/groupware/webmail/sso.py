"""Single sign-on into the webmail: Clocher is the OpenID Connect provider of one
confidential client, Roundcube, and Dovecot asks Clocher whether a token is still good.

The flow is OAuth 2.0's authorization code (RFC 6749 §4.1): the console's link sends the
browser to Roundcube, Roundcube to `/oauth/autoriser` with the Clocher session, that
answers with a one-time code (60 s) for the mailbox chosen in the console; Roundcube
trades it, with its secret, for an access token (5 minutes), a refresh token and an ID
token (HS256 under the client secret, OIDC Core §10.1), then logs into IMAP and SMTP
with XOAUTH2. Dovecot checks each token in Clocher's database at every login, with the
rule of the app passwords (`mail.engines.config.TOKEN_QUERY`): the grant is not revoked
(logging out of Clocher revokes it), the token is not expired, the person may still open
the mailbox. A deactivated member's next IMAP command is refused. The same answer is
given over HTTP by the introspection endpoint (RFC 7662, `introspect`).

Why SQL rather than Dovecot's `passdb oauth2` calling the introspection endpoint: the
Dovecot of Debian 12 (2.3.19) aborts its auth process when that passdb sits beside a
PostgreSQL one (dovecot/core pull request #200, fixed after 2.3.19), and a database
lookup costs no HTTP round trip per IMAP login. Access tokens are random, stored as
SHA-256 with their first 8 characters to find the row (as app passwords are).

PKCE (RFC 7636, S256) is verified when the client sends a challenge; Roundcube 1.6 does
not, and is a confidential client whose secret never leaves the server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from clocher.core import audit, scoping
from clocher.core.audit import Actor
from clocher.groupware.models import WebmailGrant
from clocher.mail.models import Mailbox

CLIENT_ID = "webmail"
# Where Roundcube 1.6 receives the code (rcmail_oauth::get_redirect_uri).
REDIRECT_PATH = "/webmail/index.php/login/oauth"
CODE_SECONDS = 60
ACCESS_SECONDS = 5 * 60
SCOPE = "openid email"
PREFIX_LENGTH = 8


class GrantRefused(Exception):
    """The request cannot be granted; `error` is the OAuth error code, the message is
    French for the person."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error = error


def secret(name: str) -> str:
    """A secret generated once into the data dir (0600), shared through generated configs
    (Roundcube's client secret, Dovecot's introspection password, Roundcube's DES key)."""
    directory = Path(settings.WEBMAIL_DIR) / "secrets"
    path = directory / name
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = secrets.token_urlsafe(24)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process wrote it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def openable_mailboxes(user: Any) -> Any:
    """Mailboxes `user` may open right now: their own and those delegated to them, active,
    in a commune where they are an active member and that is active — the same rule as
    the app passwords (`mail.engines.config.PASSWORD_QUERY`)."""
    return (
        Mailbox.objects.filter(is_active=True, commune__in=scoping.protocol_communes(user))
        .filter(Q(user=user) | Q(delegates=user))
        .distinct()
        .order_by("kind", "address")
    )


def mailbox_openable(user: Any, mailbox_id: int) -> bool:
    return openable_mailboxes(user).filter(pk=mailbox_id).exists()


def check_client(client_id: str, client_secret: str) -> bool:
    return client_id == CLIENT_ID and hmac.compare_digest(
        client_secret.encode(), secret("client").encode()
    )


def redirect_allowed(redirect_uri: str, origin: str) -> bool:
    """Only Roundcube's own callback on the same origin as Clocher's page: the code never
    goes anywhere else, whatever the link that started the flow."""
    parts = urlsplit(redirect_uri)
    return (
        f"{parts.scheme}://{parts.netloc}" == origin
        and parts.path == REDIRECT_PATH
        and not parts.query
        and not parts.fragment
    )


@dataclass(frozen=True)
class Authorization:
    code: str
    grant: WebmailGrant


def authorize(
    actor: Actor,
    *,
    mailbox_id: int | None,
    redirect_uri: str,
    session_key: str,
    code_challenge: str = "",
    code_challenge_method: str = "",
) -> Authorization:
    """A one-time code for the mailbox chosen in the console (else the person's own)."""
    user = actor.user
    mailboxes = openable_mailboxes(user)
    mailbox = mailboxes.filter(pk=mailbox_id).first() if mailbox_id else None
    if mailbox is None:
        mailbox = mailboxes.filter(user=user).first() or mailboxes.first()
    if mailbox is None:
        raise GrantRefused(
            "access_denied",
            "Vous n'avez pas de boîte aux lettres ouverte dans une commune active : "
            "la messagerie web ne peut pas s'ouvrir.",
        )
    if code_challenge and code_challenge_method != "S256":
        raise GrantRefused("invalid_request", "Seule la méthode PKCE S256 est acceptée.")
    code = secrets.token_urlsafe(32)
    with transaction.atomic():
        grant = WebmailGrant.objects.create(
            commune=mailbox.commune,
            user=user,
            mailbox=mailbox,
            session_key=session_key,
            redirect_uri=redirect_uri,
            code_hash=_digest(code),
            code_challenge=code_challenge,
            code_expires_at=timezone.now() + timedelta(seconds=CODE_SECONDS),
        )
        audit.record(
            actor, "groupware.webmail_opened", commune=mailbox.commune, target=mailbox.address
        )
    return Authorization(code, grant)


def _pkce_ok(grant: WebmailGrant, verifier: str) -> bool:
    if not grant.code_challenge:
        return True
    computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return hmac.compare_digest(computed.rstrip(b"=").decode(), grant.code_challenge)


def _tokens(grant: WebmailGrant, issuer: str) -> dict[str, Any]:
    """A new access token, refresh token (rotated) and ID token for `grant`."""
    refresh, access = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    grant.refresh_hash = _digest(refresh)
    grant.access_prefix = access[:PREFIX_LENGTH]
    grant.access_hash = _digest(access)
    grant.access_expires_at = timezone.now() + timedelta(seconds=ACCESS_SECONDS)
    grant.save(update_fields=["refresh_hash", "access_prefix", "access_hash", "access_expires_at"])
    now = int(time.time())
    id_token = jwt.encode(
        {
            "iss": issuer,
            "sub": str(grant.user_id),
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + ACCESS_SECONDS,
            "email": grant.mailbox.address,
        },
        secret("client"),
        algorithm="HS256",
    )
    return {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": ACCESS_SECONDS,
        "refresh_token": refresh,
        "id_token": id_token,
        "scope": SCOPE,
    }


def exchange_code(code: str, redirect_uri: str, verifier: str, issuer: str) -> dict[str, Any]:
    """The token response for a code: once only, within its minute, same redirect."""
    with transaction.atomic():
        grant = (
            WebmailGrant.objects.select_for_update(of=("self",))  # not the mailbox's row
            .select_related("mailbox")
            .filter(code_hash=_digest(code))
            .first()
        )
        replayed = grant is not None and grant.code_used_at is not None
        if replayed and grant is not None:
            # A code presented twice was stolen or replayed: what it gave is revoked too
            # (RFC 6749 §4.1.2); committed, though the request is refused.
            grant.revoked_at = grant.revoked_at or timezone.now()
            grant.save(update_fields=["revoked_at"])
        valid = (
            grant is not None
            and not replayed
            and grant.revoked_at is None
            and grant.code_expires_at >= timezone.now()
            and grant.redirect_uri == redirect_uri
            and _pkce_ok(grant, verifier)
        )
        if valid and grant is not None:
            grant.code_used_at = timezone.now()
            grant.save(update_fields=["code_used_at"])
    if not valid or grant is None:
        raise GrantRefused("invalid_grant", "Code d'autorisation inconnu, expiré ou déjà utilisé.")
    if not mailbox_openable(grant.user, grant.mailbox_id):
        raise GrantRefused("invalid_grant", "Cette boîte ne vous est plus ouverte.")
    with transaction.atomic():
        return _tokens(grant, issuer)


def refresh(token: str, issuer: str) -> dict[str, Any]:
    with transaction.atomic():
        grant = (
            WebmailGrant.objects.select_for_update(of=("self",))  # not the mailbox's row
            .select_related("mailbox")
            .filter(refresh_hash=_digest(token), revoked_at__isnull=True)
            .first()
        )
        if grant is None or not mailbox_openable(grant.user, grant.mailbox_id):
            raise GrantRefused("invalid_grant", "Jeton de rafraîchissement refusé.")
        return _tokens(grant, issuer)


def active_grant(access_token: str) -> WebmailGrant | None:
    """The grant behind a live access token, if the person may still open its mailbox."""
    grant = (
        WebmailGrant.objects.select_related("mailbox", "user")
        .filter(
            access_prefix=access_token[:PREFIX_LENGTH],
            access_hash=_digest(access_token),
            access_expires_at__gt=timezone.now(),
            revoked_at__isnull=True,
        )
        .first()
    )
    if grant is None or not mailbox_openable(grant.user, grant.mailbox_id):
        return None
    return grant


def introspect(access_token: str) -> dict[str, Any]:
    """RFC 7662's answer; `username` is the mailbox address Dovecot compares with the
    login name, so a token opens its own mailbox and no other."""
    grant = active_grant(access_token)
    if grant is None:
        return {"active": False}
    return {
        "active": True,
        "username": grant.mailbox.address,
        "client_id": CLIENT_ID,
        "scope": SCOPE,
        "sub": str(grant.user_id),
    }


def revoke_session(session_key: str) -> int:
    """Logging out of Clocher closes the webmail sessions it opened."""
    if not session_key:
        return 0
    return WebmailGrant.objects.filter(session_key=session_key, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
