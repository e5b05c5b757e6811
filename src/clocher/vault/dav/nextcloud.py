"""What the stock Nextcloud desktop and mobile clients ask of a server, besides WebDAV.

`status.php` (is this a Nextcloud?), the OCS capabilities and user info (which features,
whose tree), chunked uploads under `remote.php/dav/uploads/` and login flow v2 (in
`login_flow.py`). They authenticate with an app password over Basic auth, like the DAV
endpoint, and never with the browser session.
"""

from __future__ import annotations

import base64
import binascii
import xml.etree.ElementTree as ET
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote, unquote, urlparse

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from clocher.accounts.models import User
from clocher.core.audit import Actor
from clocher.core.request import actor_of, client_ip
from clocher.vault import chunked_uploads, login_flow, services
from clocher.vault.dav.app import DAV_PREFIX
from clocher.vault.dav.auth import authenticate
from clocher.vault.dav.provider import client_mtime
from clocher.vault.models import Node, UploadSession

# The Nextcloud version the clients are told: recent enough for chunking v2 and login
# flow v2, which every client still in support understands.
VERSION = (28, 0, 4, 1)
VERSION_STRING = "28.0.4"
PRODUCT = "Clocher"
UPLOADS_PREFIX = "/remote.php/dav/uploads"


def status(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        {
            "installed": True,
            "maintenance": False,
            "needsDbUpgrade": False,
            "version": ".".join(map(str, VERSION)),
            "versionstring": VERSION_STRING,
            "edition": "",
            "productname": PRODUCT,
            "extendedSupport": False,
        }
    )


# --------------------------------------------------------------------------- auth


