"""The report's SVG helpers on tiny hand-made inputs: every mark where a hand computation puts it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace

import polars as pl
import pytest

from crossell_cli.report import fmt
from crossell_cli.report.charts import (
    Curve,
    HeatCell,
    Series,
    bullet,
    grouped_bars,
    hbars,
    heatmap,
    stack,
    stacked_bars,
    step_chart,
    step_path,
)
from crossell_cli.report.html import HEATMAP_MAX, render_html
from crossell_cli.report.svg import Linear, nice_ticks, text_on, viridis
from tests.report.fixtures import kaplan_meier, matrix_items, sample_report

NS = {"s": "http://www.w3.org/2000/svg"}


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def marks(root: ET.Element, tag: str = "rect", css: str = "bar") -> list[ET.Element]:
    return [e for e in root.iter(f"{{{NS['s']}}}{tag}") if css in (e.get("class") or "").split()]


def chart_svg(page: str, chart_id: str) -> str:
    """One chart's ``<svg>`` element out of a rendered page."""
    at = page.index(f'data-chart="{chart_id}"')
    return page[page.rindex("<svg", 0, at) : page.index("</svg>", at) + len("</svg>")]


def tick_y(root: ET.Element, label: str) -> float:
    """The y of the grid line under the tick labelled ``label`` (the label sits 4px below it)."""
    for element in root.iter(f"{{{NS['s']}}}text"):
        if element.get("class") == "tick" and element.text == label:
            return float(element.get("y", "nan")) - 4
    raise AssertionError(f"no tick labelled {label!r}")


# ---------------------------------------------------------------------------------------
# formatting


@pytest.mark.parametrize(
    ("value", "shown"),
    [(0.3502454991816694, "35.0%"), (1.0, "100.0%"), (0.0, "0.0%"), (None, "–"), (float("nan"), "–")],
)
def test_percent(value: float | None, shown: str) -> None:
    assert fmt.percent(value) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [(16511602.4, "16,511,602"), (-130528.4, "−130,528"), (0.4, "0"), (1234567.5, "1,234,568"), (None, "–")],
)
def test_money_is_whole_units_with_separators_and_a_real_minus(value: float | None, shown: str) -> None:
    assert fmt.money(value) == shown


def test_days_counts_ratios_and_axis_ticks() -> None:
    assert fmt.days(230.0) == "230 days"
    assert fmt.days(1.0) == "1 day"
    assert fmt.days(271.25, unit=False) == "271"
    assert fmt.count(3666) == "3,666"
    assert fmt.ratio(1.532976) == "1.53×"
    assert [fmt.compact_money(v) for v in (0, 500_000, 1_500_000, 20e6, -4e6, 1.2e9)] == [
        "0",
        "500k",
        "1.5M",
        "20M",
        "−4M",
        "1.2B",
    ]


@pytest.mark.parametrize(
    ("column", "kind"),
    [
        ("attach_rate", "rate"),
        ("within_90d", "rate"),
        ("nrr", "rate"),
        ("cross_sell_share", "rate"),
        ("expected_value", "money"),
        ("closing_arr", "money"),
        ("churn", "money"),
        ("cross_sell_pass_through", "money"),
        ("p90_days", "days"),
        ("base_accounts", "count"),
        ("lift", "ratio"),
        ("booked_at", "date"),
        ("reason", "text"),
    ],
)
def test_column_kinds_follow_the_metric_names(column: str, kind: str) -> None:
    assert fmt.column_kind(column) == kind


# ---------------------------------------------------------------------------------------
# scales and colours


def test_nice_ticks_cover_the_data_with_round_steps() -> None:
    assert nice_ticks(0, 95) == [0, 20, 40, 60, 80, 100]
    assert nice_ticks(-20, 40) == [-20, 0, 20, 40]
    assert nice_ticks(0, 0) == [0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]
    ticks = nice_ticks(-4_070_000, 6_700_000)
    assert ticks[0] <= -4_070_000 and ticks[-1] >= 6_700_000 and 0.0 in ticks


