"""Adhésion pages: the public form, the operator's review and provisioning, departure."""

from __future__ import annotations

from pathlib import Path

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from clocher.core import reference, staging
from clocher.core.access import operator_required
from clocher.core.models import Commune
from clocher.core.request import actor_of
from clocher.core.validators import normalise_insee
from clocher.onboarding import services
from clocher.onboarding.forms import ApplicationForm, DepartForm, RejectForm
from clocher.onboarding.models import (
    Application,
    ApplicationStatus,
    CommuneExport,
    ProvisioningRun,
)


def apply(request: HttpRequest) -> HttpResponse:
    form = ApplicationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = services.ApplicationInput(
            **{k: v for k, v in form.cleaned_data.items() if k != "consent"}
        )
        try:
            services.submit_application(actor_of(request), data)
        except ValidationError as exc:
            field = "siren" if any("SIREN" in m for m in exc.messages) else "insee"
            form.add_error(field, exc)
        else:
            return redirect("onboarding:thanks")
    return render(request, "onboarding/apply.html", {"form": form})


def thanks(request: HttpRequest) -> HttpResponse:
    return render(request, "onboarding/thanks.html")


def commune_lookup(request: HttpRequest) -> HttpResponse:
    """htmx fragment: what the official reference says of the code being typed."""
    insee = normalise_insee(request.GET.get("insee", ""))
    ref = reference.lookup(insee) if len(insee) == 5 else None
    return render(request, "onboarding/_commune_lookup.html", {"ref": ref, "insee": insee})


@operator_required
def applications(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", ApplicationStatus.PENDING)
    qs = Application.objects.select_related("commune").filter(status=status)
    return render(
        request,
        "onboarding/applications.html",
        {
            "applications": qs,
            "status": status,
            "statuses": ApplicationStatus.choices,
        },
    )


@operator_required
def application_detail(request: HttpRequest, application_id: int) -> HttpResponse:
    application = get_object_or_404(
        Application.objects.select_related("commune"), pk=application_id
    )
    reject_form = RejectForm(request.POST or None)
    if request.method == "POST":
        actor = actor_of(request)
        try:
            if request.POST.get("action") == "approve":
                run = services.approve(actor, application)
                messages.success(request, "Adhésion approuvée : provisionnement lancé.")
                return redirect("onboarding:run", run_id=run.pk)
            if reject_form.is_valid():
                services.reject(actor, application, reject_form.cleaned_data["reason"])
                messages.success(request, "Demande refusée ; la commune est prévenue.")
                return redirect("onboarding:applications")
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
    ref = reference.lookup(application.commune.insee)
    return render(
        request,
        "onboarding/application.html",
        {
            "application": application,
            "ref": ref,
            "reject_form": reject_form,
            "commercial": reference.is_commercial_mail(ref.email) if ref else False,
        },
    )


@operator_required
def runs(request: HttpRequest) -> HttpResponse:
    return render(request, "onboarding/runs.html", {"runs": services.recent_runs(50)})


def _run_context(run_id: int) -> dict:
    run = get_object_or_404(ProvisioningRun.objects.select_related("commune"), pk=run_id)
    done, total = services.run_progress(run)
    return {
        "run": run,
        "steps": run.steps.all(),
        "done": done,
        "total": total,
        "finished": run.status in ("done", "failed"),
    }


@operator_required
def run(request: HttpRequest, run_id: int) -> HttpResponse:
    return render(request, "onboarding/run.html", _run_context(run_id))


@operator_required
def run_fragment(request: HttpRequest, run_id: int) -> HttpResponse:
    return render(request, "onboarding/_run_steps.html", _run_context(run_id))


@operator_required
@require_POST
def run_retry(request: HttpRequest, run_id: int) -> HttpResponse:
    run_ = get_object_or_404(ProvisioningRun, pk=run_id)
    try:
        services.retry(actor_of(request), run_)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("onboarding:run", run_id=run_.pk)


@operator_required
def commune_lifecycle(request: HttpRequest, insee: str) -> HttpResponse:
    commune = get_object_or_404(Commune, insee=insee)
    return render(
        request,
        "onboarding/lifecycle.html",
        {
            "commune": commune,
            "exports": CommuneExport.objects.filter(commune=commune),
            "depart_form": DepartForm(),
        },
    )


def _lifecycle_action(request: HttpRequest, insee: str, action) -> HttpResponse:
    commune = get_object_or_404(Commune, insee=insee)
    try:
        message = action(commune)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, message)
    return redirect("onboarding:commune_lifecycle", insee=commune.insee)


@operator_required
@require_POST
def suspend(request: HttpRequest, insee: str) -> HttpResponse:
    def act(commune: Commune) -> str:
        services.suspend(actor_of(request), commune, request.POST.get("reason", ""))
        return f"{commune.name} est suspendue ; ses données sont conservées."

    return _lifecycle_action(request, insee, act)


@operator_required
@require_POST
def reactivate(request: HttpRequest, insee: str) -> HttpResponse:
    def act(commune: Commune) -> str:
        services.reactivate(actor_of(request), commune)
        return f"{commune.name} est de nouveau active."

    return _lifecycle_action(request, insee, act)


@operator_required
@require_POST
def depart(request: HttpRequest, insee: str) -> HttpResponse:
    form = DepartForm(request.POST)

    def act(commune: Commune) -> str:
        if not form.is_valid() or form.cleaned_data["confirm_name"].strip() != commune.name:
            raise ValidationError("Le nom recopié ne correspond pas : rien n'a été fait.")
        export = services.depart(actor_of(request), commune)
        return f"{commune.name} est partie ; export {Path(export.path).name} prêt."

    return _lifecycle_action(request, insee, act)


@operator_required
def export_download(request: HttpRequest, insee: str) -> StreamingHttpResponse:
    """Streamed from the staging store: the node that made the export may be another."""
    commune = get_object_or_404(Commune, insee=insee)
    export = CommuneExport.objects.filter(commune=commune).first()
    if export is None or not staging.exists(export.path):
        raise Http404
    response = StreamingHttpResponse(
        staging.read(export.path, commune), content_type="application/zip"
    )
    response["Content-Length"] = str(export.size)
    response["Content-Disposition"] = f'attachment; filename="{Path(export.path).name}"'
    return response
