"""JSON API of the vault: storage usage and share links (mounted under /api/v1/).

Scoped as the vault's pages (`vault.views`): any active member of the commune and the
operator's staff reach it (`scoping.get_commune_for`), 404 otherwise; within it a person
sees only the spaces they may open (`services.spaces_for`: the commune's space, their
own, their groups') — the operator's staff open none but their own.

- ``GET  communes/{insee}/vault/usage/`` — ``{"used_bytes", "quota_bytes", "files",
  "spaces": [{"id", "kind", "name", "used_bytes", "quota_bytes", "available_bytes"}]}``.
- ``GET  communes/{insee}/vault/shares/`` — the live links of those spaces.
- ``GET  communes/{insee}/vault/nodes/{node_id}/shares/`` — the live links of one file
  or folder.
- ``POST communes/{insee}/vault/nodes/{node_id}/shares/`` — ``{"mode": "read"|"drop",
  "expires_on": "AAAA-MM-JJ", "password"}`` → 201 with ``url``: the link, shown this
  once only (only its token's hash is kept). A space's root is not shared (404, as on
  the page); 400 for a drop link on a file or a past date.
- ``POST communes/{insee}/vault/shares/{share_id}/revoke/`` — the link stops working.
"""

from __future__ import annotations

from datetime import datetime, time

from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from clocher.accounts.models import User
from clocher.api.common import ApiView, actor, refuse
from clocher.api.schema import errors
from clocher.api.strict import StrictSerializer
from clocher.core import scoping
from clocher.core.models import Commune
from clocher.vault import services, sharing
from clocher.vault.models import Node, ShareLink, ShareMode, Space


class SpaceUsageSerializer(serializers.ModelSerializer):
    available_bytes = serializers.SerializerMethodField()

    class Meta:
        model = Space
        fields = ["id", "kind", "name", "used_bytes", "quota_bytes", "available_bytes"]
        read_only_fields = fields

    def get_available_bytes(self, obj: Space) -> int:
        return services.available_bytes(obj)


class UsageSerializer(serializers.Serializer):
    used_bytes = serializers.IntegerField()
    quota_bytes = serializers.IntegerField()
    files = serializers.IntegerField()
    spaces = SpaceUsageSerializer(many=True)


class ShareSerializer(serializers.ModelSerializer):
    node_id = serializers.IntegerField(read_only=True)
    path = serializers.SerializerMethodField()
    has_password = serializers.SerializerMethodField()
    created_by = serializers.EmailField(
        source="created_by.email", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = ShareLink
        fields = [
            "id",
            "node_id",
            "path",
            "mode",
            "expires_at",
            "has_password",
            "created_by",
            "created_at",
            "revoked_at",
            "uses",
        ]
        read_only_fields = fields

    def get_path(self, obj: ShareLink) -> str:
        return services.path_of(obj.node)

    def get_has_password(self, obj: ShareLink) -> bool:
        return bool(obj.password_hash)


class ShareCreatedSerializer(ShareSerializer):
    url = serializers.URLField(read_only=True, help_text="Affiché cette fois seulement.")

    class Meta(ShareSerializer.Meta):
        fields = [*ShareSerializer.Meta.fields, "url"]
        read_only_fields = fields


class ShareCreateSerializer(StrictSerializer):
    mode = serializers.ChoiceField(choices=ShareMode.choices, default=ShareMode.READ)
    expires_on = serializers.DateField(
        required=False, allow_null=True, help_text="Dernier jour de validité (AAAA-MM-JJ)."
    )
    password = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default="", trim_whitespace=False
    )


def _user(request: Request) -> User:
    return request.user  # type: ignore[return-value]


def _spaces(request: Request, commune: Commune) -> list[Space]:
    return [s for s in services.spaces_for(_user(request)) if s.commune_id == commune.pk]


def _node(request: Request, insee: str, node_id: int) -> Node:
    commune = scoping.get_commune_for(request.user, insee)
    try:
        return services.node_for(_user(request), commune, node_id)
    except Node.DoesNotExist as exc:
        raise Http404 from exc


class UsageView(ApiView):
    serializer_class = UsageSerializer

    @extend_schema(responses=UsageSerializer)
    def get(self, request: Request, insee: str) -> Response:
        commune = scoping.get_commune_for(request.user, insee)
        found = services.usage(commune)
        return Response(
            UsageSerializer(
                {
                    "used_bytes": found.used_bytes,
                    "quota_bytes": found.quota_bytes,
                    "files": found.files,
                    "spaces": _spaces(request, commune),
                }
            ).data
        )


class ShareListView(ApiView):
    serializer_class = ShareSerializer

    @extend_schema(responses={200: ShareSerializer(many=True)})
    def get(self, request: Request, insee: str) -> Response:
        commune = scoping.get_commune_for(request.user, insee)
        return self.paginated(sharing.live_shares(_spaces(request, commune)), ShareSerializer)


class NodeShareListView(ApiView):
    serializer_class = ShareSerializer

    @extend_schema(responses={200: ShareSerializer(many=True)})
    def get(self, request: Request, insee: str, node_id: int) -> Response:
        return self.paginated(sharing.shares_of(_node(request, insee, node_id)), ShareSerializer)

    @extend_schema(
        request=ShareCreateSerializer, responses={201: ShareCreatedSerializer, **errors(400)}
    )
    def post(self, request: Request, insee: str, node_id: int) -> Response:
        node = _node(request, insee, node_id)
        if node.parent_id is None:
            raise Http404  # a space's root is not shared, as on the page
        data = ShareCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        day = values.get("expires_on")
        try:
            new = sharing.create_share(
                actor(request),
                node,
                mode=values["mode"],
                expires_at=timezone.make_aware(datetime.combine(day, time(23, 59, 59)))
                if day
                else None,
                password=values["password"],
            )
        except ValidationError as exc:
            raise refuse(exc) from exc
        body = dict(ShareSerializer(new.link).data)
        body["url"] = request.build_absolute_uri(
            reverse("vault:public_share", kwargs={"token": new.token})
        )
        response = Response(body, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response


class ShareRevokeView(ApiView):
    serializer_class = ShareSerializer

    @extend_schema(request=None, responses=ShareSerializer)
    def post(self, request: Request, insee: str, share_id: int) -> Response:
        link = get_object_or_404(ShareLink, pk=share_id)
        _node(request, insee, link.node_id)  # 404 unless the person may open its node
        sharing.revoke_share(actor(request), link)
        return Response(ShareSerializer(link).data)
