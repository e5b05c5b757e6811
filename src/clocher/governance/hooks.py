"""How governance plugs into the platform: its operator-console tile."""

from __future__ import annotations

from django.template.defaultfilters import filesizeformat

from clocher.core import tiles


@tiles.register("governance")
def governance_tile() -> tiles.Tile:
    from django.urls import reverse

    from clocher.governance import sobriety

    total = sobriety.figures().total
    return tiles.Tile(
        "governance",
        "Gouvernance des données",
        [
            tiles.Figure("Stocké après déduplication", filesizeformat(total.stored_bytes)),
            tiles.Figure("Gagné par la déduplication", filesizeformat(total.dedup_saved_bytes)),
            tiles.Figure("Énergie du stockage", f"{total.storage_kwh_per_year:.1f} kWh/an"),
        ],
        url=reverse("governance:operator"),
    )
