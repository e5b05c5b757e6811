"""The e-services audit's pages: the commune admin's (targets with the proof to publish,
score and its trend, findings worst first, the monthly PDF) and the operator's (worst
communes first, targets to confirm). Thin: decisions are in services.py."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from clocher.core.access import commune_required, operator_required
from clocher.core.models import Commune
from clocher.core.request import actor_of
from clocher.core.scoping import get_operator
from clocher.eservices import blocking, services
from clocher.eservices.models import Finding as StoredFinding
from clocher.eservices.models import Target


@commune_required(admin=True)
@require_http_methods(["GET", "POST"])
def commune_audit(request: HttpRequest, commune: Commune) -> HttpResponse:
    status, typed = 200, ""
    if request.method == "POST":
        typed = request.POST.get("target", "")
        try:
            made = services.add_target(
                actor_of(request), commune, typed, request.POST.get("dkim", "")
            )
        except ValidationError as exc:
            messages.error(request, " ; ".join(exc.messages))
            status = 400
        else:
            messages.success(request, f"{made.value} ajouté : publiez la preuve ci-dessous.")
            return redirect("eservices:commune", insee=commune.insee)
    targets = [(t, services.proof_text(t)) for t in services.targets_for(request.user, commune)]
    audit_report = services.report(commune)
    blocking.annotate(commune, audit_report.findings)  # « Bloquer ce port » where the box can
    context = {
        "commune": commune,
        "targets": targets,
        "report": audit_report,
        "well_known": services.WELL_KNOWN,
        "typed": typed,
    }
    return render(request, "eservices/commune.html", context, status=status)


@commune_required(admin=True)
@require_POST
def commune_block_port(request: HttpRequest, commune: Commune, finding_id: int) -> HttpResponse:
    """« Bloquer ce port »: the finding's port closed on the commune's box."""
    finding = get_object_or_404(
        StoredFinding.objects.select_related("scan__target", "commune"),
        pk=finding_id,
        commune=commune,
    )
    try:
        rule = blocking.block_finding(actor_of(request), finding)
    except ValidationError as exc:
        messages.error(request, " ; ".join(exc.messages))
    else:
        messages.success(
            request,
            f"Port {rule.port} bloqué : le boîtier de la mairie l'applique à son prochain "
            "contact ; l'audit suivant le montrera fermé.",
        )
    return redirect("eservices:commune", insee=commune.insee)


@commune_required(admin=True)
def commune_report_pdf(request: HttpRequest, commune: Commune) -> HttpResponse:
    operator = get_operator()
    data = services.report_pdf(services.report(commune), operator.name if operator else "")
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="e-services-{commune.insee}.pdf"'
    return response


@operator_required
def operator_overview(request: HttpRequest) -> HttpResponse:
    waiting = Target.objects.filter(confirmed_at=None).select_related("commune")
    context = {
        "communes": services.worst_communes(),
        "waiting": [(t, services.proof_text(t)) for t in waiting.order_by("created_at", "pk")],
    }
    return render(request, "eservices/operator.html", context)


@operator_required
@require_POST
def operator_confirm(request: HttpRequest, target_id: int) -> HttpResponse:
    target = get_object_or_404(Target, pk=target_id)
    try:
        services.confirm_target(actor_of(request), target, request.POST.get("attestation", ""))
    except ValidationError as exc:
        messages.error(request, " ; ".join(exc.messages))
    else:
        messages.success(request, f"{target.value} confirmée ({target.confirmed_how}).")
    return redirect("eservices:operator")
