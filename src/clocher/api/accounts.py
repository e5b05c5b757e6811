"""JSON API of the caller's own app passwords (mounted under /api/v1/).

As the account page (`accounts.views.app_passwords_view`): a person sees and manages
only their own, whatever their role; anyone else's id is 404.

- ``GET  me/app-passwords/`` — ``[{"id", "name", "prefix", "created_at",
  "last_used_at", "last_used_from", "revoked_at"}]``, live ones first.
- ``POST me/app-passwords/`` — ``{"name"}`` → 201 with ``password``: the clear password,
  shown this once only (only its argon2id hash is kept). 400 without a name.
- ``POST me/app-passwords/{app_password_id}/revoke/`` — stops working at once (IMAP,
  SMTP, WebDAV); revoking again changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from clocher.accounts import services
from clocher.accounts.models import AppPassword, User
from clocher.accounts.services import NewAppPassword
from clocher.api.common import ListCreateView, RevokeView, actor, no_store, with_fields
from clocher.api.strict import StrictSerializer


def _user(request: Request) -> User:
    return cast(User, request.user)  # the API lets no anonymous request in


class AppPasswordSerializer(serializers.ModelSerializer):
    class Meta:
        model = AppPassword
        fields = [
            "id",
            "name",
            "prefix",
            "created_at",
            "last_used_at",
            "last_used_from",
            "revoked_at",
        ]
        read_only_fields = fields


AppPasswordCreatedSerializer = with_fields(
    AppPasswordSerializer,
    "AppPasswordCreated",
    password=serializers.CharField(read_only=True, help_text="Affiché cette fois seulement."),
)


class AppPasswordCreateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100, help_text="L'appareil, ex. « Téléphone ».")


class AppPasswordListView(ListCreateView):
    serializer_class = AppPasswordSerializer
    create_serializer_class = AppPasswordCreateSerializer
    created_serializer_class = AppPasswordCreatedSerializer

    def get_items(self) -> QuerySet[AppPassword]:
        return AppPassword.objects.filter(user=_user(self.request)).order_by(
            "revoked_at", "-created_at", "-id"
        )

    def perform_create(self, parent: None, values: Mapping[str, Any]) -> NewAppPassword:
        return services.create_app_password(
            actor(self.request), _user(self.request), values["name"]
        )

    def created_response(self, created: NewAppPassword) -> Response:
        body = dict(AppPasswordSerializer(created.record).data)
        body["password"] = created.clear
        return no_store(Response(body, status=status.HTTP_201_CREATED))


class AppPasswordRevokeView(RevokeView):
    serializer_class = AppPasswordSerializer

    def get_object(self) -> AppPassword:
        return get_object_or_404(
            AppPassword, pk=self.kwargs["app_password_id"], user=_user(self.request)
        )

    def perform_revoke(self, obj: AppPassword) -> None:
        services.revoke_app_password(actor(self.request), obj)
