"""Pages of the document import: send a zip into a folder, follow its import.

The folder and the job are looked up among what the person may open in that commune
(`services.node_for`, `imports.imports_for`): anything else is 404.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from clocher.accounts.models import User
from clocher.core.access import commune_required
from clocher.core.models import Commune
from clocher.core.request import actor_of
from clocher.vault import imports, services
from clocher.vault.models import Node


def _folder(request: HttpRequest, commune: Commune, node_id: int) -> Node:
    user: User = request.user  # type: ignore[assignment]
    try:
        node = services.node_for(user, commune, node_id)
    except Node.DoesNotExist as exc:
        raise Http404 from exc
    if not node.is_folder:
        raise Http404
    return node


@commune_required()
def import_zip(request: HttpRequest, commune: Commune, node_id: int) -> HttpResponse:
    folder = _folder(request, commune, node_id)
    if request.method == "POST":
        answer = _receive(request, commune, folder)
        if answer is not None:
            return answer
    jobs = [
        j
        for j in imports.imports_for(request.user, commune)  # type: ignore[arg-type]
        if j.folder_id == folder.pk
    ]
    return render(
        request,
        "vault/import.html",
        {
            "commune": commune,
            "folder": folder,
            "space": folder.space,
            "lineage": list(reversed(services.ancestors(folder))),
            "jobs": jobs,
            "room": services.available_bytes(folder.space),
        },
    )


def _receive(request: HttpRequest, commune: Commune, folder: Node) -> HttpResponse | None:
    """Queue the sent zip: the job page (or JSON for the page's upload script), or None
    to show the form again with the error."""
    wants_json = "application/json" in request.headers.get("Accept", "")
    archive = request.FILES.get("archive")
    try:
        if archive is None:
            raise ValidationError("Choisissez une archive zip à importer.")
        job = imports.start_web_import(
            actor_of(request),
            request.user,  # type: ignore[arg-type]
            folder,
            archive.name or "archive.zip",
            archive.chunks(),
        )
    except ValidationError as exc:
        if wants_json:
            return JsonResponse({"ok": False, "message": imports.services_message(exc)}, status=400)
        messages.error(request, imports.services_message(exc))
        return None
    url = reverse("vault:import_status", kwargs={"insee": commune.insee, "import_id": job.pk})
    if wants_json:
        return JsonResponse(
            {"ok": True, "message": "Archive reçue : import lancé.", "redirect": url}
        )
    return redirect(url)


@commune_required()
def import_status(request: HttpRequest, commune: Commune, import_id: int) -> HttpResponse:
    jobs = {j.pk: j for j in imports.imports_for(request.user, commune)}  # type: ignore[arg-type]
    job = jobs.get(import_id)
    if job is None:
        raise Http404
    template = "vault/_import_progress.html" if request.headers.get("HX-Request") else None
    return render(
        request,
        template or "vault/import_status.html",
        {"commune": commune, "job": job, "folder": job.folder, "space": job.folder.space},
    )
