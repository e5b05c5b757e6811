"""How the energy app plugs into the platform: the operator tile, the weekly drift
scheduler under `clocher serve`, the demo, and the departure export and purge."""

from __future__ import annotations

import csv
import io
import json
import sys
import zipfile

from django.db.models import Count, Q
from django.urls import reverse

from clocher.accounts.models import User
from clocher.core import supervisor, tiles
from clocher.core.audit import Actor
from clocher.core.demo import DEMO_HOOKS
from clocher.core.models import Commune
from clocher.energy.models import (
    Action,
    Baseline,
    Building,
    DailyReading,
    Drift,
    EnergyImport,
    LoadCurveDay,
    Meter,
    PeriodReading,
)
from clocher.onboarding.services import register_exporter, register_purger


@supervisor.register
def energy_scheduler() -> list[supervisor.Child]:
    """Once a week: drifts detected on every meter, one mail per commune's admins."""
    argv = [sys.executable, "-m", "clocher.cli", "energy", "scheduler"]
    return [supervisor.Child("énergie : dérives de la semaine", argv)]


@tiles.register("energy")
def energy_tile() -> tiles.Tile:
    counts = Building.objects.aggregate(
        buildings=Count("id"), communes=Count("commune", distinct=True)
    )
    return tiles.Tile(
        "energy",
        "Énergie des bâtiments",
        [
            tiles.Figure("Bâtiments suivis", str(counts["buildings"])),
            tiles.Figure("Communes", str(counts["communes"])),
            tiles.Figure("Compteurs", str(Meter.objects.count())),
            tiles.Figure(
                "Dérives ouvertes", str(Drift.objects.filter(acknowledged_at__isnull=True).count())
            ),
            tiles.Figure(
                "Modèles aptes (G14)",
                str(Baseline.objects.filter(fit=True).values("meter").distinct().count()),
            ),
        ],
        url=reverse("energy:operator"),
    )


@register_exporter("energie")
def export_energy(commune: Commune, archive: zipfile.ZipFile) -> None:
    """Buildings and meters (JSON), daily and period readings (CSV): what the commune
    needs to carry its history elsewhere. The load curve leaves as daily sums."""
    buildings = [
        {
            "nom": b.name,
            "usage": b.use,
            "surface_m2": b.floor_area_m2,
            "annee_construction": b.year_built,
            "energie_chauffage": b.heating_energy,
            "adresse": b.address,
            "annee_reference": b.reference_year,
            "compteurs": [{"nature": m.kind, "identifiant": m.identifier} for m in b.meters.all()],
        }
        for b in Building.objects.filter(commune=commune).prefetch_related("meters")
    ]
    archive.writestr("energie/batiments.json", json.dumps(buildings, ensure_ascii=False, indent=1))
    text = io.StringIO()
    writer = csv.writer(text, delimiter=";")
    writer.writerow(["compteur", "jour", "kwh"])
    rows = DailyReading.objects.filter(commune=commune).order_by("meter__identifier", "day")
    writer.writerows(rows.values_list("meter__identifier", "day", "kwh").iterator())
    archive.writestr("energie/consommations_journalieres.csv", text.getvalue())
    text = io.StringIO()
    writer = csv.writer(text, delimiter=";")
    writer.writerow(["compteur", "debut", "fin", "kwh", "montant", "source"])
    periods = PeriodReading.objects.filter(commune=commune).order_by("meter__identifier", "start")
    writer.writerows(
        periods.values_list("meter__identifier", "start", "end", "kwh", "amount_eur", "source")
    )
    archive.writestr("energie/periodes.csv", text.getvalue())


@register_purger("energie")
def purge_energy(commune: Commune) -> None:
    for model in (LoadCurveDay, DailyReading, PeriodReading, Drift, Baseline, Action):
        model.objects.filter(commune=commune).delete()  # type: ignore[attr-defined]
    EnergyImport.objects.filter(commune=commune).delete()
    Meter.objects.filter(commune=commune).delete()
    Building.objects.filter(Q(commune=commune)).delete()


def demo_energy(actor: Actor, commune: Commune, admin: User) -> None:
    """Demo: three buildings with two years of data (see energy/demo.py)."""
    from clocher.energy.demo import seed_demo_energy

    seed_demo_energy(actor, commune)


DEMO_HOOKS.append(demo_energy)
