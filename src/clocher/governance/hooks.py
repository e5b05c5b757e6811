"""How governance plugs into the platform: its operator-console tile. It shows what the
settings and the code say (durations, algorithms), so the console pays no query for it;
the sobriety figures are on the governance page."""

from __future__ import annotations

from clocher.core import tiles


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
