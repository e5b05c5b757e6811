"""The energy models' cards, for the register of public algorithms: the weather-normalised
baseline (CalTRACK, checked by ASHRAE Guideline 14) and the drift detector. Built from
the engine's constants, so that the register says what the code does."""

from __future__ import annotations

from typing import Any

from clocher.energy.engine import baseline, drifts, hourly
from clocher.energy.services.baselines import MIN_BASELINE_DAYS


def model_cards() -> list[dict[str, Any]]:
    monthly, daily = baseline.G14_LIMITS["monthly"], baseline.G14_LIMITS["daily"]
    low, high = baseline.CALTRACK_RANGE_C
    return [
        {
            "nom": "Référence de consommation des bâtiments corrigée du climat",
            "service": "energy",
            "version": "CalTRACK 2 journalier et horaire / ASHRAE G14",
            "finalite": "Mesurer les économies d'énergie d'un bâtiment public et suivre la "
            "trajectoire du décret tertiaire, à climat comparable.",
            "donnees": "Relevés des compteurs des bâtiments communaux (kWh), températures "
            "Météo-France de la station la plus proche ; aucune donnée personnelle.",
            "logique": "Un compteur dont la courbe de charge couvre au moins "
            f"{MIN_BASELINE_DAYS} jours des 12 mois reçoit le modèle horaire, les autres le "
            "journalier. Journalier : régression linéaire de la consommation journalière sur "
            "les degrés-jours de chauffage et de climatisation, points d'équilibre cherchés "
            f"entre {low:.1f} °C et {high:.1f} °C ; le modèle de meilleur R² ajusté aux "
            "pentes positives est retenu. Horaire : un modèle par mois, ajusté sur le mois "
            f"(poids 1) et ses deux voisins (poids {hourly.NEIGHBOUR_WEIGHT:g}) ; une "
            "consommation par heure de la semaine, chaque heure dite occupée quand elle "
            f"dépasse un modèle simple plus de {hourly.OCCUPANCY_SHARE:.0%} du temps, et une "
            "réponse à la température par tranche, distincte pour les heures occupées et "
            "inoccupées. Chaque modèle est jugé selon ASHRAE Guideline 14.",
            "parametres": {
                "seuil G14 mensuel (CV(RMSE), |NMBE|)": list(monthly),
                "seuil G14 journalier (CV(RMSE), |NMBE|)": list(daily),
                "seuil G14 horaire (CV(RMSE), |NMBE|)": list(baseline.G14_LIMITS["hourly"]),
                "tranches de température horaires (°C)": [round(e, 1) for e in hourly.BIN_EDGES_C],
                "heures minimum par tranche (sinon fusionnée)": hourly.MIN_BIN_HOURS,
                "degrés-jours minimum pour essayer une pente": baseline.MIN_DEGREE_DAYS,
                "jours non nuls minimum": baseline.MIN_NONZERO_DAYS,
            },
            "limites": [
                "Un changement d'usage (horaires, occupation) n'est pas un effet du climat : "
                "il apparaît comme économie ou dérive.",
                "Un modèle qui ne passe pas G14 est affiché comme tel et ne sert pas à chiffrer "
                "des économies.",
                "Météo-France ne publie ici que des températures journalières : la température "
                "horaire du modèle horaire est interpolée entre le minimum (6 h) et le maximum "
                "(15 h) du jour.",
            ],
        },
        {
            "nom": "Détection des dérives de consommation",
            "service": "energy",
            "version": "clocher.energy",
            "finalite": "Prévenir la commune d'une consommation anormale (talon qui monte, "
            "chauffage oublié) chaque semaine.",
            "donnees": "Courbes de charge des compteurs, températures ; aucune donnée personnelle.",
            "logique": "Le talon de chaque jour récent est comparé aux jours antérieurs de "
            f"même température (± {drifts.SAME_TEMP_C:g} °C, au moins {drifts.SAME_TEMP_MIN} "
            f"jours), sinon à une droite des degrés-jours base {drifts.BASE_C:g} °C.",
            "parametres": {
                "écart de température comparable (°C)": drifts.SAME_TEMP_C,
                "jours comparables minimum": drifts.SAME_TEMP_MIN,
                "base des degrés-jours (°C)": drifts.BASE_C,
            },
            "limites": [
                "Une alerte est un signal à vérifier sur place, pas un constat.",
            ],
        },
    ]