def basic_auth_user(request: HttpRequest) -> User | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        login, _, password = base64.b64decode(encoded.strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    found = authenticate(login, password, client_ip(request))
    return found[0] if found else None


def _unauthorized() -> HttpResponse:
    response = HttpResponse("Identifiant ou mot de passe d'application incorrect.", status=401)
    response["WWW-Authenticate"] = 'Basic realm="Clocher", charset="UTF-8"'
    return response


def _actor(request: HttpRequest, user: User) -> Actor:
    return Actor(user=user, label=user.email, ip=client_ip(request))


# --------------------------------------------------------------------------- OCS


def _ocs(request: HttpRequest, version: int, data: dict[str, Any]) -> HttpResponse:
    """OCS envelope, JSON when asked (`format=json`, as the clients do), else XML."""
    meta = {
        "status": "ok",
        "statuscode": 100 if version == 1 else 200,
        "message": "OK",
        "totalitems": "",
        "itemsperpage": "",
    }
    wants_json = request.GET.get("format") == "json" or "json" in request.headers.get("Accept", "")
    if wants_json:
        return JsonResponse({"ocs": {"meta": meta, "data": data}})
    root = ET.Element("ocs")
    _xml(ET.SubElement(root, "meta"), meta)
    _xml(ET.SubElement(root, "data"), data)
    return HttpResponse(
        ET.tostring(root, encoding="utf-8", xml_declaration=True),
        content_type="application/xml; charset=utf-8",
    )


def _xml(parent: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _xml(ET.SubElement(parent, str(key)), item)
    elif isinstance(value, list):
        for item in value:
            _xml(ET.SubElement(parent, "element"), item)
    elif isinstance(value, bool):
        parent.text = "1" if value else ""
    else:
        parent.text = str(value)


def capabilities(request: HttpRequest, version: int) -> HttpResponse:
    if basic_auth_user(request) is None:
        return _unauthorized()
    major, minor, micro, _ = VERSION
    return _ocs(
        request,
        version,
        {
            "version": {
                "major": major,
                "minor": minor,
                "micro": micro,
                "string": VERSION_STRING,
                "edition": "",
                "extendedSupport": False,
            },
            "capabilities": {
                "core": {"pollinterval": 60, "webdav-root": "remote.php/webdav"},
                "dav": {"chunking": "1.0"},
                "files": {
                    "bigfilechunking": True,
                    "undelete": True,
                    "versioning": True,
                    "blacklisted_files": [".htaccess"],
                },
                "theming": {"name": PRODUCT, "slogan": "Le cloud public local"},
                # The client's conflict copies go up too: both sides of a conflict are
                # kept on the server, where the rest of the commune sees them.
                "uploadConflictFiles": True,
            },
        },
    )


def user_info(request: HttpRequest, version: int) -> HttpResponse:
    user = basic_auth_user(request)
    if user is None:
        return _unauthorized()
    spaces = services.spaces_for(user)
    used = sum(s.used_bytes for s in spaces if s.owner_id == user.pk)
    return _ocs(
        request,
        version,
        {
            "id": user.email,
            "display-name": user.get_full_name() or user.email,
            "displayname": user.get_full_name() or user.email,
            "email": user.email,
            "enabled": True,
            "quota": {"used": used, "free": -3, "total": -3, "relative": 0, "quota": -3},
            "language": "fr",
            "locale": "fr_FR",
        },
    )


# --------------------------------------------------------------------------- uploads

DAV_NS = "DAV:"
SABRE_NS = "http://sabredav.org/ns"


def _dav_root(tag: str) -> ET.Element:
    """A root written with the `d:`/`s:` prefixes Nextcloud (Sabre) uses.

    The prefixes are spelt in the tag names and declared on the root, rather than set by
    `ET.register_namespace`, which is process-wide and would change every other XML answer of
    the worker (Radicale's included).
    """
    return ET.Element(tag, {"xmlns:d": DAV_NS, "xmlns:s": SABRE_NS})


def _dav_error(status: int, message: str) -> HttpResponse:
    """Sabre's error body: the clients show `s:message` to the person."""
    root = _dav_root("d:error")
    ET.SubElement(root, "s:exception").text = "Clocher"
    ET.SubElement(root, "s:message").text = message
    return HttpResponse(
        ET.tostring(root, encoding="utf-8", xml_declaration=True),
        status=status,
        content_type="application/xml; charset=utf-8",
    )


def _error_for(exc: ValidationError) -> HttpResponse:
    message = " ".join(exc.messages)
    if isinstance(exc, services.QuotaExceeded):
        return _dav_error(507, message)
    if isinstance(exc, services.NameConflict):
        return _dav_error(412, message)
    if isinstance(exc, chunked_uploads.TooManyUploads):
        # 429, not 507: the account's other transfers will end or expire, and the
        # clients retry a file refused so on their next run, without reporting the
        # folder as over quota (which 507 makes them do).
        response = _dav_error(429, message)
        response["Retry-After"] = "600"
        return response
    if isinstance(exc, chunked_uploads.UploadError):
        return _dav_error(400, message)
    return _dav_error(403, message)


@csrf_exempt
def upload_session(request: HttpRequest, login: str, transfer: str) -> HttpResponse:
    """The session folder: MKCOL makes it, PROPFIND lists the parts received, DELETE
    abandons it."""
    user = basic_auth_user(request)
    if user is None:
        return _unauthorized()
    if login.lower() != user.email.lower():
        return _dav_error(404, "Introuvable.")
    session = chunked_uploads.find_session(user, transfer)
    if request.method == "MKCOL":
        if session is not None:
            return _dav_error(405, "Ce transfert existe déjà.")
        space = None  # the parts count in the announced destination's space (chunking v2)
        if announced := request.headers.get("Destination", ""):
            destination = _destination(user, announced)
            if destination is None:
                return _dav_error(409, "Le dossier de destination n'existe pas.")
            space = destination[0].space
        try:
            chunked_uploads.open_session(user, transfer, space)
        except ValidationError as exc:
            return _error_for(exc)
        return HttpResponse(status=201)
    if session is None:
        return _dav_error(404, "Ce transfert n'existe pas (ou plus).")
    if request.method == "PROPFIND":
        return _multistatus(request, session)
    if request.method == "DELETE":
        chunked_uploads.delete_session(session)
        return HttpResponse(status=204)
    return _dav_error(405, "Méthode non prise en charge ici.")


@csrf_exempt
def upload_part(request: HttpRequest, login: str, transfer: str, part: str) -> HttpResponse:
    """PUT of a part; MOVE of `.file` onto the destination assembles them."""
    user = basic_auth_user(request)
    if user is None:
        return _unauthorized()
    session = (
        chunked_uploads.find_session(user, transfer)
        if login.lower() == user.email.lower()
        else None
    )
    if session is None:
        return _dav_error(404, "Ce transfert n'existe pas (ou plus).")
    if request.method == "PUT":
        length = request.META.get("CONTENT_LENGTH")
        if not (length or "").isdigit():
            return _dav_error(411, "La taille du morceau (Content-Length) est requise.")
        try:
            chunked_uploads.write_part(session, part, request, int(length or 0))
        except ValidationError as exc:
            return _error_for(exc)
        return HttpResponse(status=201)
    if request.method == "MOVE" and part == ".file":
        return _assemble(request, user, session)
    return _dav_error(405, "Méthode non prise en charge ici.")


def _assemble(request: HttpRequest, user: User, session: UploadSession) -> HttpResponse:
    destination = _destination(user, request.headers.get("Destination", ""))
    if destination is None:
        return _dav_error(409, "Le dossier de destination n'existe pas.")
    parent, name = destination
    total = request.headers.get("OC-Total-Length", "")
    try:
        modified_at = client_mtime(request.headers.get("X-OC-Mtime"))
    except ValueError as exc:
        return _dav_error(400, str(exc))
    if_match = request.headers.get("If-Match", "").strip().strip('"') or None
    try:
        node, created = chunked_uploads.assemble(
            _actor(request, user),
            session,
            parent,
            name,
            total_length=int(total) if total.isdigit() else None,
            if_match=if_match,
            modified_at=modified_at,
        )
    except ValidationError as exc:
        return _error_for(exc)
    response = HttpResponse(status=201 if created else 204)
    response["ETag"] = f'"{node.etag}"'
    response["OC-ETag"] = f'"{node.etag}"'
    response["OC-FileId"] = str(node.pk)
    if modified_at is not None:
        response["X-OC-MTime"] = "accepted"
    return response


def _destination(user: User, header: str) -> tuple[Node, str] | None:
    """The folder and name a Destination URL names in the person's own tree."""
    path = unquote(urlparse(header).path)
    prefix = f"{DAV_PREFIX}/{user.email}/".lower()
    if not path.lower().startswith(prefix):
        return None
    segments = [s for s in path[len(prefix) :].split("/") if s]
    spaces = services.spaces_by_label(user)
    placed = services.place(spaces, segments)
    if placed is None or not placed[1]:
        return None
    space, names = placed
    parent = services.walk(services.root_of(space), names[:-1])
    if parent is None or not parent.is_folder:
        return None
    if len(names) == len(segments) == 1:  # at the top of the person's root
        try:
            return parent, services.check_top_name(spaces, names[0])
        except ValidationError:
            return None
    return parent, names[-1]


def _multistatus(request: HttpRequest, session: UploadSession) -> HttpResponse:
    root = _dav_root("d:multistatus")
    base = f"{UPLOADS_PREFIX}/{quote(session.user.email, safe='@')}/{session.name}/"
    created = format_datetime(session.created_at, usegmt=True)
    entries: list[tuple[str, int | None]] = [(base, None)]
    if request.headers.get("Depth", "1") != "0":
        entries += [(base + p.name, p.size) for p in chunked_uploads.parts(session)]
    for href, size in entries:
        response = ET.SubElement(root, "d:response")
        ET.SubElement(response, "d:href").text = href
        propstat = ET.SubElement(response, "d:propstat")
        prop = ET.SubElement(propstat, "d:prop")
        kind = ET.SubElement(prop, "d:resourcetype")
        if size is None:
            ET.SubElement(kind, "d:collection")
        else:
            ET.SubElement(prop, "d:getcontentlength").text = str(size)
        ET.SubElement(prop, "d:getlastmodified").text = created
        ET.SubElement(propstat, "d:status").text = "HTTP/1.1 200 OK"
    return HttpResponse(
        ET.tostring(root, encoding="utf-8", xml_declaration=True),
        status=207,
        content_type="application/xml; charset=utf-8",
    )


# --------------------------------------------------------------------------- login flow v2


@csrf_exempt
@require_POST
def login_v2_start(request: HttpRequest) -> JsonResponse:
    flow = login_flow.start(login_flow.client_name_from(request.headers.get("User-Agent", "")))
    return JsonResponse(
        {
            "poll": {
                "token": flow.poll_token,
                "endpoint": request.build_absolute_uri(reverse("vault:login_v2_poll")),
            },
            "login": request.build_absolute_uri(
                reverse("vault:login_v2_flow", kwargs={"flow_token": flow.flow_token})
            ),
        }
    )


@login_required
def login_v2_flow(request: HttpRequest, flow_token: str) -> HttpResponse:
    """The page the app opens in the browser: the signed-in person grants access."""
    flow = login_flow.pending(flow_token)
    if flow is None:
        raise Http404("Demande de connexion expirée ou déjà utilisée.")
    if not login_flow.may_grant(request.user):  # type: ignore[arg-type]
        context = {"title": "Accès refusé", "message": login_flow.REFUSED}
        return render(request, "core/error.html", context, status=403)
    if request.method == "POST":
        login_flow.grant(actor_of(request), flow, request.user)  # type: ignore[arg-type]
        return render(request, "vault/login_flow_done.html", {"flow": flow})
    response = render(request, "vault/login_flow.html", {"flow": flow})
    response.headers["Cache-Control"] = "no-store"
    return response


@csrf_exempt
@require_POST
def login_v2_poll(request: HttpRequest) -> JsonResponse:
    granted = login_flow.poll(request.POST.get("token", ""))
    if granted is None:
        return JsonResponse([], status=404, safe=False)
    user, password = granted
    server = request.build_absolute_uri("/").rstrip("/")
    response = JsonResponse({"server": server, "loginName": user.email, "appPassword": password})
    response.headers["Cache-Control"] = "no-store"
    return response