def test_linear_scale_maps_ends_and_middle() -> None:
    scale = Linear(0, 40, 300, 100)  # a y axis: 0 at the bottom (300), 40 at the top (100)
    assert (scale(0), scale(40), scale(10)) == (300, 100, 250)


def test_viridis_ends_and_readable_text() -> None:
    assert viridis(0.0) == "#440154"
    assert viridis(1.0) == "#fde725"
    assert viridis(2.0) == "#fde725"  # clamped
    assert text_on(viridis(0.0)) == "#ffffff"
    assert text_on(viridis(1.0)) == "#000000"


# ---------------------------------------------------------------------------------------
# stacked bars: gains above zero, losses below


def test_stack_puts_positives_up_and_negatives_down_in_series_order() -> None:
    series = [
        Series("new", "new", (30.0, 10.0), "#000"),
        Series("cross_sell", "cross-sell", (10.0, 0.0), "#111"),
        Series("churn", "churn", (-10.0, -20.0), "#222"),
        Series("contraction", "contraction", (None, -5.0), "#333"),
    ]
    segments = [(s.series, s.category, s.low, s.high) for s in stack(series, 2)]
    assert segments == [
        (0, 0, 0.0, 30.0),
        (0, 1, 0.0, 10.0),
        (1, 0, 30.0, 40.0),  # zero and None values draw nothing
        (2, 0, -10.0, 0.0),
        (2, 1, -20.0, 0.0),
        (3, 1, -25.0, -20.0),
    ]


def test_stacked_bar_tops_and_bottoms_are_where_the_values_say() -> None:
    svg = stacked_bars(
        "t",
        ["2024-Q1", "2024-Q2"],
        [
            Series("new", "new", (30.0, 10.0), "#0072B2"),
            Series("cross_sell", "cross-sell", (10.0, 0.0), "#009E73"),
            Series("churn", "churn", (-10.0, -20.0), "#D55E00"),
        ],
        title="t",
        x_label="Quarter",
        y_label="ARR",
        value_text=fmt.money,
        tick_text=fmt.compact_money,
    )
    root = parse(svg)
    # the axis runs from -20 to 40 (ticks -20, 0, 20, 40); read its pixel positions off the ticks
    zero, top = tick_y(root, "0"), tick_y(root, "40")
    per_unit = (zero - top) / 40

    def y(value: float) -> float:
        return zero - value * per_unit

    bars = {(b.get("data-series"), b.get("data-category")): b for b in marks(root)}
    assert len(bars) == 5  # cross-sell 0 in Q2 draws nothing
    expected = {
        ("new", "2024-Q1"): (30, 0),
        ("cross_sell", "2024-Q1"): (40, 30),
        ("churn", "2024-Q1"): (0, -10),
        ("new", "2024-Q2"): (10, 0),
        ("churn", "2024-Q2"): (0, -20),
    }
    for key, (high, low) in expected.items():
        bar = bars[key]
        assert float(bar.get("y", "nan")) == pytest.approx(y(high), abs=0.01), key
        assert float(bar.get("height", "nan")) == pytest.approx(y(low) - y(high), abs=0.01), key
    # the same category shares one x; the next one is to its right
    assert bars[("new", "2024-Q1")].get("x") == bars[("churn", "2024-Q1")].get("x")
    assert float(bars[("new", "2024-Q2")].get("x", "0")) > float(bars[("new", "2024-Q1")].get("x", "0"))
    # every bar says its number on hover
    title = bars[("churn", "2024-Q2")].find("s:title", NS)
    assert title is not None and title.text == "2024-Q2 · churn: −20"


def test_hatched_series_gets_its_own_pattern_and_legend_swatch() -> None:
    svg = stacked_bars(
        "h",
        ["a"],
        [Series("cross_sell", "x", (1.0,), "#009E73"), Series("pt", "pass-through", (1.0,), "#009E73", hatched=True)],
        title="t",
        x_label="x",
        y_label="y",
        value_text=fmt.money,
        tick_text=fmt.compact_money,
    )
    root = parse(svg)
    assert root.find(".//s:pattern[@id='h-hatch-1']", NS) is not None
    hatched = [b for b in marks(root) if b.get("data-series") == "pt"]
    assert hatched[0].get("fill") == "url(#h-hatch-1)"


