"""The energy JSON API, under /api/v1/ (token or two-factor session, see api/auth.py).

Endpoints (`{insee}` a commune the caller is an active member of, else 404; a list is a
page `{count, next, previous, results}`, `?limit=&offset=`):

- `GET  communes/{insee}/energy/buildings/` → the buildings `{id, name, use,
  floor_area_m2, year_built, heating_energy, address, reference_year, station, meters:
  [{id, kind, identifier}]}`
- `POST communes/{insee}/energy/buildings/` ← `{name, use?, floor_area_m2, year_built?,
  heating_energy?, address?, insee?, lat?, lon?, reference_year?}` → 201 the building;
  400 naming what is wrong (a field, a name already taken) and nothing written
- `GET  communes/{insee}/energy/buildings/{building_id}/` → the building
- `PATCH communes/{insee}/energy/buildings/{building_id}/` ← `{reference_year: 2010…2019
  | null}` → the building; 400 `{detail}` for a year without complete consumption
- `GET  communes/{insee}/energy/buildings/{building_id}/meters/` → its meters
- `POST communes/{insee}/energy/buildings/{building_id}/meters/` ← `{kind, identifier}`
  → 201 the meter; 400 for a PDL/PCE that is not 14 digits or already declared
- `GET  communes/{insee}/energy/buildings/{building_id}/trajectory/` →
  `{reason, reference_year, reference_kwh, adjusted_kwh: {year: kWh}, reduction,
  milestones: [{year, target_kwh, gap_kwh}]}`: `reason` null when the trajectory is
  known, else why not (and the figures null or empty)
- `POST communes/{insee}/energy/meters/{meter_id}/readings/?kind=courbe|index|factures`
  ← the CSV file as the body (`Content-Type: text/csv`) → 201 `{summary, rows, written,
  issues: [{line, code, message, level}], more_issues}`; 400 `{detail, error, issues,
  more_issues}` and nothing written when a line is in error
- `GET  communes/{insee}/energy/meters/{meter_id}/baseline/` → the latest model
  `{model_kind, granularity, start, end, params, cvrmse, nmbe, r2, n, fit, verdict}`
  (404 if none; `granularity` "daily" — n days — or "hourly" — n hours, CalTRACK 2
  hourly, G14 limits 30 % / ±10 %); `POST [?granularity=auto|daily|hourly]` fits a new
  one on the last 12 months (auto: hourly when a load curve covers them) → 201
- `GET  communes/{insee}/energy/meters/{meter_id}/savings/?depuis=AAAA-MM-JJ[&jusqua=…]`
  → what an action done on `depuis` saved: `{since, until, baseline: {model_kind,
  granularity, cvrmse, fit}, avoided: SAVINGS, normalised: SAVINGS | null, why}`,
  SAVINGS = `{baseline_kwh, reporting_kwh, savings_kwh, fraction, uncertainty_kwh,
  confidence}` (ASHRAE 14 Annex B); 400 `{detail}` without a dated 12 months before or
  data after
- `GET  communes/{insee}/energy/drifts/` → the drifts `{id, building, meter, kind,
  start, end, value, expected, text, acknowledged}`, open ones first

Permission, in one place (`_commune`): reading needs an active membership of the
commune (or the operator); writing needs the commune admin or agent role (403).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.db.models import F, QuerySet
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import BaseParser
from rest_framework.request import Request
from rest_framework.response import Response

from clocher.api.common import (
    ApiView,
    ListCreateView,
    ListView,
    RetrieveUpdateView,
    actor,
    refuse,
)
from clocher.api.schema import errors
from clocher.api.strict import StrictSerializer
from clocher.core import scoping
from clocher.core.models import Commune
from clocher.energy import imports, services
from clocher.energy.engine import tertiaire
from clocher.energy.models import (
    Baseline,
    Building,
    Drift,
    Energy,
    ImportKind,
    Meter,
    MeterKind,
    Use,
)


def _commune(request: Request, insee: str, *, write: bool = False) -> Commune:
    commune = scoping.get_commune_for(request.user, insee)
    if write and not services.may_edit(request.user, commune):
        raise PermissionDenied("Réservé aux administrateurs et agents de la commune.")
    return commune


# --- Serializers ------------------------------------------------------------------------


class FiniteFloatField(serializers.FloatField):
    """A computed figure: null rather than NaN or ±∞, which JSON cannot carry; rounded
    to `places` decimals when given."""

    def __init__(self, *, places: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.places = places

    def to_representation(self, value: Any) -> float | None:  # type: ignore[override]
        number = float(value)
        if not math.isfinite(number):
            return None
        return number if self.places is None else round(number, self.places)


def _figure(**kwargs: Any) -> FiniteFloatField:
    return FiniteFloatField(read_only=True, allow_null=True, **kwargs)


class MeterSerializer(serializers.ModelSerializer):
    class Meta:
        model = Meter
        fields = ["id", "kind", "identifier"]
        read_only_fields = fields


class BuildingSerializer(serializers.ModelSerializer):
    station = serializers.CharField(
        source="station.num_poste",
        read_only=True,
        allow_null=True,
        default=None,
        help_text="Station Météo-France (NUM_POSTE) qui sert ses modèles.",
    )
    meters = MeterSerializer(many=True, read_only=True)

    class Meta:
        model = Building
        fields = [
            "id",
            "name",
            "use",
            "floor_area_m2",
            "year_built",
            "heating_energy",
            "address",
            "reference_year",
            "station",
            "meters",
        ]
        read_only_fields = fields


def _reference_year(**kwargs: Any) -> serializers.IntegerField:
    return serializers.IntegerField(
        min_value=2010,
        max_value=2019,
        allow_null=True,
        help_text="Année de référence du décret tertiaire (2010 à 2019), ou null.",
        **kwargs,
    )


class BuildingCreateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=120)
    use = serializers.ChoiceField(choices=Use.choices, default=Use.MAIRIE)
    floor_area_m2 = serializers.FloatField(min_value=1, max_value=10_000_000)
    year_built = serializers.IntegerField(
        min_value=1000, max_value=2100, required=False, allow_null=True, default=None
    )
    heating_energy = serializers.ChoiceField(choices=Energy.choices, default=Energy.GAZ)
    address = serializers.CharField(max_length=250, required=False, allow_blank=True, default="")
    insee = serializers.RegexField(
        r"^([0-9][0-9AB][0-9]{3})?$",
        required=False,
        allow_blank=True,
        default="",
        help_text="Code INSEE du site, s'il n'est pas celui de la commune.",
    )
    lat = serializers.FloatField(min_value=-90, max_value=90, required=False, allow_null=True)
    lon = serializers.FloatField(min_value=-180, max_value=180, required=False, allow_null=True)
    reference_year = _reference_year(required=False, default=None)


class BuildingUpdateSerializer(StrictSerializer):
    reference_year = _reference_year()


class MeterCreateSerializer(StrictSerializer):
    kind = serializers.ChoiceField(choices=MeterKind.choices)
    identifier = serializers.CharField(
        max_length=32, help_text="PDL (électricité) ou PCE (gaz) : 14 chiffres."
    )


class MilestoneSerializer(serializers.Serializer):
    year = serializers.IntegerField()
    target_kwh = _figure()
    gap_kwh = _figure(help_text="kWh encore à réduire (≤ 0 : atteint).")


class TrajectorySerializer(serializers.Serializer):
    reason = serializers.CharField(
        allow_null=True, help_text="Pourquoi la trajectoire est inconnue ; null si connue."
    )
    reference_year = serializers.IntegerField(allow_null=True)
    reference_kwh = _figure()
    adjusted_kwh = serializers.DictField(
        child=FiniteFloatField(allow_null=True), help_text="kWh ajustés par année."
    )
    reduction = _figure()
    milestones = MilestoneSerializer(many=True)


class LineIssueSerializer(serializers.Serializer):
    line = serializers.IntegerField(allow_null=True)
    code = serializers.CharField()
    message = serializers.CharField()
    level = serializers.CharField()


class ImportReportSerializer(serializers.Serializer):
    summary = serializers.CharField()
    rows = serializers.IntegerField()
    written = serializers.IntegerField()
    issues = LineIssueSerializer(many=True)
    more_issues = serializers.IntegerField()


class ReadingsQuerySerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=[ImportKind.COURBE, ImportKind.INDEX, ImportKind.FACTURES],
        default=ImportKind.COURBE,
        error_messages={
            "invalid_choice": "« {input} » : courbe, index ou factures (la météo "
            "s'importe par l'opérateur, en ligne de commande)."
        },
    )


class BaselineSerializer(serializers.ModelSerializer):
    cvrmse = _figure()
    nmbe = _figure()
    r2 = _figure()

    class Meta:
        model = Baseline
        fields = [
            "model_kind",
            "granularity",
            "start",
            "end",
            "params",
            "cvrmse",
            "nmbe",
            "r2",
            "n",
            "fit",
            "verdict",
        ]
        read_only_fields = fields


class FitQuerySerializer(serializers.Serializer):
    granularity = serializers.ChoiceField(choices=services.GRANULARITIES, default="auto")


FIRST_DAY, LAST_DAY = date(1990, 1, 1), date(2100, 12, 31)


def _day(**kwargs: Any) -> serializers.DateField:
    return serializers.DateField(help_text="AAAA-MM-JJ, de 1990 à 2100.", **kwargs)


class SavingsQuerySerializer(serializers.Serializer):
    depuis = _day()
    jusqua = _day(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        for name, day in attrs.items():
            if not FIRST_DAY <= day <= LAST_DAY:
                raise serializers.ValidationError({name: [f"{day} : une date de 1990 à 2100."]})
        return attrs


class SavingsFiguresSerializer(serializers.Serializer):
    baseline_kwh = _figure(places=4)
    reporting_kwh = _figure(places=4)
    savings_kwh = _figure(places=4)
    fraction = _figure(places=4)
    uncertainty_kwh = _figure(places=4)
    confidence = _figure(places=4)


class SavingsModelSerializer(serializers.Serializer):
    model_kind = serializers.CharField(source="kind")
    granularity = serializers.CharField(source="metrics.granularity")
    cvrmse = _figure(source="metrics.cvrmse")
    fit = serializers.BooleanField(source="metrics.fit")


class SavingsSerializer(serializers.Serializer):
    since = serializers.DateField()
    until = serializers.DateField()
    baseline = SavingsModelSerializer()
    avoided = SavingsFiguresSerializer()
    normalised = SavingsFiguresSerializer(allow_null=True)
    why = serializers.CharField(allow_blank=True)


class DriftSerializer(serializers.ModelSerializer):
    building = serializers.CharField(source="meter.building.name", read_only=True)
    meter = serializers.CharField(source="meter.identifier", read_only=True)
    value = _figure()
    expected = _figure()
    acknowledged = serializers.SerializerMethodField()

    class Meta:
        model = Drift
        fields = [
            "id",
            "building",
            "meter",
            "kind",
            "start",
            "end",
            "value",
            "expected",
            "text",
            "acknowledged",
        ]
        read_only_fields = fields

    def get_acknowledged(self, obj: Drift) -> bool:
        return obj.acknowledged_at is not None


# --- Views ------------------------------------------------------------------------------


class BuildingsView(ListCreateView):
    serializer_class = BuildingSerializer
    create_serializer_class = BuildingCreateSerializer
    create_errors = (400, 403)

    def get_items(self) -> QuerySet[Building]:
        commune = _commune(self.request, self.kwargs["insee"])
        buildings = services.buildings_for(self.request.user, commune)
        return buildings.select_related("station").prefetch_related("meters").order_by("name")

    def get_parent(self) -> Commune:
        return _commune(self.request, self.kwargs["insee"], write=True)

    def perform_create(self, parent: Commune, values: Mapping[str, Any]) -> Building:
        given = services.BuildingInput(**values)
        return services.create_building(actor(self.request), parent, given)


def _building(request: Request, insee: str, building_id: int, write: bool = False) -> Building:
    commune = _commune(request, insee, write=write)
    return services.building_for(request.user, commune, building_id)


class BuildingView(RetrieveUpdateView):
    serializer_class = BuildingSerializer
    update_serializer_class = BuildingUpdateSerializer
    update_errors = (400, 403)

    def get_object(self) -> Building:
        return _building(self.request, self.kwargs["insee"], self.kwargs["building_id"])

    def get_object_to_update(self) -> Building:
        return _building(self.request, self.kwargs["insee"], self.kwargs["building_id"], write=True)

    def perform_update(self, obj: Building, values: Mapping[str, Any]) -> None:
        services.set_reference_year(actor(self.request), obj, values["reference_year"])


class MetersView(ListCreateView):
    serializer_class = MeterSerializer
    create_serializer_class = MeterCreateSerializer
    create_errors = (400, 403)

    def get_items(self) -> QuerySet[Meter]:
        building = _building(self.request, self.kwargs["insee"], self.kwargs["building_id"])
        return building.meters.order_by("kind", "identifier", "pk")

    def get_parent(self) -> Building:
        return _building(self.request, self.kwargs["insee"], self.kwargs["building_id"], write=True)

    def perform_create(self, parent: Building, values: Mapping[str, Any]) -> Meter:
        return services.add_meter(actor(self.request), parent, values["kind"], values["identifier"])


class TrajectoryView(ApiView):
    serializer_class = TrajectorySerializer

    @extend_schema(responses=TrajectorySerializer)
    def get(self, request: Request, insee: str, building_id: int) -> Response:
        made = services.building_trajectory(_building(request, insee, building_id))
        t = made.trajectory
        if t is None:
            body: dict[str, Any] = {
                "reason": made.reason,
                "reference_year": None,
                "reference_kwh": None,
                "adjusted_kwh": {},
                "reduction": None,
                "milestones": [],
            }
        else:
            body = {
                "reason": None,
                "reference_year": t.reference_year,
                "reference_kwh": t.reference_kwh,
                "adjusted_kwh": {str(y): v for y, v in sorted(t.adjusted_kwh.items())},
                "reduction": t.reduction(),
                "milestones": [
                    {"year": y, "target_kwh": t.reference_kwh * (1 - cut), "gap_kwh": t.gap(y)}
                    for y, cut in sorted(tertiaire.MILESTONES.items())
                ],
            }
        return Response(TrajectorySerializer(body).data)


class CsvParser(BaseParser):
    """The body is the file itself, as exported (Enedis, the supplier's invoices)."""

    media_type = "text/csv"

    def parse(  # type: ignore[override]  # the raw file, not a mapping
        self, stream: IO[Any] | None, media_type: Any = None, parser_context: Any = None
    ) -> bytes:
        # One byte more than the importer takes, so that it says the file is too large.
        return stream.read(imports.MAX_UPLOAD_BYTES + 1) if stream is not None else b""


def _meter(request: Request, insee: str, meter_id: int, write: bool = False) -> Meter:
    commune = _commune(request, insee, write=write)
    return services.meter_for(request.user, commune, meter_id)


def _query(serializer: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    """The query string checked by `serializer`: a wrong value is a 400 naming it."""
    data = serializer(data=request.query_params)
    data.is_valid(raise_exception=True)
    return dict(data.validated_data)


class ReadingsView(ApiView):
    parser_classes = [CsvParser]
    serializer_class = ImportReportSerializer

    @extend_schema(
        parameters=[ReadingsQuerySerializer],
        request={"text/csv": OpenApiTypes.STR},
        responses={201: ImportReportSerializer, **errors(400, 403, 415)},
    )
    def post(self, request: Request, insee: str, meter_id: int) -> Response:
        meter = _meter(request, insee, meter_id, write=True)
        kind = _query(ReadingsQuerySerializer, request)["kind"]
        body = request.data if isinstance(request.data, bytes) else b""  # {} when empty
        try:
            result = imports.import_file(actor(request), meter.commune, kind, body, "api", meter)
        except imports.ImportRefused as exc:
            return Response(
                {"detail": " ".join(exc.messages), **exc.report()},
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response(result.report(), status=status.HTTP_201_CREATED)


class BaselineView(ApiView):
    serializer_class = BaselineSerializer

    @extend_schema(responses=BaselineSerializer)
    def get(self, request: Request, insee: str, meter_id: int) -> Response:
        latest = services.latest_baseline(_meter(request, insee, meter_id))
        if latest is None:
            return Response({"detail": "Aucun modèle pour ce compteur."}, status=404)
        return Response(BaselineSerializer(latest).data)

    @extend_schema(
        parameters=[FitQuerySerializer],
        request=None,
        responses={201: BaselineSerializer, **errors(400, 403)},
    )
    def post(self, request: Request, insee: str, meter_id: int) -> Response:
        meter = _meter(request, insee, meter_id, write=True)
        granularity = _query(FitQuerySerializer, request)["granularity"]
        try:
            made = services.fit_baseline(actor(request), meter, granularity=granularity)
        except ValidationError as exc:
            raise refuse(exc) from exc
        return Response(BaselineSerializer(made).data, status=status.HTTP_201_CREATED)


class SavingsView(ApiView):
    serializer_class = SavingsSerializer

    @extend_schema(
        parameters=[SavingsQuerySerializer],
        responses={200: SavingsSerializer, **errors(400)},
    )
    def get(self, request: Request, insee: str, meter_id: int) -> Response:
        meter = _meter(request, insee, meter_id)
        days = _query(SavingsQuerySerializer, request)
        try:
            made = services.measured_savings(meter, days["depuis"], days.get("jusqua"))
        except ValidationError as exc:
            raise refuse(exc) from exc
        return Response(SavingsSerializer(made).data)


class DriftsView(ListView):
    serializer_class = DriftSerializer

    def get_items(self) -> QuerySet[Drift]:
        commune = _commune(self.request, self.kwargs["insee"])
        drifts = scoping.scoped(Drift.objects.filter(commune=commune), self.request.user)
        # Open ones first on every database (PostgreSQL puts nulls last by default).
        order = (F("acknowledged_at").asc(nulls_first=True), "-start", "pk")
        return drifts.select_related("meter__building").order_by(*order)


P = "communes/<str:insee>/energy/"
urlpatterns = [
    path(P + "buildings/", BuildingsView.as_view(), name="energy_buildings"),
    path(P + "buildings/<int:building_id>/", BuildingView.as_view(), name="energy_building"),
    path(P + "buildings/<int:building_id>/meters/", MetersView.as_view(), name="energy_meters"),
    path(
        P + "buildings/<int:building_id>/trajectory/",
        TrajectoryView.as_view(),
        name="energy_trajectory",
    ),
    path(P + "meters/<int:meter_id>/readings/", ReadingsView.as_view(), name="energy_readings"),
    path(P + "meters/<int:meter_id>/baseline/", BaselineView.as_view(), name="energy_baseline"),
    path(P + "meters/<int:meter_id>/savings/", SavingsView.as_view(), name="energy_savings"),
    path(P + "drifts/", DriftsView.as_view(), name="energy_drifts"),
]
