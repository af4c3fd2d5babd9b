"""Inline SVG charts of a run's curves, with every violation marked at its step and linked to its details.

Plain SVG elements inside the page, drawn with presentation attributes and the
page's own (hashed) stylesheet: no script, no font, no image, nothing fetched,
so the Content-Security-Policy stays ``default-src 'none'``. Each chart has
labelled axes with their units, a legend, a ``<title>`` and a ``<desc>`` for
screen readers, and ``data-`` attributes that say which steps the x axis spans,
so a test can check a marker's position through the DOM. Every number in the
output is rounded to a fixed precision: the same series give the same bytes.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

from pvcontracts.evidence.report.markup import esc
from pvcontracts.evidence.report.runs import Point, Series, ViolationView, number

WIDTH, HEIGHT = 600, 290
LEFT, RIGHT, TOP, BOTTOM = 66, 14, 58, 44  # the top margin holds two rows of legend
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
X_LABEL = "step (optimizer steps)"


_e = esc


def _f(value: float) -> str:
    text = f"{value:.1f}"
    return "0.0" if text == "-0.0" else text


def nice_ticks(low: float, high: float, count: int = 5) -> tuple[list[float], float]:
    """Round tick values covering [low, high] (steps of 1, 2 or 5 times a power of ten), and the step."""
    span = high - low
    if span <= 0 or not math.isfinite(span):
        span = abs(high) or 1.0
    raw = span / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw * (1 - 1e-9))
    first = math.floor(low / step) * step
    ticks = []
    for k in range(count + 3):  # the step is at least span / count: a few more ticks cover it
        value = first + k * step
        if value > high + step * 1e-9:
            break
        if value >= low - step * 1e-9:
            ticks.append(0.0 if abs(value) < step * 1e-9 else value)
    return ticks, step


def tick_labels(ticks: Sequence[float], step: float) -> list[str]:
    """Ticks as a reader wants them, one format for the whole axis: plain decimals, or scientific when tiny or huge."""
    magnitude = max([abs(t) for t in ticks] + [step])
    if 1e-3 <= magnitude < 1e6:
        decimals = max(0, -math.floor(math.log10(step) + 1e-9))
        return [f"{t:.{decimals}f}" for t in ticks]
    digits = max(0, math.floor(math.log10(magnitude) + 1e-9) - math.floor(math.log10(step) + 1e-9))
    return [("0" if t == 0 else f"{t:.{digits}e}".replace("e-0", "e-").replace("e+0", "e").replace("e+", "e"))
            for t in ticks]


class _Scale:
    def __init__(self, x0: float, x1: float, y0: float, y1: float) -> None:
        self.x0, self.x1, self.y0, self.y1 = x0, x1, y0, y1

    def x(self, step: float) -> float:
        return LEFT + (step - self.x0) / (self.x1 - self.x0) * PLOT_W

    def y(self, value: float) -> float:
        return TOP + PLOT_H - (value - self.y0) / (self.y1 - self.y0) * PLOT_H


def _finite(values: Iterable[float | None]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def _marker_value(v: ViolationView, metric: str) -> float | None:
    value = dict(v.values).get(metric)
    value = number(value)
    return value if value is not None and math.isfinite(value) else None


def _domain(series: Series, markers: Sequence[ViolationView]) -> _Scale:
    steps = [p.first_step for p in series.points] + [p.last_step for p in series.points]
    steps += [v.step for v in markers if v.step is not None]
    x0, x1 = min(steps), max(steps)
    if x1 <= x0:
        x1 = x0 + 1
    ys = _finite(x for p in series.points + series.expected for x in (p.first, p.low, p.high, p.last))
    ys += _finite(_marker_value(v, series.metric) for v in markers)
    y0, y1 = (min(ys), max(ys)) if ys else (0.0, 1.0)
    if y1 <= y0:
        pad = abs(y0) * 0.1 or 1.0
        y0, y1 = y0 - pad, y1 + pad
    ticks, _ = nice_ticks(y0, y1)
    return _Scale(x0, x1, min(y0, ticks[0]) if ticks else y0, max(y1, ticks[-1]) if ticks else y1)


def _runs(points: Sequence[Point], ok: Any) -> list[list[Point]]:
    """Consecutive points for which ``ok(point)`` holds: a line or band breaks where values are missing."""
    out: list[list[Point]] = [[]]
    for p in points:
        if ok(p):
            out[-1].append(p)
        elif out[-1]:
            out.append([])
    return [r for r in out if r]


def _edge_path(points: Sequence[Point], scale: _Scale) -> list[str]:
    """Polylines through each window's first and last value: the metric as the run went through it."""
    out = []
    finite = lambda v: v is not None and math.isfinite(v)  # noqa: E731
    for run in _runs(points, lambda p: finite(p.first) and finite(p.last)):
        coords = []
        for p in run:
            coords.append(f"{_f(scale.x(p.first_step))},{_f(scale.y(p.first))}")
            if p.last_step != p.first_step or p.last != p.first:
                coords.append(f"{_f(scale.x(p.last_step))},{_f(scale.y(p.last))}")
        out.append(" ".join(coords))
    return out


