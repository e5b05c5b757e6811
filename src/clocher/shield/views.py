"""Shield pages: the operator's fleet, boxes, tokens, lists and report; a commune's
boxes and report (through the scoping helper: a commune sees only its own)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from clocher.core import scoping
from clocher.core.access import commune_required, operator_required
from clocher.core.models import Commune
from clocher.core.request import actor_of
from clocher.shield import feeds, report, services
from clocher.shield.models import (
    AllowEntry,
    BlockEntry,
    Box,
    EnrolmentToken,
    Feed,
    PortRule,
    ShieldEvent,
)

RECENT_EVENTS = 50


def _month(request: HttpRequest):  # type: ignore[no-untyped-def]
    try:
        return report.parse_month(request.GET.get("mois"))
    except ValueError as exc:
        raise Http404(str(exc)) from exc


def _fleet_context(boxes: QuerySet[Box]) -> dict[str, object]:
    rows, alerts = services.fleet(boxes)
    return {
        "rows": rows,
        "alerts": alerts,
        "online": sum(1 for r in rows if r.online and not r.box.revoked),
        "offline": sum(1 for r in rows if not r.online and not r.box.revoked),
        "flows_today": sum(r.flows_today for r in rows),
    }


@operator_required
def fleet(request: HttpRequest) -> HttpResponse:
    context = _fleet_context(Box.objects.all())
    context.update(
        {
            "communes": Commune.objects.order_by("name"),
            "tokens": EnrolmentToken.objects.select_related("commune")[:20],
            "policy_version": services.policy_version(),
            "central_key": services.central_public_key(),
            "now": timezone.now(),
        }
    )
    return render(request, "shield/fleet.html", context)


@operator_required
def box_detail(request: HttpRequest, box_id: str) -> HttpResponse:
    box = get_object_or_404(Box.objects.select_related("commune"), pk=box_id)
    return render(
        request,
        "shield/box.html",
        {
            "box": box,
            "online": services.is_online(box),
            "events": ShieldEvent.objects.filter(box=box)[:RECENT_EVENTS],
        },
    )


@operator_required
@require_POST
def box_revoke(request: HttpRequest, box_id: str) -> HttpResponse:
    box = get_object_or_404(Box, pk=box_id)
    try:
        services.revoke_box(actor_of(request), box)
        messages.success(request, f"Boîtier {box.hostname} révoqué : sa clé n'ouvre plus rien.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("shield:box", box_id=box.pk)


@operator_required
@require_POST
def token_issue(request: HttpRequest) -> HttpResponse:
    commune = Commune.objects.filter(insee=request.POST.get("insee", "")).first()
    if commune is None:
        messages.error(request, "Choisissez la commune du boîtier.")
        return redirect("shield:fleet")
    issued = services.issue_token(actor_of(request), commune)
    # Rendered, not redirected: the secret is never stored, not even in the session.
    response = render(request, "shield/token.html", {"issued": issued, "commune": commune})
    response["Cache-Control"] = "no-store"
    return response


@operator_required
def lists(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "shield/lists.html",
        {
            "feeds": Feed.objects.all(),
            "allow": AllowEntry.objects.select_related("commune"),
            "settings_allow": settings.SHIELD_ALLOWLIST,
            "collective": services.active_blocks()
            .filter(feed__isnull=True)
            .select_related("origin_commune")[:200],
            "communes": Commune.objects.order_by("name"),
        },
    )


@operator_required
@require_POST
def allow_add(request: HttpRequest) -> HttpResponse:
    insee = request.POST.get("insee", "")
    commune = Commune.objects.filter(insee=insee).first() if insee else None
    try:
        entry = services.add_allow(
            actor_of(request),
            request.POST.get("prefix", ""),
            request.POST.get("reason", ""),
            commune,
        )
        messages.success(request, f"{entry.prefix} ne sera jamais bloqué.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("shield:lists")


@operator_required
@require_POST
def allow_remove(request: HttpRequest, allow_id: int) -> HttpResponse:
    entry = get_object_or_404(AllowEntry, pk=allow_id)
    services.remove_allow(actor_of(request), entry)
    messages.success(request, f"{entry.prefix} retiré de la liste d'autorisation.")
    return redirect("shield:lists")


@operator_required
@require_POST
def block_remove(request: HttpRequest, block_id: int) -> HttpResponse:
    entry = get_object_or_404(BlockEntry, pk=block_id, feed__isnull=True)
    services.remove_block(actor_of(request), entry)
    messages.success(request, f"{entry.source} retiré de la liste collective.")
    return redirect("shield:lists")


@operator_required
@require_POST
def feed_import(request: HttpRequest) -> HttpResponse:
    name = request.POST.get("name", "")
    purpose = request.POST.get("purpose", "blocklist")
    upload = request.FILES.get("file")
    try:
        if upload is not None:
            if upload.size and upload.size > feeds.MAX_FEED_BYTES:
                raise ValidationError("Liste trop volumineuse (64 Mio au plus).")
            lines = upload.read().decode("utf-8", errors="replace").splitlines()
            result = feeds.import_feed(
                actor_of(request), name, upload.name or "envoi", purpose, lines=lines
            )
        else:
            result = feeds.import_feed(
                actor_of(request), name, request.POST.get("url", ""), purpose
            )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("shield:lists")
    messages.success(request, result.summary())
    for problem in result.problems():
        messages.warning(request, problem)
    return redirect("shield:lists")


def _report_response(request: HttpRequest, commune: Commune | None, fmt: str) -> HttpResponse:
    built = report.build(_month(request), commune)
    if fmt == "csv":
        response = HttpResponse(report.to_csv(built), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{report.filename(built, "csv")}"'
        return response
    if fmt == "pdf":
        operator = scoping.get_operator()
        pdf = report.to_pdf(built, operator.name if operator else "")
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{report.filename(built, "pdf")}"'
        return response
    return render(request, "shield/report.html", {"report": built, "commune": commune})


@operator_required
def department_report(request: HttpRequest) -> HttpResponse:
    return _report_response(request, None, "html")


@operator_required
def department_report_csv(request: HttpRequest) -> HttpResponse:
    return _report_response(request, None, "csv")


@operator_required
def department_report_pdf(request: HttpRequest) -> HttpResponse:
    return _report_response(request, None, "pdf")


@commune_required(admin=True)
def commune_home(request: HttpRequest, commune: Commune) -> HttpResponse:
    boxes = scoping.scoped(Box.objects.filter(commune=commune), request.user)
    context = _fleet_context(boxes)
    context.update(
        {
            "commune": commune,
            "report": report.build(report.current_month(), commune),
            "last_report": report.build(report.last_complete_month(), commune),
            "is_operator": scoping.is_operator(request.user),
            "countries": services.blocked_countries(commune),
            "port_rules": services.port_rules(commune),
            "applied_ports": services.applied_ports(commune),
        }
    )
    return render(request, "shield/commune.html", context)


@commune_required(admin=True)
@require_POST
def commune_port_block(request: HttpRequest, commune: Commune) -> HttpResponse:
    try:
        rule = services.block_port(
            actor_of(request),
            commune,
            request.POST.get("port", ""),
            request.POST.get("proto", "tcp"),
            [request.POST.get("allow", "")],
            request.POST.get("reason", ""),
            origin="page du bouclier",
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            f"Port {rule.port}/{rule.proto} fermé : les boîtiers l'appliquent à leur prochain "
            "contact.",
        )
    return redirect("shield:commune", insee=commune.insee)


@commune_required(admin=True)
@require_POST
def commune_port_unblock(request: HttpRequest, commune: Commune, port_rule_id: int) -> HttpResponse:
    rule = get_object_or_404(PortRule, pk=port_rule_id, commune=commune)
    services.unblock_port(actor_of(request), rule)
    messages.success(request, f"Port {rule.port}/{rule.proto} rouvert sur les boîtiers.")
    return redirect("shield:commune", insee=commune.insee)


@commune_required(admin=True)
@require_POST
def commune_countries(request: HttpRequest, commune: Commune) -> HttpResponse:
    codes = request.POST.get("countries", "").replace(";", ",").replace(" ", ",").split(",")
    try:
        kept = services.set_countries(actor_of(request), commune, codes)
        shown = ", ".join(kept) or "aucun"
        messages.success(
            request,
            f"Pays bloqués en entrée : {shown}. Les boîtiers l'appliquent à leur prochain contact.",
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("shield:commune", insee=commune.insee)


@commune_required(admin=True)
def commune_report(request: HttpRequest, commune: Commune) -> HttpResponse:
    return _report_response(request, commune, "html")


@commune_required(admin=True)
def commune_report_csv(request: HttpRequest, commune: Commune) -> HttpResponse:
    return _report_response(request, commune, "csv")


@commune_required(admin=True)
def commune_report_pdf(request: HttpRequest, commune: Commune) -> HttpResponse:
    return _report_response(request, commune, "pdf")
