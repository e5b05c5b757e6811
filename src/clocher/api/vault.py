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

from collections.abc import Mapping
from datetime import datetime, time
from typing import Any

from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from clocher.accounts.models import User
from clocher.api.common import (
    ApiView,
    ListCreateView,
    ListView,
    RevokeView,
    actor,
    no_store,
    with_fields,
)
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


ShareCreatedSerializer = with_fields(
    ShareSerializer,
    "ShareCreated",
    url=serializers.URLField(read_only=True, help_text="Affiché cette fois seulement."),
)


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


class ShareListView(ListView):
    serializer_class = ShareSerializer

    def get_items(self) -> list[ShareLink]:
        commune = scoping.get_commune_for(self.request.user, self.kwargs["insee"])
        return sharing.live_shares(_spaces(self.request, commune))


class NodeShareListView(ListCreateView):
    serializer_class = ShareSerializer
    create_serializer_class = ShareCreateSerializer
    created_serializer_class = ShareCreatedSerializer

    def _node(self) -> Node:
        return _node(self.request, self.kwargs["insee"], self.kwargs["node_id"])

    def get_items(self) -> list[ShareLink]:
        return sharing.shares_of(self._node())

    def get_parent(self) -> Node:
        node = self._node()
        if node.parent_id is None:
            raise Http404  # a space's root is not shared, as on the page
        return node

    def perform_create(self, parent: Node, values: Mapping[str, Any]) -> sharing.NewShare:
        day = values.get("expires_on")
        return sharing.create_share(
            actor(self.request),
            parent,
            mode=values["mode"],
            expires_at=timezone.make_aware(datetime.combine(day, time(23, 59, 59)))
            if day
            else None,
            password=values["password"],
        )

    def created_response(self, created: sharing.NewShare) -> Response:
        body = dict(ShareSerializer(created.link).data)
        body["url"] = self.request.build_absolute_uri(
            reverse("vault:public_share", kwargs={"token": created.token})
        )
        return no_store(Response(body, status=status.HTTP_201_CREATED))


class ShareRevokeView(RevokeView):
    serializer_class = ShareSerializer

    def get_object(self) -> ShareLink:
        link = get_object_or_404(ShareLink, pk=self.kwargs["share_id"])
        _node(self.request, self.kwargs["insee"], link.node_id)  # 404 unless they may open it
        return link

    def perform_revoke(self, obj: ShareLink) -> None:
        sharing.revoke_share(actor(self.request), obj)
