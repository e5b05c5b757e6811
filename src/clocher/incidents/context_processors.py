from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject


def incident_notices(request: HttpRequest) -> dict[str, Any]:
    """Open incidents' notices for a commune member's pages: a lazy list, so the one query
    runs only when a page shows the banner (base.html, for members who are not operators)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    def load() -> list[Any]:
        from clocher.incidents.services import open_for

        return list(open_for(user))

    return {"incident_notices": SimpleLazyObject(load)}
