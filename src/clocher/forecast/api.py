"""JSON API of the forecast app (mounted under /api/v1/ by `clocher.api.urls`).

Endpoints (every one resolves the commune through `core.scoping`: 404 to anyone who
is not an active member of it or an operator; sending and running need an admin or an
agent of the commune, 403 otherwise):

- ``GET  communes/{insee}/forecast/series/`` — the commune's series: id, key, name,
  unit, frequency, points, data_version, source, latest_forecast (id or null).
- ``POST communes/{insee}/forecast/series/`` — multipart ``file`` (CSV/XLSX, 5 MB at
  most), optional ``name`` and ``unit`` → 201 the series (200 when the same name is
  sent again: the series is updated, a new data version if its figures changed);
  400 ``{"detail": "<what is wrong, in French, with the line>"}`` and nothing stored.
- ``GET  communes/{insee}/forecast/series/{series_id}/`` — the series with its data
  (``dates``, ``values``).
- ``POST communes/{insee}/forecast/series/{series_id}/run/`` — ``{"horizon": 12}`` →
  201 the forecast when computed at once, 202 while queued (poll the forecast).
- ``GET  communes/{insee}/forecast/forecasts/{forecast_id}/`` — status, model, data
  version, horizon, ``prediction`` (dates, mean, lower/upper per level "80"/"95"),
  backtest ``scores``, ``calibration``, ``explanation``, ``warnings``, ``card`` (the
  model card), ``cpu_seconds``, ``realised`` (compared with the actuals known since).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clocher.api.schema import errors
from clocher.core import scoping
from clocher.core.audit import Actor
from clocher.core.models import Commune
from clocher.core.request import client_ip
from clocher.forecast import services
from clocher.forecast.models import Forecast, ForecastStatus, Series


class SeriesSerializer(serializers.ModelSerializer):
    latest_forecast = serializers.SerializerMethodField()

    class Meta:
        model = Series
        fields = [
            "id",
            "key",
            "name",
            "unit",
            "frequency",
            "source",
            "filename",
            "points",
            "data_version",
            "created_at",
            "updated_at",
            "latest_forecast",
        ]
        read_only_fields = fields

    def get_latest_forecast(self, obj: Series) -> int | None:
        found = services.latest(obj)
        return found.pk if found else None


class SeriesDataSerializer(SeriesSerializer):
    dates = serializers.ListField(child=serializers.DateField(), source="data.dates")
    values = serializers.ListField(child=serializers.FloatField(), source="data.values")

    class Meta(SeriesSerializer.Meta):
        fields = [*SeriesSerializer.Meta.fields, "dates", "values"]
        read_only_fields = fields


class SeriesUploadSerializer(serializers.Serializer):
    file = serializers.FileField()
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    unit = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")


class RunSerializer(serializers.Serializer):
    horizon = serializers.IntegerField(min_value=1, max_value=services.MAX_HORIZON, default=12)


class ForecastSerializer(serializers.ModelSerializer):
    series = serializers.IntegerField(source="series_id", read_only=True)

    class Meta:
        model = Forecast
        fields = [
            "id",
            "series",
            "status",
            "data_version",
            "horizon",
            "model",
            "prediction",
            "scores",
            "calibration",
            "explanation",
            "warnings",
            "card",
            "cpu_seconds",
            "realised",
            "error",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields


def _actor(request: Request) -> Actor:
    return Actor(user=request.user, ip=client_ip(request._request))


def _refuse(exc: ValidationError) -> ApiValidationError:
    return ApiValidationError({"detail": " ".join(exc.messages)})


def _writable(request: Request, commune: Commune) -> None:
    if not services.may_write(request.user, commune):
        raise PermissionDenied("Réservé aux administrateurs et agents de la commune.")


class SeriesListView(APIView):
    """The commune's series; POST a CSV/XLSX file to add or update one."""

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(responses=SeriesSerializer(many=True))
    def get(self, request: Request, insee: str) -> Response:
        commune = scoping.get_commune_for(request.user, insee)
        found = services.series_for(request.user, commune)
        return Response(SeriesSerializer(found, many=True).data)

    @extend_schema(
        request={"multipart/form-data": SeriesUploadSerializer},
        responses={201: SeriesSerializer, 200: SeriesSerializer, **errors(400, 403)},
    )
    def post(self, request: Request, insee: str) -> Response:
        commune = scoping.get_commune_for(request.user, insee)
        _writable(request, commune)
        data = SeriesUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            stored = services.import_series(
                _actor(request),
                commune,
                data.validated_data["file"],
                name=data.validated_data["name"],
                unit=data.validated_data["unit"],
            )
        except ValidationError as exc:
            raise _refuse(exc) from exc
        code = status.HTTP_201_CREATED if stored.created else status.HTTP_200_OK
        return Response(SeriesSerializer(stored.series).data, status=code)


class SeriesDetailView(APIView):
    @extend_schema(responses=SeriesDataSerializer)
    def get(self, request: Request, insee: str, series_id: int) -> Response:
        commune = scoping.get_commune_for(request.user, insee)
        series = services.get_series(request.user, commune, series_id)
        return Response(SeriesDataSerializer(series).data)


class SeriesRunView(APIView):
    parser_classes = [JSONParser, FormParser]

    @extend_schema(
        request=RunSerializer,
        responses={201: ForecastSerializer, 202: ForecastSerializer, **errors(400, 403)},
    )
    def post(self, request: Request, insee: str, series_id: int) -> Response:
        commune = scoping.get_commune_for(request.user, insee)
        series = services.get_series(request.user, commune, series_id)
        _writable(request, commune)
        data = RunSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            made = services.request_run(_actor(request), series, data.validated_data["horizon"])
        except ValidationError as exc:
            raise _refuse(exc) from exc
        if made.status == ForecastStatus.FAILED:
            raise ApiValidationError({"detail": made.error})
        code = status.HTTP_201_CREATED if made.status == ForecastStatus.DONE else 202
        return Response(ForecastSerializer(made).data, status=code)


class ForecastDetailView(APIView):
    @extend_schema(responses=ForecastSerializer)
    def get(self, request: Request, insee: str, forecast_id: int) -> Response:
        commune = scoping.get_commune_for(request.user, insee)
        found: Any = services.get_forecast(request.user, commune, forecast_id)
        return Response(ForecastSerializer(found).data)
