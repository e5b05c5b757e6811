"""Validation of French administrative identifiers (INSEE commune code, SIREN)."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

INSEE_RE = re.compile(r"^(?:\d{5}|2[AB]\d{3})$")


def normalise_insee(value: str) -> str:
    return (value or "").strip().upper()


def validate_insee_format(value: str) -> None:
    """5 characters: 5 digits, or 2A/2B followed by 3 digits for Corsica."""
    if not INSEE_RE.match(value or ""):
        raise ValidationError(
            "Code INSEE invalide « %(value)s » : 5 chiffres attendus "
            "(2A ou 2B + 3 chiffres en Corse).",
            code="insee_format",
            params={"value": value},
        )
    if value.startswith("20"):
        raise ValidationError(
            "Code INSEE invalide « %(value)s » : la Corse utilise 2A ou 2B, pas 20.",
            code="insee_format",
            params={"value": value},
        )


def luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        n = int(char)
        if index % 2 == 1:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def normalise_siren(value: str) -> str:
    return re.sub(r"[\s.]", "", value or "")


def validate_siren(value: str) -> None:
    """9 digits whose Luhn checksum is right."""
    if not re.fullmatch(r"\d{9}", value or ""):
        raise ValidationError(
            "SIREN invalide « %(value)s » : 9 chiffres attendus.",
            code="siren_format",
            params={"value": value},
        )
    if not luhn_ok(value):
        raise ValidationError(
            "SIREN invalide « %(value)s » : la clé de contrôle (Luhn) ne correspond pas.",
            code="siren_checksum",
            params={"value": value},
        )
