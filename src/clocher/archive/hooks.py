"""How the archive plugs into the platform: the operator tile, the daily scheduler in
`clocher serve`, the demo, and the departure export (archives leave with the commune's
copy)."""

from __future__ import annotations

import json
import sys
import zipfile

from django.db.models import Sum
from django.template.defaultfilters import filesizeformat
from django.urls import reverse

from clocher.accounts.models import User
from clocher.archive import tsa
from clocher.archive.models import ArchivedObject, EliminationProposal, ObjectState
from clocher.core import supervisor, tiles
from clocher.core.audit import Actor
from clocher.core.demo import DEMO_HOOKS
from clocher.core.models import Commune
from clocher.onboarding.services import register_exporter


@supervisor.register
def archive_scheduler() -> list[supervisor.Child]:
    """Once a day: seal the journal and audit every archived object (a task)."""
    argv = [sys.executable, "-m", "clocher.cli", "archive", "scheduler"]
    return [supervisor.Child("archivage : sceau et audit quotidiens", argv)]


@tiles.register("archive")
def archive_tile() -> tiles.Tile:
    sealed = ArchivedObject.objects.filter(state=ObjectState.SEALED)
    size = sealed.aggregate(total=Sum("size"))["total"] or 0
    name, qualified = tsa.tsa_label()
    return tiles.Tile(
        "archive",
        "Archivage probant",
        [
            tiles.Figure("Objets scellés", str(sealed.count())),
            tiles.Figure("Volume", filesizeformat(size)),
            tiles.Figure(
                "Éliminations à viser",
                str(EliminationProposal.objects.filter(state="proposed").count()),
            ),
        ],
        url=reverse("archive:operator"),
        note="" if qualified else f"Horodatage : {name}.",
    )


@register_exporter("archives")
def export_archives(commune: Commune, archive: zipfile.ZipFile) -> None:
    """Each sealed document, its token, and an index of notices with fingerprints."""
    from clocher.archive import services, store

    index = []
    for obj in ArchivedObject.objects.filter(commune=commune).select_related("retention_rule"):
        entry = {"reference": obj.reference, "notice": services.metadata(obj)}
        if obj.state == ObjectState.SEALED:
            base = f"archives/{obj.reference}"
            archive.writestr(f"{base}/{obj.filename}", store.read(commune, obj.blob_key))
            archive.writestr(f"{base}/horodatage.tsr", bytes(obj.timestamp_token))
        index.append(entry)
    archive.writestr("archives.json", json.dumps(index, ensure_ascii=False, indent=1))


def demo_archive(actor: Actor, commune: Commune, admin: User) -> None:
    """Demo: a deliberation, as PDF/A-2b, sealed in the commune's archive."""
    from datetime import date

    from django.utils.html import escape
    from weasyprint import HTML

    from clocher.archive import services
    from clocher.archive.models import RetentionRule

    if ArchivedObject.objects.filter(commune=commune).exists():
        return
    name = escape(commune.name)
    html = (
        f"<html lang='fr'><head><title>Délibération 2025-01 — {name}</title></head><body>"
        f"<h1>Commune de {name}</h1><h2>Délibération n°2025-01 : budget primitif 2025</h2>"
        "<p>Le conseil municipal, après en avoir délibéré, adopte le budget primitif.</p>"
        "</body></html>"
    )
    # Uncompressed, so that the PDF/A identification (XMP metadata) is visible to FIDO.
    data = HTML(string=html).write_pdf(pdf_variant="pdf/a-2b", uncompressed_pdf=True)
    rule = RetentionRule.objects.get(code="deliberations")
    services.deposit(
        actor,
        commune,
        services.DepositInput(
            "Délibération n°2025-01 — budget primitif 2025", rule.label, date(2025, 3, 14),
            "Le conseil municipal", rule, "deliberation-2025-01.pdf", bytes(data),
            "démonstration",
        ),
    )  # fmt: skip


DEMO_HOOKS.append(demo_archive)
