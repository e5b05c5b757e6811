"""JSON API of the awareness app (mounted under /api/v1/ by `clocher.api.urls`).
Endpoints (the commune resolved through `core.scoping`: 404 to anyone who is not an
active member of it or an operator; the commune's figures and campaigns need its admin
or an operator, 403 otherwise; nothing here ever lists a person's results):
- ``GET  communes/{insee}/awareness/campaigns/`` — ``[{"id", "name", "starts_on",
  "days", "recipients", "closed_at"}]`` (newest first).
- ``POST communes/{insee}/awareness/campaigns/`` — ``{"name", "starts_on"
  (AAAA-MM-JJ), "days"}`` → 201 the campaign; 400 ``{"detail"}`` (programme off, bad
  name or days) and nothing written.
- ``GET  communes/{insee}/awareness/results/`` — ``{"participants", "months": [{"month",
  "sent", "clicked", "submitted", "reported", "minutes_to_report", "risk"}]}``; 403
  while fewer than 5 agents take part.
- ``GET  communes/{insee}/awareness/me/`` — the caller's own ``{"takes_part", "level",
  "points", "badge"}``.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clocher.api.schema import errors
from clocher.awareness import results, services
from clocher.awareness.models import Campaign, Participant
from clocher.core import scoping
from clocher.core.audit import Actor
from clocher.core.models import Commune, Role
from clocher.core.request import client_ip


class CampaignSerializer(serializers.ModelSerializer):
    recipients = serializers.IntegerField(source="n", read_only=True)

    class Meta:
        model = Campaign
        fields = ["id", "name", "starts_on", "days", "recipients", "closed_at"]
        read_only_fields = ["id", "recipients", "closed_at"]


def _commune_for_admin(request: Request, insee: str) -> Commune:
    """The permission rule of this API, in one place: members see the commune (404
    otherwise); its figures and campaigns are for its admin and the operator."""
    commune = scoping.get_commune_for(request.user, insee)
    membership = scoping.commune_membership(request.user, commune)
    admin = membership is not None and membership.role == Role.COMMUNE_ADMIN
    if not admin and not scoping.is_operator(request.user):
        raise PermissionDenied("Réservé à l'administrateur de la commune et à l'opérateur.")
    return commune


class CampaignListView(APIView):
    @extend_schema(responses={200: CampaignSerializer(many=True), **errors(403)})
    def get(self, request: Request, insee: str) -> Response:
        commune = _commune_for_admin(request, insee)
        return Response(CampaignSerializer(services.campaigns_of(commune), many=True).data)

    @extend_schema(
        request=CampaignSerializer, responses={201: CampaignSerializer, **errors(400, 403)}
    )
    def post(self, request: Request, insee: str) -> Response:
        commune = _commune_for_admin(request, insee)
        data = CampaignSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        actor = Actor(user=request.user, ip=client_ip(request._request))
        try:
            made = services.create_campaign(actor, commune, **data.validated_data)
        except ValidationError as exc:
            raise ApiValidationError({"detail": " ".join(exc.messages)}) from exc
        made = services.campaigns_of(commune).get(pk=made.pk)
        return Response(CampaignSerializer(made).data, status=status.HTTP_201_CREATED)


class ResultsView(APIView):
    @extend_schema(responses={200: dict, **errors(403)})
    def get(self, request: Request, insee: str) -> Response:
        commune = _commune_for_admin(request, insee)
        figures = services.aggregates(commune)
        if figures.hidden:
            raise PermissionDenied(
                f"Moins de {services.MIN_GROUP} agents participent : aucun chiffre n'est publié."
            )
        months = [{**vars(m), "month": f"{m.month:%Y-%m}"} for m in results.trends([commune])]
        body: dict[str, Any] = {"participants": figures.participants, "months": months}
        return Response(body)


class MeView(APIView):
    @extend_schema(responses=dict)
    def get(self, request: Request, insee: str) -> Response:
        commune = scoping.get_commune_for(request.user, insee)
        user_id = int(request.user.pk or 0)  # authenticated: the API refuses anonymous calls
        participant = Participant.objects.filter(commune=commune, user_id=user_id).first()
        if participant is None:  # never opened the programme page: not taking part
            participant = Participant(commune=commune, user_id=user_id)
        programme = services.programme_of(commune)
        return Response(
            {
                "takes_part": services.takes_part(programme, participant),
                "level": round(participant.rating, 1),
                "points": participant.points,
                "badge": services.badge(participant.points),
            }
        )
