"""JSON API of the awareness app (mounted under /api/v1/ by `clocher.api.urls`).
Endpoints (the commune resolved through `core.scoping`: 404 to anyone who is not an
active member of it or an operator; the commune's figures and campaigns need its admin
or an operator, 403 otherwise; nothing here ever lists a person's results):
- ``GET  communes/{insee}/awareness/campaigns/`` — a page ``{"count", "next",
  "previous", "results": [{"id", "name", "starts_on", "days", "recipients",
  "closed_at"}]}`` (``?limit=&offset=``, newest first).
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

from collections.abc import Mapping
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from clocher.api.common import ApiView, ListCreateView, actor
from clocher.api.schema import errors
from clocher.api.strict import StrictSerializer
from clocher.awareness import results, services
from clocher.awareness.models import Campaign, Participant
from clocher.core import scoping
from clocher.core.models import Commune, Role


class CampaignSerializer(serializers.ModelSerializer):
    recipients = serializers.IntegerField(source="n", read_only=True)

    class Meta:
        model = Campaign
        fields = ["id", "name", "starts_on", "days", "recipients", "closed_at"]
        read_only_fields = fields


# A new campaign's body: each value of the type the schema states (400 otherwise).
class CampaignCreateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=120)  # Campaign.name
    starts_on = serializers.DateField(help_text="Premier jour d'envoi, AAAA-MM-JJ.")
    days = serializers.IntegerField(
        min_value=0, max_value=32767, default=1, help_text="Jours ouvrés d'envoi."
    )


def _commune_for_admin(request: Request, insee: str) -> Commune:
    """The permission rule of this API, in one place: members see the commune (404
    otherwise); its figures and campaigns are for its admin and the operator."""
    commune = scoping.get_commune_for(request.user, insee)
    membership = scoping.commune_membership(request.user, commune)
    admin = membership is not None and membership.role == Role.COMMUNE_ADMIN
    if not admin and not scoping.is_operator(request.user):
        raise PermissionDenied("Réservé à l'administrateur de la commune et à l'opérateur.")
    return commune


class CampaignListView(ListCreateView):
    serializer_class = CampaignSerializer
    create_serializer_class = CampaignCreateSerializer
    list_errors = (403,)
    create_errors = (400, 403)

    def get_items(self) -> QuerySet[Campaign]:
        commune = _commune_for_admin(self.request, self.kwargs["insee"])
        return services.campaigns_of(commune).order_by("-created_at", "-pk")

    def get_parent(self) -> Commune:
        return _commune_for_admin(self.request, self.kwargs["insee"])

    def perform_create(self, parent: Commune, values: Mapping[str, Any]) -> Campaign:
        made = services.create_campaign(actor(self.request), parent, **values)
        return services.campaigns_of(parent).get(pk=made.pk)  # with its recipients counted


class ResultsView(ApiView):
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


class MeView(ApiView):
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
