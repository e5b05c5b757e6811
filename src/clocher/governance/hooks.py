"""How governance plugs into the platform: its operator-console tile (what the settings
and the code say, durations and algorithms, so the console pays no query for it; the
sobriety figures are on the governance page) and the register in a departure's export."""

from __future__ import annotations

import zipfile

from clocher.core import tiles
from clocher.core.models import Commune
from clocher.onboarding.services import register_exporter


@register_exporter("gouvernance")
def export_register(commune: Commune, archive: zipfile.ZipFile) -> None:
    """The commune leaves with its register of processing activities, as it stood."""
    from clocher.governance import register

    archive.writestr("gouvernance/registre-traitements.ods", register.to_ods(commune))


@tiles.register("governance")
def governance_tile() -> tiles.Tile:
    from django.urls import reverse

    from clocher.governance import algorithms, retention

    durations = {c.key: c.days for c in retention.CLASSES}
    return tiles.Tile(
        "governance",
        "Gouvernance des données",
        [
            tiles.Figure("Algorithmes publics décrits", str(len(algorithms.cards()))),
            tiles.Figure("Journaux de connexion gardés", f"{durations['journaux']} jours"),
            tiles.Figure("Boîtes des agents partis", f"{durations['messagerie_partis']} jours"),
        ],
        url=reverse("governance:operator"),
    )
