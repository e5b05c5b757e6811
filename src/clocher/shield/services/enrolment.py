"""Enrolment of a box with a one-time token, its revocation, and the signed requests it
makes (authentication, heartbeat)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clocher.core import audit
from clocher.core.audit import Actor
from clocher.core.models import Commune
from clocher.shield.models import (
    Box,
    EnrolmentToken,
)
from clocher.shield.services.keys import policy_version
from clocher_box import protocol

TOKEN_VALIDITY = dt.timedelta(days=7)


MAX_HEALTH_BYTES = 16 * 1024


class AuthenticationFailed(Exception):
    """A box request that must be answered 401 (the message says why, for the log)."""


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class IssuedToken:
    record: EnrolmentToken
    token: str  # shown once, never stored


def issue_token(actor: Actor, commune: Commune) -> IssuedToken:
    """A new enrolment token for `commune`; earlier unused ones are cancelled."""
    token = f"clb_{secrets.token_urlsafe(32)}"
    now = timezone.now()
    with transaction.atomic():
        EnrolmentToken.objects.filter(
            commune=commune, used_at__isnull=True, cancelled_at__isnull=True
        ).update(cancelled_at=now)
        record = EnrolmentToken.objects.create(
            commune=commune,
            token_hash=_hash_token(token),
            created_by=actor.display[:254],
            expires_at=now + TOKEN_VALIDITY,
        )
        audit.record(
            actor,
            "shield.token_issued",
            commune=commune,
            target=f"jeton {record.pk}",
            data={"expires": record.expires_at.isoformat()},
        )
    return IssuedToken(record, token)


def pending_token(commune: Commune) -> EnrolmentToken | None:
    """The commune's token still usable, if any."""
    return EnrolmentToken.objects.filter(
        commune=commune,
        used_at__isnull=True,
        cancelled_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).first()


def enroll(token: str, public_key: str, hostname: str, version: str, ip: str | None = None) -> Box:
    """Register a box with a one-time token; PermissionError for a bad token."""
    try:
        protocol.public_key_from_b64(public_key)
    except protocol.SignatureError as exc:
        raise ValidationError(f"Clé publique refusée : {exc}.") from exc
    hostname = hostname.strip()[:253]
    if not hostname:
        raise ValidationError("Le nom d'hôte du boîtier manque.")
    with transaction.atomic():
        record = (
            EnrolmentToken.objects.select_for_update()
            .select_related("commune")
            .filter(token_hash=_hash_token(token))
            .first()
        )
        now = timezone.now()
        if record is None:
            raise PermissionError("jeton d'enrôlement inconnu")
        if record.used_at is not None:
            raise PermissionError("jeton d'enrôlement déjà utilisé")
        if record.cancelled_at is not None:
            raise PermissionError("jeton d'enrôlement annulé (un autre a été émis)")
        if record.expires_at <= now:
            raise PermissionError("jeton d'enrôlement expiré")
        if Box.objects.filter(public_key=public_key).exists():
            raise ValidationError("Cette clé publique est déjà celle d'un boîtier enrôlé.")
        box = Box.objects.create(
            commune=record.commune,
            hostname=hostname,
            public_key=public_key,
            version=version.strip()[:40],
            last_seen=now,
            last_address=ip,
        )
        record.used_at = now
        record.box = box
        record.save(update_fields=["used_at", "box"])
        audit.record(
            Actor(label=f"boîtier {hostname}", ip=ip),
            "shield.box_enrolled",
            commune=record.commune,
            target=str(box.pk),
            data={"hostname": hostname, "version": box.version, "token": record.pk},
        )
    return box


def revoke_box(actor: Actor, box: Box) -> Box:
    """The box's key stops opening anything at once (its next request gets 401)."""
    with transaction.atomic():
        box = Box.objects.select_for_update().get(pk=box.pk)
        if box.revoked_at is not None:
            raise ValidationError("Ce boîtier est déjà révoqué.")
        box.revoked_at = timezone.now()
        box.save(update_fields=["revoked_at"])
        audit.record(
            actor,
            "shield.box_revoked",
            commune=box.commune,
            target=str(box.pk),
            data={"hostname": box.hostname},
        )
    return box


def authenticate(
    box_id: str, method: str, path: str, timestamp: str, signature: str, body: bytes
) -> Box:
    """The enrolled box that signed this request, or AuthenticationFailed."""
    if not box_id or not timestamp or not signature:
        raise AuthenticationFailed("en-têtes de signature absents")
    try:
        box = Box.objects.select_related("commune").get(pk=box_id)
    except (Box.DoesNotExist, ValidationError, ValueError) as exc:
        raise AuthenticationFailed("boîtier inconnu") from exc
    if box.revoked_at is not None:
        raise AuthenticationFailed("boîtier révoqué")
    try:
        protocol.verify_request(box.public_key, method, path, timestamp, signature, body)
    except protocol.SignatureError as exc:
        raise AuthenticationFailed(str(exc)) from exc
    return box


def touch(box: Box, ip: str | None) -> None:
    Box.objects.filter(pk=box.pk).update(last_seen=timezone.now(), last_address=ip)


def heartbeat(box: Box, data: dict[str, Any], ip: str | None) -> int:
    version = data.get("version", "")
    health = data.get("health", {})
    if not isinstance(version, str) or not isinstance(health, dict):
        raise ValidationError("« version » (texte) et « health » (objet) attendus.")
    if len(protocol.canonical_json(health)) > MAX_HEALTH_BYTES:
        raise ValidationError("« health » trop volumineux.")
    Box.objects.filter(pk=box.pk).update(
        version=version[:40], health=health, last_seen=timezone.now(), last_address=ip
    )
    return box_policy_version(box)


def box_policy_version(box: Box) -> int:
    """The version of the policy `box` would be served now: what its heartbeat answers,
    so that it fetches only when there is something new for it."""
    changed = box.policy_built_from != policy_version()
    return box.policy_version + (1 if changed else 0)
