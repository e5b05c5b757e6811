from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from clocher.core import scoping


def platform(request: HttpRequest) -> dict[str, Any]:
    """The operator's name and the signed-in user's consoles, for the page header."""
    user = request.user
    context: dict[str, Any] = {
        "operator": scoping.get_operator(),
        "oidc_enabled": settings.OIDC_ENABLED,
    }
    if user.is_authenticated:
        context["nav_is_operator"] = scoping.is_operator(user)
        context["nav_communes"] = (
            list(scoping.visible_communes(user).only("insee", "name")[:20])
            if not context["nav_is_operator"]
            else []
        )
    return context
