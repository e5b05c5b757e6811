"""Archive pages: the commune's archive (list, deposit, detail, downloads, elimination
proposal) and the operator's (visa, retention table); the embedded TSA endpoint.

Thin: every decision is in services.py; every query goes through the scoping helper.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe

from clocher.archive import services, tsa
from clocher.archive.forms import (
    DepositForm,
    ProposalForm,
    RetentionChangeForm,
    RuleForm,
    VisaForm,
)
from clocher.archive.models import (
    ArchivedObject,
    EliminationProposal,
    JournalSeal,
    ProposalState,
    RetentionRule,
)
from clocher.core import scoping
from clocher.core.access import commune_required, operator_required
from clocher.core.audit import Actor
from clocher.core.models import Commune, Role
from clocher.core.request import actor_of


def _vault_files(request: HttpRequest, commune: Commune) -> list[tuple[int, str]]:
    """The vault files this person may read in the commune (the 300 most recent)."""
    from clocher.vault import services as vault
    from clocher.vault.models import Node

    user: Any = request.user
    spaces = [s for s in vault.spaces_for(user) if s.commune_id == commune.pk]
    nodes = Node.objects.filter(
        space__in=spaces, is_folder=False, deleted_at__isnull=True
    ).order_by("-modified_at")[:300]
    return [(n.pk, vault.path_of(n)) for n in nodes]


@commune_required()
def archive_list(request: HttpRequest, commune: Commune) -> HttpResponse:
    may_deposit = services.may_deposit(request.user, commune)
    form = None
    if may_deposit:
        form = DepositForm(
            request.POST or None,
            request.FILES or None,
            vault_files=_vault_files(request, commune),
        )
        if request.method == "POST" and form.is_valid():
            return _deposit(request, commune, form)
    elif request.method == "POST":
        raise Http404
    name, qualified = tsa.tsa_label()
    return render(
        request,
        "archive/list.html",
        {
            "commune": commune,
            "objects": services.objects_for(request.user, commune)[:500],
            "form": form,
            "tsa_name": name,
            "tsa_qualified": qualified,
            "is_admin": scoping.is_commune_admin(request.user, commune),
        },
    )


def _deposit(request: HttpRequest, commune: Commune, form: DepositForm) -> HttpResponse:
    data = form.cleaned_data
    given = services.deposit_input(data, "envoi depuis la page de l'archive")
    actor = actor_of(request)
    try:
        if data["vault_file"]:
            done = services.deposit_from_vault(
                actor, request.user, commune, data["vault_file"], given
            )
        else:
            done = services.deposit(actor, commune, given)
    except ValidationError as exc:
        form.add_error(None, exc)
        return render(
            request,
            "archive/list.html",
            {
                "commune": commune,
                "objects": services.objects_for(request.user, commune)[:500],
                "form": form,
                "tsa_name": tsa.tsa_label()[0],
                "tsa_qualified": tsa.tsa_label()[1],
            },
            status=400,
        )
    messages.success(request, f"« {done.obj.title} » archivé et scellé ({done.obj.reference}).")
    if done.warning:
        messages.warning(request, done.warning)
    return redirect("archive:detail", insee=commune.insee, object_id=done.obj.pk)


@require_safe
@commune_required()
def detail(request: HttpRequest, commune: Commune, object_id: int) -> HttpResponse:
    obj = services.object_for(request.user, commune, object_id)
    services.record_access(actor_of(request), obj)
    token = tsa.token_info(bytes(obj.timestamp_token))
    return render(
        request,
        "archive/detail.html",
        {
            "commune": commune,
            "obj": obj,
            "token": token,
            "entries": services.entries_of(obj),
            "expired": services.is_expired(obj),
            "is_admin": scoping.is_commune_admin(request.user, commune),
            "open_proposal": obj.proposals.filter(state=ProposalState.PROPOSED).first(),
            "proposal_form": ProposalForm(),
        },
    )


def _attachment(
    request: HttpRequest,
    commune: Commune,
    object_id: int,
    produce: Callable[[Actor, ArchivedObject], bytes],
    content_type: str,
    filename: Callable[[ArchivedObject], str],
) -> HttpResponse:
    """A download of the object (its bytes, its evidence package): journalled by the
    service; a refusal goes back to the object's page with the reason."""
    obj = services.object_for(request.user, commune, object_id)
    try:
        data = produce(actor_of(request), obj)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("archive:detail", insee=commune.insee, object_id=obj.pk)
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename(obj)}"'
    return response


@require_safe
@commune_required()
def download(request: HttpRequest, commune: Commune, object_id: int) -> HttpResponse:
    return _attachment(
        request,
        commune,
        object_id,
        services.read_document,
        "application/octet-stream",
        lambda obj: obj.filename,
    )


@require_safe
@commune_required()
def evidence(request: HttpRequest, commune: Commune, object_id: int) -> HttpResponse:
    return _attachment(
        request,
        commune,
        object_id,
        services.evidence_package,
        "application/zip",
        lambda obj: f"preuve-{obj.reference}.zip",
    )


