"""Server-rendered SVG charts: no script, nothing loaded from elsewhere (CSP 'self')."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Bar:
    label: str
    value: int
    y: float = 0
    width: float = 0


def bars(items: list[tuple[str, int]], max_width: float = 300) -> list[Bar]:
    """Horizontal bars scaled to the largest value, with their vertical position."""
    top = max((value for _, value in items), default=0) or 1
    return [
        Bar(label, value, y=index * 28, width=round(value / top * max_width, 1))
        for index, (label, value) in enumerate(items)
    ]