def _band(points: Sequence[Point], scale: _Scale) -> list[str]:
    """Polygons from each window's min to its max: what happened between the window's edges."""
    out = []
    for run in _runs(points, lambda p: p.low is not None and p.high is not None):
        top = [f"{_f(scale.x(s))},{_f(scale.y(p.high))}" for p in run for s in (p.first_step, p.last_step)]
        bottom = [f"{_f(scale.x(s))},{_f(scale.y(p.low))}" for p in reversed(run) for s in (p.last_step, p.first_step)]
        out.append(" ".join(top + bottom))
    return out


def svg_chart(series: Series, markers: Sequence[ViolationView], chart_id: str, run_name: str) -> str:
    """One chart: the series' band and line, the expected line, non-finite windows, and every violation's marker."""
    markers = [v for v in markers if v.step is not None]
    scale = _domain(series, markers)
    y_ticks, y_step = nice_ticks(scale.y0, scale.y1)
    x_ticks, x_step = nice_ticks(scale.x0, scale.x1, 6)
    x_ticks = [t for t in x_ticks if t == int(t)]  # steps are whole numbers: a tick between them says nothing
    first, last = scale.x0, scale.x1
    parts = [
        f'<svg class="chart" id="{chart_id}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" data-metric="{_e(series.metric)}" '
        f'data-x0="{int(first)}" data-x1="{int(last)}" data-left="{LEFT}" data-width="{PLOT_W}" '
        f'data-y0="{scale.y0!r}" data-y1="{scale.y1!r}" data-top="{TOP}" data-height="{PLOT_H}" '
        f'preserveAspectRatio="xMidYMid meet">',
        f'<title id="{chart_id}-t">{_e(series.title)} of {_e(run_name)}, steps {int(first)} to {int(last)}</title>',
        f'<desc id="{chart_id}-d">{_e(_description(series, markers))}</desc>',
        f'<rect class="plot" x="{LEFT}" y="{TOP}" width="{PLOT_W}" height="{PLOT_H}"/>',
    ]
    grid, labels = [], []
    for t, label in zip(y_ticks, tick_labels(y_ticks, y_step)):
        y = scale.y(t)
        grid.append(f'<line x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{_f(y)}" y2="{_f(y)}"/>')
        labels.append(f'<text class="tick" x="{LEFT - 6}" y="{_f(y + 4)}" text-anchor="end">{_e(label)}</text>')
    for t in x_ticks:
        x = scale.x(t)
        grid.append(f'<line x1="{_f(x)}" x2="{_f(x)}" y1="{TOP}" y2="{TOP + PLOT_H}"/>')
        labels.append(f'<text class="tick" x="{_f(x)}" y="{TOP + PLOT_H + 16}" text-anchor="middle">'
                      f"{int(t):,}</text>")
    parts.append('<g class="grid">' + "".join(grid) + "</g>")
    parts.append('<g class="ticks">' + "".join(labels) + "</g>")
    parts.append(f'<text class="axis-label" x="{LEFT + PLOT_W / 2:.1f}" y="{HEIGHT - 8}" text-anchor="middle">'
                 f"{_e(X_LABEL)}</text>")
    parts.append(f'<text class="axis-label" transform="translate(14 {TOP + PLOT_H / 2:.1f}) rotate(-90)" '
                 f'text-anchor="middle">{_e(_short_axis(series.axis))}</text>')
    parts.extend(f'<polygon class="band" points="{p}"/>' for p in _band(series.points, scale))
    parts.extend(f'<polyline class="line" points="{p}"/>' for p in _edge_path(series.points, scale))
    if series.expected:  # dashed, over the applied values: where the two part, both show
        parts.extend(f'<polyline class="expected" points="{p}"/>' for p in _edge_path(series.expected, scale))
    bad = [p for p in series.points if p.nonfinite]
    for p in bad:
        x = scale.x((p.first_step + p.last_step) / 2)
        parts.append(f'<path class="nonfinite" d="M{_f(x - 5)},{TOP + 1} L{_f(x + 5)},{TOP + 1} L{_f(x)},{TOP + 9} Z">'
                     f"<title>{p.nonfinite} non-finite value{'s' if p.nonfinite != 1 else ''} (NaN or inf) in steps "
                     f"{p.first_step} to {p.last_step}</title></path>")
    for v in markers:
        x = scale.x(v.step)
        value = _marker_value(v, series.metric)
        y = scale.y(value) if value is not None else TOP + 4
        what = f"{v.invariant} violated at {v.where}" + (f": {series.metric} = {value:.7g}" if value is not None else "")
        parts.append(
            f'<a class="marker" href="#{v.anchor}" data-step="{v.step}" data-invariant="{_e(v.invariant)}" '
            f'aria-label="{_e(what)}"><title>{_e(what)} (click for the details)</title>'
            f'<line x1="{_f(x)}" x2="{_f(x)}" y1="{TOP}" y2="{TOP + PLOT_H}"/>'
            f'<circle cx="{_f(x)}" cy="{_f(y)}" r="4.5"/></a>')
    parts.append(_legend(series, bool(markers), bool(bad)))
    parts.append("</svg>")
    return "".join(parts)


