"""The energy models' cards, for the register of public algorithms: the weather-normalised
baseline (CalTRACK, checked by ASHRAE Guideline 14) and the drift detector. Built from
the engine's constants, so that the register says what the code does."""

from __future__ import annotations

from typing import Any

from clocher.energy.engine import baseline, drifts


def model_cards() -> list[dict[str, Any]]:
    monthly, daily = baseline.G14_LIMITS["monthly"], baseline.G14_LIMITS["daily"]
    low, high = baseline.CALTRACK_RANGE_C
    return [
        {
            "nom": "Référence de consommation des bâtiments corrigée du climat",
            "service": "energy",
            "version": "CalTRACK 2 / ASHRAE G14",
            "finalite": "Mesurer les économies d'énergie d'un bâtiment public et suivre la "
            "trajectoire du décret tertiaire, à climat comparable.",
            "donnees": "Relevés des compteurs des bâtiments communaux (kWh), températures "
            "Météo-France de la station la plus proche ; aucune donnée personnelle.",
            "logique": "Régression linéaire de la consommation journalière sur les degrés-jours "
            "de chauffage et de climatisation, points d'équilibre cherchés entre "
            f"{low:.1f} °C et {high:.1f} °C ; le modèle de meilleur R² ajusté aux pentes "
            "positives est retenu, puis jugé selon ASHRAE Guideline 14.",
            "parametres": {
                "seuil G14 mensuel (CV(RMSE), |NMBE|)": list(monthly),
                "seuil G14 journalier (CV(RMSE), |NMBE|)": list(daily),
                "degrés-jours minimum pour essayer une pente": baseline.MIN_DEGREE_DAYS,
                "jours non nuls minimum": baseline.MIN_NONZERO_DAYS,
            },
            "limites": [
                "Un changement d'usage (horaires, occupation) n'est pas un effet du climat : "
                "il apparaît comme économie ou dérive.",
                "Un modèle qui ne passe pas G14 est affiché comme tel et ne sert pas à chiffrer "
                "des économies.",
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
