"""The register of public algorithms (code des relations entre le public et
l'administration, art. L312-1-3 and R311-3-1-2): for each model the platform runs, its
purpose, data, logic, parameters and limits, read from the model card each app keeps
next to its code (`<app>/modelcard.py`), so that the register cannot drift from it."""

from __future__ import annotations

import importlib
from typing import Any

# The apps that run a model, each with its `modelcard.model_cards()`.
CARD_MODULES = (
    "clocher.forecast.modelcard",
    "clocher.energy.modelcard",
    "clocher.awareness.modelcard",
    "clocher.shield.modelcard",
)
# What every card says, with its French heading.
SECTIONS = {
    "finalite": "Finalité",
    "donnees": "Données utilisées",
    "logique": "Logique de traitement",
    "parametres": "Paramètres",
    "limites": "Limites",
}


def cards() -> list[dict[str, Any]]:
    """Every card, in register order; a card missing a section is a bug, said by name."""
    out: list[dict[str, Any]] = []
    for module in CARD_MODULES:
        for card in importlib.import_module(module).model_cards():
            missing = [k for k in ("nom", "service", *SECTIONS) if not card.get(k)]
            if missing:
                raise ValueError(f"fiche de {module} incomplète : {', '.join(missing)}")
            out.append(card)
    return out


def as_text(card: dict[str, Any]) -> str:
    """One card in plain French, as the console and the page show it."""
    lines = [f"{card['nom']} ({card['version']})"]
    for key, heading in SECTIONS.items():
        value = card[key]
        if isinstance(value, dict):
            value = "; ".join(f"{k} : {v}" for k, v in value.items())
        elif isinstance(value, list):
            value = " ".join(value)
        lines.append(f"  {heading} : {value}")
    return "\n".join(lines)
