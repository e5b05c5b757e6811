"""JSON API of the forecast app (mounted under /api/v1/ by `clocher.api.urls`).

Endpoints (every one resolves the commune through `core.scoping`: 404 to anyone who
is not an active member of it or an operator; sending and running need an admin or an
agent of the commune, 403 otherwise):

- ``GET  communes/{insee}/forecast/series/`` — the commune's series, a page
  ``{"count", "next", "previous", "results"}`` (``?limit=&offset=``, by name then id):
  id, key, name, unit, frequency, points, data_version, source, latest_forecast (id or
  null).
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

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import OuterRef, QuerySet, Subquery
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from clocher.api.common import ApiView, ListCreateView, RetrieveView, actor, refuse
from clocher.api.schema import errors
from clocher.api.strict import StrictSerializer
from clocher.core import scoping
from clocher.core.models import Commune
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
        if hasattr(obj, "latest_forecast_id"):  # annotated by the list: one query a page
            return obj.latest_forecast_id  # type: ignore[no-any-return]
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


class RunSerializer(StrictSerializer):
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


def _writable(request: Request, commune: Commune) -> None:
    if not services.may_write(request.user, commune):
        raise PermissionDenied("Réservé aux administrateurs et agents de la commune.")


class SeriesListView(ListCreateView):
    """The commune's series; POST a CSV/XLSX file to add or update one."""

    serializer_class = SeriesSerializer
    parser_classes = [MultiPartParser, FormParser]
    create_serializer_class = SeriesUploadSerializer
    create_media_type = "multipart/form-data"
    create_errors = (400, 403)

    def get_items(self) -> QuerySet[Series]:
        commune = scoping.get_commune_for(self.request.user, self.kwargs["insee"])
        latest = Forecast.objects.filter(series=OuterRef("pk"), status=ForecastStatus.DONE)
        newest = latest.order_by("-finished_at", "-id").values("pk")[:1]  # as services.latest
        found = services.series_for(self.request.user, commune)
        return found.annotate(latest_forecast_id=Subquery(newest)).order_by("name", "pk")

    def get_parent(self) -> Commune:
        commune = scoping.get_commune_for(self.request.user, self.kwargs["insee"])
        _writable(self.request, commune)
        return commune

    def perform_create(self, parent: Commune, values: Mapping[str, Any]) -> services.Stored:
        return services.import_series(
            actor(self.request), parent, values["file"], name=values["name"], unit=values["unit"]
        )

    def created_response(self, created: services.Stored) -> Response:
        """201 for a new series, 200 when the same name was sent again (updated)."""
        code = status.HTTP_201_CREATED if created.created else status.HTTP_200_OK
        return Response(SeriesSerializer(created.series).data, status=code)

    @extend_schema(
        request={"multipart/form-data": SeriesUploadSerializer},
        responses={201: SeriesSerializer, 200: SeriesSerializer, **errors(400, 403)},
    )
    def post(self, request: Request, **kwargs: Any) -> Response:
        return super().post(request, **kwargs)


class SeriesDetailView(RetrieveView):
    serializer_class = SeriesDataSerializer

    def get_object(self) -> Series:
        commune = scoping.get_commune_for(self.request.user, self.kwargs["insee"])
        return services.get_series(self.request.user, commune, self.kwargs["series_id"])


class SeriesRunView(ApiView):
    serializer_class = ForecastSerializer

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
            made = services.request_run(actor(request), series, data.validated_data["horizon"])
        except ValidationError as exc:
            raise refuse(exc) from exc
        if made.status == ForecastStatus.FAILED:
            raise ApiValidationError({"detail": made.error})
        code = status.HTTP_201_CREATED if made.status == ForecastStatus.DONE else 202
        return Response(ForecastSerializer(made).data, status=code)


class ForecastDetailView(RetrieveView):
    serializer_class = ForecastSerializer

    def get_object(self) -> Forecast:
        commune = scoping.get_commune_for(self.request.user, self.kwargs["insee"])
        return services.get_forecast(self.request.user, commune, self.kwargs["forecast_id"])
