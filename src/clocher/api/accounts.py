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

from typing import cast

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from clocher.accounts import services
from clocher.accounts.models import AppPassword, User
from clocher.api.common import ApiView, actor, refuse
from clocher.api.schema import errors
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


class AppPasswordCreatedSerializer(AppPasswordSerializer):
    password = serializers.CharField(read_only=True, help_text="Affiché cette fois seulement.")

    class Meta(AppPasswordSerializer.Meta):
        fields = [*AppPasswordSerializer.Meta.fields, "password"]
        read_only_fields = fields


class AppPasswordCreateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100, help_text="L'appareil, ex. « Téléphone ».")


class AppPasswordListView(ApiView):
    serializer_class = AppPasswordSerializer

    @extend_schema(responses={200: AppPasswordSerializer(many=True)})
    def get(self, request: Request) -> Response:
        records = AppPassword.objects.filter(user=_user(request)).order_by(
            "revoked_at", "-created_at", "-id"
        )
        return self.paginated(records, AppPasswordSerializer)

    @extend_schema(
        request=AppPasswordCreateSerializer,
        responses={201: AppPasswordCreatedSerializer, **errors(400)},
    )
    def post(self, request: Request) -> Response:
        data = AppPasswordCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            created = services.create_app_password(
                actor(request), _user(request), data.validated_data["name"]
            )
        except ValidationError as exc:
            raise refuse(exc) from exc
        body = dict(AppPasswordSerializer(created.record).data)
        body["password"] = created.clear
        response = Response(body, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response


class AppPasswordRevokeView(ApiView):
    serializer_class = AppPasswordSerializer

    @extend_schema(request=None, responses=AppPasswordSerializer)
    def post(self, request: Request, app_password_id: int) -> Response:
        record = get_object_or_404(AppPassword, pk=app_password_id, user=_user(request))
        services.revoke_app_password(actor(request), record)
        record.refresh_from_db()
        return Response(AppPasswordSerializer(record).data)
