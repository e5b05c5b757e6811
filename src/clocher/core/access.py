"""View decorators built on `scoping`: anonymous → login page, anyone else → 404."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase

from clocher.core import scoping

View = Callable[..., HttpResponseBase]


def operator_required(view: View) -> View:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not scoping.is_operator(request.user):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


def commune_required(admin: bool = False) -> Callable[[View], View]:
    """Resolves the `insee` URL parameter into `commune` for members (admins if asked)."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(
            request: HttpRequest, insee: str, *args: Any, **kwargs: Any
        ) -> HttpResponseBase:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            commune = scoping.get_commune_for(request.user, insee, admin=admin)
            return view(request, commune, *args, **kwargs)

        return wrapper

    return decorator
