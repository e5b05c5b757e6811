"""The energy JSON API, under /api/v1/ (token or two-factor session, see api/auth.py).

Endpoints (`{insee}` a commune the caller is an active member of, else 404):

- `GET  communes/{insee}/energy/buildings/` → `[{id, name, use, floor_area_m2,
  year_built, heating_energy, reference_year, station, meters: [{id, kind, identifier}]}]`
- `POST communes/{insee}/energy/buildings/` ← `{name, use, floor_area_m2, year_built?,
  heating_energy, address?, lat?, lon?, reference_year?}` → 201 the building
- `GET  communes/{insee}/energy/buildings/{building_id}/` → the building
- `PATCH communes/{insee}/energy/buildings/{building_id}/` ← `{reference_year: 2010…2019
  | null}` → the building; 400 `{detail}` for a year without complete consumption
- `POST communes/{insee}/energy/buildings/{building_id}/meters/` ← `{kind, identifier}` → 201
- `GET  communes/{insee}/energy/buildings/{building_id}/trajectory/` →
  `{reference_year, reference_kwh, adjusted_kwh: {year: kWh}, reduction,
  milestones: [{year, target_kwh, gap_kwh}]}` or `{reason}` when unknown
- `POST communes/{insee}/energy/meters/{meter_id}/readings/?kind=courbe|index|factures`
  ← the CSV file as the body → 201 `{summary, rows, written, issues: [{line, code,
  message, level}]}`; 400 `{detail, issues}` and nothing written when a line is in error
- `GET  communes/{insee}/energy/meters/{meter_id}/baseline/` → the latest model
  `{model_kind, granularity, start, end, params, cvrmse, nmbe, r2, n, fit, verdict}`
  (404 if none; `granularity` "daily" — n days — or "hourly" — n hours, CalTRACK 2
  hourly, G14 limits 30 % / ±10 %); `POST [?granularity=auto|daily|hourly]` fits a new
  one on the last 12 months (auto: hourly when a load curve covers them) → 201
- `GET  communes/{insee}/energy/meters/{meter_id}/savings/?depuis=AAAA-MM-JJ[&jusqua=…]`
  → what an action done on `depuis` saved: `{since, until, baseline: {model_kind,
  cvrmse, fit}, avoided: SAVINGS, normalised: SAVINGS | null, why}`, SAVINGS =
  `{baseline_kwh, reporting_kwh, savings_kwh, fraction, uncertainty_kwh, confidence}`
  (ASHRAE 14 Annex B); 400 `{detail}` without a dated 12 months before or data after
- `GET  communes/{insee}/energy/drifts/` → `[{id, building, meter, kind, start, end,
  value, expected, text, acknowledged}]` (open ones first, 200 at most)

Permission, in one place (`_commune`): reading needs an active membership of the
commune (or the operator); writing needs the commune admin or agent role.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.urls import path
from drf_spectacular.types import OpenApiTypes
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
from clocher.energy import imports, services
from clocher.energy.engine import tertiaire
from clocher.energy.models import Baseline, Building, Drift, ImportKind, Meter


def _actor(request: Request) -> Actor:
    return Actor(user=request.user, ip=client_ip(request._request))


def _commune(request: Request, insee: str, *, write: bool = False) -> Commune:
    commune = scoping.get_commune_for(request.user, insee)
    if write and not services.may_edit(request.user, commune):
        raise PermissionDenied("Réservé aux administrateurs et agents de la commune.")
    return commune


def _refuse(exc: ValidationError) -> ApiValidationError:
    return ApiValidationError({"detail": " ".join(exc.messages)})


def building_json(b: Building) -> dict[str, Any]:
    return {
        "id": b.pk,
        "name": b.name,
        "use": b.use,
        "floor_area_m2": b.floor_area_m2,
        "year_built": b.year_built,
        "heating_energy": b.heating_energy,
        "address": b.address,
        "reference_year": b.reference_year,
        "station": b.station.num_poste if b.station else None,
        "meters": [
            {"id": m.pk, "kind": m.kind, "identifier": m.identifier} for m in b.meters.all()
        ],
    }


def baseline_json(b: Baseline) -> dict[str, Any]:
    return {
        "model_kind": b.model_kind,
        "granularity": b.granularity,
        "start": b.start.isoformat(),
        "end": b.end.isoformat(),
        "params": b.params,
        "cvrmse": b.cvrmse,
        "nmbe": b.nmbe,
        "r2": b.r2,
        "n": b.n,
        "fit": b.fit,
        "verdict": b.verdict,
    }


class BuildingsView(APIView):
    @extend_schema(operation_id="communes_energy_buildings_list", responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, insee: str) -> Response:
        commune = _commune(request, insee)
        qs = services.buildings_for(request.user, commune).select_related("station")
        return Response([building_json(b) for b in qs.prefetch_related("meters")])

    @extend_schema(request=OpenApiTypes.OBJECT, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: Request, insee: str) -> Response:
        commune = _commune(request, insee, write=True)
        data = request.data if isinstance(request.data, dict) else {}
        fields = set(services.BuildingInput.__dataclass_fields__)
        try:
            given = services.BuildingInput(**{k: v for k, v in data.items() if k in fields})
            building = services.create_building(_actor(request), commune, given)
        except TypeError as exc:
            raise ApiValidationError({"detail": "Champ « name » requis."}) from exc
        except ValidationError as exc:
            raise _refuse(exc) from exc
        return Response(building_json(building), status=status.HTTP_201_CREATED)


class BuildingView(APIView):
    @extend_schema(operation_id="communes_energy_buildings_retrieve", responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, insee: str, building_id: int) -> Response:
        commune = _commune(request, insee)
        return Response(building_json(services.building_for(request.user, commune, building_id)))

    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT)
    def patch(self, request: Request, insee: str, building_id: int) -> Response:
        commune = _commune(request, insee, write=True)
        building = services.building_for(request.user, commune, building_id)
        data = request.data if isinstance(request.data, dict) else {}
        if "reference_year" not in data:
            raise ApiValidationError({"detail": "Champ « reference_year » requis (ou null)."})
        year = data["reference_year"]
        if year is not None and (isinstance(year, bool) or not isinstance(year, int)):
            raise ApiValidationError({"detail": "« reference_year » : une année ou null."})
        try:
            services.set_reference_year(_actor(request), building, year)
        except ValidationError as exc:
            raise _refuse(exc) from exc
        return Response(building_json(building))


class MetersView(APIView):
    @extend_schema(request=OpenApiTypes.OBJECT, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: Request, insee: str, building_id: int) -> Response:
        commune = _commune(request, insee, write=True)
        building = services.building_for(request.user, commune, building_id)
        data = request.data if isinstance(request.data, dict) else {}
        try:
            meter = services.add_meter(
                _actor(request),
                building,
                str(data.get("kind", "")),
                str(data.get("identifier", "")),
            )
        except ValidationError as exc:
            raise _refuse(exc) from exc
        body = {"id": meter.pk, "kind": meter.kind, "identifier": meter.identifier}
        return Response(body, status=status.HTTP_201_CREATED)


class TrajectoryView(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, insee: str, building_id: int) -> Response:
        commune = _commune(request, insee)
        made = services.building_trajectory(
            services.building_for(request.user, commune, building_id)
        )
        t = made.trajectory
        if t is None:
            return Response({"reason": made.reason})
        return Response(
            {
                "reference_year": t.reference_year,
                "reference_kwh": t.reference_kwh,
                "adjusted_kwh": {str(y): v for y, v in sorted(t.adjusted_kwh.items())},
                "reduction": t.reduction(),
                "milestones": [
                    {"year": y, "target_kwh": t.reference_kwh * (1 - cut), "gap_kwh": t.gap(y)}
                    for y, cut in sorted(tertiaire.MILESTONES.items())
                ],
            }
        )


class ReadingsView(APIView):
    @extend_schema(request=OpenApiTypes.BINARY, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: Request, insee: str, meter_id: int) -> Response:
        commune = _commune(request, insee, write=True)
        meter: Meter = services.meter_for(request.user, commune, meter_id)
        kind = request.query_params.get("kind", ImportKind.COURBE)
        if kind == ImportKind.METEO:
            raise ApiValidationError({"detail": "La météo s'importe par l'opérateur (CLI)."})
        try:
            result = imports.import_file(_actor(request), commune, kind, request.body, "api", meter)
        except imports.ImportRefused as exc:
            return Response(
                {"detail": " ".join(exc.messages), **exc.report()},
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response(result.report(), status=status.HTTP_201_CREATED)


class BaselineView(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, insee: str, meter_id: int) -> Response:
        commune = _commune(request, insee)
        latest = services.latest_baseline(services.meter_for(request.user, commune, meter_id))
        if latest is None:
            return Response({"detail": "Aucun modèle pour ce compteur."}, status=404)
        return Response(baseline_json(latest))

    @extend_schema(request=None, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: Request, insee: str, meter_id: int) -> Response:
        commune = _commune(request, insee, write=True)
        meter = services.meter_for(request.user, commune, meter_id)
        granularity = request.query_params.get("granularity", "auto")
        try:
            made = services.fit_baseline(_actor(request), meter, granularity=granularity)
        except ValidationError as exc:
            raise _refuse(exc) from exc
        return Response(baseline_json(made), status=status.HTTP_201_CREATED)


def _savings_json(s: Any) -> dict[str, float] | None:
    if s is None:
        return None
    keys = ("baseline_kwh", "reporting_kwh", "savings_kwh", "fraction", "uncertainty_kwh")
    return {k: round(float(getattr(s, k)), 4) for k in (*keys, "confidence")}


def _date_param(request: Request, name: str, required: bool) -> date | None:
    text = request.query_params.get(name, "")
    if not text and not required:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ApiValidationError(
            {"detail": f"Paramètre « {name} » : date AAAA-MM-JJ attendue (reçu « {text} »)."}
        ) from None


class SavingsView(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, insee: str, meter_id: int) -> Response:
        commune = _commune(request, insee)
        meter = services.meter_for(request.user, commune, meter_id)
        since = _date_param(request, "depuis", required=True)
        assert since is not None
        try:
            made = services.measured_savings(meter, since, _date_param(request, "jusqua", False))
        except ValidationError as exc:
            raise _refuse(exc) from exc
        m = made.baseline
        return Response(
            {
                "since": made.since.isoformat(),
                "until": made.until.isoformat(),
                "baseline": {
                    "model_kind": m.kind,
                    "granularity": m.metrics.granularity,
                    "cvrmse": m.metrics.cvrmse,
                    "fit": m.metrics.fit,
                },
                "avoided": _savings_json(made.avoided),
                "normalised": _savings_json(made.normalised),
                "why": made.why,
            }
        )


class DriftsView(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, insee: str) -> Response:
        commune = _commune(request, insee)
        drifts = (
            scoping.scoped(Drift.objects.filter(commune=commune), request.user)
            .select_related("meter__building")
            .order_by("acknowledged_at", "-start")[:200]
        )
        return Response(
            [
                {
                    "id": d.pk,
                    "building": d.meter.building.name,
                    "meter": d.meter.identifier,
                    "kind": d.kind,
                    "start": d.start.isoformat(),
                    "end": d.end.isoformat(),
                    "value": d.value,
                    "expected": d.expected,
                    "text": d.text,
                    "acknowledged": d.acknowledged_at is not None,
                }
                for d in drifts
            ]
        )


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