# ---------------------------------------------------------------------------------------
# Kaplan–Meier step curve


def test_step_path_is_flat_then_vertical_and_stops_at_the_last_follow_up() -> None:
    curve = Curve("all", "all", ((2.0, 0.25), (5.0, 0.5)), end=8.0, colour="#000")
    path = step_path(curve, Linear(0, 10, 0, 100), Linear(0, 1, 100, 0))
    assert path == "M0 100H20V75H50V50H80"


def test_curve_value_is_right_continuous_and_unknown_past_follow_up() -> None:
    curve = Curve("all", "all", ((2.0, 0.25), (5.0, 0.5)), end=8.0, colour="#000")
    assert [curve.at(t) for t in (0, 1.9, 2, 4.9, 5, 8)] == [0.0, 0.0, 0.25, 0.25, 0.5, 0.5]
    assert curve.at(8.1) is None


def test_km_curve_from_hand_made_durations_draws_one_minus_survival() -> None:
    # durations: 1 (event), 2 (event), 2 (censored), 3 (event), 4 (censored)
    # S(1) = 4/5 = 0.8; S(2) = 0.8 × 3/4 = 0.6; S(3) = 0.6 × 1/2 = 0.3; S(4) = 0.3
    km = kaplan_meier([("all", 1, True), ("all", 2, True), ("all", 2, False), ("all", 3, True), ("all", 4, False)])
    assert km.get_column("survival").to_list() == pytest.approx([0.8, 0.6, 0.3, 0.3])
    assert km.get_column("at_risk").to_list() == [5, 4, 2, 1]
    data = sample_report()
    page = render_html(replace(data, km_curve=km, timing=data.timing.filter(pl.col("group") == "all")))
    root = parse(chart_svg(page, "timing-km"))
    # past the last follow-up (4 days) the share at 90/180/365 days is unknown: no point is drawn
    assert marks(root, "circle", "point") == []
    curves = marks(root, "path", "curve")
    assert [c.get("data-series") for c in curves] == ["all"]
    # "M x0 y0 H x1 V y1 H x2 V y2 …": the curve climbs to 1 − S = 0.2, 0.4, 0.7 at days 1, 2, 3
    d = curves[0].get("d", "")
    zero = float(d.split(" ")[1].split("H")[0])
    full = tick_y(root, "100%")
    shares = [(zero - float(part.split("H")[0])) / (zero - full) for part in d.split("V")[1:]]
    assert shares == pytest.approx([0.2, 0.4, 0.7], abs=0.001)


def test_step_chart_marks_90_180_365_and_the_share_at_each() -> None:
    curve = Curve("all", "all", ((50.0, 0.1), (100.0, 0.3), (300.0, 0.6)), end=400.0, colour="#000")
    root = parse(step_chart("k", [curve], title="t", x_label="Days", y_label="Share", at_risk=[(0.0, 10), (90.0, 8)]))
    markers = [m.get("data-day") for m in root.iter(f"{{{NS['s']}}}line") if m.get("class") == "marker"]
    assert markers == ["90", "180", "365"]
    values = {p.get("data-day"): float(p.get("data-value", "nan")) for p in marks(root, "circle", "point")}
    assert values == {"90": 0.1, "180": 0.3, "365": 0.6}
    assert ">Accounts still followed (all) on day 0<" in step_chart(
        "k", [curve], title="t", x_label="Days", y_label="Share", at_risk=[(0.0, 10)]
    )


