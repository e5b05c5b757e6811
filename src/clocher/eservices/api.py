"""The e-services audit's JSON API, under /api/v1/ (token or two-factor session).

Endpoints (`{insee}` a commune the caller may see, else 404; its admin or the operator,
else 403 — the permission rule is `_commune`, here only):

- `GET  communes/{insee}/eservices/` → `{commune, score, cibles: [{id, type, cible,
  confirmee, score, audit}], constats: [{cible, code, gravite, constat, explication,
  correction}] (worst first), tendance: [{jour, score}]}` (the report of the page and PDF)
- `GET  communes/{insee}/eservices/targets/` → a page `{count, next, previous, results:
  [{id, type, cible, confirmee, preuve, dkim: [selector]}]}` (`?limit=&offset=`)
- `POST communes/{insee}/eservices/targets/` ← `{cible, dkim?}` (https://…, a mail domain
  or a public IP address; a mail domain's DKIM selectors, comma-separated) → 201 the
  target; 400 `{detail}` naming what is wrong, nothing written. Only the operator
  confirms (page or CLI).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models import QuerySet
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from clocher.api.common import ApiView, ListCreateView, actor
from clocher.api.schema import errors
from clocher.api.strict import StrictSerializer
from clocher.core import scoping
from clocher.core.models import Commune
from clocher.eservices import services
from clocher.eservices.models import Kind, Severity, Target


def _commune(request: Request, insee: str) -> Commune:
    commune = scoping.get_commune_for(request.user, insee)
    if not scoping.is_commune_admin(request.user, commune):
        raise PermissionDenied("Réservé à l'administrateur de la commune et à l'opérateur.")
    return commune


class EservicesTargetSerializer(serializers.ModelSerializer):
    type = serializers.ChoiceField(source="kind", choices=Kind.choices, read_only=True)
    cible = serializers.CharField(source="value", read_only=True)
    confirmee = serializers.BooleanField(source="is_confirmed", read_only=True)
    preuve = serializers.SerializerMethodField(
        help_text="À publier (DNS TXT ou /.well-known/) pour prouver que la cible est à la commune."
    )
    dkim = serializers.SerializerMethodField()

    class Meta:
        model = Target
        fields = ["id", "type", "cible", "confirmee", "preuve", "dkim"]
        read_only_fields = fields

    def get_preuve(self, obj: Target) -> str:
        return services.proof_text(obj)

    def get_dkim(self, obj: Target) -> list[str]:
        return services.selectors(obj)


class EservicesTargetCreateSerializer(StrictSerializer):
    cible = serializers.CharField(
        max_length=500, help_text="https://…, un domaine de messagerie ou une adresse IP publique."
    )
    dkim = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        help_text="Sélecteurs DKIM du domaine, séparés par des virgules.",
    )


class EservicesReportTargetSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    type = serializers.ChoiceField(choices=Kind.choices)
    cible = serializers.CharField()
    confirmee = serializers.BooleanField()
    score = serializers.IntegerField(allow_null=True, help_text="Sur 100 ; null avant l'audit.")
    audit = serializers.DateTimeField(allow_null=True)


class EservicesFindingSerializer(serializers.Serializer):
    cible = serializers.CharField()
    code = serializers.CharField()
    gravite = serializers.ChoiceField(choices=Severity.choices)
    constat = serializers.CharField()
    explication = serializers.CharField()
    correction = serializers.CharField()


class EservicesTrendPointSerializer(serializers.Serializer):
    jour = serializers.DateField()
    score = serializers.IntegerField()


class EservicesReportSerializer(serializers.Serializer):
    commune = serializers.CharField(help_text="Code INSEE.")
    score = serializers.IntegerField(
        allow_null=True, help_text="Celui de la cible la plus faible ; null avant tout audit."
    )
    cibles = EservicesReportTargetSerializer(many=True)
    constats = EservicesFindingSerializer(many=True, help_text="Les plus graves d'abord.")
    tendance = EservicesTrendPointSerializer(many=True)


class ReportView(ApiView):
    serializer_class = EservicesReportSerializer

    @extend_schema(responses={200: EservicesReportSerializer, **errors(403)})
    def get(self, request: Request, insee: str) -> Response:
        return Response(services.report(_commune(request, insee)).as_dict())


class TargetsView(ListCreateView):
    serializer_class = EservicesTargetSerializer
    create_serializer_class = EservicesTargetCreateSerializer
    list_errors = (403,)
    create_errors = (400, 403)

    def get_items(self) -> QuerySet[Target]:
        commune = _commune(self.request, self.kwargs["insee"])
        return services.targets_for(self.request.user, commune).order_by("pk")

    def get_parent(self) -> Commune:
        return _commune(self.request, self.kwargs["insee"])

    def perform_create(self, parent: Commune, values: Mapping[str, Any]) -> Target:
        return services.add_target(actor(self.request), parent, values["cible"], values["dkim"])


P = "communes/<str:insee>/eservices/"
urlpatterns = [
    path(P, ReportView.as_view(), name="eservices_report"),
    path(P + "targets/", TargetsView.as_view(), name="eservices_targets"),
]
