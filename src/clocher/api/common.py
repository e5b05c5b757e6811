"""What every API view shares: the actor the services journal, refusals as 400."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import generics
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from clocher.core.audit import Actor
from clocher.core.request import client_ip


def actor(request: Request) -> Actor:
    return Actor(user=request.user, ip=client_ip(request._request))


def refuse(exc: ValidationError) -> ApiValidationError:
    """A service's refusal (its French message names what is wrong) as a 400."""
    return ApiValidationError({"detail": " ".join(exc.messages)})


class ApiView(generics.GenericAPIView):
    """The API's views take JSON bodies only (the OpenAPI document then says so, and a
    body's types mean what they say: `strict.StrictSerializer`); an upload view sets its
    own parsers."""

    parser_classes = [JSONParser]

    def paginated(
        self, items: Sequence[Any] | QuerySet[Any], serializer: type[BaseSerializer]
    ) -> Response:
        """One page of `items` (a list a service returned, or a queryset)."""
        page = self.paginate_queryset(cast(Any, items))
        return self.get_paginated_response(serializer(page, many=True).data)


@csrf_exempt  # a POST to no route is a 404 too, not the CSRF failure page
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Under /api/v1/, a path that names no route answers 404 in JSON like the routes
    do (`/communes/21271/mail/mailboxes/abc/`), not the site's HTML page."""
    return JsonResponse({"detail": "Aucune route de l'API à cette adresse."}, status=404)
