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


@dataclass
class Column:
    series: str
    label: str
    value: int
    x: float
    y: float
    height: float


def columns(
    labels: list[str], series: dict[str, list[int]], height: float = 140, width: float = 600
) -> list[Column]:
    """Grouped vertical columns (one group per label, one column per series), scaled to the
    largest value; y is the column's top in an SVG whose baseline is at `height`."""
    top = max((v for values in series.values() for v in values), default=0) or 1
    group = width / max(len(labels), 1)
    step = group / (len(series) + 1)
    result = []
    for index, label in enumerate(labels):
        for rank, (name, values) in enumerate(series.items()):
            size = round(values[index] / top * height, 1)
            result.append(
                Column(
                    name,
                    label,
                    values[index],
                    round(index * group + rank * step, 1),
                    round(height - size, 1),
                    size,
                )
            )
    return result
