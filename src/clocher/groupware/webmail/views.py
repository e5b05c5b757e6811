"""The provider's endpoints (thin: `sso` decides) and the console's « Webmail » link.

| route | who calls it | what |
|---|---|---|
| `GET oauth/autoriser` | the browser, from Roundcube | a code for the chosen mailbox |
| `POST oauth/jeton` | Roundcube (client secret) | `authorization_code` / `refresh_token` grants |
| `GET oauth/identite` | Roundcube (Bearer) | OIDC UserInfo: `sub`, `email` (the mailbox) |
| `GET oauth/carnet` | Roundcube's plugin (Bearer) | address books of the mailbox's commune |
| `POST interne/webmail/introspection` | a resource server (Basic) | RFC 7662 answer |
| `GET c/<insee>/webmail/<id>/` | the console's link | remembers the mailbox, opens Roundcube |
"""

from __future__ import annotations

import base64
import binascii
import hmac

from django.contrib.auth.signals import user_logged_out
from django.contrib.auth.views import redirect_to_login
from django.dispatch import receiver
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import render
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from clocher.core.access import commune_required
from clocher.core.models import Commune
from clocher.core.request import actor_of
from clocher.groupware.webmail import contacts, sso

SESSION_MAILBOX = "webmail_mailbox"


def _basic(request: HttpRequest) -> tuple[str, str]:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return "", ""
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    return user, password


def _bearer(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.startswith("Bearer ") else ""


def _oauth_error(error: str, description: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": error, "error_description": description}, status=status)


def _refused(request: HttpRequest, message: str, status: int) -> HttpResponse:
    return render(
        request, "core/error.html", {"title": "Messagerie web", "message": message}, status=status
    )


def _issuer(request: HttpRequest) -> str:
    return f"{request.scheme}://{request.get_host()}"


@commune_required()
def open_webmail(request: HttpRequest, commune: Commune, mailbox_id: int) -> HttpResponse:
    """The console's « Webmail » link: one click, the Clocher session is the login."""
    if not sso.openable_mailboxes(request.user).filter(pk=mailbox_id, commune=commune).exists():
        raise Http404
    request.session[SESSION_MAILBOX] = mailbox_id
    # Roundcube's own OAuth login action: it sends the browser to `oauth/autoriser`.
    return HttpResponseRedirect("/webmail/?_task=login&_action=oauth")


@never_cache
@require_GET
def authorize(request: HttpRequest) -> HttpResponse:
    params = request.GET
    if params.get("client_id") != sso.CLIENT_ID or params.get("response_type") != "code":
        return _refused(
            request, "Demande de connexion inconnue : seul le webmail de Clocher l'utilise.", 400
        )
    redirect_uri = params.get("redirect_uri", "")
    if not sso.redirect_allowed(redirect_uri, _issuer(request)):
        return _refused(
            request, "Adresse de retour refusée : elle doit être celle du webmail.", 400
        )
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    state = params.get("state", "")
    try:
        granted = sso.authorize(
            actor_of(request),
            mailbox_id=request.session.get(SESSION_MAILBOX),
            redirect_uri=redirect_uri,
            session_key=request.session.session_key or "",
            code_challenge=params.get("code_challenge", ""),
            code_challenge_method=params.get("code_challenge_method", ""),
        )
    except sso.GrantRefused as refused:
        return _refused(request, str(refused), 403)
    return HttpResponseRedirect(
        f"{redirect_uri}?{urlencode({'code': granted.code, 'state': state})}"
    )


@csrf_exempt
@never_cache
@require_POST
def token(request: HttpRequest) -> JsonResponse:
    client_id, client_secret = _basic(request)
    if not client_id:
        client_id = request.POST.get("client_id", "")
        client_secret = request.POST.get("client_secret", "")
    if not sso.check_client(client_id, client_secret):
        return _oauth_error("invalid_client", "Client inconnu ou secret erroné.", 401)
    grant_type = request.POST.get("grant_type", "")
    try:
        if grant_type == "authorization_code":
            answer = sso.exchange_code(
                request.POST.get("code", ""),
                request.POST.get("redirect_uri", ""),
                request.POST.get("code_verifier", ""),
                _issuer(request),
            )
        elif grant_type == "refresh_token":
            answer = sso.refresh(request.POST.get("refresh_token", ""), _issuer(request))
        else:
            return _oauth_error("unsupported_grant_type", f"Type de demande inconnu : {grant_type}")
    except sso.GrantRefused as refused:
        return _oauth_error(refused.error, str(refused))
    response = JsonResponse(answer)
    response["Pragma"] = "no-cache"
    return response


def _invalid_token() -> JsonResponse:
    response = _oauth_error("invalid_token", "Jeton absent, expiré ou révoqué.", 401)
    response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response


@csrf_exempt
@never_cache
def userinfo(request: HttpRequest) -> JsonResponse:
    grant = sso.active_grant(_bearer(request))
    if grant is None:
        return _invalid_token()
    return JsonResponse(
        {"sub": str(grant.user_id), "email": grant.mailbox.address, "email_verified": True}
    )


@csrf_exempt
@never_cache
@require_GET
def address_books(request: HttpRequest) -> JsonResponse:
    """The webmail's address books, for Roundcube's `clocher_addressbook` plugin: the
    same access token as the identity, scoped to the commune of the mailbox it opened."""
    grant = sso.active_grant(_bearer(request))
    if grant is None:
        return _invalid_token()
    return JsonResponse(contacts.address_books(grant))


@csrf_exempt
@never_cache
@require_POST
def introspection(request: HttpRequest) -> JsonResponse:
    """RFC 7662 for a resource server holding the secret (user `dovecot`). Dovecot itself
    checks tokens in SQL (`mail.engines.config.TOKEN_QUERY`, same rule; `sso` says why)."""
    user, password = _basic(request)
    if user != "dovecot" or not hmac.compare_digest(
        password.encode(), sso.secret("introspection").encode()
    ):
        return _oauth_error("invalid_client", "Authentification requise.", 401)
    return JsonResponse(sso.introspect(request.POST.get("token", "")))


@receiver(user_logged_out)
def _close_webmail(sender: object, request: HttpRequest | None, **kwargs: object) -> None:
    if request is not None and request.session.session_key:
        sso.revoke_session(request.session.session_key)
