"""The only Django views of the groupware: discovery redirects (RFC 6764). The DAV
protocol itself is served by `groupware.dav`, beside Django."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponsePermanentRedirect
from django.views.decorators.csrf import csrf_exempt

from clocher.groupware.dav import DAV_ROOT


@csrf_exempt
def well_known(request: HttpRequest) -> HttpResponsePermanentRedirect:
    """Both go to `/remote.php/dav/`, as on Nextcloud: a PROPFIND there names the user's
    principal and both home sets (clients follow the redirect for any method)."""
    return HttpResponsePermanentRedirect(f"{DAV_ROOT}/")
