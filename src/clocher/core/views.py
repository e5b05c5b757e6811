"""Platform pages: home and health. Consoles live in `operator_views` and `commune_views`."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render

from clocher.core import scoping
from clocher.core.wording import of_name


def home(request: HttpRequest) -> HttpResponse:
    """Public landing page; a signed-in user goes straight to their console."""
    user = request.user
    if user.is_authenticated:
        if scoping.is_operator(user):
            return redirect("core:operator_dashboard")
        communes = list(scoping.visible_communes(user)[:2])
        if len(communes) == 1:
            return redirect("core:commune_console", insee=communes[0].insee)
    operator = scoping.get_operator()
    return render(
        request, "core/home.html", {"operator_of": of_name(operator.name) if operator else ""}
    )


def healthz(request: HttpRequest) -> JsonResponse:
    connection.ensure_connection()
    return JsonResponse({"status": "ok"})


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(
        request,
        "core/error.html",
        {"title": "Accès refusé", "message": "Vous n'avez pas accès à cette page."},
        status=403,
    )


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(
        request,
        "core/error.html",
        {
            "title": "Page introuvable",
            "message": "Cette page n'existe pas ou ne vous est pas accessible.",
        },
        status=404,
    )
