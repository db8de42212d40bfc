"""Inline SVG charts for the HTML report: plain strings, no JavaScript, no network.

Each function returns one ``<svg>`` element sized by its ``viewBox`` (it scales with the
page) with a ``<title>`` for screen readers and tooltips on bars and points. Labels are
escaped; numbers are formatted compactly (``1.2k``, ``3.4 s``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

__all__ = ["DASH", "bar_chart", "compact", "hbar_chart", "line_chart", "stacked_bars"]

WIDTH, HEIGHT = 720, 220
_PAD_LEFT, _PAD_RIGHT, _PAD_TOP, _PAD_BOTTOM = 56, 16, 16, 40
DASH = "\u2013"  # an en dash: "no value"
COLORS = ("#3b6fd8", "#e4572e", "#2a9d8f", "#f4a261", "#8e6cc4", "#6c757d")


def compact(value: float | None, unit: str = "") -> str:
    """``1234`` -> ``1.2k``; milliseconds over a second read as seconds."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return DASH
    if unit == "ms" and abs(value) >= 1000:
        return f"{value / 1000:.3g} s"
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}{(' ' + unit) if unit else ''}"
    text = f"{value:.3g}" if not float(value).is_integer() else f"{int(value)}"
    return f"{text}{(' ' + unit) if unit else ''}"


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        top = step * 10 ** exponent
        if top >= value:
            return top
    return 10 ** (exponent + 1)


def _frame(title: str, y_max: float, unit: str, body: list[str], x_labels: list[str],
           x_positions: list[float], klass: str) -> str:
    plot_h = HEIGHT - _PAD_TOP - _PAD_BOTTOM
    out = [f'<svg class="chart {klass}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
           f'aria-label="{escape(title)}">',
           f"<title>{escape(title)}</title>"]
    for i in range(5):
        value = y_max * i / 4
        y = _PAD_TOP + plot_h - plot_h * i / 4
        out.append(f'<line class="grid" x1="{_PAD_LEFT}" x2="{WIDTH - _PAD_RIGHT}" '
                   f'y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text class="axis" x="{_PAD_LEFT - 6}" y="{y + 4:.1f}" '
                   f'text-anchor="end">{escape(compact(value, unit))}</text>')
    out.extend(body)
    step = max(1, math.ceil(len(x_labels) / 8))
    for i in range(0, len(x_labels), step):
        out.append(f'<text class="axis" x="{x_positions[i]:.1f}" y="{HEIGHT - 14}" '
                   f'text-anchor="middle">{escape(x_labels[i])}</text>')
    out.append("</svg>")
    return "".join(out)


def bar_chart(title: str, labels: Sequence[str], values: Sequence[float], *,
              unit: str = "", color: str = COLORS[0], klass: str = "bars") -> str:
    """Vertical bars, one per label (e.g. a histogram)."""
    n = max(1, len(values))
    plot_w = WIDTH - _PAD_LEFT - _PAD_RIGHT
    plot_h = HEIGHT - _PAD_TOP - _PAD_BOTTOM
    y_max = _nice_max(max((v or 0 for v in values), default=0))
    width = plot_w / n
    body, centers = [], []
    for i, value in enumerate(values):
        h = plot_h * (value or 0) / y_max
        x = _PAD_LEFT + i * width
        centers.append(x + width / 2)
        body.append(f'<rect class="bar" x="{x + 1:.1f}" y="{_PAD_TOP + plot_h - h:.1f}" '
                    f'width="{max(width - 2, 1):.1f}" height="{h:.1f}" fill="{color}">'
                    f"<title>{escape(labels[i])}: {escape(compact(value, unit))}</title>"
                    "</rect>")
    return _frame(title, y_max, unit, body, list(labels), centers, klass)


