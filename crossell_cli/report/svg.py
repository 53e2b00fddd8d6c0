"""SVG building blocks: escaping, a linear scale, nice ticks, colours and legends.

The report draws its charts as static SVG written here rather than through a
JavaScript charting library: the page then needs no script at all, opens from an
e-mail attachment or a locked-down viewer, prints exactly as it shows, and adds no
dependency to xsell. Hover details are SVG ``<title>`` elements, which every browser
shows as a tooltip without JavaScript.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

# Okabe & Ito (2008), "Color Universal Design": distinguishable under the common
# colour-vision deficiencies and in greyscale print by lightness.
BLUE = "#0072B2"
SKY = "#56B4E9"
GREEN = "#009E73"
ORANGE = "#E69F00"
VERMILLION = "#D55E00"
PURPLE = "#CC79A7"
YELLOW = "#F0E442"
BLACK = "#000000"
GREY = "#999999"
CATEGORICAL = (BLUE, ORANGE, GREEN, VERMILLION, PURPLE, SKY, YELLOW, BLACK)

INK = "#222222"
AXIS = "#666666"
GRID = "#e3e3e3"
MUTED = "#d9d9d9"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, 'Liberation Sans', sans-serif"

# matplotlib's viridis at eleven evenly spaced points: perceptually uniform, readable
# by colour-blind readers, and monotone in lightness so it survives greyscale print.
_VIRIDIS = (
    (0x44, 0x01, 0x54),
    (0x48, 0x24, 0x75),
    (0x41, 0x44, 0x87),
    (0x35, 0x5F, 0x8D),
    (0x2A, 0x78, 0x8E),
    (0x21, 0x91, 0x8C),
    (0x22, 0xA8, 0x84),
    (0x44, 0xBF, 0x70),
    (0x7A, 0xD1, 0x51),
    (0xBD, 0xDF, 0x26),
    (0xFD, 0xE7, 0x25),
)


def viridis(value: float) -> str:
    """The viridis colour of ``value`` in [0, 1] (clamped), as #rrggbb."""
    position = min(max(value, 0.0), 1.0) * (len(_VIRIDIS) - 1)
    low = min(int(position), len(_VIRIDIS) - 2)
    frac = position - low
    channels = (round(a + (b - a) * frac) for a, b in zip(_VIRIDIS[low], _VIRIDIS[low + 1], strict=True))
    return "#" + "".join(f"{c:02x}" for c in channels)


def text_on(fill: str) -> str:
    """Black or white, whichever reads on ``fill`` (WCAG relative luminance)."""
    red, green, blue = (int(fill[i : i + 2], 16) / 255 for i in (1, 3, 5))

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    luminance = 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)
    return "#000000" if luminance > 0.22 else "#ffffff"


