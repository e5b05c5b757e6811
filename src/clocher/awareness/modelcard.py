"""The card of the awareness adaptation (Glicko-2), for the register of public algorithms:
it rates agents, so the register must say plainly what it does and what it never does."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from clocher.awareness import rating, services


def model_cards() -> list[dict[str, Any]]:
    scores = {str(k.label): v for k, v in services.SCORES.items()}
    return [
        {
            "nom": "Adaptation des exercices d'hameçonnage (Glicko-2)",
            "service": "awareness",
            "version": "Glicko-2 (Glickman, 2012)",
            "finalite": "Envoyer à chaque agent un exercice à sa mesure, ni trop facile ni "
            "trop difficile, pour qu'il apprenne à reconnaître l'hameçonnage ; jamais pour "
            "évaluer ou sanctionner un agent.",
            "donnees": "Réactions de l'agent aux exercices (signalé, ignoré, cliqué, saisi), "
            "niveau des modèles de message.",
            "logique": "Chaque exercice est une partie entre l'agent et le modèle de message ; "
            "après chaque campagne les deux cotes sont mises à jour (Glicko-2). L'agent "
            f"reçoit le modèle qu'il a {services.EDGE:.0%} de chances de déjouer, au hasard "
            "entre les ex aequo.",
            "parametres": {
                "cote de départ": rating.Rating().rating,
                "incertitude de départ": rating.Rating().deviation,
                "tau (variation de la volatilité)": rating.TAU,
                "score de chaque réaction": scores,
                "conservation des résultats (jours)": settings.RETENTION_AWARENESS_DAYS,
            },
            "limites": [
                "Les résultats individuels ne sont jamais montrés à l'employeur ; les taux "
                "de la commune sont masqués sous un effectif minimum.",
                "Une cote dit comment se passent les exercices, pas la compétence d'une personne.",
            ],
        }
    ]
