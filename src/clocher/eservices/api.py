"""The e-services audit's JSON API, under /api/v1/ (token or two-factor session).

Endpoints (`{insee}` a commune the caller may see, else 404; its admin or the operator,
else 403 — the permission rule is `_commune`, here only):

- `GET  communes/{insee}/eservices/` → `{commune, score, cibles: [{id, type, cible,
  confirmee, score, audit}], constats: [{cible, code, gravite, constat, explication,
  correction}] (worst first), tendance: [{jour, score}]}` (the report of the page and PDF)
- `GET  communes/{insee}/eservices/targets/` → `[{id, type, cible, confirmee, preuve,
  dkim: [selector]}]`
- `POST communes/{insee}/eservices/targets/` ← `{cible, dkim?}` (https://…, a mail domain
  or a public IP address; a mail domain's DKIM selectors, comma-separated) → 201 the
  target; 400 `{detail}` naming what is wrong, nothing written. Only the operator
  confirms (page or CLI).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clocher.core import scoping
from clocher.core.audit import Actor
from clocher.core.models import Commune
from clocher.core.request import client_ip
from clocher.eservices import services
from clocher.eservices.models import Target


def _commune(request: Request, insee: str) -> Commune:
    commune = scoping.get_commune_for(request.user, insee)
    if not scoping.is_commune_admin(request.user, commune):
        raise PermissionDenied("Réservé à l'administrateur de la commune et à l'opérateur.")
    return commune


def target_json(target: Target) -> dict[str, Any]:
    return {
        "id": target.pk,
        "type": target.kind,
        "cible": target.value,
        "confirmee": target.is_confirmed,
        "preuve": services.proof_text(target),
        "dkim": services.selectors(target),
    }


class ReportView(APIView):
    @extend_schema(responses=dict)
    def get(self, request: Request, insee: str) -> Response:
        return Response(services.report(_commune(request, insee)).as_dict())


class TargetsView(APIView):
    @extend_schema(responses=dict)
    def get(self, request: Request, insee: str) -> Response:
        commune = _commune(request, insee)
        return Response([target_json(t) for t in services.targets_for(request.user, commune)])

    @extend_schema(request=dict, responses={201: dict})
    def post(self, request: Request, insee: str) -> Response:
        commune = _commune(request, insee)
        actor = Actor(user=request.user, ip=client_ip(request._request))
        try:
            made = services.add_target(
                actor,
                commune,
                str(request.data.get("cible", "")),
                str(request.data.get("dkim", "")),
            )
        except ValidationError as exc:
            raise ApiValidationError({"detail": " ".join(exc.messages)}) from exc
        return Response(target_json(made), status=status.HTTP_201_CREATED)


P = "communes/<str:insee>/eservices/"
urlpatterns = [
    path(P, ReportView.as_view(), name="eservices_report"),
    path(P + "targets/", TargetsView.as_view(), name="eservices_targets"),
]
