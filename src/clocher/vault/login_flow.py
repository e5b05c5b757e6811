"""Nextcloud's login flow v2: how the stock desktop and mobile apps get an app password
without the person ever typing it.

The app starts a flow and opens the login URL in the browser; the person signs in (with
their second factor if they have one) and grants access; the app, polling with a secret
token only it knows, receives its login and a new app password once. Flows expire after
20 minutes; a granted flow is handed over once and then forgotten.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from clocher.accounts.models import User
from clocher.accounts.services import create_app_password
from clocher.core.audit import Actor
from clocher.core.scoping import may_use_protocols
from clocher.storage import crypto
from clocher.vault.models import ClientLogin

FLOW_LIFETIME = timedelta(minutes=20)


@dataclass
class StartedFlow:
    poll_token: str
    flow_token: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def client_name_from(user_agent: str) -> str:
    """A name the person recognises in their list of app passwords."""
    if "mirall" in user_agent.lower():
        return "Nextcloud (poste de travail)"
    if re.search(r"android", user_agent, re.IGNORECASE):
        return "Nextcloud (Android)"
    if re.search(r"ios|iphone|ipad", user_agent, re.IGNORECASE):
        return "Nextcloud (iPhone/iPad)"
    return (user_agent.strip() or "Application de synchronisation")[:100]


def start(client_name: str) -> StartedFlow:
    poll_token, flow_token = secrets.token_urlsafe(48), secrets.token_urlsafe(32)
    public, sealed_private = crypto.new_flow_keys(poll_token)
    ClientLogin.objects.filter(created_at__lt=timezone.now() - FLOW_LIFETIME).delete()
    ClientLogin.objects.create(
        poll_hash=_hash(poll_token),
        flow_hash=_hash(flow_token),
        client_name=client_name[:100],
        public_key=public,
        sealed_private_key=sealed_private,
    )
    return StartedFlow(poll_token, flow_token)


def pending(flow_token: str) -> ClientLogin | None:
    """The flow this login URL belongs to, if it still waits for someone to grant it."""
    return ClientLogin.objects.filter(
        flow_hash=_hash(flow_token),
        granted_at__isnull=True,
        created_at__gte=timezone.now() - FLOW_LIFETIME,
    ).first()


REFUSED = (
    "Votre compte n'a plus d'accès actif (membre désactivé ou retiré, ou commune suspendue) : "
    "aucun mot de passe d'application ne peut être remis à l'application."
)


def may_grant(user: User) -> bool:
    """An app password is handed only to someone it would open something for."""
    return may_use_protocols(user)


def grant(actor: Actor, flow: ClientLogin, user: User) -> None:
    if not may_grant(user):
        raise PermissionDenied(REFUSED)
    with transaction.atomic():
        new = create_app_password(actor, user, flow.client_name)
        flow.user = user
        flow.sealed_password = crypto.seal_to(bytes(flow.public_key), new.clear.encode())
        flow.granted_at = timezone.now()
        flow.save(update_fields=["user", "sealed_password", "granted_at"])


def poll(poll_token: str) -> tuple[User, str] | None:
    """The login and app password, once, when the flow has been granted."""
    with transaction.atomic():
        flow = (
            ClientLogin.objects.select_for_update(of=("self",))
            .filter(
                poll_hash=_hash(poll_token),
                granted_at__isnull=False,
                created_at__gte=timezone.now() - FLOW_LIFETIME,
            )
            .select_related("user")
            .first()
        )
        if flow is None or flow.user is None or flow.sealed_password is None:
            return None
        if not may_grant(flow.user):  # deactivated between the grant and the poll
            return None
        clear = crypto.open_with_token(
            poll_token, bytes(flow.sealed_private_key), bytes(flow.sealed_password)
        )
        user = flow.user
        flow.delete()
    return user, clear.decode()
