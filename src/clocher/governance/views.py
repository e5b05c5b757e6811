"""The governance pages: a commune admin's register (editable), the public algorithms and
the commune's sobriety figures; the operator's own register, retention and the sobriety
of the whole platform. Thin: decisions are in register.py, retention.py, sobriety.py."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from clocher.accounts.models import User
from clocher.core import services as core_services
from clocher.core.access import commune_required, operator_required
from clocher.core.models import Commune, Membership
from clocher.core.request import actor_of
from clocher.governance import algorithms, register, retention, sobriety, subject
from clocher.governance.models import ProcessingActivity


def _edit(request: HttpRequest, commune: Commune | None) -> int:
    """Apply the posted edit of one entry of `commune`'s register; the HTTP status."""
    try:
        activity_id = int(request.POST.get("activity", ""))
    except ValueError:
        raise Http404 from None
    activity = ProcessingActivity.objects.filter(commune=commune, pk=activity_id).first()
    if activity is None:
        raise Http404
    changes = {f: request.POST[f] for f in register.FIELDS if f in request.POST}
    try:
        register.update_activity(actor_of(request), activity, changes)
    except ValidationError as exc:
        messages.error(request, f"{activity.name} : " + " ; ".join(exc.messages))
        return 400
    messages.success(request, f"« {activity.name} » enregistré.")
    return 302


def _page(
    request: HttpRequest, commune: Commune | None, template: str, **extra: object
) -> HttpResponse:
    status = 200
    if request.method == "POST":
        status = _edit(request, commune)
        if status == 302:
            return redirect(request.path)
    context = {
        "commune": commune,
        "controller": register.controller(commune),
        "entries": [
            (a, [(f, register.label(f), getattr(a, f)) for f in register.FIELDS])
            for a in register.activities(commune)
        ],
        "cards": algorithms.cards(),
        "sections": algorithms.SECTIONS,
        **extra,
    }
    return render(request, template, context, status=status)


@commune_required(admin=True)
@require_http_methods(["GET", "POST"])
def commune_page(request: HttpRequest, commune: Commune) -> HttpResponse:
    made = sobriety.figures(commune)
    return _page(
        request, commune, "governance/commune.html", sobriety=made, sobriety_rows=made.communes
    )


@operator_required
@require_http_methods(["GET", "POST"])
def operator_page(request: HttpRequest) -> HttpResponse:
    made = sobriety.figures()
    return _page(
        request,
        None,
        "governance/operator.html",
        sobriety=made,
        sobriety_rows=[*made.communes, made.total],
        retention=retention.CLASSES,
    )


def _download(commune: Commune | None, extension: str) -> HttpResponse:
    if extension == "pdf":
        response = HttpResponse(register.to_pdf(commune), content_type="application/pdf")
    else:
        response = HttpResponse(register.to_ods(commune), content_type=register.ODS_TYPE)
    name = register.filename(commune, extension)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@commune_required(admin=True)
@require_GET
def commune_register_pdf(request: HttpRequest, commune: Commune) -> HttpResponse:
    return _download(commune, "pdf")


@commune_required(admin=True)
@require_GET
def commune_register_ods(request: HttpRequest, commune: Commune) -> HttpResponse:
    return _download(commune, "ods")


@operator_required
@require_GET
def operator_register_pdf(request: HttpRequest) -> HttpResponse:
    return _download(None, "pdf")


@operator_required
@require_GET
def operator_register_ods(request: HttpRequest) -> HttpResponse:
    return _download(None, "ods")


def _erasure(request: HttpRequest, commune: Commune | None, user: User, back: str) -> HttpResponse:
    """The erasure of one person: what goes and what the law keeps, shown first; the
    typed address confirms (subject.erase_member decides and journals)."""
    status = 200
    if request.method == "POST":
        email = user.email
        try:
            subject.erase_member(
                actor_of(request), commune, user, request.POST.get("confirmation", ""),
                request.POST.get("demande", "").strip()[:200],
            )  # fmt: skip
        except ValidationError as exc:
            messages.error(request, " ; ".join(exc.messages))
            status = 400
        else:
            messages.success(
                request, f"{email} est effacé ; archives et journal d'audit sont conservés."
            )
            return redirect(back)
    context = {"commune": commune, "preview": subject.erasure_preview(user), "back": back}
    return render(request, "governance/erasure.html", context, status=status)


@commune_required(admin=True)
@require_GET
def commune_erasure_list(request: HttpRequest, commune: Commune) -> HttpResponse:
    """The commune's people, each with its erasure link (the right to be forgotten)."""
    context = {"commune": commune, "members": core_services.members_of(commune)}
    return render(request, "governance/erasure_list.html", context)


@commune_required(admin=True)
@require_http_methods(["GET", "POST"])
def commune_erasure(request: HttpRequest, commune: Commune, membership_id: int) -> HttpResponse:
    membership = (
        Membership.objects.filter(commune=commune, pk=membership_id).select_related("user").first()
    )
    if membership is None:
        raise Http404
    back = reverse("governance:commune_erasure_list", kwargs={"insee": commune.insee})
    return _erasure(request, commune, membership.user, back)


@operator_required
@require_http_methods(["GET", "POST"])
def operator_erasure(request: HttpRequest) -> HttpResponse:
    """Anyone's erasure, found by address: a person of several communes, or of none."""
    email = (request.POST.get("email") or request.GET.get("email") or "").strip().lower()
    user = User.objects.filter(email__iexact=email).first() if email else None
    if user is None:
        if email:
            messages.error(request, f"Aucun compte n'a l'adresse {email}.")
        return render(
            request, "governance/erasure.html", {"preview": None, "email": email},
            status=404 if email else 200,
        )  # fmt: skip
    return _erasure(request, None, user, request.path)


@login_required
@require_http_methods(["GET", "POST"])
def my_data(request: HttpRequest) -> HttpResponseBase:
    """« Exporter mes données »: the person's own zip (subject.export_user journals it)."""
    if request.method == "GET":
        return render(request, "governance/my_data.html", {"kept": subject.KEPT})
    user = request.user
    assert isinstance(user, User)
    workdir = Path(tempfile.mkdtemp(prefix="clocher-export-"))
    try:
        path = workdir / "export.zip"
        subject.export_user(actor_of(request), user, path)
        handle = path.open("rb")  # the open file outlives its name, removed below
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return FileResponse(handle, as_attachment=True, filename="mes-donnees-clocher.zip")
