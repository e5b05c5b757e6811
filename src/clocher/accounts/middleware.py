"""Second factor enforcement: a session is fully signed in only once TOTP is done.

Operators must have TOTP: until they have set it up, every page sends them to the set-up
page. Users who enabled TOTP must give a code after their password.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from clocher.core import scoping

SESSION_FLAG = "clocher_2fa_ok"
# Prefixes that never need a second factor (public pages, the login steps themselves).
OPEN_PREFIXES = (
    "/static/",
    "/healthz",
    "/connexion/",
    "/deconnexion/",
    "/adhesion/",
    "/invitation/",
    "/api/",
    "/oidc/",
)


def needs_totp_setup(user: object) -> bool:
    return bool(scoping.is_operator(user) and not getattr(user, "has_totp", False))


class TwoFactorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        path = request.path
        if (
            user.is_authenticated
            and not request.session.get(SESSION_FLAG)
            and path != "/"
            and not path.startswith(OPEN_PREFIXES)
        ):
            setup_url = reverse("accounts:totp_setup")
            if needs_totp_setup(user):
                if path != setup_url:
                    return redirect(f"{setup_url}?obligatoire=1")
            elif getattr(user, "has_totp", False):
                return redirect("accounts:totp")
            else:
                request.session[SESSION_FLAG] = True
        return self.get_response(request)
