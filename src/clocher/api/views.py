"""JSON API over the tenancy services; every query goes through `core.scoping`."""

from __future__ import annotations

from typing import Any, cast

from django.core.exceptions import ValidationError
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clocher.accounts.models import User
from clocher.api import serializers as s
from clocher.api.common import actor, refuse
from clocher.api.schema import errors
from clocher.core import scoping, services
from clocher.core.models import Commune, CommuneStatus, Membership, Role


def _require_operator_admin(request: Request) -> None:
    if not scoping.is_operator(request.user, (Role.OPERATOR_ADMIN,)):
        raise PermissionDenied("Réservé aux administrateurs de l'opérateur.")


class CommuneListView(generics.ListCreateAPIView):
    serializer_class = s.CommuneSerializer
    parser_classes = [JSONParser]

    def get_queryset(self) -> Any:
        qs = scoping.visible_communes(self.request.user).order_by("insee")
        status_filter = self.request.query_params.get("status")
        if status_filter is None:
            return qs
        if status_filter not in CommuneStatus.values:
            raise ApiValidationError(
                {"status": [f"« {status_filter} » : attendu {', '.join(CommuneStatus.values)}."]}
            )
        return qs.filter(status=status_filter)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "status",
                enum=CommuneStatus.values,
                description="Seulement les communes dans cet état.",
            )
        ]
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=s.CommuneCreateSerializer, responses={201: s.CommuneSerializer, **errors(400, 403)}
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        _require_operator_admin(request)
        data = s.CommuneCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            commune = services.create_commune(
                actor(request),
                data.validated_data["insee"],
                data.validated_data["name"],
                siren=data.validated_data["siren"] or None,
                status=data.validated_data["status"],
            )
        except ValidationError as exc:
            raise refuse(exc) from exc
        return Response(s.CommuneSerializer(commune).data, status=status.HTTP_201_CREATED)


class CommuneDetailView(APIView):
    parser_classes = [JSONParser]

    def _commune(self, request: Request, insee: str) -> Commune:
        return scoping.get_commune_for(request.user, insee)

    @extend_schema(responses=s.CommuneSerializer)
    def get(self, request: Request, insee: str) -> Response:
        return Response(s.CommuneSerializer(self._commune(request, insee)).data)

    @extend_schema(
        request=s.CommuneUpdateSerializer, responses={200: s.CommuneSerializer, **errors(400, 403)}
    )
    def patch(self, request: Request, insee: str) -> Response:
        commune = self._commune(request, insee)
        _require_operator_admin(request)
        data = s.CommuneUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            services.update_commune(
                actor(request),
                commune,
                storage_bytes=values.get("quota_storage_bytes"),
                mailboxes=values.get("quota_mailboxes"),
                members=values.get("quota_members"),
                status=values.get("status"),
            )
        except ValidationError as exc:
            raise refuse(exc) from exc
        commune.refresh_from_db()
        return Response(s.CommuneSerializer(commune).data)


class MemberListView(generics.ListCreateAPIView):
    serializer_class = s.MembershipSerializer
    parser_classes = [JSONParser]

    def _commune(self) -> Commune:
        return scoping.get_commune_for(self.request.user, self.kwargs["insee"], admin=True)

    def get_queryset(self) -> Any:
        return (
            Membership.objects.filter(commune=self._commune())
            .select_related("user", "commune")
            .order_by("user__email")
        )

    @extend_schema(
        request=s.MemberCreateSerializer,
        responses={201: s.MemberCreatedSerializer, **errors(400)},
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        commune = self._commune()
        data = s.MemberCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            added = services.add_member(actor(request), commune, **data.validated_data)
        except ValidationError as exc:
            raise refuse(exc) from exc
        # The link itself is mailed to the person only, never returned to the caller.
        body = dict(s.MembershipSerializer(added.membership).data)
        body["invitation_sent"] = added.invitation_token is not None
        return Response(body, status=status.HTTP_201_CREATED)


class MemberDetailView(APIView):
    parser_classes = [JSONParser]

    def _membership(self, request: Request, insee: str, membership_id: int) -> Membership:
        commune = scoping.get_commune_for(request.user, insee, admin=True)
        try:
            return services.member_of_commune(commune, membership_id)
        except Membership.DoesNotExist as exc:
            raise Http404 from exc

    @extend_schema(responses=s.MembershipSerializer)
    def get(self, request: Request, insee: str, membership_id: int) -> Response:
        return Response(
            s.MembershipSerializer(self._membership(request, insee, membership_id)).data
        )

    @extend_schema(
        request=s.MemberUpdateSerializer, responses={200: s.MembershipSerializer, **errors(400)}
    )
    def patch(self, request: Request, insee: str, membership_id: int) -> Response:
        membership = self._membership(request, insee, membership_id)
        data = s.MemberUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            services.update_member(
                actor(request),
                membership,
                role=data.validated_data.get("role"),
                is_active=data.validated_data.get("is_active"),
            )
        except ValidationError as exc:
            raise refuse(exc) from exc
        membership.refresh_from_db()
        return Response(s.MembershipSerializer(membership).data)

    @extend_schema(responses={204: None, **errors(400)})
    def delete(self, request: Request, insee: str, membership_id: int) -> Response:
        membership = self._membership(request, insee, membership_id)
        try:
            services.remove_member(actor(request), membership)
        except ValidationError as exc:
            raise refuse(exc) from exc
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    @extend_schema(responses=s.MeSerializer)
    def get(self, request: Request) -> Response:
        user = cast(User, request.user)
        memberships = Membership.objects.filter(user=user).select_related("commune", "user")
        return Response(
            s.MeSerializer(
                {
                    "email": user.email,
                    "full_name": user.full_name,
                    "totp_enabled": user.has_totp,
                    "memberships": memberships,
                }
            ).data
        )
