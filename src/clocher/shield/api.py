"""The boxes' API (docs/shield.md): enrolment, then signed requests only.

Plain JSON views, CSRF-exempt (no cookie is ever involved): a box proves itself by
signing each request with its Ed25519 key; a browser session opens nothing here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import require_GET, require_POST

from clocher.core.request import client_ip
from clocher.shield import services
from clocher.shield.models import Box
from clocher_box import protocol

security_log = logging.getLogger("clocher.security")

BoxView = Callable[[HttpRequest, Box], JsonResponse]


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _too_big(request: HttpRequest) -> bool:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return True
    return length > services.MAX_BODY_BYTES


def _json_body(request: HttpRequest) -> dict[str, Any]:
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError("Corps JSON illisible.") from exc
    if not isinstance(data, dict):
        raise ValidationError("Objet JSON attendu.")
    return data


def signed(view: BoxView) -> Callable[[HttpRequest], JsonResponse]:
    """Only a request signed by an enrolled, unrevoked box reaches `view`; 401 otherwise."""

    @wraps(view)
    def wrapper(request: HttpRequest) -> JsonResponse:
        if _too_big(request):
            return _error(413, f"Corps trop volumineux (au plus {services.MAX_BODY_BYTES} octets).")
        try:
            box = services.authenticate(
                request.headers.get(protocol.HEADER_BOX, ""),
                request.method or "GET",
                request.path,
                request.headers.get(protocol.HEADER_TIMESTAMP, ""),
                request.headers.get(protocol.HEADER_SIGNATURE, ""),
                request.body,
            )
        except services.AuthenticationFailed as exc:
            security_log.warning(
                "shield request refused box=%s ip=%s: %s",
                request.headers.get(protocol.HEADER_BOX, "")[:40],
                client_ip(request),
                exc,
            )
            response = _error(401, f"Requête non authentifiée : {exc}.")
            response["WWW-Authenticate"] = 'Clocher-Signature realm="shield"'
            return response
        return view(request, box)

    return wrapper


@csrf_exempt
@require_POST
def enroll(request: HttpRequest) -> JsonResponse:
    if _too_big(request):
        return _error(413, "Corps trop volumineux.")
    try:
        data = _json_body(request)
        fields = [data.get(name) for name in ("token", "public_key", "hostname", "version")]
        if not all(isinstance(value, str) for value in fields[:3]):
            raise ValidationError("Champs « token », « public_key » et « hostname » attendus.")
        token, public_key, hostname = (str(value) for value in fields[:3])
        box = services.enroll(
            token, public_key, hostname, str(fields[3] or ""), ip=client_ip(request)
        )
    except ValidationError as exc:
        return _error(400, " ".join(exc.messages))
    except PermissionError as exc:
        security_log.warning("shield enrolment refused ip=%s: %s", client_ip(request), exc)
        return _error(403, f"Enrôlement refusé : {exc}.")
    return JsonResponse(
        {
            "box_id": str(box.pk),
            "commune": {"insee": box.commune.insee, "name": box.commune.name},
            "central_public_key": services.central_public_key(),
        },
        status=201,
    )


@csrf_exempt
@require_POST
@signed
def heartbeat(request: HttpRequest, box: Box) -> JsonResponse:
    try:
        version = services.heartbeat(box, _json_body(request), client_ip(request))
    except ValidationError as exc:
        return _error(400, " ".join(exc.messages))
    return JsonResponse({"policy_version": version})


@csrf_exempt
@require_POST
@signed
def events(request: HttpRequest, box: Box) -> JsonResponse:
    services.touch(box, client_ip(request))
    try:
        result = services.receive_events(box, _json_body(request).get("events"))
    except ValidationError as exc:
        return _error(400, " ".join(exc.messages))
    except services.BatchRefused as exc:
        return _error(400, f"Lot refusé, rien n'est enregistré : {exc}.")
    return JsonResponse(
        {"accepted": result.accepted, "duplicates": result.duplicates, "last_seq": result.last_seq}
    )


@csrf_exempt
@require_GET
@gzip_page  # a 100,000-prefix policy is ~11 MiB of JSON; clients that accept gzip get ~1/5
@signed
def policy(request: HttpRequest, box: Box) -> JsonResponse:
    services.touch(box, client_ip(request))
    since = request.GET.get("feed")
    if since is not None and not (since.isascii() and since.isdigit() and len(since) <= 18):
        return _error(400, "« feed » : version de liste attendue (entier ≥ 0).")
    layout = request.GET.get("format", "list")
    if layout not in ("list", "text"):
        return _error(400, "« format » : « list » ou « text » attendu.")
    return JsonResponse(
        services.signed_policy(
            box, int(since) if since is not None else None, feed_as_text=layout == "text"
        )
    )
