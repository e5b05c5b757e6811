"""The governance pages: a commune admin's register (editable), the public algorithms and
the commune's sobriety figures; the operator's own register, retention and the sobriety
of the whole platform. Thin: decisions are in register.py, retention.py, sobriety.py."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from clocher.core.access import commune_required, operator_required
from clocher.core.models import Commune
from clocher.core.request import actor_of
from clocher.governance import algorithms, register, retention, sobriety
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
