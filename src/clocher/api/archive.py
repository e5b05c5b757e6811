"""JSON API of the probative archive (mounted under /api/v1/).

Scoped as the archive's pages (`archive.views`): any active member of the commune and
the operator's staff read it (`services.objects_for`, through `core.scoping`), 404
otherwise; depositing is for the commune's admins and agents (`services.may_deposit`:
not its elected members, nor the operator, who keeps the archive), 403 for the others.

- ``GET  communes/{insee}/archive/objects/`` — the sealed and eliminated objects, newest
  first: ``{"id", "reference", "title", "kind", "act_date", "author", "filename",
  "size", "sha256", "format_name", "rule", "retention_end", "final_fate", "state",
  "timestamp_at", "tsa_name", "tsa_qualified", "deposited_at", "deposited_by"}``.
- ``POST communes/{insee}/archive/objects/`` — multipart: ``file`` (or
  ``vault_node_id``, a vault file the caller may read), ``title``, ``rule`` (code of a
  retention rule, e.g. ``deliberations``), ``act_date``, ``author``, optional ``kind``
  → 201 the object, sealed and time-stamped (``warning`` says why its format may not
  last); 413 above 512 Mio; 400 ``{"detail"}`` and nothing stored otherwise.
- ``GET  communes/{insee}/archive/objects/{object_id}/`` — the object (the access is
  written in its journal, as when its page is opened).
- ``GET  communes/{insee}/archive/objects/{object_id}/evidence/`` — the evidence
  package (zip: document, metadata, RFC 3161 token, journal with Merkle proofs,
  attestation, offline verifier); 409 when the stored copy is missing or altered.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, PermissionDenied
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from clocher.api.common import ApiView, ListCreateView, actor, with_fields
from clocher.api.schema import errors
from clocher.archive import services
from clocher.archive.models import ArchivedObject, RetentionRule
from clocher.core import scoping
from clocher.core.models import Commune


class TooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Fichier trop volumineux pour un dépôt (512 Mo au plus)."


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT


class ArchivedObjectSerializer(serializers.ModelSerializer):
    rule = serializers.CharField(source="retention_rule.code", read_only=True)
    deposited_by = serializers.CharField(source="deposited_by_label", read_only=True)

    class Meta:
        model = ArchivedObject
        fields = [
            "id",
            "reference",
            "title",
            "kind",
            "act_date",
            "author",
            "filename",
            "size",
            "sha256",
            "format_name",
            "rule",
            "retention_end",
            "final_fate",
            "state",
            "timestamp_at",
            "tsa_name",
            "tsa_qualified",
            "deposited_at",
            "deposited_by",
        ]
        read_only_fields = fields


DepositedSerializer = with_fields(
    ArchivedObjectSerializer,
    "Deposited",
    warning=serializers.CharField(read_only=True, help_text="Vide si rien à signaler."),
)


class DepositSerializer(serializers.Serializer):
    file = serializers.FileField(required=False, help_text="Le document (PDF/A de préférence).")
    vault_node_id = serializers.IntegerField(
        required=False, min_value=1, help_text="… ou un fichier du coffre-fort."
    )
    title = serializers.CharField(max_length=300)
    rule = serializers.SlugRelatedField(
        slug_field="code",
        queryset=RetentionRule.objects.all(),
        help_text="Code de la règle de conservation.",
    )
    kind = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    act_date = serializers.DateField()
    author = serializers.CharField(max_length=200)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if bool(attrs.get("file")) == bool(attrs.get("vault_node_id")):
            raise serializers.ValidationError(
                "Joignez un fichier (file), ou désignez un fichier du coffre-fort "
                "(vault_node_id) : l'un des deux."
            )
        return attrs


class ObjectListView(ListCreateView):
    serializer_class = ArchivedObjectSerializer
    parser_classes = [MultiPartParser, FormParser]
    create_serializer_class = DepositSerializer
    created_serializer_class = DepositedSerializer
    create_media_type = "multipart/form-data"
    create_errors = (400, 403, 413)

    def get_items(self) -> QuerySet[ArchivedObject]:
        commune = scoping.get_commune_for(self.request.user, self.kwargs["insee"])
        return services.objects_for(self.request.user, commune)

    def get_parent(self) -> Commune:
        commune = scoping.get_commune_for(self.request.user, self.kwargs["insee"])
        if not services.may_deposit(self.request.user, commune):
            raise PermissionDenied(
                "Réservé aux administrateurs et agents de la commune : l'opérateur "
                "conserve l'archive, la commune y dépose ses actes."
            )
        upload = self.request.data.get("file")
        if getattr(upload, "size", 0) > services.MAX_DEPOSIT_BYTES:
            raise TooLarge
        return commune

    def perform_create(self, parent: Commune, values: Mapping[str, Any]) -> services.Deposited:
        given = services.deposit_input(values, "envoi par l'API")
        if values.get("vault_node_id"):
            return services.deposit_from_vault(
                actor(self.request), self.request.user, parent, values["vault_node_id"], given
            )
        return services.deposit(actor(self.request), parent, given)

    def created_response(self, created: services.Deposited) -> Response:
        body = dict(ArchivedObjectSerializer(created.obj).data)
        body["warning"] = created.warning
        return Response(body, status=status.HTTP_201_CREATED)


def _object(request: Request, insee: str, object_id: int) -> ArchivedObject:
    commune = scoping.get_commune_for(request.user, insee)
    return services.object_for(request.user, commune, object_id)


class ObjectDetailView(ApiView):
    serializer_class = ArchivedObjectSerializer

    @extend_schema(responses=ArchivedObjectSerializer)
    def get(self, request: Request, insee: str, object_id: int) -> Response:
        obj = _object(request, insee, object_id)
        services.record_access(actor(request), obj)
        return Response(ArchivedObjectSerializer(obj).data)


class EvidenceView(ApiView):
    serializer_class = ArchivedObjectSerializer

    @extend_schema(
        responses={
            (200, "application/zip"): OpenApiResponse(
                OpenApiTypes.BINARY, description="Le paquet de preuve (zip)."
            ),
            **errors(409),
        }
    )
    def get(self, request: Request, insee: str, object_id: int) -> HttpResponse:
        obj = _object(request, insee, object_id)
        try:
            data = services.evidence_package(actor(request), obj)
        except ValidationError as exc:
            raise Conflict(" ".join(exc.messages)) from exc
        response = HttpResponse(data, content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="preuve-{obj.reference}.zip"'
        return response
