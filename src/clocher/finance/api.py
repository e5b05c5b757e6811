"""JSON API of the finance app (mounted under /api/v1/ by `clocher.api.urls`).

Endpoints (each resolves the commune through `core.scoping`: 404 to anyone who is not an
active member of it or an operator; importing needs the commune's admin or an operator,
403 otherwise). Amounts and rates are strings (exact decimals: "1234.56", "0.0325").

- ``GET  communes/{insee}/finance/loans/`` — the book, a page ``{"count", "next",
  "previous", "results"}`` (``?limit=&offset=``, by start, reference then id): id,
  reference, lender, label,
  nominal, start, periods, periodicity (12/4/2/1 per year), profile, day_count,
  rate_index ("" when fixed), rate (fixed rate or margin), floor, cap, gissler,
  gissler_computed, gissler_warning, source.
- ``POST communes/{insee}/finance/loans/`` — multipart ``file`` (CSV or TOTEM XML, 10 MB)
  → 201 ``{"created": [...], "updated": [...], "skipped": [...]}``; 400 ``{"detail",
  "errors": ["ligne 3 (REF) : …", …]}`` and nothing written.
- ``GET  communes/{insee}/finance/loans/{loan_id}/`` — one loan (the fields above and
  every other contract field: growth, deferral, indemnity, structure).
- ``GET  communes/{insee}/finance/loans/{loan_id}/schedule/`` — ``{"curve", "warnings",
  "rows": [{"due", "rate", "interest", "capital", "payment", "balance"}]}``.
- ``GET  communes/{insee}/finance/indicators/`` — ``{"alert_years", "years": [{"year",
  "outstanding", "capital", "interest", "weighted_rate", "actuarial_rate",
  "residual_life", "average_life", "gross_savings", "debt_capacity", "variable_share",
  "structured_share", "loans", "risky_loans", "alerts": [...]}]}`` (stored figures).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from clocher.api.common import ApiView, ListCreateView, RetrieveView, actor
from clocher.core import scoping
from clocher.core.models import Commune
from clocher.finance import services
from clocher.finance.models import INDEX_CHOICES, STRUCTURE_CHOICES, Loan, YearIndicator

LIST_FIELDS = [
    "id", "reference", "lender", "label", "nominal", "start", "periods", "periodicity",
    "profile", "day_count", "rate_index", "rate", "floor", "cap", "gissler",
    "gissler_computed", "gissler_warning", "source",
]  # fmt: skip


def _blank_or(choices: list[tuple[str, str]]) -> serializers.ChoiceField:
    """A read-only choice that may be empty: DRF drops `allow_blank` from read-only model
    fields, so the OpenAPI enum left "" out while the API answers it (no index)."""
    return serializers.ChoiceField(choices=choices, allow_blank=True, read_only=True)


class LoanSerializer(serializers.ModelSerializer):
    rate_index = _blank_or(INDEX_CHOICES)

    class Meta:
        model = Loan
        fields = LIST_FIELDS
        read_only_fields = fields


class LoanDetailSerializer(serializers.ModelSerializer):
    rate_index = _blank_or(INDEX_CHOICES)
    structure_kind = _blank_or(STRUCTURE_CHOICES)

    class Meta:
        model = Loan
        exclude = ["commune", "operator_debt"]
        read_only_fields = [f.name for f in Loan._meta.fields]


class IndicatorSerializer(serializers.ModelSerializer):
    alerts = serializers.SerializerMethodField()

    class Meta:
        model = YearIndicator
        exclude = ["id", "commune", "worst_class"]
        read_only_fields = [f.name for f in YearIndicator._meta.fields]

    def get_alerts(self, obj: YearIndicator) -> list[str]:
        return services.alerts_for(obj)


class UploadSerializer(serializers.Serializer):
    file = serializers.FileField()


# What an import did: the contract numbers created, updated, and the lines skipped.
class ImportedSerializer(serializers.Serializer):
    created = serializers.ListField(child=serializers.CharField(), read_only=True)
    updated = serializers.ListField(child=serializers.CharField(), read_only=True)
    skipped = serializers.ListField(child=serializers.CharField(), read_only=True)


def _commune(request: Request, insee: str) -> Commune:
    return scoping.get_commune_for(request.user, insee)


def _loan(request: Request, insee: str, loan_id: int) -> Loan:
    try:
        return services.get_loan(_commune(request, insee), loan_id)
    except ValidationError as exc:
        raise Http404 from exc


class LoanListView(ListCreateView):
    """The commune's loan book; POST a CSV or TOTEM file to import (all or nothing)."""

    serializer_class = LoanSerializer
    parser_classes = [MultiPartParser, FormParser]
    create_serializer_class = UploadSerializer
    created_serializer_class = ImportedSerializer
    create_media_type = "multipart/form-data"
    create_errors = (400, 403)

    def get_items(self) -> QuerySet[Loan]:
        loans = services.loans_of(_commune(self.request, self.kwargs["insee"]))
        return loans.order_by("start", "reference", "pk")

    def get_parent(self) -> Commune:
        commune = _commune(self.request, self.kwargs["insee"])
        if not services.may_write(self.request.user, commune):
            raise PermissionDenied("Réservé à l'administrateur de la commune et à l'opérateur.")
        return commune

    def perform_create(
        self, parent: Commune, values: Mapping[str, Any]
    ) -> services.LoanImportReport:
        upload = values["file"]
        if upload.size > services.MAX_IMPORT_BYTES:
            raise ValidationError("Fichier trop volumineux : 10 Mo au plus.")
        name = upload.name or "fichier"
        report = services.import_loans(actor(self.request), parent, upload.read(), name)
        if not report.ok:  # each line in error named, nothing written
            raise ApiValidationError({"detail": report.summary(), "errors": report.errors})
        return report


class LoanDetailView(RetrieveView):
    serializer_class = LoanDetailSerializer

    def get_object(self) -> Loan:
        return _loan(self.request, self.kwargs["insee"], self.kwargs["loan_id"])


class LoanScheduleView(ApiView):
    @extend_schema(responses=dict)
    def get(self, request: Request, insee: str, loan_id: int) -> Response:
        schedule, warnings = services.schedule_of(_loan(request, insee, loan_id))
        names = ("due", "rate", "interest", "capital", "payment", "balance")
        rows = [{k: str(v) for k, v in zip(names, row, strict=True)} for row in schedule.rows]
        return Response({"curve": schedule.curve_name, "warnings": warnings, "rows": rows})


class IndicatorsView(ApiView):
    @extend_schema(responses=dict)
    def get(self, request: Request, insee: str) -> Response:
        commune = _commune(request, insee)
        years = YearIndicator.objects.filter(commune=commune)
        return Response(
            {
                "alert_years": settings.FINANCE_ALERT_YEARS,
                "years": IndicatorSerializer(years, many=True).data,
            }
        )
