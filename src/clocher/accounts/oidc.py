"""OpenID Connect sign-in (ProConnect-compatible), enabled by CLOCHER_OIDC_* variables.

Only people who already have an active account are let in, matched by e-mail: an
identity provider cannot create accounts or roles in Clocher.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from clocher.accounts.models import User


class ClocherOIDCBackend(OIDCAuthenticationBackend):
    def filter_users_by_claims(self, claims: dict[str, Any]) -> QuerySet[User]:
        email = (claims.get("email") or "").strip()
        if not email or claims.get("email_verified") is False:
            return User.objects.none()
        return User.objects.filter(email__iexact=email, is_active=True)

    def create_user(self, claims: dict[str, Any]) -> None:  # type: ignore[override]
        return None
