"""Charts as server-rendered SVG: no script, no third-party file, printable. Every text that
goes into the markup (labels, series names, values) is escaped here, so a team or reason
name can never become markup.

- `line_chart(labels, series)`: one line per series over the labels (days or weeks),
  gaps where a value is missing;
- `column_chart(labels, series)`: grouped columns per label (counts per day);
- `bar_chart(items)`: horizontal bars with their values (a breakdown).

Each returns a `SafeString` holding one `<svg role="img">` with a `<title>`, and every mark
has a `<title>` with its exact value; pages show the figures in a table beside it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PALETTE = ("#1f6feb", "#1a7f37", "#b7791f", "#c62828", "#8250df", "#0a7ea4", "#6e7781")
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


def _number(value: float) -> str:
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.1f}"


def _short(label: str, limit: int = 40) -> str:
    """A label that fits beside its bar (the full one is in the bar's tooltip)."""
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _nice_max(value: float) -> float:
    """A round axis maximum at or above `value` (1, 2, 2.5, 5 × a power of ten)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _svg(width: int, height: int, title: str, body: list[str]) -> SafeString:
    head = (f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
            f'width="100%" role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>')
    return mark_safe(head + "".join(body) + "</svg>")  # noqa: S308 - every text above is escaped


def _legend(names: Sequence[str], x: int, y: int) -> list[str]:
    parts, offset = [], 0
    for index, name in enumerate(names):
        color = PALETTE[index % len(PALETTE)]
        parts.append(f'<rect x="{x + offset}" y="{y - 9}" width="10" height="10" fill="{color}"/>'
                     f'<text x="{x + offset + 14}" y="{y}" {FONT}>{escape(name)}</text>')
        offset += 24 + 7 * len(name)
    return parts


def _axes(width: int, height: int, left: int, top: int, bottom: int, top_value: float, unit: str) -> list[str]:
    parts = []
    plot_h = height - top - bottom
    for tick in range(5):
        value = top_value * tick / 4
        y = top + plot_h - plot_h * tick / 4
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e2e5ea"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" {FONT} fill="#667085">'
                     f'{escape(_number(value))}{escape(unit)}</text>')
    return parts


def _x_labels(labels: Sequence[str], xs: list[float], baseline: float) -> list[str]:
    every = max(1, math.ceil(len(labels) / 12))
    return [
        f'<text x="{x:.1f}" y="{baseline + 14:.1f}" text-anchor="middle" {FONT} fill="#667085">{escape(label)}</text>'
        for index, (label, x) in enumerate(zip(labels, xs, strict=True)) if index % every == 0
    ]


def line_chart(labels: Sequence[str], series: dict[str, Sequence[float | None]], *, title: str,
               unit: str = "", width: int = 640, height: int = 220) -> SafeString:
    left, top, bottom = 56, 24, 28
    values = [v for points in series.values() for v in points if v is not None]
    top_value = _nice_max(max(values, default=0.0))
    plot_w, plot_h = width - left - 10, height - top - bottom
    count = max(len(labels), 1)
    xs = [left + (plot_w * (i + 0.5) / count) for i in range(len(labels))]
    body = _axes(width, height, left, top, bottom, top_value, unit)
    body += _legend(list(series), left, 14)
    for index, (name, points) in enumerate(series.items()):
        color = PALETTE[index % len(PALETTE)]
        runs: list[list[str]] = [[]]
        for x, value in zip(xs, points, strict=False):
            if value is None:  # a day without a figure breaks the line
                runs.append([])
                continue
            y = top + plot_h - plot_h * value / top_value
            runs[-1].append(f"{x:.1f},{y:.1f}")
            body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color}">'
                        f'<title>{escape(name)}: {escape(_number(value))}{escape(unit)}</title></circle>')
        for run in runs:
            if len(run) > 1:
                body.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{" ".join(run)}"/>')
    body += _x_labels(labels, xs, top + plot_h)
    return _svg(width, height, title, body)


def column_chart(labels: Sequence[str], series: dict[str, Sequence[float]], *, title: str, unit: str = "",
                 width: int = 640, height: int = 220) -> SafeString:
    left, top, bottom = 56, 24, 28
    top_value = _nice_max(max((v for points in series.values() for v in points), default=0.0))
    plot_w, plot_h = width - left - 10, height - top - bottom
    count = max(len(labels), 1)
    slot = plot_w / count
    bar = max(1.0, slot * 0.8 / max(len(series), 1))
    body = _axes(width, height, left, top, bottom, top_value, unit)
    body += _legend(list(series), left, 14)
    xs = [left + slot * (i + 0.5) for i in range(len(labels))]
    for index, (name, points) in enumerate(series.items()):
        color = PALETTE[index % len(PALETTE)]
        for i, value in enumerate(points):
            h = plot_h * value / top_value
            x = left + slot * i + slot * 0.1 + bar * index
            body.append(f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                        f'fill="{color}"><title>{escape(labels[i])} {escape(name)}: '
                        f'{escape(_number(value))}{escape(unit)}</title></rect>')
    body += _x_labels(labels, xs, top + plot_h)
    return _svg(width, height, title, body)


def bar_chart(items: Sequence[tuple[str, float]], *, title: str, unit: str = "", width: int = 640,
              bar_height: int = 20) -> SafeString:
    label_w, value_w = 250, 70
    height = 10 + len(items) * (bar_height + 6) + 4
    top_value = max((value for _, value in items), default=0.0) or 1.0
    plot_w = width - label_w - value_w - 10
    body = []
    for index, (label, value) in enumerate(items):
        y = 10 + index * (bar_height + 6)
        w = plot_w * value / top_value
        color = PALETTE[index % len(PALETTE)] if len(items) <= len(PALETTE) else PALETTE[0]
        body.append(
            f'<text x="{label_w - 8}" y="{y + bar_height * 0.7:.1f}" text-anchor="end" {FONT}>{escape(_short(label))}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_height}" fill="{color}">'
            f'<title>{escape(label)}: {escape(_number(value))}{escape(unit)}</title></rect>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + bar_height * 0.7:.1f}" {FONT}>{escape(_number(value))}{escape(unit)}</text>'
        )
    if not items:
        body.append(f'<text x="10" y="20" {FONT} fill="#667085">No data for this period.</text>')
        height = 30
    return _svg(width, height, title, body)
