"""JSON API of the finance app (mounted under /api/v1/ by `clocher.api.urls`).

Endpoints (each resolves the commune through `core.scoping`: 404 to anyone who is not an
active member of it or an operator; importing needs the commune's admin or an operator,
403 otherwise). Amounts and rates are strings (exact decimals: "1234.56", "0.0325").

- ``GET  communes/{insee}/finance/loans/`` — the book: id, reference, lender, label,
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

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clocher.api.schema import errors
from clocher.core import scoping
from clocher.core.audit import Actor
from clocher.core.models import Commune
from clocher.core.request import client_ip
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


def _commune(request: Request, insee: str) -> Commune:
    return scoping.get_commune_for(request.user, insee)


def _loan(request: Request, insee: str, loan_id: int) -> Loan:
    try:
        return services.get_loan(_commune(request, insee), loan_id)
    except ValidationError as exc:
        raise Http404 from exc


class LoanListView(APIView):
    """The commune's loan book; POST a CSV or TOTEM file to import (all or nothing)."""

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(responses=LoanSerializer(many=True))
    def get(self, request: Request, insee: str) -> Response:
        loans = services.loans_of(_commune(request, insee))
        return Response(LoanSerializer(loans, many=True).data)

    @extend_schema(
        request={"multipart/form-data": UploadSerializer},
        responses={201: dict, **errors(400, 403)},
    )
    def post(self, request: Request, insee: str) -> Response:
        commune = _commune(request, insee)
        if not services.may_write(request.user, commune):
            raise PermissionDenied("Réservé à l'administrateur de la commune et à l'opérateur.")
        data = UploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        if upload.size > services.MAX_IMPORT_BYTES:
            raise ApiValidationError({"detail": "Fichier trop volumineux : 10 Mo au plus."})
        actor = Actor(user=request.user, ip=client_ip(request._request))
        report = services.import_loans(actor, commune, upload.read(), upload.name or "fichier")
        if not report.ok:
            raise ApiValidationError({"detail": report.summary(), "errors": report.errors})
        body: dict[str, Any] = {
            "created": report.created,
            "updated": report.updated,
            "skipped": report.skipped,
        }
        return Response(body, status=status.HTTP_201_CREATED)


class LoanDetailView(APIView):
    @extend_schema(responses=LoanDetailSerializer)
    def get(self, request: Request, insee: str, loan_id: int) -> Response:
        return Response(LoanDetailSerializer(_loan(request, insee, loan_id)).data)


class LoanScheduleView(APIView):
    @extend_schema(responses=dict)
    def get(self, request: Request, insee: str, loan_id: int) -> Response:
        schedule, warnings = services.schedule_of(_loan(request, insee, loan_id))
        names = ("due", "rate", "interest", "capital", "payment", "balance")
        rows = [{k: str(v) for k, v in zip(names, row, strict=True)} for row in schedule.rows]
        return Response({"curve": schedule.curve_name, "warnings": warnings, "rows": rows})


class IndicatorsView(APIView):
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
