"""The shield's detection card, for the register of public algorithms: which traffic is
blocked automatically, on what rule, and how a blocked address gets out."""

from __future__ import annotations

from typing import Any

from django.conf import settings


def model_cards() -> list[dict[str, Any]]:
    failures = settings.SHIELD_BRUTEFORCE_FAILURES
    window = settings.SHIELD_BRUTEFORCE_WINDOW_MINUTES
    return [
        {
            "nom": "Détection des intrusions (bouclier)",
            "service": "shield",
            "version": "clocher.shield / clocher-box",
            "finalite": "Bloquer automatiquement les attaques contre les services du "
            "département et les réseaux des mairies (force brute, balayage de ports, "
            "listes de blocage).",
            "donnees": "Adresses IP sources, tentatives de connexion échouées, ports visés, "
            "pays d'origine ; pas le contenu des échanges.",
            "logique": f"Une adresse qui échoue {failures} fois en {window} minutes à se "
            "connecter (web, IMAP, SMTP) est bloquée pour tous les boîtiers ; chaque "
            "boîtier bloque aussi les balayages de ports et les adresses des listes de "
            "blocage ; les pays refusés par la commune sont bloqués.",
            "parametres": {
                "échecs avant blocage": failures,
                "fenêtre (minutes)": window,
            },
            "limites": [
                "Une adresse partagée (box familiale, opérateur mobile) peut être bloquée "
                "pour tous ses utilisateurs ; la liste d'autorisation de la commune l'empêche.",
                "Les blocages expirent ; l'opérateur peut lever un blocage à tout moment.",
            ],
        }
    ]
