"""Names of files and folders, and the errors every part of the vault raises."""

from __future__ import annotations

import re
import unicodedata

from django.core.exceptions import ValidationError

WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {
    f"{p}{i}" for p in ("COM", "LPT") for i in range(1, 10)
}
BIDI_CONTROLS = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F)}
# One search each (every upload's name passes here: a test a character cost more).
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_BIDI = re.compile("[" + "".join(sorted(BIDI_CONTROLS)) + "]")


class QuotaExceeded(ValidationError):
    pass


class NameConflict(ValidationError):
    pass


def clean_name(name: str) -> str:
    """A file or folder name as stored: NFC, and refused with a reason when it could
    escape its folder, confuse a reader or break a Windows client."""
    name = unicodedata.normalize("NFC", name or "")
    if name in ("", ".", ".."):
        raise ValidationError("Nom vide ou réservé (« . », « .. »).")
    if "/" in name or "\\" in name:
        raise ValidationError(f"Le nom « {name} » contient une barre oblique.")
    if _CONTROL.search(name):
        raise ValidationError("Le nom contient un caractère de contrôle.")
    if _BIDI.search(name):
        raise ValidationError(
            "Le nom contient un caractère qui inverse le sens du texte (il peut déguiser "
            "une extension, par exemple « facture‮fdp.exe »)."
        )
    if len(name.encode("utf-8")) > 255:
        raise ValidationError("Nom trop long : 255 octets au plus.")
    if name != name.rstrip(". "):
        raise ValidationError("Un nom ne peut pas finir par un point ou une espace (Windows).")
    if name.split(".", 1)[0].upper() in WINDOWS_RESERVED:
        raise ValidationError(f"« {name} » est un nom réservé par Windows.")
    return name
