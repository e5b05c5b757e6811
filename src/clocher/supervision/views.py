"""GET /metrics for Prometheus, to configured addresses or the bearer token only."""

from __future__ import annotations

import hmac
import ipaddress
import time

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.views.decorators.http import require_GET

from clocher.supervision import collect, exposition

# A request relayed by a reverse proxy reaches us from the proxy's address: only the
# token can open /metrics to it, never the address allow-list.
FORWARDED = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


def _networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(item, strict=False) for item in settings.METRICS_ALLOW]


def access(request: HttpRequest) -> str:
    """'ok', 'forbidden' (a wrong token was shown) or 'unknown' (say nothing)."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header.startswith("Bearer "):
        token = settings.METRICS_TOKEN
        given = header.removeprefix("Bearer ").strip().encode()
        if token and hmac.compare_digest(given, token.encode()):
            return "ok"
        return "forbidden"
    if any(request.META.get(name) for name in FORWARDED):
        return "unknown"
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return "unknown"
    if any(address in network for network in _networks()):
        return "ok"
    return "unknown"


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    verdict = access(request)
    if verdict == "forbidden":
        return HttpResponseForbidden("Jeton de supervision refusé.\n", content_type="text/plain")
    if verdict != "ok":
        raise Http404
    started = time.monotonic()
    text = exposition.render(collect.snapshot(), started)
    return HttpResponse(text, content_type=exposition.CONTENT_TYPE)