def stacked_bars(title: str, labels: Sequence[str], series: Sequence[tuple[str,
                 Sequence[float]]], *, unit: str = "", klass: str = "stacked") -> str:
    """Bars stacked from several series (e.g. OK and ERROR traces per hour)."""
    n = max(1, len(labels))
    plot_w = WIDTH - _PAD_LEFT - _PAD_RIGHT
    plot_h = HEIGHT - _PAD_TOP - _PAD_BOTTOM
    totals = [sum((s[1][i] or 0) for s in series) for i in range(len(labels))]
    y_max = _nice_max(max(totals, default=0))
    width = plot_w / n
    body, centers = [], []
    for i, label in enumerate(labels):
        x = _PAD_LEFT + i * width
        centers.append(x + width / 2)
        base = 0.0
        for k, (name, values) in enumerate(series):
            value = values[i] or 0
            h = plot_h * value / y_max
            y = _PAD_TOP + plot_h - plot_h * base / y_max - h
            body.append(f'<rect class="bar" x="{x + 0.5:.1f}" y="{y:.1f}" '
                        f'width="{max(width - 1, 0.5):.1f}" height="{h:.1f}" '
                        f'fill="{COLORS[k % len(COLORS)]}"><title>{escape(label)} '
                        f"{escape(name)}: {escape(compact(value, unit))}</title></rect>")
            base += value
    body.append(_legend([name for name, _ in series]))
    return _frame(title, y_max, unit, body, list(labels), centers, klass)


def line_chart(title: str, labels: Sequence[str], series: Sequence[tuple[str,
               Sequence[float | None]]], *, unit: str = "", klass: str = "lines") -> str:
    """One polyline per series; gaps (None) break the line."""
    n = len(labels)
    plot_w = WIDTH - _PAD_LEFT - _PAD_RIGHT
    plot_h = HEIGHT - _PAD_TOP - _PAD_BOTTOM
    y_max = _nice_max(max((v for _, values in series for v in values if v is not None),
                          default=0))

    def x_of(i: int) -> float:
        return _PAD_LEFT + (plot_w * (i + 0.5) / n if n else 0)

    body = []
    for k, (name, values) in enumerate(series):
        color = COLORS[k % len(COLORS)]
        segment: list[str] = []
        for i, value in enumerate([*values, None]):
            if value is None:
                if len(segment) > 1:
                    body.append(f'<polyline class="line" fill="none" stroke="{color}" '
                                f'points="{" ".join(segment)}"/>')
                segment = []
                continue
            y = _PAD_TOP + plot_h - plot_h * value / y_max
            segment.append(f"{x_of(i):.1f},{y:.1f}")
            body.append(f'<circle class="point" cx="{x_of(i):.1f}" cy="{y:.1f}" r="2.5" '
                        f'fill="{color}"><title>{escape(labels[i])} {escape(name)}: '
                        f"{escape(compact(value, unit))}</title></circle>")
    body.append(_legend([name for name, _ in series]))
    return _frame(title, y_max, unit, body, list(labels), [x_of(i) for i in range(n)], klass)


def hbar_chart(title: str, labels: Sequence[str], values: Sequence[float], *,
               unit: str = "", notes: Sequence[str] | None = None,
               klass: str = "hbars") -> str:
    """Horizontal bars with their label on the left (e.g. time by span type)."""
    row_h, label_w = 26, 190
    height = _PAD_TOP + row_h * max(1, len(values)) + 8
    plot_w = WIDTH - label_w - 110
    top = _nice_max(max((v or 0 for v in values), default=0))
    out = [f'<svg class="chart {klass}" viewBox="0 0 {WIDTH} {height}" role="img" '
           f'aria-label="{escape(title)}">',
           f"<title>{escape(title)}</title>"]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = _PAD_TOP + i * row_h
        w = plot_w * (value or 0) / top
        note = notes[i] if notes else compact(value, unit)
        out.append(f'<text class="label" x="{label_w - 8}" y="{y + 15}" text-anchor="end">'
                   f"{escape(label[:28])}</text>")
        out.append(f'<rect class="bar" x="{label_w}" y="{y + 3}" width="{w:.1f}" '
                   f'height="{row_h - 8}" fill="{COLORS[i % len(COLORS)]}"><title>'
                   f"{escape(label)}: {escape(note)}</title></rect>")
        out.append(f'<text class="value" x="{label_w + w + 6:.1f}" y="{y + 15}">'
                   f"{escape(note)}</text>")
    out.append("</svg>")
    return "".join(out)


def _legend(names: Sequence[str]) -> str:
    parts = []
    x = _PAD_LEFT
    for k, name in enumerate(names):
        parts.append(f'<rect x="{x}" y="2" width="10" height="10" '
                     f'fill="{COLORS[k % len(COLORS)]}"/>'
                     f'<text class="legend" x="{x + 14}" y="11">{escape(name)}</text>')
        x += 14 + 7 * len(name) + 18
    return "".join(parts)
