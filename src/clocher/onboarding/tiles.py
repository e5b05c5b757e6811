"""Operator-console tiles for communes and adhésions (real counts only)."""

from __future__ import annotations

from django.urls import reverse

from clocher.core import services as core_services
from clocher.core.tiles import Figure, Tile, register
from clocher.onboarding.models import ProvisioningRun, RunStatus
from clocher.onboarding.services import pending_applications_count


@register("communes")
def communes_tile() -> Tile:
    counts = core_services.communes_by_status()
    commercial, total = core_services.commercial_mail_count()
    return Tile(
        "communes",
        "Communes",
        [
            Figure("Actives", str(counts["active"])),
            Figure("Demandes", str(counts["applied"])),
            Figure("Suspendues", str(counts["suspended"])),
            Figure("Prospects", str(counts["prospect"])),
            Figure("Mairies en messagerie commerciale", f"{commercial} / {total}"),
        ],
        url=reverse("core:operator_communes"),
    )


@register("onboarding")
def onboarding_tile() -> Tile:
    runs = ProvisioningRun.objects
    return Tile(
        "onboarding",
        "Adhésions",
        [
            Figure("Demandes en attente", str(pending_applications_count())),
            Figure(
                "Provisionnements en cours",
                str(runs.filter(status__in=[RunStatus.PENDING, RunStatus.RUNNING]).count()),
            ),
            Figure("Provisionnements en échec", str(runs.filter(status=RunStatus.FAILED).count())),
        ],
        url=reverse("onboarding:applications"),
    )