def num(value: float) -> str:
    """A coordinate: two decimals at most, no trailing zeros (keeps the page small)."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def attrs(values: Mapping[str, object]) -> str:
    parts = []
    for key, value in values.items():
        if value is None:
            continue
        shown = num(value) if isinstance(value, float) else str(value)
        parts.append(f' {key}="{escape(shown, quote=True)}"')
    return "".join(parts)


def el(tag: str, values: Mapping[str, object], children: str = "") -> str:
    """One SVG element; ``children`` is already-escaped markup."""
    if children:
        return f"<{tag}{attrs(values)}>{children}</{tag}>"
    return f"<{tag}{attrs(values)}/>"


def tooltip(text: str) -> str:
    """A hover text for the enclosing shape (the browser's own tooltip, no script)."""
    return f"<title>{escape(text)}</title>"


def text(x: float, y: float, content: str, **extra: object) -> str:
    values: dict[str, object] = {"x": x, "y": y}
    values.update({k.rstrip("_").replace("_", "-"): v for k, v in extra.items()})
    return el("text", values, escape(content))


def text_width(content: str, size: float) -> float:
    """Estimated rendered width: no font metrics offline, so a generous average glyph, and a
    wider one for a capital (an all-caps product name, "85099B JUMBO BAG RED RETROSPOT", is
    a fifth wider than the average says, and ran into the axis title beside it)."""
    capitals = sum(1 for char in content if char.isupper())
    return (len(content) * 0.58 + capitals * 0.12) * size


def shorten(content: str, limit: int) -> str:
    return content if len(content) <= limit else content[: limit - 1] + "…"


@dataclass(frozen=True)
class Linear:
    """Maps a data interval onto a pixel interval."""

    d0: float
    d1: float
    r0: float
    r1: float

    def __call__(self, value: float) -> float:
        if self.d1 == self.d0:
            return self.r0
        return self.r0 + (value - self.d0) * (self.r1 - self.r0) / (self.d1 - self.d0)


def nice_ticks(low: float, high: float, count: int = 5, *, whole: bool = False) -> list[float]:
    """Round tick values covering [low, high]: steps of 1, 2, 2.5 or 5 × 10^k.

    The first and last ticks are the axis ends, so a bar never runs off the axis.
    ``whole``: counts, so every step is a whole number (never 0.2 or 2.5 findings).
    """
    if not (math.isfinite(low) and math.isfinite(high)):
        low, high = 0.0, 1.0
    if high < low:
        low, high = high, low
    if high == low:
        high = low + (abs(low) if low else 1.0)
    raw = (high - low) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    steps = (1, 2, 5, 10) if whole else (1, 2, 2.5, 5, 10)
    step = next(m * magnitude for m in steps if m * magnitude >= raw)
    if whole:
        step = max(step, 1.0)
    first = math.floor(low / step + 1e-9) * step
    last = math.ceil(high / step - 1e-9) * step
    ticks = []
    n = round((last - first) / step)
    for i in range(n + 1):
        tick = first + i * step
        ticks.append(0.0 if abs(tick) < step * 1e-9 else tick)
    return ticks


@dataclass(frozen=True)
class LegendItem:
    label: str
    colour: str
    shape: str = "rect"  # rect | line | dashed | hatch | marker | grey
    pattern_id: str = ""


def legend(items: Sequence[LegendItem], x: float, y: float, width: float, size: float = 12) -> tuple[str, float]:
    """Swatches and labels in rows that wrap at ``width``; returns markup and height used."""
    parts: list[str] = []
    cursor_x, cursor_y = x, y
    row_height = size + 8
    for item in items:
        item_width = 18 + text_width(item.label, size) + 16
        if cursor_x > x and cursor_x + item_width > x + width:
            cursor_x = x
            cursor_y += row_height
        mid = cursor_y + size / 2
        if item.shape in ("line", "dashed"):
            parts.append(
                el(
                    "line",
                    {
                        "x1": cursor_x,
                        "y1": mid,
                        "x2": cursor_x + 14,
                        "y2": mid,
                        "stroke": item.colour,
                        "stroke-width": 3,
                        "stroke-dasharray": "4 3" if item.shape == "dashed" else None,
                    },
                )
            )
        elif item.shape == "marker":
            parts.append(
                el(
                    "path",
                    {
                        "d": f"M{num(cursor_x + 2)} {num(mid - 6)}H{num(cursor_x + 14)}V{num(mid + 6)}Z",
                        "fill": "#ffffff",
                        "stroke": item.colour,
                        "stroke-width": 1.5,
                    },
                )
            )
        else:
            fill = f"url(#{item.pattern_id})" if item.shape == "hatch" and item.pattern_id else item.colour
            parts.append(
                el(
                    "rect",
                    {
                        "x": cursor_x,
                        "y": mid - 6,
                        "width": 14,
                        "height": 12,
                        "fill": fill,
                        "stroke": item.colour if item.shape == "hatch" else None,
                    },
                )
            )
        parts.append(text(cursor_x + 18, mid + size * 0.35, item.label, font_size=size, fill=INK))
        cursor_x += item_width
    used = (cursor_y - y) + row_height if items else 0.0
    return "".join(parts), used


def hatch(pattern_id: str, colour: str) -> str:
    """A diagonal-stripe fill: tells a series apart without relying on colour alone."""
    return el(
        "pattern",
        {
            "id": pattern_id,
            "patternUnits": "userSpaceOnUse",
            "width": 6,
            "height": 6,
            "patternTransform": "rotate(45)",
        },
        el("rect", {"width": 6, "height": 6, "fill": "#ffffff"})
        + el("rect", {"width": 3, "height": 6, "fill": colour}),
    )


def document(width: float, height: float, label: str, body: str, chart_id: str, defs: str = "") -> str:
    """The outer ``<svg>``: sized for print, scaled down by CSS on narrow screens."""
    title_id = f"{chart_id}-title"
    return (
        el(
            "svg",
            {
                "xmlns": "http://www.w3.org/2000/svg",
                "viewBox": f"0 0 {num(width)} {num(height)}",
                "width": num(width),
                "height": num(height),
                "role": "img",
                "aria-labelledby": title_id,
                "font-family": FONT,
                "data-chart": chart_id,
            },
            f'<title id="{escape(title_id)}">{escape(label)}</title>' + (f"<defs>{defs}</defs>" if defs else "") + body,
        )
        + "\n"
    )
