"""Commune console (/c/<insee>/): what a town hall sees of its own tenancy."""

from __future__ import annotations

import hashlib

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from clocher.core import members_import as csv_members
from clocher.core import scoping, services, tiles
from clocher.core.access import commune_required
from clocher.core.forms import InviteMemberForm, MembersImportForm, RoleForm
from clocher.core.models import Commune, Membership
from clocher.core.request import actor_of

IMPORT_SESSION_KEY = "clocher_members_import"


@commune_required()
def console(request: HttpRequest, commune: Commune) -> HttpResponse:
    counts = Membership.objects.filter(commune=commune).aggregate(
        active=Count("id", filter=Q(is_active=True)), total=Count("id")
    )
    membership = scoping.commune_membership(request.user, commune)
    services_status = {t.service: t for t in tiles.all_tiles()}
    from clocher.mail.models import Mailbox

    mailbox_count = Mailbox.objects.filter(commune=commune).count()
    from clocher.groupware.webmail.sso import openable_mailboxes

    # Own and delegated (shared) mailboxes: each one opens in the webmail in one click.
    my_mailboxes = list(openable_mailboxes(request.user).filter(commune=commune))
    return render(
        request,
        "core/commune/console.html",
        {
            "commune": commune,
            "membership": membership,
            "is_admin": scoping.is_commune_admin(request.user, commune),
            "active_members": counts["active"],
            "total_members": counts["total"],
            "members_percent": min(
                100, round(100 * counts["active"] / max(commune.quota_members, 1))
            ),
            "mail_available": services_status["mail"].available,
            "vault_available": services_status["vault"].available,
            "mailbox_count": mailbox_count,
            "my_mailboxes": my_mailboxes,
        },
    )


@commune_required(admin=True)
def members(request: HttpRequest, commune: Commune) -> HttpResponse:
    form = InviteMemberForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            added = services.add_member(
                actor_of(request),
                commune,
                form.cleaned_data["email"],
                form.cleaned_data["role"],
                full_name=form.cleaned_data["full_name"],
                title=form.cleaned_data["title"],
            )
        except ValidationError as exc:
            form.add_error("email", exc)
        else:
            # The link goes to the person by mail only, never into this page.
            email = added.membership.user.email
            if added.invitation_token:
                messages.success(
                    request, f"{email} est invité(e) : le lien lui a été envoyé par courriel."
                )
            else:
                messages.success(
                    request, f"{email} a été ajouté(e) à la commune ; un courriel l'en avertit."
                )
            form = InviteMemberForm()
    response = render(
        request,
        "core/commune/members.html",
        {
            "commune": commune,
            "form": form,
            "members": services.members_of(commune),
            "role_choices": RoleForm.base_fields["role"].choices,  # type: ignore[attr-defined]
        },
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _membership(commune: Commune, membership_id: int) -> Membership:
    try:
        return services.member_of_commune(commune, membership_id)
    except Membership.DoesNotExist as exc:
        raise Http404 from exc


def _member_action(request: HttpRequest, commune: Commune, action, success: str) -> HttpResponse:
    try:
        action()
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, success)
    return redirect("core:commune_members", insee=commune.insee)


@commune_required(admin=True)
@require_POST
def member_role(request: HttpRequest, commune: Commune, membership_id: int) -> HttpResponse:
    membership = _membership(commune, membership_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Rôle inconnu.")
        return redirect("core:commune_members", insee=commune.insee)
    return _member_action(
        request,
        commune,
        lambda: services.change_role(actor_of(request), membership, form.cleaned_data["role"]),
        f"Rôle de {membership.user.email} modifié.",
    )


@commune_required(admin=True)
@require_POST
def member_toggle(request: HttpRequest, commune: Commune, membership_id: int) -> HttpResponse:
    membership = _membership(commune, membership_id)
    actor = actor_of(request)
    if membership.is_active:
        return _member_action(
            request,
            commune,
            lambda: services.deactivate_member(actor, membership),
            f"{membership.user.email} désactivé(e) ; ses données sont gardées.",
        )
    return _member_action(
        request,
        commune,
        lambda: services.reactivate_member(actor, membership),
        f"{membership.user.email} réactivé(e).",
    )


@commune_required(admin=True)
@require_POST
def member_remove(request: HttpRequest, commune: Commune, membership_id: int) -> HttpResponse:
    membership = _membership(commune, membership_id)
    return _member_action(
        request,
        commune,
        lambda: services.remove_member(actor_of(request), membership),
        f"{membership.user.email} retiré(e) de la commune.",
    )


@commune_required(admin=True)
@require_POST
def member_invite(request: HttpRequest, commune: Commune, membership_id: int) -> HttpResponse:
    membership = _membership(commune, membership_id)

    return _member_action(
        request,
        commune,
        lambda: services.resend_invitation(actor_of(request), membership),
        f"Nouvelle invitation envoyée par courriel à {membership.user.email}.",
    )


@commune_required(admin=True)
def members_import(request: HttpRequest, commune: Commune) -> HttpResponse:
    """Upload → line-by-line report (nothing created) → confirm → all created at once."""
    actor = actor_of(request)
    form = MembersImportForm()
    report = None
    refused = None
    if request.method == "POST" and request.POST.get("action") == "confirm":
        stored = request.session.get(IMPORT_SESSION_KEY)
        if not stored or stored["insee"] != commune.insee:
            messages.error(request, "Aucun import en attente : déposez à nouveau le fichier.")
            return redirect("core:commune_members_import", insee=commune.insee)
        try:
            report = csv_members.parse(stored["raw"].encode("latin-1"), commune)
            csv_members.check_quota(report, commune, services.active_member_count(commune))
            if report.invalid:
                raise csv_members.ImportRefused("Le fichier contient des lignes en erreur.")
            added = services.import_members(actor, commune, report.valid)
        except (csv_members.ImportRefused, ValidationError) as exc:
            refused = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        else:
            del request.session[IMPORT_SESSION_KEY]
            messages.success(
                request, f"{len(added)} membre(s) importé(s), prévenu(s) par courriel."
            )
            return redirect("core:commune_members", insee=commune.insee)
    elif request.method == "POST":
        form = MembersImportForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            if upload.size > csv_members.MAX_BYTES:
                refused = "Fichier trop volumineux (1 Mio au plus)."
            else:
                raw = upload.read()
                try:
                    report = csv_members.parse(raw, commune)
                    csv_members.check_quota(report, commune, services.active_member_count(commune))
                except csv_members.ImportRefused as exc:
                    refused = str(exc)
                    report = None
                else:
                    request.session[IMPORT_SESSION_KEY] = {
                        "insee": commune.insee,
                        "raw": raw.decode("latin-1"),
                        "sha256": hashlib.sha256(raw).hexdigest(),
                    }
    return render(
        request,
        "core/commune/members_import.html",
        {
            "commune": commune,
            "form": form,
            "report": report,
            "refused": refused,
        },
    )
