"""Server-rendered SVG charts: no script, nothing loaded from elsewhere (CSP 'self')."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date


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


@dataclass
class Fan:
    """A fan chart's SVG geometry: the history line, the forecast line, one band per
    interval level (widest first, so the narrower one is drawn over it), earlier
    forecasts as lines over what happened, and labelled ticks. Coordinates are in an SVG
    of `width` × `height` whose plotting area leaves `MARGIN_LEFT` for the y labels."""

    width: float
    height: float
    history: str
    forecast: str
    bands: list[tuple[int, str]]
    past: list[tuple[str, str]]
    y_ticks: list[tuple[float, str]]
    x_ticks: list[tuple[float, str]]
    split_x: float
    plot_left: float
    plot_bottom: float


FAN_MARGIN_LEFT = 64.0
FAN_MARGIN_BOTTOM = 24.0
FAN_MARGIN_TOP = 8.0


def _number(value: float, step: float) -> str:
    """French number for a tick: thin space between thousands, decimal comma."""
    decimals = 0 if step >= 1 else min(3, len(f"{step:.3g}".split(".")[-1]))
    text = f"{value:,.{decimals}f}".replace(",", "\u202f").replace(".", ",")
    return text


def _nice_step(span: float, ticks: int) -> float:
    raw = span / max(ticks, 1)
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def fan(
    history: list[tuple[date, float]],
    forecast: list[tuple[date, float]],
    bands: dict[int, list[tuple[float, float]]],
    past: list[tuple[str, list[tuple[date, float]]]] | None = None,
    *,
    width: float = 640,
    height: float = 260,
) -> Fan:
    """Scale history, forecast, bands (lower, upper per forecast date) and earlier
    forecasts to one time axis and one value axis (from the lowest to the highest value
    shown, on round ticks)."""
    past = past or []
    days = [d for d, _ in history] + [d for d, _ in forecast]
    days += [d for _, line in past for d, _ in line]
    values = [v for _, v in history] + [v for _, v in forecast]
    values += [b for pairs in bands.values() for pair in pairs for b in pair]
    values += [v for _, line in past for _, v in line]
    first, last = min(days).toordinal(), max(days).toordinal()
    low, high = min(values), max(values)
    if high == low:
        high, low = high + 1, low - 1
    step = _nice_step(high - low, 4)
    low, high = math.floor(low / step) * step, math.ceil(high / step) * step
    plot_w = width - FAN_MARGIN_LEFT - 8
    plot_h = height - FAN_MARGIN_TOP - FAN_MARGIN_BOTTOM
    bottom = FAN_MARGIN_TOP + plot_h

    def x(day: date) -> float:
        return round(FAN_MARGIN_LEFT + (day.toordinal() - first) / max(last - first, 1) * plot_w, 1)

    def y(value: float) -> float:
        return round(bottom - (value - low) / (high - low) * plot_h, 1)

    def line(points: list[tuple[date, float]]) -> str:
        return " ".join(f"{x(d)},{y(v)}" for d, v in points)

    band_shapes = []
    for level in sorted(bands, reverse=True):
        pairs = bands[level]
        upper = [f"{x(d)},{y(hi)}" for (d, _), (_, hi) in zip(forecast, pairs, strict=True)]
        lower = [f"{x(d)},{y(lo)}" for (d, _), (lo, _) in zip(forecast, pairs, strict=True)]
        band_shapes.append((level, " ".join(upper + lower[::-1])))
    # The forecast line starts from the last known point, so the two lines join.
    joined = history[-1:] + forecast
    count = int(round((high - low) / step))
    y_ticks = [(y(low + k * step), _number(low + k * step, step)) for k in range(count + 1)]
    x_days = sorted({min(days), forecast[0][0] if forecast else max(days), max(days)})
    x_ticks = [(x(d), d.strftime("%m/%Y")) for d in x_days]
    return Fan(
        width,
        height,
        line(history),
        line(joined),
        band_shapes,
        [(label, line(points)) for label, points in past if points],
        y_ticks,
        x_ticks,
        x(forecast[0][0]) if forecast else x(max(days)),
        FAN_MARGIN_LEFT,
        bottom,
    )


@dataclass
class Plot:
    """A point or a vertex of a line in SVG coordinates, with the values it shows."""

    x: float
    y: float
    label: str = ""


@dataclass
class Axes:
    """A scaled plotting area: values → SVG coordinates (y grows downwards)."""

    x_min: float
    x_max: float
    y_min: float
    y_max: float
    width: float = 560
    height: float = 240
    margin: float = 40

    def point(self, x: float, y: float, label: str = "") -> Plot:
        span_x = (self.x_max - self.x_min) or 1
        span_y = (self.y_max - self.y_min) or 1
        inner_w, inner_h = self.width - 2 * self.margin, self.height - 2 * self.margin
        return Plot(
            round(self.margin + (x - self.x_min) / span_x * inner_w, 1),
            round(self.height - self.margin - (y - self.y_min) / span_y * inner_h, 1),
            label,
        )


def axes_for(
    xs: list[float],
    ys: list[float],
    width: float = 560,
    height: float = 240,
    margin: float = 40,
) -> Axes:
    """Axes covering the values (y from 0 when all are positive)."""
    x_min, x_max = (min(xs), max(xs)) if xs else (0.0, 1.0)
    y_min, y_max = (min(ys), max(ys)) if ys else (0.0, 1.0)
    return Axes(x_min, x_max, min(0.0, y_min), y_max * 1.05 or 1.0, width, height, margin)


def polyline(points: list[Plot]) -> str:
    """The `points` attribute of an SVG polyline."""
    return " ".join(f"{p.x},{p.y}" for p in points)


@dataclass
class Cell:
    x: float
    y: float
    fill: str
    label: str


def heat_cells(
    rows: list[str], columns: int, values: list[list[float | None]], cell: float = 8
) -> list[Cell]:
    """A heat map (one SVG rect per value), light to dark blue by value; None is grey."""
    finite = [v for row in values for v in row if v is not None]
    top = max(finite, default=0) or 1
    cells = []
    for r, (name, row) in enumerate(zip(rows, values, strict=True)):
        for c in range(columns):
            value = row[c]
            if value is None:
                fill = "#e5e5e5"
            else:
                light = int(245 - 245 * value / top)
                fill = f"#{light:02x}{light:02x}{int(255 - 110 * value / top):02x}"
            cells.append(
                Cell(
                    c * cell,
                    r * cell,
                    fill,
                    f"{name} {c} h : {value if value is not None else '—'}",
                )
            )
    return cells
