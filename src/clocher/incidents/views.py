"""The operator's incident register and the CNIL notification draft (operator only)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from clocher.core.access import View, operator_required
from clocher.core.audit import Actor
from clocher.core.request import actor_of
from clocher.incidents import cnil, forms, services
from clocher.incidents.models import Incident


@operator_required
def register(request: HttpRequest) -> HttpResponse:
    form = forms.OpenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            incident = services.open_incident(
                actor_of(request), data["title"], data["scope"], list(data["communes"]),
                severity=data["severity"], notice=data["notice"],
            )  # fmt: skip
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Incident n°{incident.pk} ouvert.")
            return redirect("incidents:detail", incident_id=incident.pk)
    incidents = Incident.objects.prefetch_related("communes")[:200]
    return render(request, "incidents/register.html", {"form": form, "incidents": incidents})


@operator_required
def detail(request: HttpRequest, incident_id: int) -> HttpResponse:
    incident = get_object_or_404(Incident.objects.prefetch_related("communes"), pk=incident_id)
    context = {
        "incident": incident,
        "actions": incident.actions.all(),
        "action_form": forms.ActionForm(),
        "notice_form": forms.NoticeForm(initial={"notice": incident.notice}),
        "breach_form": forms.BreachForm(instance=incident),
        "close_form": forms.CloseForm(),
        "draft": cnil.draft(incident),
        "now": timezone.now(),
    }
    return render(request, "incidents/detail.html", context)


Apply = Callable[[Actor, Incident, dict[str, Any]], object]


def _post(request: HttpRequest, incident_id: int, form_class: type, apply: Apply) -> HttpResponse:
    """One change to an incident from a small form; errors come back as messages."""
    incident = get_object_or_404(Incident, pk=incident_id)
    if form_class is forms.BreachForm:  # a ModelForm: validated against a copy
        form = form_class(request.POST, instance=Incident.objects.get(pk=incident.pk))
    else:
        form = form_class(request.POST)
    if not form.is_valid():
        problems = [" ".join(str(e) for e in errors) for errors in form.errors.values()]
        messages.error(request, "Formulaire incomplet : " + " ; ".join(problems))
    else:
        try:
            apply(actor_of(request), incident, form.cleaned_data)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, "Incident mis à jour.")
    return redirect("incidents:detail", incident_id=incident.pk)


def _change(form_class: type, apply: Apply) -> View:
    """The view of one small form of the incident page (operator only, POST only)."""

    @operator_required
    @require_POST
    def view(request: HttpRequest, incident_id: int) -> HttpResponse:
        return _post(request, incident_id, form_class, apply)

    return view


add_action = _change(
    forms.ActionForm,
    lambda actor, incident, data: services.add_action(actor, incident, data["text"]),
)
set_notice = _change(
    forms.NoticeForm,
    lambda actor, incident, data: services.set_notice(actor, incident, data["notice"]),
)
update_breach = _change(
    forms.BreachForm,
    lambda actor, incident, data: services.update_breach(actor, incident, **data),
)
close = _change(
    forms.CloseForm,
    lambda actor, incident, data: services.close_incident(actor, incident, data["summary"]),
)


@operator_required
def cnil_text(request: HttpRequest, incident_id: int) -> HttpResponse:
    incident = get_object_or_404(Incident, pk=incident_id)
    response = HttpResponse(
        cnil.to_text(cnil.draft(incident)), content_type="text/plain; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{cnil.filename(incident, "txt")}"'
    return response


@operator_required
def cnil_pdf(request: HttpRequest, incident_id: int) -> HttpResponse:
    incident = get_object_or_404(Incident, pk=incident_id)
    response = HttpResponse(cnil.to_pdf(cnil.draft(incident)), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{cnil.filename(incident, "pdf")}"'
    return response
