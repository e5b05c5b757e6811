"""The commune admin's page of the e-services audit: the targets with the proof to
publish, the score and the findings worst first. Thin: decisions are in services.py."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from clocher.core.access import commune_required
from clocher.core.models import Commune
from clocher.core.request import actor_of
from clocher.eservices import services


@commune_required(admin=True)
@require_http_methods(["GET", "POST"])
def commune_audit(request: HttpRequest, commune: Commune) -> HttpResponse:
    status, typed = 200, ""
    if request.method == "POST":
        typed = request.POST.get("target", "")
        try:
            made = services.add_target(actor_of(request), commune, typed)
        except ValidationError as exc:
            messages.error(request, " ; ".join(exc.messages))
            status = 400
        else:
            messages.success(request, f"{made.value} ajouté : publiez la preuve ci-dessous.")
            return redirect("eservices:commune", insee=commune.insee)
    targets = [(t, services.proof_text(t)) for t in services.targets_for(request.user, commune)]
    context = {
        "commune": commune,
        "targets": targets,
        "report": services.report(commune),
        "well_known": services.WELL_KNOWN,
        "typed": typed,
    }
    return render(request, "eservices/commune.html", context, status=status)
