"""Bar charts as plain geometry (pure): the evaluation page draws them as inline SVG from these numbers.

A :class:`Chart` is categories (months) x series (triggers, outcomes ...) of values; a value is ``None`` when the
service suppressed it (a small cell). :func:`layout` places grouped bars in a fixed view box: a suppressed cell gets
no bar (it is not zero) but a marker reading ``<min_cell``; the y axis runs from 0 to a round maximum with 4-6 ticks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

WIDTH = 760
HEIGHT = 320
MARGIN_LEFT = 64
MARGIN_RIGHT = 16
MARGIN_TOP = 16
MARGIN_BOTTOM = 56
GROUP_GAP = 0.25  # share of a category's width left empty between groups
LABEL_WIDTH = 56  # room an x-axis label ("2026-11") needs; with narrower slots only every n-th is written

PALETTE = ("#0b5394", "#b45309", "#15803d", "#7e22ce", "#be123c", "#0f766e", "#4a5560", "#9a3412")
"""Series colours: each at least 3:1 against white (WCAG 2.1 non-text contrast) and apart in hue."""


@dataclass(frozen=True)
class Series:
    """One kind of bar (its key in the data, and its label in the legend)."""

    key: str
    label: str


@dataclass(frozen=True)
class Chart:
    """What one chart shows; ``values[(series key, category)]`` is a count, a measure or None (suppressed)."""

    key: str
    title: str
    description: str
    x_label: str
    y_label: str
    categories: tuple[str, ...]
    series: tuple[Series, ...]
    values: dict[tuple[str, str], float | None]
    min_cell: int
    unit: str = ""
    absent: str | None = None  # set: a cell the data lacks is not zero but this text (e.g. "none"), and not drawn

    def is_absent(self, series: str, category: str) -> bool:
        """Whether the data lacks this cell and that does not mean zero."""
        return self.absent is not None and (series, category) not in self.values

    def value(self, series: str, category: str) -> float | None:
        """The value of one cell (0 when the service listed nothing for it)."""
        return self.values.get((series, category), 0)

    def shown(self, series: str, category: str) -> str:
        """A cell as text: ``<5`` when suppressed, else the number (whole numbers without decimals)."""
        if self.is_absent(series, category):
            return self.absent or ""
        value = self.value(series, category)
        return f"<{self.min_cell}" if value is None else number(value)

    @property
    def suppressed(self) -> int:
        """How many cells are suppressed."""
        return sum(1 for s in self.series for c in self.categories if self.value(s.key, c) is None)

    @property
    def empty(self) -> bool:
        """Nothing to draw: no category, no series, or every cell zero."""
        cells = [self.value(s.key, c) for s in self.series for c in self.categories if not self.is_absent(s.key, c)]
        return not cells or all(v == 0 for v in cells)


def number(value: float) -> str:
    """``12`` for 12.0, ``12.5`` for 12.5."""
    return f"{value:g}" if value == int(value) else f"{value:.1f}"


@dataclass(frozen=True)
class Bar:
    """One drawn bar (SVG user units; y grows downwards)."""

    x: float
    y: float
    width: float
    height: float
    colour: str
    series: str
    category: str
    text: str  # what the bar says, e.g. "2026-11, support given: 7"


@dataclass(frozen=True)
class Marker:
    """A suppressed cell: text at the bar's place on the baseline instead of a bar."""

    x: float
    y: float
    text: str
    label: str
    size: float  # font size that fits the bar's width


@dataclass(frozen=True)
class Tick:
    """A y-axis tick: its height and label."""

    y: float
    label: str


@dataclass(frozen=True)
class Label:
    """An x-axis label under its category."""

    x: float
    text: str


@dataclass(frozen=True)
class Geometry:
    """Everything the SVG template draws."""

    width: int
    height: int
    left: float
    top: float
    right: float
    bottom: float
    bars: list[Bar] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    colours: dict[str, str] = field(default_factory=dict)


def nice_scale(top: float) -> tuple[float, float]:
    """A round axis maximum at or above ``top`` and its tick step (1, 2 or 5 times a power of ten; 4-6 ticks)."""
    if top <= 0:
        return 1.0, 1.0
    raw = top / 5
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    if top < 5 and step < 1 and float(top).is_integer():
        step = 1.0  # counts: whole-number ticks
    return math.ceil(top / step) * step, step


def layout(chart: Chart, width: int = WIDTH, height: int = HEIGHT) -> Geometry:
    """Grouped bars: one group per category, one bar per series, on a 0-based linear y axis."""
    left, top = float(MARGIN_LEFT), float(MARGIN_TOP)
    right, bottom = float(width - MARGIN_RIGHT), float(height - MARGIN_BOTTOM)
    colours = {s.key: PALETTE[i % len(PALETTE)] for i, s in enumerate(chart.series)}
    geo = Geometry(width, height, left, top, right, bottom, colours=colours)
    if not chart.categories or not chart.series:
        return geo
    cells = [chart.value(s.key, c) for s in chart.series for c in chart.categories if not chart.is_absent(s.key, c)]
    shown = [v for v in cells if v is not None]
    y_max, step = nice_scale(max(shown, default=0.0))
    scale = (bottom - top) / y_max
    ticks = round(y_max / step)
    geo.ticks.extend(Tick(bottom - i * step * scale, number(i * step)) for i in range(ticks + 1))
    slot = (right - left) / len(chart.categories)
    bar_w = slot * (1 - GROUP_GAP) / len(chart.series)
    every = max(1, math.ceil(LABEL_WIDTH / slot))
    marker_size = round(min(12.0, max(7.0, bar_w * 0.8)), 1)
    for ci, category in enumerate(chart.categories):
        start = left + ci * slot + slot * GROUP_GAP / 2
        if ci % every == 0:
            geo.labels.append(Label(left + (ci + 0.5) * slot, category))
        for si, s in enumerate(chart.series):
            x = start + si * bar_w
            if chart.is_absent(s.key, category):
                continue
            value = chart.value(s.key, category)
            label = f"{category}, {s.label}: {chart.shown(s.key, category)}{chart.unit if value is not None else ''}"
            if value is None:
                text = f"<{chart.min_cell}"
                geo.markers.append(Marker(x + bar_w / 2, bottom - 4, text, label + " (suppressed)", marker_size))
                continue
            h = value * scale
            geo.bars.append(Bar(x, bottom - h, bar_w, h, colours[s.key], s.key, category, label))
    return geo
