"""API authentication: hashed bearer tokens, or a session that passed the second factor."""

from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from clocher.accounts.middleware import SESSION_FLAG
from clocher.api.services import resolve_token
from clocher.core.scoping import may_use_protocols


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keywords = ("bearer", "token")

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode(errors="replace").lower() not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("En-tête Authorization mal formé.")
        record = resolve_token(header[1].decode(errors="replace"))
        if record is None:
            raise exceptions.AuthenticationFailed("Jeton invalide, expiré ou révoqué.")
        # The token is kept (reactivation gives it back), but opens nothing while its
        # owner has no active membership left; otherwise views see `visible_communes`.
        if not may_use_protocols(record.user):
            raise exceptions.AuthenticationFailed(
                "Ce compte n'a plus d'accès actif : membre désactivé ou retiré, "
                "ou commune suspendue."
            )
        return record.user, record

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="clocher"'


class TwoFactorSessionAuthentication(authentication.SessionAuthentication):
    """The browser session counts only once the second factor is done."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        result = super().authenticate(request)
        if result is None or not request._request.session.get(SESSION_FLAG):
            return None
        return result