def test_step_chart_says_which_day_each_count_still_followed_is_on() -> None:
    """A count under day 730 has no marker or tick above it: the heading names the days, and
    each count's tooltip its own; a day past the axis is left out of both."""
    curve = Curve("all", "all", ((50.0, 0.1), (700.0, 0.6)), end=800.0, colour="#000")
    risk = [(0.0, 1000), (90.0, 950), (730.0, 340), (5000.0, 1)]
    root = parse(step_chart("k", [curve], title="t", x_label="Days", y_label="Share", at_risk=risk))
    texts = [t for t in root.iter(f"{{{NS['s']}}}text")]
    heading = [t.text for t in texts if (t.text or "").startswith("Accounts still followed")]
    assert heading == ["Accounts still followed (all) on days 0, 90 and 730"]
    title = f"{{{NS['s']}}}title"
    counts = {t.get("data-day"): (t[0].tail, t[0].text) for t in texts if t.get("data-day") and t[0].tag == title}
    assert counts == {
        "0": ("1,000", "day 0: 1,000 accounts still followed"),
        "90": ("950", "day 90: 950 accounts still followed"),
        "730": ("340", "day 730: 340 accounts still followed"),
    }


# ---------------------------------------------------------------------------------------
# heatmap, grouped bars, horizontal bars, bullets


def _heatmap(rows: list[str], columns: list[str], cells: dict[tuple[int, int], HeatCell]) -> str:
    return heatmap(
        "m",
        rows,
        columns,
        cells,
        title="t",
        row_label="r",
        column_label="c",
        scale_label="attach rate",
        grey_label="small base",
        mark_label="forced bundle",
    )


def test_heatmap_colours_greys_and_marks_cells() -> None:
    cells = {
        (0, 1): HeatCell(0.0, "0%", "A → B"),
        (1, 0): HeatCell(1.0, "100%", "B → A", marked=True),
        (1, 2): HeatCell(0.5, "50%", "B → C", greyed=True),
    }
    root = parse(_heatmap(["A", "B"], ["A", "B", "C"], cells))
    drawn = {(c.get("data-row"), c.get("data-column")): c for c in marks(root, "rect", "cell")}
    assert set(drawn) == {("A", "B"), ("B", "A"), ("B", "C")}
    assert drawn[("A", "B")].get("fill") == "#440154"
    assert drawn[("B", "A")].get("fill") == "#fde725"
    assert drawn[("B", "A")].get("data-marked") == "true"
    assert drawn[("B", "C")].get("fill") == "url(#m-grey)"
    assert "greyed" in (drawn[("B", "C")].get("class") or "")
    assert len(marks(root, "path", "mark")) == 1


def test_heatmap_column_labels_end_inside_the_chart() -> None:
    """Twenty long product names (Online Retail at product level): each label rises at 45° from
    its column's centre, and the last ones ran past the chart's right edge and were cut."""
    from crossell_cli.report.charts import LABEL_SIZE
    from crossell_cli.report.svg import text_width

    items = [f"2242{i:02d} REGENCY CAKESTAND 3 TIER" for i in range(20)]
    root = parse(_heatmap(items, items, {}))
    width = float(root.get("viewBox", "0 0 0 0").split()[2])
    labels = [t for t in root.iter(f"{{{NS['s']}}}text") if t.get("class") == "column-label"]
    assert len(labels) == 20
    for label in labels:
        x = float((label.get("transform") or "").split("(")[1].split()[0])
        assert x + text_width(label.text or "", LABEL_SIZE) * 0.72 <= width - 8 + 0.01  # (x is rounded)


def test_long_column_labels_are_shortened_before_the_cells_lose_their_rates() -> None:
    """Fourteen all-caps product names: fitting them whole made the cells 35 px, under the 40
    that print a rate inside. They are shortened instead (the whole name is the tooltip)."""
    items = [f"{i:02d}ABC ASSORTED COLOUR BIRD ORNAMENT" for i in range(14)]
    cells = {(r, c): HeatCell(0.5, "50%", "x") for r in range(14) for c in range(14) if r != c}
    svg = _heatmap(items, items, cells)
    root = parse(svg)
    assert float(marks(root, "rect", "cell")[0].get("width") or 0) >= 40
    assert svg.count(">50%<") == 14 * 13 + 1  # every rate printed in its cell, and the scale's 50% tick
    columns = [t for t in root.iter(f"{{{NS['s']}}}text") if t.get("class") == "column-label"]
    assert all(len(t.text or "") < 28 for t in columns)
    assert {t[0].text for t in columns} == set(items)  # the whole name on hover
    assert "<svg" in _heatmap([], [], {})  # (no column: nothing to fit)


