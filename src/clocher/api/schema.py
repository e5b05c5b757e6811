"""OpenAPI: Clocher's authentication schemes (loaded by drf-spectacular) and the status
codes every route documents."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


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


# --- Status codes: what each route documents ------------------------------------------

ERROR_TEXTS = {
    400: "Donnée refusée : `detail`, ou pour chaque champ en cause, dit ce qui ne va pas.",
    401: "Jeton absent, mal formé, invalide, expiré ou révoqué, ou compte sans accès actif.",
    403: "Authentifié, mais ce rôle ne permet pas cette action (le message dit qui le peut).",
    404: "Inconnu, ou hors de ce que ce compte peut voir (on ne dit pas lequel des deux).",
    409: "L'état de l'objet ne permet pas l'opération (le message dit pourquoi).",
    413: "Fichier trop volumineux (la limite est dans le message).",
    415: "Corps d'un autre type que celui attendu (l'en-tête Content-Type le dit).",
}


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="Ce qui ne va pas, en français.")


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """The error answers of a route, to merge into its `extend_schema(responses=…)`.
    401 is added to every operation by `add_common_responses`; 400 bodies name the
    fields (`{"limit": ["…"]}`) or carry a `detail`."""
    return {
        code: OpenApiResponse(
            response=OpenApiTypes.OBJECT if code == 400 else ErrorSerializer,
            description=ERROR_TEXTS[code],
        )
        for code in codes
    }


def add_common_responses(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular post-processing hook: what every route may answer, whatever its
    view says — 401 to a request without valid credentials (the schema itself excepted),
    404 to a path naming what does not exist or is not the caller's, 400 to a list's
    malformed `limit`/`offset` (`pagination.StrictLimitOffsetPagination`)."""
    error = {"$ref": "#/components/schemas/Error"}
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = {
        "type": "object",
        "properties": {"detail": {"type": "string"}},
        "required": ["detail"],
    }
    for path, operations in result.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            names = {p.get("name") for p in operation.get("parameters", [])}
            wanted = []
            if operation.get("security") != [{}] and {} not in operation.get("security", []):
                wanted.append(401)
            if "{" in path:
                wanted.append(404)
            if {"limit", "offset"} & names:
                wanted.append(400)
            for code in wanted:
                responses.setdefault(
                    str(code),
                    {
                        "description": ERROR_TEXTS[code],
                        "content": {
                            "application/json": {
                                "schema": {"type": "object"} if code == 400 else error
                            }
                        },
                    },
                )
    return result
