"""The report's chart types, as static SVG from plain Python values.

Each function takes already-extracted numbers (no frames) so it can be tested on tiny
hand-made inputs, and returns one ``<svg>`` element with a title, axis labels with
units, a legend, and a hover ``<title>`` on every mark. Shapes carry ``data-series``,
``data-category`` and ``data-value`` so tests (and curious readers of the source) can
tie a mark back to its number.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from html import escape

from .svg import (
    AXIS,
    BLACK,
    GREEN,
    GRID,
    INK,
    MUTED,
    LegendItem,
    Linear,
    document,
    el,
    hatch,
    legend,
    nice_ticks,
    num,
    shorten,
    text,
    text_on,
    text_width,
    tooltip,
    viridis,
)

# The days the time-to-cross-sell charts mark (the page's and the workbook's alike)
KM_MARKERS = (90, 180, 365)

Fmt = Callable[[float], str]

TITLE_SIZE = 15
LABEL_SIZE = 12
TICK_SIZE = 11
CLOSE_LABELS = 48  # px: two tick-size labels nearer than this would overlap ("90 days" is about 42 px)


@dataclass(frozen=True)
class Series:
    key: str  # machine name, written as data-series
    label: str  # what the legend says
    values: tuple[float | None, ...]
    colour: str
    hatched: bool = False


@dataclass(frozen=True)
class Segment:
    """One stacked bar piece: from ``low`` to ``high`` in data units."""

    series: int
    category: int
    value: float
    low: float
    high: float


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def stack(series: Sequence[Series], categories: int) -> list[Segment]:
    """Positive values stack up from zero and negative ones down from it, in series order.

    This is how a revenue bridge reads: gains above the axis, losses (contraction,
    churn) below it, each bar's pieces adding up to that side's total.
    """
    above = [0.0] * categories
    below = [0.0] * categories
    segments: list[Segment] = []
    for s_index, one in enumerate(series):
        for c_index in range(categories):
            value = one.values[c_index]
            if value is None or not math.isfinite(value) or value == 0:
                continue
            if value > 0:
                low = above[c_index]
                above[c_index] += value
                segments.append(Segment(s_index, c_index, value, low, above[c_index]))
            else:
                high = below[c_index]
                below[c_index] += value
                segments.append(Segment(s_index, c_index, value, below[c_index], high))
    return segments


@dataclass(frozen=True)
class _Plot:
    left: float
    top: float
    right: float
    bottom: float

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top


def _title(content: str, width: float) -> str:
    return text(
        12, 22, shorten(content, int(width / (TITLE_SIZE * 0.6))), font_size=TITLE_SIZE, font_weight=700, fill=INK
    )


def _y_axis(plot: _Plot, scale: Linear, ticks: Sequence[float], tick_text: Fmt, label: str) -> str:
    parts = []
    for tick in ticks:
        y = scale(tick)
        parts.append(el("line", {"x1": plot.left, "y1": y, "x2": plot.right, "y2": y, "stroke": GRID}))
        parts.append(
            text(
                plot.left - 6, y + 4, tick_text(tick), font_size=TICK_SIZE, fill=AXIS, text_anchor="end", class_="tick"
            )
        )
    zero = scale(0.0) if ticks[0] <= 0 <= ticks[-1] else plot.bottom
    parts.append(el("line", {"x1": plot.left, "y1": zero, "x2": plot.right, "y2": zero, "stroke": AXIS}))
    mid = (plot.top + plot.bottom) / 2
    parts.append(
        el(
            "text",
            {
                "transform": f"translate(14 {num(mid)}) rotate(-90)",
                "text-anchor": "middle",
                "font-size": LABEL_SIZE,
                "fill": INK,
                "class": "axis-label",
            },
            escape(label),
        )
    )
    return "".join(parts)


def _band_labels(plot: _Plot, categories: Sequence[str], band: float, label: str, height: float) -> str:
    """Category labels under a band axis, rotated when they would collide."""
    parts = []
    widest = max((text_width(c, TICK_SIZE) for c in categories), default=0.0)
    rotate = widest > band * 0.92
    every = 1
    if rotate and band < TICK_SIZE * 1.4:
        every = math.ceil(TICK_SIZE * 1.4 / band)
    for index, category in enumerate(categories):
        if index % every:
            continue
        x = plot.left + band * (index + 0.5)
        y = plot.bottom + 16
        if rotate:
            parts.append(
                el(
                    "text",
                    {
                        "transform": f"translate({num(x + 3)} {num(plot.bottom + 10)}) rotate(-45)",
                        "text-anchor": "end",
                        "font-size": TICK_SIZE,
                        "fill": AXIS,
                        "class": "tick",
                    },
                    escape(category),
                )
            )
        else:
            parts.append(text(x, y, category, font_size=TICK_SIZE, fill=AXIS, text_anchor="middle", class_="tick"))
    parts.append(
        text(
            (plot.left + plot.right) / 2,
            height - 8,
            label,
            font_size=LABEL_SIZE,
            fill=INK,
            text_anchor="middle",
            class_="axis-label",
        )
    )
    return "".join(parts)


def _band_bottom(categories: Sequence[str], plot_width: float) -> float:
    band = plot_width / max(len(categories), 1)
    widest = max((text_width(c, TICK_SIZE) for c in categories), default=0.0)
    if widest > band * 0.92:
        return 22 + widest * 0.72 + 22
    return 50


def _left_margin(tick_labels: Sequence[str]) -> float:
    return 30 + max((text_width(t, TICK_SIZE) for t in tick_labels), default=20.0)


def stacked_bars(
    chart_id: str,
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    x_label: str,
    y_label: str,
    value_text: Fmt,
    tick_text: Fmt,
    width: float = 920,
    height: float = 440,
    tick_labels: Sequence[str] | None = None,
) -> str:
    """Stacked bars per category, negatives below zero (a bridge of movements). ``tick_labels``:
    what the axis shows under each category (a starred partial period), the data attributes
    keeping the category itself."""
    segments = stack(series, len(categories))
    high = max((s.high for s in segments), default=1.0)
    low = min((s.low for s in segments), default=0.0)
    ticks = nice_ticks(min(low, 0.0), max(high, 0.0))
    defs = "".join(hatch(f"{chart_id}-hatch-{i}", one.colour) for i, one in enumerate(series) if one.hatched)
    items = [
        LegendItem(one.label, one.colour, "hatch" if one.hatched else "rect", f"{chart_id}-hatch-{i}")
        for i, one in enumerate(series)
    ]
    legend_svg, legend_h = legend(items, 12, 34, width - 24)
    left = _left_margin([tick_text(t) for t in ticks])
    provisional = _Plot(left, 0, width - 16, 0)
    shown = list(tick_labels or categories)
    plot = _Plot(left, 34 + legend_h + 10, width - 16, height - _band_bottom(shown, provisional.width))
    scale = Linear(ticks[0], ticks[-1], plot.bottom, plot.top)
    band = plot.width / max(len(categories), 1)
    bar = band * 0.72
    parts = [_title(title, width), legend_svg, _y_axis(plot, scale, ticks, tick_text, y_label)]
    for segment in segments:
        one = series[segment.series]
        top = scale(segment.high)
        fill = f"url(#{chart_id}-hatch-{segment.series})" if one.hatched else one.colour
        parts.append(
            el(
                "rect",
                {
                    "x": plot.left + band * segment.category + (band - bar) / 2,
                    "y": top,
                    "width": bar,
                    "height": max(scale(segment.low) - top, 0.0),
                    "fill": fill,
                    "stroke": one.colour if one.hatched else None,
                    "class": "bar",
                    "data-series": one.key,
                    "data-category": categories[segment.category],
                    "data-value": repr(segment.value),
                },
                tooltip(f"{categories[segment.category]} · {one.label}: {value_text(segment.value)}"),
            )
        )
    parts.append(_band_labels(plot, shown, band, x_label, height))
    return document(width, height, title, "".join(parts), chart_id, defs)


def line_chart(
    chart_id: str,
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    x_label: str,
    y_label: str,
    value_text: Fmt,
    tick_text: Fmt,
    width: float = 920,
    height: float = 300,
    tick_labels: Sequence[str] | None = None,
) -> str:
    """Values per category joined by lines, on a zero-based axis (no exaggerated slope).
    ``tick_labels``: as in ``stacked_bars``."""
    values = [v for one in series for v in one.values if v is not None and math.isfinite(v)]
    ticks = nice_ticks(min([0.0, *values]), max([0.0, *values]))
    items = [LegendItem(one.label, one.colour, "line") for one in series]
    legend_svg, legend_h = legend(items, 12, 34, width - 24)
    left = _left_margin([tick_text(t) for t in ticks])
    provisional = _Plot(left, 0, width - 16, 0)
    shown = list(tick_labels or categories)
    plot = _Plot(left, 34 + legend_h + 10, width - 16, height - _band_bottom(shown, provisional.width))
    scale = Linear(ticks[0], ticks[-1], plot.bottom, plot.top)
    band = plot.width / max(len(categories), 1)
    parts = [_title(title, width), legend_svg, _y_axis(plot, scale, ticks, tick_text, y_label)]
    for one in series:
        points = [
            (plot.left + band * (i + 0.5), scale(v), i, v)
            for i, v in enumerate(one.values)
            if v is not None and math.isfinite(v)
        ]
        if not points:
            continue
        path = "M" + "L".join(f"{num(x)} {num(y)}" for x, y, _, _ in points)
        parts.append(
            el("path", {"d": path, "fill": "none", "stroke": one.colour, "stroke-width": 2.5, "class": "line"})
        )
        for x, y, i, v in points:
            parts.append(
                el(
                    "circle",
                    {
                        "cx": x,
                        "cy": y,
                        "r": 3.5,
                        "fill": one.colour,
                        "class": "point",
                        "data-series": one.key,
                        "data-category": categories[i],
                        "data-value": repr(v),
                    },
                    tooltip(f"{categories[i]} · {one.label}: {value_text(v)}"),
                )
            )
    parts.append(_band_labels(plot, shown, band, x_label, height))
    return document(width, height, title, "".join(parts), chart_id)


@dataclass(frozen=True)
class Curve:
    """A right-continuous step function F(t), starting at F(0) = 0."""

    key: str
    label: str
    steps: tuple[tuple[float, float], ...]  # (t, F(t)) at each time the curve may change, ascending
    end: float  # the longest follow-up: the curve is drawn flat up to here and no further
    colour: str
    dashed: bool = False

    def at(self, t: float) -> float | None:
        """F(t), or None past the longest follow-up (the curve does not know)."""
        if t > self.end:
            return None
        value = 0.0
        for time, share in self.steps:
            if time > t:
                break
            value = share
        return value


def step_path(curve: Curve, x: Linear, y: Linear) -> str:
    """The SVG path of a step curve: flat until each time, then a vertical jump."""
    parts = [f"M{num(x(0.0))} {num(y(0.0))}"]
    current = 0.0
    for time, share in curve.steps:
        if time > curve.end:
            break
        if share != current:  # a censoring-only time does not move the curve
            parts.append(f"H{num(x(time))}V{num(y(share))}")
            current = share
    parts.append(f"H{num(x(curve.end))}")
    return "".join(parts)


def step_chart(
    chart_id: str,
    curves: Sequence[Curve],
    *,
    title: str,
    x_label: str,
    y_label: str,
    markers: Sequence[int] = KM_MARKERS,
    at_risk: Sequence[tuple[float, int]] = (),
    width: float = 920,
    height: float = 440,
) -> str:
    """Share reached over time, one step curve per group, with day markers.

    ``at_risk`` pairs (time, accounts still followed) are printed under the axis, as in
    a published Kaplan–Meier figure, so a reader sees how thin the tail is.
    """
    x_max = max((c.end for c in curves), default=1.0)
    x_ticks = nice_ticks(0.0, max(x_max, 1.0), 8)
    y_ticks = [0.0, 0.25, 0.5, 0.75, 1.0]
    items = [LegendItem(c.label, c.colour, "dashed" if c.dashed else "line") for c in curves]
    legend_svg, legend_h = legend(items, 12, 34, width - 24)
    left = _left_margin(["100%"])
    bottom = height - 48 - (52 if at_risk else 0)
    plot = _Plot(left, 34 + legend_h + 34, width - 24, bottom)  # room for two rows of day labels
    x = Linear(x_ticks[0], x_ticks[-1], plot.left, plot.right)
    y = Linear(0.0, 1.0, plot.bottom, plot.top)
    parts = [_title(title, width), legend_svg, _y_axis(plot, y, y_ticks, lambda v: f"{v * 100:.0f}%", y_label)]
    for tick in x_ticks:
        parts.append(
            text(x(tick), plot.bottom + 16, f"{tick:,.0f}", font_size=TICK_SIZE, fill=AXIS, text_anchor="middle")
        )
    parts.append(
        text(
            (plot.left + plot.right) / 2,
            plot.bottom + 36,
            x_label,
            font_size=LABEL_SIZE,
            fill=INK,
            text_anchor="middle",
        )
    )
    label_x = -1e9  # where the last marker label was put: a close one goes a line higher
    for marker in markers:
        if marker > x_ticks[-1]:
            continue
        mx = x(marker)
        raise_label = mx - label_x < CLOSE_LABELS
        label_x = -1e9 if raise_label else mx
        parts.append(
            el(
                "line",
                {
                    "x1": mx,
                    "y1": plot.top - 12,
                    "x2": mx,
                    "y2": plot.bottom,
                    "stroke": AXIS,
                    "stroke-dasharray": "4 4",
                    "class": "marker",
                    "data-day": marker,
                },
            )
        )
        label_y = plot.top - (27 if raise_label else 15)
        parts.append(text(mx, label_y, f"{marker} days", font_size=TICK_SIZE, fill=INK, text_anchor="middle"))
    for curve in reversed(curves):  # the first curve (the whole book) drawn last, on top
        parts.append(
            el(
                "path",
                {
                    "d": step_path(curve, x, y),
                    "fill": "none",
                    "stroke": curve.colour,
                    "stroke-width": 2.5,
                    "stroke-dasharray": "6 4" if curve.dashed else None,
                    "class": "curve",
                    "data-series": curve.key,
                },
                tooltip(curve.label),
            )
        )
    for index, curve in enumerate(curves):
        for marker in markers:
            share = curve.at(marker)
            if share is None or marker > x_ticks[-1]:
                continue
            cx, cy = x(marker), y(share)
            parts.append(
                el(
                    "circle",
                    {
                        "cx": cx,
                        "cy": cy,
                        "r": 4,
                        "fill": "#ffffff",
                        "stroke": curve.colour,
                        "stroke-width": 2,
                        "class": "point",
                        "data-series": curve.key,
                        "data-day": marker,
                        "data-value": repr(share),
                    },
                    tooltip(f"{curve.label}: {share * 100:.1f}% cross-sold within {marker} days"),
                )
            )
            if index == 0:
                # a white halo keeps the label readable where it crosses a curve
                parts.append(
                    text(
                        cx + 6,
                        cy - 7,
                        f"{share * 100:.0f}%",
                        font_size=TICK_SIZE,
                        font_weight=700,
                        fill=INK,
                        stroke="#ffffff",
                        stroke_width=3,
                        paint_order="stroke",
                    )
                )
    shown_risk = [(time, accounts) for time, accounts in at_risk if time <= x_ticks[-1]]
    if shown_risk:
        row_y = plot.bottom + 74
        # (the counts stand under their days, which need not be ticks or markers: the heading
        # names them, and each count's tooltip says its day)
        days = [f"{time:,.0f}" for time, _ in shown_risk]
        on_days = days[0] if len(days) == 1 else f"{', '.join(days[:-1])} and {days[-1]}"
        parts.append(
            text(
                plot.left,
                row_y - 16,
                f"Accounts still followed ({curves[0].key if curves else 'all'}) on day"
                f"{'s' if len(days) > 1 else ''} {on_days}",
                font_size=TICK_SIZE,
                fill=INK,
                font_weight=700,
            )
        )
        count_x = -1e9  # a count too close to the previous one goes on a second line
        for time, accounts in shown_risk:
            lower = x(time) - count_x < CLOSE_LABELS
            count_x = -1e9 if lower else x(time)
            parts.append(
                el(
                    "text",
                    {
                        "x": x(time),
                        "y": row_y + (12 if lower else 0),
                        "font-size": TICK_SIZE,
                        "fill": INK,
                        "text-anchor": "middle",
                        "data-day": f"{time:.0f}",
                    },
                    tooltip(f"day {time:,.0f}: {accounts:,} accounts still followed") + escape(f"{accounts:,}"),
                )
            )
    return document(width, height, title, "".join(parts), chart_id)


def grouped_bars(
    chart_id: str,
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    x_label: str,
    y_label: str,
    value_text: Fmt,
    tick_text: Fmt,
    reference: float | None = None,
    reference_label: str = "",
    category_notes: Sequence[str] = (),
    width: float = 920,
    height: float = 400,
) -> str:
    """Bars side by side per category (e.g. logo retention, GRR, NRR per cohort)."""
    values = [v for one in series for v in one.values if v is not None and math.isfinite(v)]
    top_value = max([*values, reference or 0.0, 0.0])
    ticks = nice_ticks(0.0, top_value if top_value > 0 else 1.0)
    items = [LegendItem(one.label, one.colour) for one in series]
    if reference is not None:
        items.append(LegendItem(reference_label, BLACK, "dashed"))
    legend_svg, legend_h = legend(items, 12, 34, width - 24)
    left = _left_margin([tick_text(t) for t in ticks])
    plot = _Plot(left, 34 + legend_h + 16, width - 16, height - (66 if category_notes else 50))
    scale = Linear(ticks[0], ticks[-1], plot.bottom, plot.top)
    band = plot.width / max(len(categories), 1)
    inner = band * 0.8
    bar = inner / max(len(series), 1)
    parts = [_title(title, width), legend_svg, _y_axis(plot, scale, ticks, tick_text, y_label)]
    for c_index, category in enumerate(categories):
        start = plot.left + band * c_index + (band - inner) / 2
        for s_index, one in enumerate(series):
            value = one.values[c_index]
            bx = start + bar * s_index
            if value is None or not math.isfinite(value):
                continue
            top = scale(max(value, 0.0))
            parts.append(
                el(
                    "rect",
                    {
                        "x": bx + 1,
                        "y": top,
                        "width": max(bar - 2, 1.0),
                        "height": max(scale(0.0) - top, 0.0),
                        "fill": one.colour,
                        "class": "bar",
                        "data-series": one.key,
                        "data-category": category,
                        "data-value": repr(value),
                    },
                    tooltip(f"{category} · {one.label}: {value_text(value)}"),
                )
            )
            if bar >= 30:
                parts.append(
                    text(bx + bar / 2, top - 4, value_text(value), font_size=TICK_SIZE, fill=INK, text_anchor="middle")
                )
        x_mid = plot.left + band * (c_index + 0.5)
        parts.append(text(x_mid, plot.bottom + 16, category, font_size=LABEL_SIZE, fill=INK, text_anchor="middle"))
        if c_index < len(category_notes):
            parts.append(
                text(
                    x_mid,
                    plot.bottom + 31,
                    category_notes[c_index],
                    font_size=TICK_SIZE,
                    fill=AXIS,
                    text_anchor="middle",
                )
            )
    if reference is not None:
        ry = scale(reference)
        parts.append(
            el(
                "line",
                {"x1": plot.left, "y1": ry, "x2": plot.right, "y2": ry, "stroke": BLACK, "stroke-dasharray": "5 4"},
            )
        )
    parts.append(
        text((plot.left + plot.right) / 2, height - 8, x_label, font_size=LABEL_SIZE, fill=INK, text_anchor="middle")
    )
    return document(width, height, title, "".join(parts), chart_id)


def hbars(
    chart_id: str,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    x_label: str,
    value_text: Fmt,
    tick_text: Fmt,
    colours: Sequence[str],
    tooltips: Sequence[str] = (),
    legend_items: Sequence[LegendItem] = (),
    width: float = 920,
    row: float = 26,
    whole: bool = False,
) -> str:
    """One horizontal bar per label, longest first as given; the value printed at its end.
    ``whole``: the values are counts, so the ticks are whole numbers."""
    ticks = nice_ticks(0.0, max([*values, 0.0]) or 1.0, 6, whole=whole)
    shown = [shorten(label, 34) for label in labels]
    legend_svg, legend_h = legend(legend_items, 12, 34, width - 24) if legend_items else ("", 0.0)
    left = 20 + max((text_width(label, LABEL_SIZE) for label in shown), default=40.0)
    value_room = 12 + max((text_width(value_text(v), TICK_SIZE) for v in values), default=40.0)
    top = 34 + legend_h + 8
    height = top + row * len(labels) + 52
    plot = _Plot(left, top, width - value_room - 8, top + row * len(labels))
    scale = Linear(ticks[0], ticks[-1], plot.left, plot.right)
    parts = [_title(title, width), legend_svg]
    for tick in ticks:
        tx = scale(tick)
        parts.append(el("line", {"x1": tx, "y1": plot.top, "x2": tx, "y2": plot.bottom, "stroke": GRID}))
        parts.append(
            text(
                tx,
                plot.bottom + 16,
                tick_text(tick),
                font_size=TICK_SIZE,
                fill=AXIS,
                text_anchor="middle",
                class_="tick",
            )
        )
    parts.append(el("line", {"x1": plot.left, "y1": plot.top, "x2": plot.left, "y2": plot.bottom, "stroke": AXIS}))
    for index, (label, value) in enumerate(zip(shown, values, strict=True)):
        y = plot.top + row * index
        bar_end = scale(max(value, 0.0))
        hover = tooltips[index] if index < len(tooltips) else f"{labels[index]}: {value_text(value)}"
        parts.append(
            text(
                plot.left - 8, y + row * 0.62, label, font_size=LABEL_SIZE, fill=INK, text_anchor="end", class_="label"
            )
        )
        parts.append(
            el(
                "rect",
                {
                    "x": plot.left,
                    "y": y + row * 0.15,
                    "width": max(bar_end - plot.left, 0.0),
                    "height": row * 0.7,
                    "fill": colours[index % len(colours)],
                    "class": "bar",
                    "data-category": labels[index],
                    "data-value": repr(value),
                },
                tooltip(hover),
            )
        )
        parts.append(text(bar_end + 6, y + row * 0.62, value_text(value), font_size=TICK_SIZE, fill=INK))
    parts.append(
        text((plot.left + plot.right) / 2, height - 10, x_label, font_size=LABEL_SIZE, fill=INK, text_anchor="middle")
    )
    return document(width, height, title, "".join(parts), chart_id)


@dataclass(frozen=True)
class HeatCell:
    value: float | None  # the colour, in [0, 1]
    label: str  # printed in the cell when cells are large enough
    hover: str
    greyed: bool = False  # e.g. base under min_base: shown, but not to be trusted
    marked: bool = False  # e.g. a forced bundle


def heatmap(
    chart_id: str,
    rows: Sequence[str],
    columns: Sequence[str],
    cells: Mapping[tuple[int, int], HeatCell],
    *,
    title: str,
    row_label: str,
    column_label: str,
    scale_label: str,
    grey_label: str,
    mark_label: str,
    width: float = 920,
    labels: Mapping[str, str] | None = None,
) -> str:
    """A rows × columns grid coloured by value (viridis, 0–100%), labelled when there is room.
    ``labels`` names a row or column for people ("22423 REGENCY CAKESTAND 3 TIER"); its cells'
    data attributes keep the id."""
    named = labels or {}
    row_text = [named.get(r, r) for r in rows]
    column_text = [named.get(c, c) for c in columns]
    row_names = [shorten(r, 28) for r in row_text]
    left = 40 + max((text_width(r, LABEL_SIZE) for r in row_names), default=40.0)
    natural = min((width - left - 30) / max(len(columns), 1), 64.0)
    # A column label rises to the right at 45° from its column's centre: the cells are no wider
    # than lets every label end inside the chart (long product names at product level), and
    # labels are shortened further (the whole name stays in the tooltip) before the cells get
    # too small to print their rates in.
    for limit in (28, 22, 16, 12):
        column_names = [shorten(c, limit) for c in column_text]
        fits = [(width - 8 - left - text_width(c, LABEL_SIZE) * 0.72) / (i + 0.5) for i, c in enumerate(column_names)]
        size = max(min([natural, *fits]), 8.0)
        if size >= min(natural, 40.0):
            break
    head = max((text_width(c, LABEL_SIZE) for c in column_names), default=40.0) * 0.72 + 20
    top = 34 + 46 + head
    labelled = size >= 40
    grid_w = size * len(columns)
    height = top + size * len(rows) + 30
    parts = [_title(title, width)]
    # the colour scale and the two cell states, as a legend line under the title
    bar_x, bar_y, bar_w = 12.0, 40.0, 220.0
    stops = "".join(el("stop", {"offset": f"{i * 10}%", "stop-color": viridis(i / 10)}) for i in range(11))
    defs = el("linearGradient", {"id": f"{chart_id}-scale", "x1": "0", "x2": "1", "y1": "0", "y2": "0"}, stops) + el(
        "pattern",
        {"id": f"{chart_id}-grey", "patternUnits": "userSpaceOnUse", "width": 6, "height": 6},
        el("rect", {"width": 6, "height": 6, "fill": MUTED}) + el("path", {"d": "M0 6L6 0", "stroke": "#bbbbbb"}),
    )
    parts.append(el("rect", {"x": bar_x, "y": bar_y, "width": bar_w, "height": 12, "fill": f"url(#{chart_id}-scale)"}))
    for fraction in (0.0, 0.25, 0.5, 0.75, 1.0):
        tx = bar_x + bar_w * fraction
        parts.append(
            text(tx, bar_y + 26, f"{fraction * 100:.0f}%", font_size=TICK_SIZE, fill=AXIS, text_anchor="middle")
        )
    parts.append(text(bar_x + bar_w + 10, bar_y + 10, scale_label, font_size=TICK_SIZE, fill=INK))
    items = [LegendItem(grey_label, "#bbbbbb", "rect"), LegendItem(mark_label, BLACK, "marker")]
    legend_svg, _ = legend(items, bar_x + bar_w + 20 + text_width(scale_label, TICK_SIZE), bar_y - 1, width, TICK_SIZE)
    parts.append(legend_svg)
    for c_index, name in enumerate(column_names):
        cx = left + size * (c_index + 0.5)
        parts.append(
            el(
                "text",
                {
                    "transform": f"translate({num(cx)} {num(top - 6)}) rotate(-45)",
                    "font-size": LABEL_SIZE,
                    "fill": INK,
                    "class": "column-label",
                },
                escape(name) + tooltip(column_text[c_index]),
            )
        )
    parts.append(
        text(left + grid_w / 2, 34 + 46 + 4, column_label, font_size=LABEL_SIZE, fill=AXIS, text_anchor="middle")
    )
    for r_index, name in enumerate(row_names):
        ry = top + size * r_index
        parts.append(
            el(
                "text",
                {
                    "x": left - 8,
                    "y": ry + size / 2 + 4,
                    "font-size": LABEL_SIZE,
                    "fill": INK,
                    "text-anchor": "end",
                    "class": "row-label",
                },
                escape(name) + tooltip(row_text[r_index]),  # (the whole name, when shortened)
            )
        )
        for c_index in range(len(columns)):
            cell = cells.get((r_index, c_index))
            cx = left + size * c_index
            if cell is None:
                parts.append(
                    el(
                        "rect",
                        {"x": cx, "y": ry, "width": size, "height": size, "fill": "#ffffff", "stroke": GRID},
                    )
                )
                continue
            if cell.greyed or cell.value is None:
                fill, ink, shown_fill = "#bbbbbb", "#333333", f"url(#{chart_id}-grey)"
            else:
                fill = viridis(cell.value)
                ink, shown_fill = text_on(fill), fill
            parts.append(
                el(
                    "rect",
                    {
                        "x": cx,
                        "y": ry,
                        "width": size,
                        "height": size,
                        "fill": shown_fill,
                        "stroke": "#ffffff",
                        "class": "cell greyed" if cell.greyed else "cell",
                        "data-row": rows[r_index],
                        "data-column": columns[c_index],
                        "data-value": "" if cell.value is None else repr(cell.value),
                        "data-marked": "true" if cell.marked else None,
                    },
                    tooltip(cell.hover),
                )
            )
            if labelled and cell.label:
                parts.append(
                    text(
                        cx + size / 2,
                        ry + size / 2 + 4,
                        cell.label,
                        font_size=TICK_SIZE,
                        fill=ink,
                        text_anchor="middle",
                        pointer_events="none",
                    )
                )
            if cell.marked:
                corner = min(size * 0.4, 16.0)
                parts.append(
                    el(
                        "path",
                        {
                            "d": f"M{num(cx + size - corner)} {num(ry + 1)}H{num(cx + size - 1)}V{num(ry + corner)}Z",
                            "fill": "#ffffff",
                            "stroke": BLACK,
                            "stroke-width": 1.5,
                            "class": "mark",
                            "pointer-events": "none",
                        },
                    )
                )
    parts.append(
        el(
            "text",
            {
                "transform": f"translate(14 {num(top + size * len(rows) / 2)}) rotate(-90)",
                "text-anchor": "middle",
                "font-size": LABEL_SIZE,
                "fill": AXIS,
            },
            escape(row_label),
        )
    )
    return document(width, height, title, "".join(parts), chart_id, defs)


def bullet(
    chart_id: str,
    value: float | None,
    low: float | None,
    high: float | None,
    *,
    label: str,
    value_text: Fmt,
    width: float = 300,
    height: float = 46,
) -> str:
    """A KPI against its good range: the shaded band is "good", the bar is the value."""
    known = [v for v in (value, low, high) if v is not None and math.isfinite(v)]
    top_value = max(known) * 1.25 if known and max(known) > 0 else 1.0
    scale = Linear(0.0, top_value, 10, width - 10)
    parts = [el("rect", {"x": 10, "y": 8, "width": width - 20, "height": 18, "fill": "#f0f0f0"})]
    if low is not None and high is not None:
        parts.append(
            el(
                "rect",
                {
                    "x": scale(low),
                    "y": 8,
                    "width": max(scale(high) - scale(low), 1.0),
                    "height": 18,
                    "fill": GREEN,
                    "fill-opacity": 0.35,
                    "class": "good-range",
                },
                tooltip(f"good range {value_text(low)} – {value_text(high)}"),
            )
        )
        for bound in (low, high):
            parts.append(
                text(scale(bound), height - 4, value_text(bound), font_size=10, fill=AXIS, text_anchor="middle")
            )
    if value is not None and math.isfinite(value):
        parts.append(
            el(
                "rect",
                {
                    "x": 10,
                    "y": 13,
                    "width": max(scale(value) - 10, 1.0),
                    "height": 8,
                    "fill": INK,
                    "class": "value",
                    "data-value": repr(value),
                },
                tooltip(f"{label}: {value_text(value)}"),
            )
        )
        parts.append(
            el("line", {"x1": scale(value), "y1": 5, "x2": scale(value), "y2": 29, "stroke": INK, "stroke-width": 2})
        )
    return document(width, height, label, "".join(parts), chart_id)
