"""How the archive plugs into the platform: the operator tile, the daily scheduler in
`clocher serve`, and the departure export (archives leave with the commune's copy)."""

from __future__ import annotations

import json
import sys
import zipfile

from django.db.models import Sum
from django.template.defaultfilters import filesizeformat
from django.urls import reverse

from clocher.archive import tsa
from clocher.archive.models import ArchivedObject, EliminationProposal, ObjectState
from clocher.core import supervisor, tiles
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