def _short_axis(axis: str) -> str:
    return axis if len(axis) <= 44 else axis[:43] + "\u2026"


def _legend(series: Series, markers: bool, bad: bool) -> str:
    items = [("line", "first and last value of each window"), ("band", "min to max in the window")]
    if series.expected:
        items.append(("expected", f"expected, per {series.expected_by}" if series.expected_by else "expected"))
    if markers:
        items.append(("marker", "violation (click for details)"))
    if bad:
        items.append(("nonfinite", "NaN or inf in the window"))
    out, x, y = ['<g class="legend">'], LEFT, 10
    for kind, label in items:
        width = 27 + int(len(label) * 6.2)  # about 6 units a character at the legend's 11.5 px
        if x + width > WIDTH - RIGHT and x > LEFT:
            x, y = LEFT, y + 18
        if kind == "band":
            swatch = f'<rect class="band" x="{x}" y="{y + 2}" width="18" height="10"/>'
        elif kind == "marker":
            swatch = (f'<g class="marker"><line x1="{x + 9}" x2="{x + 9}" y1="{y}" y2="{y + 14}"/>'
                      f'<circle cx="{x + 9}" cy="{y + 7}" r="4"/></g>')
        elif kind == "nonfinite":
            swatch = f'<path class="nonfinite" d="M{x + 4},{y + 2} L{x + 14},{y + 2} L{x + 9},{y + 11} Z"/>'
        else:
            swatch = f'<line class="{kind}" x1="{x}" x2="{x + 18}" y1="{y + 7}" y2="{y + 7}"/>'
        out.append(f'{swatch}<text x="{x + 23}" y="{y + 11}">{_e(label)}</text>')
        x += width + 10
    out.append("</g>")
    return "".join(out)


def _description(series: Series, markers: Sequence[ViolationView]) -> str:
    lows = _finite(p.low for p in series.points)
    highs = _finite(p.high for p in series.points)
    text = f"{series.title} ({series.axis}) over {len(series.points)} windows"
    if lows and highs:
        text += f", from {min(lows):.4g} to {max(highs):.4g}"
    if series.expected:
        text += f"; expected value from {series.expected_by or 'the contract'} drawn dashed"
    if markers:
        steps = ", ".join(str(v.step) for v in markers[:10]) + (", ..." if len(markers) > 10 else "")
        text += f"; violations marked at step {steps}"
    return text + "."
