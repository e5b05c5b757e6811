"""WebDAV login with an app password, throttled like every other login.

argon2id is slow by design (~0.1 s), and sync clients send credentials with every
request: a verified (login, password) pair is remembered for a few minutes by its keyed
hash, but the app password, the account and its memberships are re-read from the database
on every request, so a revocation, a deactivated member or a suspended commune bites at
once (and a reactivation opens again with the same password).

The lockout (failed attempts of the login and of the client address) is consulted before
a password is verified, not for a pair verified in the last few minutes: it stops
guessing, and a remembered pair has already been proven. Concurrent first requests with
the same pair (a sync client opens several connections at once) verify it once.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
from typing import Any

from wsgidav.dc.base_dc import BaseDomainController

from clocher.accounts import services as accounts
from clocher.accounts.models import AppPassword, User
from clocher.core.models import Commune
from clocher.core.scoping import may_use_protocols, protocol_communes

_SECRET = os.urandom(32)
# fingerprint -> (app password id, its user's id, remembered until)
_verified: dict[str, tuple[int, int, float]] = {}
_verifying: dict[str, threading.Lock] = {}
_verifying_guard = threading.Lock()
REMEMBER_SECONDS = 300


def _fingerprint(login: str, password: str) -> str:
    return hmac.new(_SECRET, f"{login.lower()}\0{password}".encode(), hashlib.sha256).hexdigest()


def authenticate(login: str, password: str, ip: str | None) -> tuple[User, list[Commune]] | None:
    """The person these credentials open and the communes whose spaces they may open
    (`core.scoping.protocol_communes`, read on every request), if they still may use
    protocols at all (an operator's staff may hold no commune)."""
    user = _verified_user(login, password, ip)
    if user is None:
        return None
    communes = list(protocol_communes(user))
    if not communes and not may_use_protocols(user):
        return None
    return user, communes


def remembered_ids(login: str, password: str) -> tuple[int, int] | None:
    """(app password id, user id) of a pair verified in the last few minutes, without
    any query: the caller must check in its own query that the app password is still
    valid and its account active (`dav.fast` does, with the person's spaces)."""
    remembered = _verified.get(_fingerprint(login, password))
    if remembered and remembered[2] > time.monotonic():
        return remembered[0], remembered[1]
    return None


def _remembered(fingerprint: str) -> User | None:
    remembered = _verified.get(fingerprint)
    if remembered and remembered[2] > time.monotonic():
        record = (
            AppPassword.objects.filter(
                pk=remembered[0], revoked_at__isnull=True, user__is_active=True
            )
            .select_related("user")
            .first()
        )
        if record is not None:
            return record.user
        _verified.pop(fingerprint, None)
    return None


def _verified_user(login: str, password: str, ip: str | None) -> User | None:
    fingerprint = _fingerprint(login, password)
    user = _remembered(fingerprint)
    if user is not None:
        return user
    with _verifying_guard:
        lock = _verifying.setdefault(fingerprint, threading.Lock())
    try:
        with lock:  # the other threads with the same pair wait, then find it remembered
            return _remembered(fingerprint) or _verify(login, password, ip, fingerprint)
    finally:
        with _verifying_guard:
            _verifying.pop(fingerprint, None)


def _verify(login: str, password: str, ip: str | None, fingerprint: str) -> User | None:
    try:
        accounts.check_not_locked(login, ip)
    except accounts.LoginLocked:
        return None
    user = accounts.check_app_password(login, password, ip, service="dav")
    accounts.note_attempt(login, ip, user is not None, service="dav")
    if user is None:
        return None
    record = AppPassword.objects.filter(
        user=user, revoked_at__isnull=True, prefix=password[:5]
    ).first()
    if record is not None:
        if len(_verified) > 10_000:
            _verified.clear()
        _verified[fingerprint] = (record.pk, user.pk, time.monotonic() + REMEMBER_SECONDS)
    return user


class AppPasswordDomainController(BaseDomainController):
    """Basic auth only (over TLS in production): digest would need the clear password."""

    def __init__(self, wsgidav_app: Any, config: dict[str, Any]) -> None:
        super().__init__(wsgidav_app, config)

    def __str__(self) -> str:
        return "AppPasswordDomainController"

    def get_domain_realm(self, path_info: str, environ: dict[str, Any]) -> str:
        return "Clocher"

    def require_authentication(self, realm: str, environ: dict[str, Any]) -> bool:
        return True

    def basic_auth_user(
        self, realm: str, user_name: str, password: str, environ: dict[str, Any]
    ) -> bool:
        found = authenticate(user_name, password, environ.get("REMOTE_ADDR"))
        if found is None:
            return False
        environ["clocher.user"], environ["clocher.communes"] = found
        return True

    def supports_http_digest_auth(self) -> bool:
        return False
