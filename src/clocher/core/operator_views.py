"""Operator console (/operateur/): the département's view of the whole platform."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from clocher.core import audit, charts, reference, scoping, services, tiles
from clocher.core.access import operator_required
from clocher.core.forms import CommuneFilterForm, QuotaForm
from clocher.core.models import GIB, AuditEntry, Commune, CommuneStatus
from clocher.core.request import actor_of


@operator_required
def dashboard(request: HttpRequest) -> HttpResponse:
    by_status = services.communes_by_status()
    chart = charts.bars([(CommuneStatus(s).label, n) for s, n in by_status.items()])
    context = {
        "tiles": tiles.all_tiles(),
        "chart": chart,
        "chart_height": len(chart) * 28,
        "recent": AuditEntry.objects.order_by("-seq")[:10],
    }
    return render(request, "core/operator/dashboard.html", context)


@operator_required
def communes(request: HttpRequest) -> HttpResponse:
    form = CommuneFilterForm(request.GET or None)
    qs = Commune.objects.annotate(
        active_members=Count("memberships", filter=Q(memberships__is_active=True))
    ).order_by("name")
    if form.is_valid():
        if form.cleaned_data["status"]:
            qs = qs.filter(status=form.cleaned_data["status"])
        query = form.cleaned_data["q"].strip()
        if query:
            qs = qs.filter(Q(name__icontains=query) | Q(insee__startswith=query.upper()))
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    rows = [(c, reference.is_commercial_mail(c.townhall_email)) for c in page]
    query_string = request.GET.copy()
    query_string.pop("page", None)
    return render(
        request,
        "core/operator/communes.html",
        {"form": form, "page": page, "rows": rows, "query_string": query_string.urlencode()},
    )


@operator_required
def commune_detail(request: HttpRequest, insee: str) -> HttpResponse:
    commune = get_object_or_404(Commune, insee=insee)
    form = QuotaForm(
        request.POST or None,
        initial={
            "storage_gib": commune.quota_storage_bytes // GIB,
            "mailboxes": commune.quota_mailboxes,
            "members": commune.quota_members,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.update_quotas(
                actor_of(request),
                commune,
                storage_bytes=form.cleaned_data["storage_gib"] * GIB,
                mailboxes=form.cleaned_data["mailboxes"],
                members=form.cleaned_data["members"],
            )
        except ValidationError as exc:
            form.add_error("members", exc)
        else:
            messages.success(request, "Quotas enregistrés.")
            return redirect("core:operator_commune", insee=commune.insee)
    context = {
        "commune": commune,
        "form": form,
        "members": services.members_of(commune),
        "entries": AuditEntry.objects.filter(commune=commune).order_by("-seq")[:20],
        "ref": reference.lookup(commune.insee),
        "commercial": reference.is_commercial_mail(commune.townhall_email),
    }
    return render(request, "core/operator/commune.html", context)


@operator_required
def prospects(request: HttpRequest) -> HttpResponse:
    operator = scoping.get_operator()
    department = operator.department_code if operator else ""
    if request.method == "POST":
        if not department:
            messages.error(request, "Le code du département de l'opérateur n'est pas défini.")
        else:
            result = services.load_department_prospects(actor_of(request), department)
            messages.success(
                request,
                f"{result.created} commune(s) ajoutée(s) comme prospects, "
                f"{result.already_known} déjà connue(s).",
            )
        return redirect("core:operator_prospects")
    commercial, total = services.commercial_mail_count()
    return render(
        request,
        "core/operator/prospects.html",
        {
            "department": department,
            "commercial": commercial,
            "total": total,
            "by_status": services.communes_by_status(),
        },
    )


@operator_required
def journal(request: HttpRequest) -> HttpResponse:
    page = Paginator(AuditEntry.objects.order_by("-seq").select_related("commune"), 50).get_page(
        request.GET.get("page")
    )
    return render(request, "core/operator/journal.html", {"page": page})


@operator_required
@require_POST
def journal_verify(request: HttpRequest) -> HttpResponse:
    result = audit.verify()
    if result.ok:
        messages.success(request, f"Journal intègre : {result.checked} entrée(s) vérifiée(s).")
    else:
        assert result.first_break is not None
        messages.error(request, f"Journal altéré — {result.first_break.reason}.")
    return redirect("core:operator_audit")
