"""JSON API of the shield: boxes and the monthly report (mounted under /api/v1/).

Scoped as the shield's pages (`shield.views`): a commune's boxes and report are for its
admin and the operator's staff (`scoping.get_commune_for(…, admin=True)`), 404 to
anyone else; the fleet and the département's report are the operator's (403 otherwise).

- ``GET communes/{insee}/shield/boxes/`` — ``[{"id", "hostname", "commune", "version",
  "enrolled_at", "last_seen", "online", "flows_today", "revoked_at"}]``.
- ``GET communes/{insee}/shield/boxes/{box_id}/`` — one of them.
- ``GET communes/{insee}/shield/report/?month=AAAA-MM`` — the monthly report of blocked
  flows (by default the last complete month): ``{"month", "scope", "summary",
  "flows", "blocks", "boxes", "collective_added", "by_country", "by_scenario",
  "by_port", "top_sources", "daily"}``, each list of ``{"key", "label", "flows",
  "blocks"}`` (``by_port``'s label: « port 3389 bloqué : N tentatives »); 400 for a
  month that is not AAAA-MM.
- ``GET communes/{insee}/shield/ports/`` — the inbound ports the commune's boxes close,
  a page ``{"count", "results": [{"id", "port", "proto", "allow", "reason", "origin",
  "created_at", "applied"}]}``
  (``applied``: a box of the commune says it drops it).
- ``POST communes/{insee}/shield/ports/`` ← ``{"port", "proto"?: "tcp"|"udp", "allow"?:
  [prefix], "reason"?}`` → 201 the rule; 400 naming what is wrong (already closed, not a
  port, a bad prefix). ``DELETE communes/{insee}/shield/ports/{id}/`` → 204, reopened.
- ``GET shield/boxes/`` and ``GET shield/report/?month=AAAA-MM`` — the same for the
  whole département (``by_commune`` and ``central_bruteforce`` filled in): operator only.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from clocher.api.common import ApiView, actor, refuse
from clocher.api.schema import errors
from clocher.api.strict import StrictSerializer
from clocher.core import scoping
from clocher.core.models import Commune
from clocher.shield import report, services
from clocher.shield.models import Box, PortRule

MONTH_PATTERN = r"(19|2[0-9])[0-9]{2}-(0[1-9]|1[0-2])"
MONTH_RE = re.compile(MONTH_PATTERN)
MONTH = OpenApiParameter(
    "month",
    OpenApiTypes.STR,
    pattern=f"^{MONTH_PATTERN}$",
    description="Mois du rapport, AAAA-MM (par défaut le dernier mois complet).",
    allow_blank=False,
)


class FleetRowSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="box.id")
    hostname = serializers.CharField(source="box.hostname")
    commune = serializers.CharField(source="box.commune.insee")
    version = serializers.CharField(source="box.version")
    enrolled_at = serializers.DateTimeField(source="box.enrolled_at")
    last_seen = serializers.DateTimeField(source="box.last_seen", allow_null=True)
    online = serializers.BooleanField()
    flows_today = serializers.IntegerField()
    revoked_at = serializers.DateTimeField(source="box.revoked_at", allow_null=True)


class LineSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # a field, not Field.label
    flows = serializers.IntegerField()
    blocks = serializers.IntegerField()


class ReportSerializer(serializers.Serializer):
    month = serializers.SerializerMethodField()
    scope = serializers.CharField()
    summary = serializers.CharField()
    flows = serializers.IntegerField()
    blocks = serializers.IntegerField()
    boxes = serializers.IntegerField()
    collective_added = serializers.IntegerField()
    central_bruteforce = serializers.IntegerField()
    by_country = LineSerializer(many=True)
    by_scenario = LineSerializer(many=True)
    by_port = LineSerializer(many=True)
    top_sources = LineSerializer(many=True)
    daily = LineSerializer(many=True)
    by_commune = LineSerializer(many=True)

    def get_month(self, obj: report.Report) -> str:
        return obj.month.strftime("%Y-%m")

    def to_representation(self, instance: Any) -> Any:
        body = super().to_representation(instance)
        body["summary"] = instance.summary()
        return body


class PortRuleSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    port = serializers.IntegerField()
    proto = serializers.CharField()
    allow = serializers.ListField(child=serializers.CharField(), source="allowed")
    reason = serializers.CharField()
    origin = serializers.CharField()
    created_at = serializers.DateTimeField()
    applied = serializers.SerializerMethodField()

    def get_applied(self, obj: PortRule) -> bool:
        return obj.key in self.context.get("applied", set())


class PortRuleCreateSerializer(StrictSerializer):
    port = serializers.IntegerField(min_value=1, max_value=65535)
    proto = serializers.ChoiceField(choices=["tcp", "udp"], default="tcp")
    allow = serializers.ListField(
        child=serializers.CharField(max_length=49), max_length=20, default=list
    )
    reason = serializers.CharField(max_length=300, default="", allow_blank=True)


def _month(request: Request) -> dt.date:
    """The `month` parameter, by default the last complete month; 400 naming it when it
    is not a month of 1900 to 2999 written AAAA-MM."""
    text = request.query_params.get("month")
    if text is None:
        return report.last_complete_month()
    if not MONTH_RE.fullmatch(text):
        raise ApiValidationError(
            {"month": [f"« {text} » : mois attendu au format AAAA-MM, de 1900-01 à 2999-12."]}
        )
    return dt.date(int(text[:4]), int(text[5:]), 1)


def _rows(boxes: QuerySet[Box]) -> list[services.FleetRow]:
    rows, _alerts = services.fleet(boxes)
    return rows


def _commune(request: Request, insee: str) -> Commune:
    return scoping.get_commune_for(request.user, insee, admin=True)


def _operator(request: Request) -> None:
    if not scoping.is_operator(request.user):
        raise PermissionDenied("Réservé à l'opérateur.")


class CommuneBoxListView(ApiView):
    serializer_class = FleetRowSerializer

    @extend_schema(responses={200: FleetRowSerializer(many=True)})
    def get(self, request: Request, insee: str) -> Response:
        boxes = scoping.scoped(Box.objects.filter(commune=_commune(request, insee)), request.user)
        return self.paginated(_rows(boxes), FleetRowSerializer)


class CommuneBoxDetailView(ApiView):
    serializer_class = FleetRowSerializer

    @extend_schema(responses=FleetRowSerializer)
    def get(self, request: Request, insee: str, box_id: UUID) -> Response:
        boxes = Box.objects.filter(commune=_commune(request, insee), pk=box_id)
        rows = _rows(scoping.scoped(boxes, request.user))
        if not rows:
            raise Http404
        return Response(FleetRowSerializer(rows[0]).data)


class CommuneReportView(ApiView):
    serializer_class = ReportSerializer

    @extend_schema(parameters=[MONTH], responses={200: ReportSerializer, **errors(400)})
    def get(self, request: Request, insee: str) -> Response:
        commune = _commune(request, insee)
        return Response(ReportSerializer(report.build(_month(request), commune)).data)


class FleetView(ApiView):
    serializer_class = FleetRowSerializer

    @extend_schema(responses={200: FleetRowSerializer(many=True), **errors(403)})
    def get(self, request: Request) -> Response:
        _operator(request)
        return self.paginated(_rows(Box.objects.all()), FleetRowSerializer)


class DepartmentReportView(ApiView):
    serializer_class = ReportSerializer

    @extend_schema(parameters=[MONTH], responses={200: ReportSerializer, **errors(400, 403)})
    def get(self, request: Request) -> Response:
        _operator(request)
        return Response(ReportSerializer(report.build(_month(request), None)).data)


class CommunePortListView(ApiView):
    serializer_class = PortRuleSerializer

    @extend_schema(responses={200: PortRuleSerializer(many=True)})
    def get(self, request: Request, insee: str) -> Response:
        commune = _commune(request, insee)
        context = {"applied": services.applied_ports(commune)}
        page = self.paginate_queryset(services.port_rules(commune))
        return self.get_paginated_response(
            PortRuleSerializer(page, many=True, context=context).data
        )

    @extend_schema(
        request=PortRuleCreateSerializer, responses={201: PortRuleSerializer, **errors(400)}
    )
    def post(self, request: Request, insee: str) -> Response:
        commune = _commune(request, insee)
        data = PortRuleCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            rule = services.block_port(
                actor(request), commune, values["port"], values["proto"], values["allow"],
                values["reason"], origin="API",
            )  # fmt: skip
        except ValidationError as exc:
            raise refuse(exc) from exc
        return Response(PortRuleSerializer(rule).data, status=status.HTTP_201_CREATED)


class CommunePortDetailView(ApiView):
    serializer_class = PortRuleSerializer

    @extend_schema(responses={204: None})
    def delete(self, request: Request, insee: str, port_rule_id: int) -> Response:
        rule = get_object_or_404(PortRule, pk=port_rule_id, commune=_commune(request, insee))
        services.unblock_port(actor(request), rule)
        return Response(status=status.HTTP_204_NO_CONTENT)