def test_attach_heatmap_shows_the_top_n_of_a_wide_catalogue_and_says_so() -> None:
    items = [f"P{i:02d}" for i in range(30)]
    rows = [
        {
            "base_family": a,
            "target_family": b,
            "base_accounts": 1000 - 10 * i,
            "both_accounts": 100,
            "attach_rate": 100 / (1000 - 10 * i),
            "ci_low": 0.05,
            "ci_high": 0.15,
            "target_accounts": 1000 - 10 * j,
            "target_rate": 0.5,
            "lift": 0.2,
            "co_booked": 50,
            "cross_sold_after": 40,
            "before": 10,
            "cross_sell_attach": 0.04,
            "flag": None,
        }
        for i, a in enumerate(items)
        for j, b in enumerate(items)
        if a != b
    ]
    pairs = pl.DataFrame(rows)
    page = render_html(
        replace(sample_report(), attach=pairs, attach_matrix=pairs, attach_items=matrix_items(pairs), level="product")
    )
    cells = marks(parse(chart_svg(page, "attach-heatmap")), "rect", "cell")
    assert {c.get("data-row") for c in cells} == set(items[:HEATMAP_MAX])
    assert {c.get("data-column") for c in cells} == set(items[:HEATMAP_MAX])
    assert (
        f"Showing the top {HEATMAP_MAX} of 30 base products and the top {HEATMAP_MAX} of 30 target products by "
        "customers; xsell attach --all lists every pair." in page
    )


def test_grouped_bars_heights_are_proportional_and_a_missing_value_draws_nothing() -> None:
    root = parse(
        grouped_bars(
            "g",
            ["1", "2"],
            [Series("logo", "logo", (0.5, None), "#000"), Series("nrr", "nrr", (1.0, 0.25), "#111")],
            title="t",
            x_label="x",
            y_label="y",
            value_text=fmt.percent,
            tick_text=fmt.percent,
            reference=1.0,
        )
    )
    bars = {(b.get("data-series"), b.get("data-category")): float(b.get("height", "nan")) for b in marks(root)}
    assert set(bars) == {("logo", "1"), ("nrr", "1"), ("nrr", "2")}
    assert bars[("logo", "1")] == pytest.approx(bars[("nrr", "1")] / 2, abs=0.02)
    assert bars[("nrr", "2")] == pytest.approx(bars[("nrr", "1")] / 4, abs=0.02)


def test_hbars_widths_are_proportional_to_values() -> None:
    root = parse(
        hbars(
            "w",
            ["Analytics", "Payroll"],
            [12_000.0, 3_000.0],
            title="t",
            x_label="x",
            value_text=fmt.money,
            tick_text=fmt.compact_money,
            colours=["#0072B2"],
        )
    )
    widths = [float(b.get("width", "nan")) for b in marks(root)]
    assert widths[0] == pytest.approx(4 * widths[1], abs=0.02)


def test_bullet_draws_the_good_band_and_the_value() -> None:
    root = parse(bullet("b", 0.35, 0.15, 0.30, label="Cross-sell rate", value_text=fmt.percent))
    band = marks(root, "rect", "good-range")[0]
    value = marks(root, "rect", "value")[0]
    # value 0.35 ends past the band's right edge (0.30): "above"
    assert float(value.get("x", "0")) + float(value.get("width", "0")) > float(band.get("x", "0")) + float(
        band.get("width", "0")
    )
    assert marks(parse(bullet("n", None, 0.15, 0.3, label="x", value_text=fmt.percent)), "rect", "value") == []


def test_count_axes_tick_in_whole_numbers() -> None:
    """One finding on a count axis reads 0 … 1, never 0, 0, 0, 1, 1, 1 (0.2 steps shown as counts)."""
    assert nice_ticks(0.0, 1.0, 6, whole=True) == [0.0, 1.0]
    assert all(t == int(t) for t in nice_ticks(0.0, 7.0, 6, whole=True))
    assert len(nice_ticks(0.0, 1.0, 6)) > 2  # a rate or money axis keeps its fractional steps
