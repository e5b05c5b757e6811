"""Sign-in, second factor, account, app passwords and invitations: thin views over
`accounts.services`."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from clocher.accounts import services
from clocher.accounts.forms import AppPasswordForm, CodeForm, InvitationForm, LoginForm
from clocher.accounts.middleware import SESSION_FLAG, needs_totp_setup
from clocher.accounts.models import AppPassword, AuthenticatedRequest
from clocher.core.models import Membership
from clocher.core.request import actor_of, client_ip

NEXT_KEY = "clocher_next"


def _safe_next(request: HttpRequest, candidate: str | None) -> str:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return "/"


def _finish(request: HttpRequest) -> HttpResponse:
    request.session[SESSION_FLAG] = True
    return redirect(_safe_next(request, request.session.pop(NEXT_KEY, None)))


def login_view(request: HttpRequest) -> HttpResponse:
    form = LoginForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            user = services.authenticate_web(
                form.cleaned_data["email"], form.cleaned_data["password"], client_ip(request)
            )
        except services.LoginLocked as exc:
            form.add_error(None, str(exc))
            status = 429
        except services.InvalidCredentials as exc:
            form.add_error(None, str(exc))
            status = 401
        else:
            next_url = request.POST.get("next") or request.GET.get("next")
            login(request, user)  # rotates the session key
            request.session[NEXT_KEY] = _safe_next(request, next_url)
            if needs_totp_setup(user):
                messages.warning(
                    request,
                    "Les comptes de l'opérateur doivent activer la "
                    "double authentification avant de continuer.",
                )
                return redirect("accounts:totp_setup")
            if user.has_totp:
                return redirect("accounts:totp")
            return _finish(request)
    return render(
        request,
        "accounts/login.html",
        {"form": form, "next": request.GET.get("next", "")},
        status=status,
    )


def totp_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not user.is_authenticated or not user.has_totp:
        return redirect("accounts:login")
    if request.session.get(SESSION_FLAG):
        return redirect("core:home")
    form = CodeForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        ip = client_ip(request)
        try:
            services.check_not_locked(user.email, ip)
        except services.LoginLocked as exc:
            form.add_error(None, str(exc))
            return render(request, "accounts/totp.html", {"form": form}, status=429)
        ok = services.verify_totp(user, form.cleaned_data["code"])
        services.note_attempt(user.email, ip, succeeded=ok, service="totp")
        if ok:
            return _finish(request)
        form.add_error("code", "Code incorrect ou déjà utilisé.")
        status = 401
    return render(request, "accounts/totp.html", {"form": form}, status=status)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    messages.info(request, "Vous êtes déconnecté.")
    return redirect("core:home")


@login_required
def account_view(request: AuthenticatedRequest) -> HttpResponse:
    memberships = (
        Membership.objects.filter(user=request.user)
        .select_related("commune")
        .order_by("commune__name")
    )
    return render(request, "accounts/account.html", {"memberships": memberships})


@login_required
def totp_setup_view(request: AuthenticatedRequest) -> HttpResponse:
    user = request.user
    mandatory = needs_totp_setup(user) or request.GET.get("obligatoire") == "1"
    action = request.POST.get("action")
    if request.method == "POST" and action == "disable":
        if needs_totp_setup(user) or _is_operator(user):
            messages.error(
                request,
                "La double authentification est obligatoire pour les comptes de l'opérateur.",
            )
        else:
            services.disable_totp(actor_of(request), user)
            messages.success(request, "Double authentification désactivée.")
        return redirect("accounts:account")
    if not user.has_totp and (not user.totp_secret or action == "start"):
        services.start_totp(user)
    form = CodeForm(request.POST if action == "confirm" else None)
    if action == "confirm" and form.is_valid():
        if services.confirm_totp(actor_of(request), user, form.cleaned_data["code"]):
            messages.success(request, "Double authentification activée.")
            return _finish(request)
        form.add_error("code", "Code incorrect : vérifiez l'heure de votre téléphone.")
    context = {
        "form": form,
        "mandatory": mandatory,
        "enabled": user.has_totp,
        "secret": user.totp_secret if not user.has_totp else "",
        "qr_svg": services.totp_qr_svg(user) if not user.has_totp else "",
    }
    return render(request, "accounts/totp_setup.html", context)


def _is_operator(user: object) -> bool:
    from clocher.core.scoping import is_operator

    return is_operator(user)


@login_required
def app_passwords_view(request: AuthenticatedRequest) -> HttpResponse:
    form = AppPasswordForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        try:
            created = services.create_app_password(
                actor_of(request), request.user, form.cleaned_data["name"]
            )
        except ValidationError as exc:
            form.add_error("name", exc)
        else:
            form = AppPasswordForm()
    records = AppPassword.objects.filter(user=request.user).order_by("revoked_at", "-created_at")
    response = render(
        request,
        "accounts/app_passwords.html",
        {"form": form, "records": records, "created": created},
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def app_password_revoke_view(request: AuthenticatedRequest, app_password_id: int) -> HttpResponse:
    record = get_object_or_404(AppPassword, pk=app_password_id, user=request.user)
    services.revoke_app_password(actor_of(request), record)
    messages.success(request, f"Mot de passe « {record.name} » révoqué : il ne fonctionne plus.")
    return redirect("accounts:app_passwords")


def invitation_view(request: HttpRequest, token: str) -> HttpResponse:
    try:
        invitation = services.find_invitation(token)
    except services.InvitationInvalid as exc:
        return render(
            request,
            "core/error.html",
            {"title": "Invitation invalide", "message": str(exc)},
            status=410,
        )
    form = InvitationForm(request.POST or None, initial={"full_name": invitation.user.full_name})
    if request.method == "POST" and form.is_valid():
        try:
            user = services.accept_invitation(
                actor_of(request),
                token,
                form.cleaned_data["password"],
                form.cleaned_data["full_name"],
            )
        except ValidationError as exc:
            form.add_error("password", exc)
        except services.InvitationInvalid as exc:
            return render(
                request,
                "core/error.html",
                {"title": "Invitation invalide", "message": str(exc)},
                status=410,
            )
        else:
            login(request, user, backend="clocher.accounts.backends.EmailBackend")
            messages.success(request, "Bienvenue ! Votre compte est prêt.")
            if needs_totp_setup(user):
                return redirect("accounts:totp_setup")
            return _finish(request)
    return render(request, "accounts/invitation.html", {"form": form, "invited": invitation.user})
