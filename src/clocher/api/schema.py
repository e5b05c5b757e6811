"""OpenAPI descriptions of Clocher's authentication schemes (loaded by drf-spectacular)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "clocher.api.auth.ApiTokenAuthentication"
    name = "jeton"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "Jeton créé par `clocher token create`, en-tête "
            "`Authorization: Bearer clo_…`.",
        }


class SessionScheme(OpenApiAuthenticationExtension):
    target_class = "clocher.api.auth.TwoFactorSessionAuthentication"
    name = "session"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "sessionid",
            "description": "Session du navigateur, double authentification faite.",
        }
