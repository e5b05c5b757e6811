"""Debt pages: a commune's book (table, extinction, Gissler matrix, indicators, scenarios),
a loan and its schedule, the import page, the budget-debate annex (PDF/CSV); for the
operator: the consolidated view of every commune, its own debt (same pages), the index
histories and forward curve.

Thin: figures come from services.py and report.py; a commune's pages resolve it through
the scoping helper (404 to anyone else), the operator's through `operator_required`.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from clocher.core import scoping
from clocher.core.access import commune_required, operator_required
from clocher.core.models import Commune
from clocher.core.request import actor_of
from clocher.finance import report, services
from clocher.finance.forms import CurveForm, ImportForm, IndexForm, RefinanceForm, SavingsForm
from clocher.finance.models import ForwardCurve, IndexFixing, Recompute

SCHEDULE_PAGE = 48


def _urls(owner: services.Owner) -> dict[str, str]:
    """The book's URLs: a commune's, or the operator's own debt's."""
    if owner is None:
        names = {k: f"finance:own_{k}" for k in ("import", "savings", "report_pdf", "report_csv")}
        names["book"] = "finance:own"
        return {k: reverse(v) for k, v in names.items()}
    kw = {"insee": owner.insee}
    return {
        "book": reverse("finance:commune", kwargs=kw),
        "import": reverse("finance:import", kwargs=kw),
        "savings": reverse("finance:savings", kwargs=kw),
        "report_pdf": reverse("finance:report_pdf", kwargs=kw),
        "report_csv": reverse("finance:report_csv", kwargs=kw),
    }


def loan_url(owner: services.Owner, loan_id: int) -> str:
    if owner is None:
        return reverse("finance:own_loan", kwargs={"loan_id": loan_id})
    return reverse("finance:loan", kwargs={"insee": owner.insee, "loan_id": loan_id})


def _year(request: HttpRequest) -> int:
    text = request.GET.get("annee", "")
    if not text:
        return timezone.localdate().year
    if not text.isdigit() or not 1990 <= int(text) <= 2100:
        raise Http404("Année invalide : attendu AAAA.")
    return int(text)


def _projection(owner: services.Owner) -> dict[str, object]:
    """The épargne brute projection block of a commune's page (the operator's own debt has
    no forecast series: the forecast app serves communes)."""
    if owner is None:
        return {}
    projection = services.savings_projection(owner)
    kw = {"insee": owner.insee}
    return {
        "projection": projection,
        "projection_url": reverse("finance:projection", kwargs=kw),
        "card_url": reverse(
            "forecast:forecast", kwargs={**kw, "forecast_id": projection.forecast.pk}
        )
        if projection.forecast
        else "",
    }


def _book_page(request: HttpRequest, owner: services.Owner) -> HttpResponse:
    built = report.build(owner, _year(request))
    return render(
        request,
        "finance/book.html",
        {
            "owner": owner,
            "commune": owner,
            "report": built,
            "rows": [(line, loan_url(owner, line.loan.pk)) for line in built.lines],
            "urls": _urls(owner),
            "may_write": services.may_write(request.user, owner),
            "savings_form": SavingsForm(),
            "recomputing": services.being_recomputed(owner),
            **_projection(owner),
        },
    )


def _loan_page(request: HttpRequest, owner: services.Owner, loan_id: int) -> HttpResponse:
    try:
        loan = services.get_loan(owner, loan_id)
    except ValidationError as exc:
        raise Http404 from exc
    schedule, warnings = services.schedule_of(loan)
    page = Paginator(schedule.rows, SCHEDULE_PAGE).get_page(request.GET.get("page"))
    form = RefinanceForm(request.GET if "new_rate" in request.GET else None)
    what_if = None
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        try:
            what_if = services.refinance(
                loan,
                data["on"],
                data["new_rate"] / 100,
                market_rate=data["market_rate"] / 100 if data["market_rate"] is not None else None,
                fees=data["fees"] or Decimal(0),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
    return render(
        request,
        "finance/loan.html",
        {
            "owner": owner,
            "commune": owner,
            "loan": loan,
            "schedule": schedule,
            "page": page,
            "warnings": warnings,
            "form": form,
            "what_if": what_if,
            "recomputing": bool(loan.rate_index) and services.recompute_pending() is not None,
            "urls": _urls(owner),
            "today": timezone.localdate(),
        },
    )


def _import_page(request: HttpRequest, owner: services.Owner) -> HttpResponse:
    if not services.may_write(request.user, owner):
        raise Http404
    form = ImportForm(request.POST or None, request.FILES or None)
    result = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            upload = form.cleaned_data["file"]
            if upload.size > services.MAX_IMPORT_BYTES:
                form.add_error("file", "Fichier trop volumineux : 10 Mo au plus.")
            else:
                result = services.import_loans(
                    actor_of(request), owner, upload.read(), upload.name or "fichier"
                )
                if result.ok:
                    messages.success(request, result.summary())
                    return redirect(_urls(owner)["book"])
        status = 400
    return render(
        request,
        "finance/import.html",
        {"owner": owner, "commune": owner, "form": form, "result": result, "urls": _urls(owner)},
        status=status,
    )


def _savings(request: HttpRequest, owner: services.Owner) -> HttpResponse:
    if not services.may_write(request.user, owner):
        raise Http404
    form = SavingsForm(request.POST, request.FILES)
    target = _urls(owner)["book"]
    if not form.is_valid():
        for field, errors in form.errors.items():
            label = "" if field == "__all__" else f"{form.fields[field].label} : "
            for error in errors:
                messages.error(request, f"{label}{error}")
        return redirect(target)
    data = form.cleaned_data
    try:
        if data.get("file"):
            upload = data["file"]
            figures = services.import_accounts(actor_of(request), owner, upload.read())
            messages.success(request, f"Épargne brute de {len(figures)} année(s) importée.")
        else:
            services.set_savings(actor_of(request), owner, data["year"], data["amount"])
            messages.success(request, f"Épargne brute {data['year']} enregistrée.")
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    return redirect(target)


def _report(request: HttpRequest, owner: services.Owner, fmt: str) -> HttpResponse:
    built = report.build(owner, _year(request))
    if fmt == "csv":
        response = HttpResponse(report.to_csv(built), content_type="text/csv; charset=utf-8")
    else:
        operator = scoping.get_operator()
        response = HttpResponse(
            report.to_pdf(built, operator.name if operator else ""), content_type="application/pdf"
        )
    response["Content-Disposition"] = f'attachment; filename="{report.filename(built, fmt)}"'
    return response


# --- a commune's book -----------------------------------------------------------------


@commune_required()
def commune_book(request: HttpRequest, commune: Commune) -> HttpResponse:
    return _book_page(request, commune)


@commune_required()
def commune_loan(request: HttpRequest, commune: Commune, loan_id: int) -> HttpResponse:
    return _loan_page(request, commune, loan_id)


@commune_required()
def commune_import(request: HttpRequest, commune: Commune) -> HttpResponse:
    return _import_page(request, commune)


@commune_required()
@require_POST
def commune_savings(request: HttpRequest, commune: Commune) -> HttpResponse:
    return _savings(request, commune)


@commune_required()
@require_POST
def commune_projection(request: HttpRequest, commune: Commune) -> HttpResponse:
    """Project the épargne brute now (a few yearly points: the forecast takes a moment)."""
    if not services.may_write(request.user, commune):
        raise Http404
    try:
        projected = services.project_savings(actor_of(request), commune)
        messages.success(request, f"Épargne brute projetée sur {len(projected)} année(s).")
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    return redirect(reverse("finance:commune", kwargs={"insee": commune.insee}) + "#projection")


@commune_required()
def commune_report_pdf(request: HttpRequest, commune: Commune) -> HttpResponse:
    return _report(request, commune, "pdf")


@commune_required()
def commune_report_csv(request: HttpRequest, commune: Commune) -> HttpResponse:
    return _report(request, commune, "csv")


# --- the operator ---------------------------------------------------------------------


@operator_required
def operator_view(request: HttpRequest) -> HttpResponse:
    sort = request.GET.get("tri", "alertes")
    descending = request.GET.get("ordre", "desc" if sort != "nom" else "asc") == "desc"
    view = services.consolidated(_year(request), sort, descending)
    return render(
        request,
        "finance/operator.html",
        {
            "view": view,
            "sort": sort,
            "descending": descending,
            "columns": [
                ("nom", "Commune"),
                ("encours", "Encours au 31/12"),
                ("annuite", "Annuité"),
                ("taux", "Taux moyen"),
                ("capacite", "Capacité de désendettement"),
                ("structure", "Part structurée"),
                ("alertes", "Alertes"),
            ],
        },
    )


@operator_required
def own_book(request: HttpRequest) -> HttpResponse:
    return _book_page(request, None)


@operator_required
def own_loan(request: HttpRequest, loan_id: int) -> HttpResponse:
    return _loan_page(request, None, loan_id)


@operator_required
def own_import(request: HttpRequest) -> HttpResponse:
    return _import_page(request, None)


@operator_required
@require_POST
def own_savings(request: HttpRequest) -> HttpResponse:
    return _savings(request, None)


@operator_required
def own_report_pdf(request: HttpRequest) -> HttpResponse:
    return _report(request, None, "pdf")


@operator_required
def own_report_csv(request: HttpRequest) -> HttpResponse:
    return _report(request, None, "csv")


@operator_required
def market(request: HttpRequest) -> HttpResponse:
    """Index histories (shared market data) and the forward curve: the operator's."""
    index_form = IndexForm(prefix="index")
    curve_form = CurveForm(prefix="courbe", initial={"as_of": timezone.localdate()})
    status = 200
    if request.method == "POST" and "index-file" in request.FILES:
        index_form = IndexForm(request.POST, request.FILES, prefix="index")
        if index_form.is_valid():
            upload = index_form.cleaned_data["file"]
            try:
                result = services.import_index_history(
                    actor_of(request), upload.read(), index_form.cleaned_data["index"]
                )
            except (ValidationError, ValueError) as exc:
                index_form.add_error("index", str(exc))
            else:
                if result.ok:
                    messages.success(request, result.summary())
                    return redirect("finance:market")
                index_form.add_error(None, result.summary())
                for error in result.errors[:50]:
                    index_form.add_error(None, error)
        status = 400
    elif request.method == "POST":
        curve_form = CurveForm(request.POST, prefix="courbe")
        if curve_form.is_valid():
            data = curve_form.cleaned_data
            try:
                services.save_forward_curve(
                    actor_of(request), data["name"], data["as_of"], data["points"]
                )
            except ValidationError as exc:
                curve_form.add_error("points", exc)
            else:
                messages.success(request, f"Courbe « {data['name']} » enregistrée : référence.")
                return redirect("finance:market")
        status = 400
    last = {
        row["index"]: row
        for row in IndexFixing.objects.order_by("index", "date").values("index", "date", "value")
    }
    return render(
        request,
        "finance/market.html",
        {
            "index_form": index_form,
            "curve_form": curve_form,
            "last": sorted(last.values(), key=lambda r: r["index"]),
            "counts": {r: IndexFixing.objects.filter(index=r).count() for r in last},
            "curves": ForwardCurve.objects.all()[:10],
            "today": date.today(),
            "job": _latest_recompute(),
        },
        status=status,
    )


def _latest_recompute() -> Recompute | None:
    return services.recompute_pending() or Recompute.objects.first()


@operator_required
def recompute_status(request: HttpRequest) -> HttpResponse:
    """The progress line the market page polls (htmx) while books are being recomputed."""
    return render(request, "finance/_recompute.html", {"job": _latest_recompute()})
