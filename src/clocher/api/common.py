"""What every API view shares: the actor the services journal, refusals as 400, and the
shapes most routes take — a list (one may add to) and an object one may revoke.

Like DRF's generic views (and NetBox's API built on them), a view of one of those
shapes states its serializers and its hooks; the base class answers the request and
tells drf-spectacular the operation (`ShapeSchema`), so every such route pages, refuses
and documents itself the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, cast

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import get_doc
from rest_framework import generics, serializers, status
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from clocher.api.schema import errors
from clocher.core.audit import Actor
from clocher.core.request import client_ip


def actor(request: Request) -> Actor:
    return Actor(user=request.user, ip=client_ip(request._request))


def refuse(exc: ValidationError) -> ApiValidationError:
    """A service's refusal (its French message names what is wrong) as a 400."""
    return ApiValidationError({"detail": " ".join(exc.messages)})


def no_store(response: Response) -> Response:
    """A secret shown this once (a password, a link's token) stays out of any cache."""
    response["Cache-Control"] = "no-store"
    return response


def with_fields(
    base: type[serializers.ModelSerializer], name: str, **extra: serializers.Field
) -> type[serializers.ModelSerializer]:
    """`base` and read-only `extra` fields: what a creation answers once only (the clear
    password, the link's URL, a warning). `name` names its OpenAPI component."""
    fields = [*base.Meta.fields, *extra]
    meta = type("Meta", (base.Meta,), {"fields": fields, "read_only_fields": fields})
    return type(name, (base,), {**extra, "Meta": meta, "__module__": base.__module__})


class ApiView(generics.GenericAPIView):
    # The API's views take JSON bodies only (the OpenAPI document then says so, and a
    # body's types mean what they say: `strict.StrictSerializer`); an upload view sets its
    # own parsers. A comment, not a docstring: drf-spectacular would print a docstring as
    # the description of every operation of a subclass that has none of its own.

    parser_classes = [JSONParser]

    def paginated(
        self, items: Sequence[Any] | QuerySet[Any], serializer: type[BaseSerializer]
    ) -> Response:
        """One page of `items` (a list a service returned, or a queryset)."""
        page = self.paginate_queryset(cast(Any, items))
        return self.get_paginated_response(serializer(page, many=True).data)


class ShapeSchema(AutoSchema):
    """The OpenAPI operations of the shapes below (`ListView`, `ListCreateView`,
    `RetrieveView`, `RetrieveUpdateView`, `RevokeView`), read from their attributes; a
    method decorated with `extend_schema` keeps its own."""

    def get_description(self) -> str:  # type: ignore[override]
        """The view's own docstring: the base classes' are notes for developers."""
        return get_doc(type(self.view)) if vars(type(self.view)).get("__doc__") else ""

    def get_request_serializer(self) -> Any:
        view = self.view
        if self.method == "POST" and isinstance(view, ListCreateView):
            if view.create_media_type:
                return {view.create_media_type: view.create_serializer_class}
            return view.create_serializer_class
        if self.method == "PATCH" and isinstance(view, RetrieveUpdateView):
            return view.update_serializer_class
        if self.method == "POST" and isinstance(view, RevokeView):
            return None
        return super().get_request_serializer()

    def get_response_serializers(self) -> Any:
        view = self.view
        if self.method == "GET" and isinstance(view, ListView):
            return {200: view.get_serializer_class()(many=True), **errors(*view.list_errors)}
        if self.method == "POST" and isinstance(view, ListCreateView):
            created = view.created_serializer_class or view.get_serializer_class()
            return {201: created, **errors(*view.create_errors)}
        if self.method == "GET" and isinstance(view, RetrieveView):
            return {200: view.get_serializer_class()}
        if self.method == "PATCH" and isinstance(view, RetrieveUpdateView):
            return {200: view.get_serializer_class(), **errors(*view.update_errors)}
        if self.method == "POST" and isinstance(view, RevokeView):
            return {200: view.get_serializer_class(), **errors(*view.revoke_errors)}
        return super().get_response_serializers()


