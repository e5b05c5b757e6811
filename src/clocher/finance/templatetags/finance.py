"""French figures for the debt pages: euros, percentages, years."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django import template

register = template.Library()


def _group(text: str) -> str:
    return text.replace(",", "\u202f").replace(".", ",")


@register.filter
def euros(value: Any, decimals: int = 0) -> str:
    """1234567.891 → « 1 234 568 € » (cents with `|euros:2`)."""
    if value is None or value == "":
        return "—"
    amount = Decimal(str(value)).quantize(Decimal(1).scaleb(-int(decimals)), ROUND_HALF_UP)
    return _group(f"{amount:,.{int(decimals)}f}") + "\u00a0€"


@register.filter
def pct(value: Any, decimals: int = 2) -> str:
    """0.0325 → « 3,25 % »."""
    if value is None or value == "":
        return "—"
    return _group(f"{Decimal(str(value)) * 100:.{int(decimals)}f}") + "\u00a0%"


@register.filter
def years(value: Any) -> str:
    if value is None or value == "":
        return "—"
    return _group(f"{Decimal(str(value)):.1f}") + "\u00a0an(s)"
