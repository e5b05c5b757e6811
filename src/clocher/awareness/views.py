"""Awareness pages: the programme page of a commune (the agent's notice, choice and own
results; the admin's settings, aggregates and campaigns), and the public routes of the
exercise messages (tracking image, fake login page, lesson), reached by token only.

Thin: decisions are in services.py. The landing page never reads what was typed.
"""

from __future__ import annotations

import base64
import secrets

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from clocher.awareness import reporting, results, services
from clocher.awareness.forms import CampaignForm, ProgrammeForm, TemplateForm
from clocher.awareness.models import EventKind, SuspectReport, Template
from clocher.core import scoping
from clocher.core.access import commune_required, operator_required
from clocher.core.models import Commune, Role
from clocher.core.request import actor_of

GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def _is_admin(request: HttpRequest, commune: Commune) -> bool:
    membership = scoping.commune_membership(request.user, commune)
    return membership is not None and membership.role == Role.COMMUNE_ADMIN


@commune_required()
def programme(request: HttpRequest, commune: Commune) -> HttpResponse:
    admin = _is_admin(request, commune)
    current = services.programme_of(commune)
    member = scoping.commune_membership(request.user, commune) is not None
    participant = None
    if member and current is not None and current.enabled:
        participant = services.see_notice(commune, request.user)
    programme_form = campaign_form = None
    if admin:
        programme_form = ProgrammeForm(
            request.POST if request.POST.get("action") == "programme" else None,
            initial={
                "enabled": current.enabled if current else False,
                "enrolment": current.enrolment if current else "opt_in",
                "notice": current.notice if current else services.DEFAULT_NOTICE,
            },
        )
        campaign_form = CampaignForm(
            request.POST if request.POST.get("action") == "campaign" else None
        )
    status = 200
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "choice" and participant is not None:
                take_part = request.POST.get("take_part") == "1"
                services.choose(actor_of(request), commune, request.user, take_part=take_part)
                messages.success(
                    request,
                    "Votre choix est enregistré."
                    if take_part
                    else "Vous ne recevrez plus d'exercices.",
                )
                return redirect("awareness:programme", insee=commune.insee)
            if action == "programme" and programme_form is not None:
                if programme_form.is_valid():
                    services.set_programme(
                        actor_of(request), commune, **programme_form.cleaned_data
                    )
                    messages.success(request, "Programme enregistré.")
                    return redirect("awareness:programme", insee=commune.insee)
            elif action == "campaign" and campaign_form is not None:
                if campaign_form.is_valid():
                    made = services.create_campaign(
                        actor_of(request), commune, **campaign_form.cleaned_data
                    )
                    messages.success(
                        request,
                        f"Campagne « {made.name} » programmée pour "
                        f"{made.recipients.count()} agent(s).",
                    )
                    return redirect("awareness:programme", insee=commune.insee)
            else:
                raise Http404
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        status = 400
    mine = services.my_results(participant) if participant else []
    figures = services.aggregates(commune) if admin else None
    return render(
        request,
        "awareness/programme.html",
        {
            "commune": commune,
            "programme": current,
            "participant": participant,
            "takes_part": participant is not None and services.takes_part(current, participant),
            "badge": services.badge(participant.points) if participant else "",
            "results": [(r, {e.kind for e in r.events.all()}) for r in mine],
            "admin": admin,
            "programme_form": programme_form,
            "campaign_form": campaign_form,
            "figures": figures,
            "trends": results.trends([commune]) if figures and not figures.hidden else [],
            "campaigns": services.campaigns_of(commune)[:20] if admin else [],
            "min_group": services.MIN_GROUP,
        },
        status=status,
    )


@never_cache
@require_safe
def opened(request: HttpRequest, lure: str) -> HttpResponse:
    if not services.record_open(lure):
        raise Http404
    return HttpResponse(GIF, content_type="image/gif")


@csrf_exempt  # the message's secret token is the key; the body is never parsed
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def landing(request: HttpRequest, lure: str) -> HttpResponse:
    """GET: the fake login page (its script tells the click). POST: the fact of a submit
    (a click too), then the lesson.
    `request.POST` is never read: what was typed is dropped with the request."""
    recipient = services.find(lure)
    if recipient is None:
        raise Http404
    if request.method == "POST":
        services.record(recipient, EventKind.CLICKED)
        services.record(recipient, EventKind.SUBMITTED)
        return render(request, "awareness/lesson.html", {"recipient": recipient, "submitted": True})
    return render(request, "awareness/landing.html", {"recipient": recipient, "lure": lure})