@require_POST
@commune_required(admin=True)
def propose(request: HttpRequest, commune: Commune, object_id: int) -> HttpResponse:
    obj = services.object_for(request.user, commune, object_id)
    form = ProposalForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Indiquez le motif de la proposition d'élimination.")
    else:
        try:
            services.propose_elimination(actor_of(request), obj, form.cleaned_data["reason"])
            messages.success(request, "Proposition d'élimination envoyée pour visa.")
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
    return redirect("archive:detail", insee=commune.insee, object_id=obj.pk)


@require_POST
@commune_required(admin=True)
def transfer(request: HttpRequest, commune: Commune) -> HttpResponse:
    """The selected objects as a SEDA 2.3 transfer package for the Archives
    départementales (journalled per object)."""
    from clocher.archive import seda

    ids = [int(i) for i in request.POST.getlist("objects") if i.isdigit()]
    objects = list(services.objects_for(request.user, commune).filter(pk__in=ids).order_by("pk"))
    try:
        identifier, data = seda.transfer_package(actor_of(request), commune, objects)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("archive:list", insee=commune.insee)
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="versement-{identifier}.zip"'
    return response


# --------------------------------------------------------------------------- operator


@operator_required
def operator(request: HttpRequest) -> HttpResponse:
    name, qualified = tsa.tsa_label()
    return render(
        request,
        "archive/operator.html",
        {
            "proposals": EliminationProposal.objects.select_related("archived_object", "commune")[
                :200
            ],
            "is_archivist": scoping.is_operator(request.user, roles=services.ARCHIVIST_ROLES),
            "rules": RetentionRule.objects.all(),
            "seals": JournalSeal.objects.order_by("-last_seq")[:10],
            "objects": ArchivedObject.objects.count(),
            "tsa_name": name,
            "tsa_qualified": qualified,
            "visa_form": VisaForm(),
        },
    )


@require_POST
@operator_required
def visa(request: HttpRequest, proposal_id: int) -> HttpResponse:
    proposal = get_object_or_404(
        EliminationProposal.objects.select_related("archived_object__commune"), pk=proposal_id
    )
    form = VisaForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Décision manquante.")
        return redirect("archive:operator")
    actor = actor_of(request)
    try:
        if form.cleaned_data["decision"] == "approve":
            services.approve_elimination(actor, proposal, form.cleaned_data["note"])
            messages.success(
                request,
                f"Élimination de {proposal.archived_object.reference} visée : "
                "document détruit, certificat inscrit au journal.",
            )
        else:
            services.refuse_elimination(actor, proposal, form.cleaned_data["note"])
            messages.success(request, "Proposition refusée.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("archive:operator")


@require_POST
@operator_required
def rule_edit(request: HttpRequest, rule_id: int) -> HttpResponse:
    if not scoping.is_operator(request.user, roles=(Role.OPERATOR_ADMIN, Role.OPERATOR_ARCHIVIST)):
        raise Http404
    rule = get_object_or_404(RetentionRule, pk=rule_id)
    form = RuleForm(request.POST)
    if form.is_valid():
        try:
            services.update_rule(
                actor_of(request),
                rule,
                years=form.cleaned_data["years"],
                final_fate=form.cleaned_data["final_fate"],
                source=form.cleaned_data["source"],
            )
            messages.success(request, f"Règle « {rule.label} » mise à jour.")
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
    else:
        messages.error(request, "Règle invalide : durée entre 1 et 200 ans, ou vide.")
    return redirect("archive:operator")


@require_POST
@operator_required
def retention_change(request: HttpRequest, object_id: int) -> HttpResponse:
    if not scoping.is_operator(request.user, roles=services.ARCHIVIST_ROLES):
        raise Http404
    obj = get_object_or_404(ArchivedObject.objects.select_related("commune"), pk=object_id)
    form = RetentionChangeForm(request.POST)
    if form.is_valid():
        try:
            services.change_retention(actor_of(request), obj, form.cleaned_data["rule"])
            messages.success(request, f"Conservation de {obj.reference} prolongée.")
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
    return redirect("archive:operator")


# --------------------------------------------------------------------------- embedded TSA


@csrf_exempt
@require_POST
def tsa_endpoint(request: HttpRequest) -> HttpResponse:
    """RFC 3161 over HTTP (RFC 3161 §3.4): a TimeStampReq in, a TimeStampResp out.
    Tokens of this authority are labelled « non qualifié » in its certificate."""
    if len(request.body) > 4096:
        return HttpResponse(status=413)
    return HttpResponse(tsa.respond(request.body), content_type=tsa.CONTENT_TYPE_REPLY)


@require_safe
def tsa_certificate(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(tsa.embedded_signer().certificate_pem, content_type="text/plain")
    response["Content-Disposition"] = 'inline; filename="horodatage-clocher-non-qualifie.pem"'
    return response
