"""API tokens: created for a user, shown once, stored hashed, revocable."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clocher.accounts.models import User
from clocher.api.models import ApiToken
from clocher.core import audit
from clocher.core.audit import Actor

TOKEN_PREFIX = "clo_"  # noqa: S105 - a public marker, not a secret


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    actor: Actor, user: User, name: str, expires_days: int | None = None
) -> tuple[ApiToken, str]:
    name = name.strip()
    if not name:
        raise ValidationError("Donnez un nom au jeton (par exemple « script d'inventaire »).")
    clear = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        record = ApiToken.objects.create(
            user=user,
            name=name[:100],
            key_hash=hash_token(clear),
            prefix=clear[:12],
            expires_at=timezone.now() + timedelta(days=expires_days) if expires_days else None,
        )
        audit.record(
            actor,
            "api.token_created",
            target=user.email,
            data={"name": record.name, "id": record.pk},
        )
    return record, clear


def revoke_token(actor: Actor, record: ApiToken) -> None:
    with transaction.atomic():
        if ApiToken.objects.filter(pk=record.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        ):
            audit.record(
                actor,
                "api.token_revoked",
                target=record.user.email,
                data={"name": record.name, "id": record.pk},
            )


def resolve_token(clear: str) -> ApiToken | None:
    """The live token matching `clear` (by hash), marking its use at most once a minute."""
    record = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=hash_token(clear), revoked_at__isnull=True)
        .first()
    )
    now = timezone.now()
    if record is None or (record.expires_at and record.expires_at <= now):
        return None
    if not record.user.is_active:
        return None
    if record.last_used_at is None or now - record.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=record.pk).update(last_used_at=now)
    return record