@csrf_exempt  # the message's secret token is the key; there is no body
@never_cache
@require_POST
def clicked(request: HttpRequest, lure: str) -> HttpResponse:
    """The click, told by the landing page's script once a browser shows the page. Not
    the GET itself: mail security gateways (Safe Links, Proofpoint…) open every link of a
    message before the agent does, and a fetch that runs no script is not a person."""
    recipient = services.find(lure)
    if recipient is None:
        raise Http404
    services.record(recipient, EventKind.CLICKED)
    return HttpResponse(status=204)


@csrf_exempt  # a program's request, authenticated by the mail servers' secret
@require_POST
def report_in(request: HttpRequest) -> HttpResponse:
    """A reported message from the mail servers (forwarded to signalement@, or moved into
    "Signaler"): recorded as an exercise's report, or queued for the operator."""
    from clocher.mail.policy import policy_secret

    given = request.headers.get("Authorization", "").encode()
    if not secrets.compare_digest(given, f"Bearer {policy_secret()}".encode()):
        return HttpResponse("interdit", status=403, content_type="text/plain")
    try:
        outcome = reporting.receive(
            request.body,
            request.headers.get("X-Clocher-Reporter", ""),
            request.headers.get("X-Clocher-Channel", ""),
        )
    except ValueError as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain")
    return HttpResponse(outcome, content_type="text/plain; charset=utf-8")


@operator_required
@require_http_methods(["GET", "POST"])
def operator_queue(request: HttpRequest) -> HttpResponse:
    """Messages agents reported that were not exercises: the operator's team looks at
    each (headers, links), then marks it handled."""
    if request.method == "POST":
        suspect = get_object_or_404(SuspectReport, pk=request.POST.get("suspect", "0") or 0)
        reporting.handle(actor_of(request), suspect)
        messages.success(request, f"Signalement « {suspect.subject or 'sans objet'} » traité.")
        return redirect("awareness:queue")
    return render(
        request,
        "awareness/queue.html",
        {
            "pending": reporting.queue()[:200],
            "address": reporting.REPORT_LOCAL_PART,
            "trends": results.trends(Commune.objects.all()),
        },
    )


def _export(rows: list[results.Month], scope: str, name: str, fmt: str) -> HttpResponse:
    if fmt == "pdf":
        answer = HttpResponse(results.to_pdf(rows, scope), content_type="application/pdf")
    else:
        answer = HttpResponse(results.to_csv(rows), content_type="text/csv; charset=utf-8")
    answer["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return answer


@commune_required(admin=True)
@require_safe
def results_export(request: HttpRequest, commune: Commune, fmt: str) -> HttpResponse:
    """The commune's monthly figures for the council; none below MIN_GROUP agents."""
    if services.aggregates(commune).hidden:
        return HttpResponse(
            f"Moins de {services.MIN_GROUP} agents participent : aucun chiffre n'est publié.",
            status=403,
            content_type="text/plain; charset=utf-8",
        )
    rows = results.trends([commune])
    return _export(rows, commune.name, f"sensibilisation-{commune.insee}", fmt)


@operator_required
@require_safe
def operator_results(request: HttpRequest, fmt: str) -> HttpResponse:
    """The département's figures, all communes together."""
    rows = results.trends(Commune.objects.all())
    return _export(rows, "département", "sensibilisation-departement", fmt)


def _templates_page(request: HttpRequest, commune: Commune | None) -> HttpResponse:
    """Operator (`commune` None: offered to all) or a commune admin's own templates."""
    form = TemplateForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                made = services.add_template(actor_of(request), commune, form.spec())
            except ValidationError as exc:
                form.add_error(None, " ".join(exc.messages))
            else:
                messages.success(request, f"Modèle « {made.name} » ajouté (niveau {made.level}).")
                return redirect(request.path)
        status = 400
    services.ensure_catalogue()
    shown = services.templates_for(commune) if commune else Template.objects.filter(commune=None)
    return render(
        request,
        "awareness/templates.html",
        {"commune": commune, "templates": shown, "form": form},
        status=status,
    )


@commune_required(admin=True)
@require_http_methods(["GET", "POST"])
def commune_templates(request: HttpRequest, commune: Commune) -> HttpResponse:
    return _templates_page(request, commune)


@operator_required
@require_http_methods(["GET", "POST"])
def operator_templates(request: HttpRequest) -> HttpResponse:
    return _templates_page(request, None)
