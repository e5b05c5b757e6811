"""The forecast engine's model card, for the register of public algorithms (CRPA art.
L312-1-3): what it is for, what it reads, how it decides and where it stops. Built from
the engine's own candidates and constants, so that the register follows the code; each
stored forecast keeps its own run card (`ForecastResult.card()`)."""

from __future__ import annotations

from typing import Any

from clocher.forecast.engine.backtest import DEFAULT_ORIGINS, ENGINE_VERSION, MIN_TRAIN
from clocher.forecast.engine.models import CANDIDATES, MAX_STATS_SEASON


def model_cards() -> list[dict[str, Any]]:
    return [
        {
            "nom": "Prévisions des séries municipales",
            "service": "forecast",
            "version": f"clocher.forecast {ENGINE_VERSION}",
            "finalite": "Aider à planifier (fréquentation, consommations, recettes, effectifs) "
            "par une prévision avec ses intervalles ; aucune décision individuelle n'en découle.",
            "donnees": "Une série chiffrée que la commune fournit (date, valeur), agrégée : "
            "aucune donnée personnelle ; le calendrier des jours fériés et des vacances.",
            "logique": "Plusieurs modèles sont essayés sur le passé récent (validation croisée "
            "à origine glissante) ; celui de plus petite erreur moyenne (MASE) est retenu. "
            "Modèles : "
            + " ; ".join(f"{c.label} : {c.description}" for c in CANDIDATES.values())
            + ".",
            "parametres": {
                "origines de validation": DEFAULT_ORIGINS,
                "points minimum pour ajuster un modèle": MIN_TRAIN,
                "saison la plus longue des modèles statistiques": MAX_STATS_SEASON,
                "critère de choix": "MASE moyenne la plus petite",
            },
            "limites": [
                "Une prévision prolonge le passé : une rupture n'est pas prévue tant qu'elle "
                "n'est pas dans les données.",
                "Les scores sont mesurés sur peu de périodes : un ordre de grandeur, pas une "
                "garantie.",
                "Chaque prévision enregistrée garde sa propre fiche (données, modèle retenu, "
                "scores, temps de calcul).",
            ],
        }
    ]