class ListView(ApiView):
    """``GET``: one page of `get_items()`, each rendered by `serializer_class`
    (`list_errors`: the refusals it may answer beyond 401/404 and a bad page)."""

    schema = ShapeSchema()
    list_errors: ClassVar[tuple[int, ...]] = ()

    def get_items(self) -> Sequence[Any] | QuerySet[Any]:
        raise NotImplementedError

    def get(self, request: Request, **kwargs: Any) -> Response:
        return self.paginated(self.get_items(), self.get_serializer_class())


class ListCreateView(ListView):
    """A list, and ``POST``: `get_parent()` first (what the new object goes into: 404 or
    403 to who may not, before the body is even read), then the body checked by
    `create_serializer_class`, then `perform_create(parent, values)` — one service call,
    whose refusal is a 400 `{"detail"}` with nothing written — and 201 with the object
    rendered by `created_serializer_class` (default `serializer_class`)."""

    create_serializer_class: ClassVar[type[BaseSerializer]]
    created_serializer_class: ClassVar[type[BaseSerializer] | None] = None
    create_media_type: ClassVar[str] = ""  # e.g. "multipart/form-data"; "" for JSON
    create_errors: ClassVar[tuple[int, ...]] = (400,)

    def get_parent(self) -> Any:
        return None

    def perform_create(self, parent: Any, values: Mapping[str, Any]) -> Any:
        raise NotImplementedError

    def created_response(self, created: Any) -> Response:
        serializer = self.created_serializer_class or self.get_serializer_class()
        return Response(serializer(created).data, status=status.HTTP_201_CREATED)

    def post(self, request: Request, **kwargs: Any) -> Response:
        parent = self.get_parent()
        data = self.create_serializer_class(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            created = self.perform_create(parent, data.validated_data)
        except ValidationError as exc:
            raise refuse(exc) from exc
        return self.created_response(created)


class RetrieveView(ApiView):
    """``GET``: `get_object()` (404 to who may not see it) rendered by
    `serializer_class`."""

    schema = ShapeSchema()

    def get_object(self) -> Any:
        raise NotImplementedError

    def get(self, request: Request, **kwargs: Any) -> Response:
        return Response(self.get_serializer_class()(self.get_object()).data)


class RetrieveUpdateView(RetrieveView):
    """The object, and ``PATCH``: `get_object_to_update()` first (default `get_object()`;
    403 there to who may read but not change it), then the body checked by
    `update_serializer_class`, then `perform_update(obj, values)` — one service call,
    whose refusal is a 400 `{"detail"}` — and the object as it now is."""

    update_serializer_class: ClassVar[type[BaseSerializer]]
    update_errors: ClassVar[tuple[int, ...]] = (400,)

    def get_object_to_update(self) -> Any:
        return self.get_object()

    def perform_update(self, obj: Any, values: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def patch(self, request: Request, **kwargs: Any) -> Response:
        obj = self.get_object_to_update()
        data = self.update_serializer_class(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            self.perform_update(obj, data.validated_data)
        except ValidationError as exc:
            raise refuse(exc) from exc
        return Response(self.get_serializer_class()(obj).data)


class RevokeView(ApiView):
    """``POST …/revoke/``: `get_object()` (404 to who may not see it), then
    `perform_revoke(obj)` — one service call, revoking twice changes nothing — and the
    object as it now is, rendered by `serializer_class`."""

    schema = ShapeSchema()
    revoke_errors: ClassVar[tuple[int, ...]] = ()

    def get_object(self) -> Any:
        raise NotImplementedError

    def perform_revoke(self, obj: Any) -> None:
        raise NotImplementedError

    def post(self, request: Request, **kwargs: Any) -> Response:
        obj = self.get_object()
        self.perform_revoke(obj)
        obj.refresh_from_db()
        return Response(self.get_serializer_class()(obj).data)


@csrf_exempt  # a POST to no route is a 404 too, not the CSRF failure page
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Under /api/v1/, a path that names no route answers 404 in JSON like the routes
    do (`/communes/21271/mail/mailboxes/abc/`), not the site's HTML page."""
    return JsonResponse({"detail": "Aucune route de l'API à cette adresse."}, status=404)
