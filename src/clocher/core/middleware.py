"""Headers Django does not set by itself; NUL characters refused in form and query text."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict

NUL_REFUSED = "Requête refusée : un champ contient un caractère nul (octet 0)."
API_PREFIX = "/api/"


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault(
            "Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"
        )
        response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        if request.user.is_authenticated if hasattr(request, "user") else False:
            response.headers.setdefault("Cache-Control", "no-store")
        return response


class RefuseNulMiddleware:
    """A NUL character in a query parameter or a form field gets 400. No field of the
    platform takes one; PostgreSQL refuses it in text (« A string literal cannot contain
    NUL »), which was a server error wherever a view reads `request.POST` itself rather
    than through a form (Django's form fields refuse it), and SQLite would have kept it.
    Like CSRF's check, it leaves the body of an exempt view's upload unread: those views
    choose their upload handlers first (`vault.views.upload`). The API is left to its
    serializers, which refuse NUL themselves, in its JSON error format (schemathesis
    fuzzes it on both databases: tests/api/test_schemathesis.py)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponse | None:
        if request.path.startswith(API_PREFIX):
            return None
        if _holds_nul(request.GET):
            return HttpResponseBadRequest(NUL_REFUSED, content_type="text/plain; charset=utf-8")
        streamed = getattr(view, "csrf_exempt", False) and request.content_type == (
            "multipart/form-data"
        )
        if request.method == "POST" and not streamed and _holds_nul(request.POST):
            return HttpResponseBadRequest(NUL_REFUSED, content_type="text/plain; charset=utf-8")
        return None


def _holds_nul(fields: QueryDict) -> bool:
    return any("\x00" in key or any("\x00" in v for v in values) for key, values in fields.lists())
