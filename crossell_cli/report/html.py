"""``xsell report -o report.html``: every metric on one self-contained, offline page.

The page has no script, no font, no image and no link to anything outside itself: the
charts are inline SVG (see :mod:`.charts`), the styles are one ``<style>`` block, and a
Content-Security-Policy forbids every fetch, so the file opens the same from an e-mail
attachment, a shared drive or a laptop on a plane. Each section prints on its own page.
An empty frame (a book without dates has no expansion, timing or flags) becomes a
sentence saying why, never an empty chart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

import polars as pl

from . import fmt
from .charts import Curve, HeatCell, Series, bullet, grouped_bars, hbars, heatmap, line_chart, stacked_bars, step_chart
from .data import ReportData, matrix_axis, period_word
from .svg import BLACK, BLUE, CATEGORICAL, GREEN, GREY, ORANGE, PURPLE, SKY, VERMILLION, LegendItem

# More than this many items per heatmap axis and a cell is too small to read or hover:
# the top items by customers are shown, and the page says how many there are.
HEATMAP_MAX = 20
CURVES_MAX = 8  # "all" and the largest seven groups: more lines than colours are unreadable
TOP_PAIRS = 10
TOP_FINDINGS = 15
TOP_REPS = 10
TOP_WHITESPACE = 20
WIDE_TABLE = 10  # columns from which a table is set tighter
FINDINGS_PER_FLAG = 3
# Free text wraps; codes, ids, dates and numbers never break mid-value.
LONG_TEXT = frozenset({"detail", "reason", "account_name", "file", "value"})

KPI_LABELS = {
    "cross_sell_rate": "Cross-sell rate",
    "multi_product_rate": "Multi-product rate",
    "cross_sell_revenue_share": "Cross-sell revenue share",
    "median_days_to_cross_sell": "Median time to cross-sell",
    "cross_sell_win_rate": "Cross-sell win rate",
}
STATUS_MARKS = {"within": "✓ within", "below": "▼ below", "above": "▲ above"}
# Why a dated book has no retention, in `xsell retention`'s words (the page and the workbook):
# a book with end dates has none on the lines booked before its first end date was set.
NO_RETENTION = (
    "Retention needs end dates (a subscription or billing export): no won line booked on or before the as-of "
    "date has an end date, so nobody can be seen to leave."
)
NO_REP = "(none)"  # the rep of a line without one in `xsell flags --by rep`
SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}
SEVERITY_COLOURS = {"high": VERMILLION, "medium": ORANGE, "low": SKY}

SECTIONS = (
    ("headline", "Headline"),
    ("attach", "Attach rates"),
    ("expansion", "Expansion"),
    ("timing", "Time to cross-sell"),
    ("retention", "Retention by families owned"),
    ("whitespace", "Whitespace"),
    ("flags", "Flags"),
    ("fine-print", "Fine print"),
)


# The expansion bridge's movements, as both the page and the workbook draw them: (column,
# label, colour, hatched).
BRIDGE = (
    ("new", "new (land)", BLUE, False),
    ("reactivation", "reactivation", PURPLE, False),
    ("upsell", "upsell", SKY, False),
    ("cross_sell", "cross-sell", GREEN, False),
    ("cross_sell_pass_through", "cross-sell at pass-through price (flagged)", GREEN, True),
    ("contraction", "contraction", ORANGE, False),
    ("churn", "churn", VERMILLION, False),
)


def drawn_movements(expansion: pl.DataFrame) -> list[tuple[str, str, str, bool]]:
    """The ``BRIDGE`` movements a bridge draws, on the page and in the workbook: not one that no
    period can show (bookings mode: reactivation, contraction and churn), nor the pass-through
    split of the cross-sell when no period holds one (its legend entry would promise a bar that
    is not there; the caption says there is none)."""
    drawn = []
    for key, label, colour, hatched in BRIDGE:
        values = _floats(expansion, key)
        if all(v is None for v in values):
            continue
        if key == "cross_sell_pass_through" and not any(values):
            continue
        drawn.append((key, label, colour, hatched))
    return drawn


def render_html(data: ReportData) -> str:
    """One self-contained HTML page holding every metric of ``data``, with charts."""
    body = "".join(
        (
            _masthead(data),
            _headline(data),
            _attach(data),
            _expansion(data),
            _timing(data),
            _retention(data),
            _whitespace(data),
            _flags(data),
            _fine_print(data),
        )
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        # Nothing may be fetched: a stray reference fails closed instead of phoning home.
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="xsell {escape(data.version)}">\n'
        f"<title>{escape(data.title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"{body}</body>\n</html>\n"
    )


# ---------------------------------------------------------------------------------------
# small pieces


def _col(frame: pl.DataFrame, name: str) -> list[object]:
    if name in frame.columns:
        return frame.get_column(name).to_list()
    return [None] * frame.height


def _floats(frame: pl.DataFrame, name: str) -> list[float | None]:
    return [_as_float(v) for v in _col(frame, name)]


def _as_float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _str(value: object) -> str:
    return "" if value is None else str(value)


def _plural(level: str) -> str:
    return "families" if level == "family" else f"{level}s"


def _currency(data: ReportData) -> str:
    for name, value in data.settings:
        if name.lower() == "currency" and value:
            return value
    return "currency units"


def _section(key: str, title: str, body: str, intro: str = "") -> str:
    lead = f'<p class="intro">{intro}</p>' if intro else ""
    return f'<section id="{key}" data-section="{key}">\n<h2>{escape(title)}</h2>\n{lead}{body}</section>\n'


def _figure(svg: str, caption: str, key: str) -> str:
    return f'<figure class="chart" data-figure="{key}">{svg}<figcaption>{caption}</figcaption></figure>\n'


def _empty(key: str, message: str) -> str:
    return f'<p class="empty" data-empty="{key}">{escape(message)}</p>\n'


def _needs_dates(what: str) -> str:
    return (
        f"{what} needs dates, and this export has none (one row per account saying who owns what): "
        "only attach, whitespace and the multi-product rate can be measured on it."
    )


def _table(
    frame: pl.DataFrame,
    columns: Sequence[tuple[str, str]],
    *,
    key: str,
    caption: str = "",
    kinds: dict[str, fmt.Kind] | None = None,
    right: frozenset[str] = frozenset(),
) -> str:
    """A table of ``frame``'s ``columns`` (name, header), each cell formatted by kind.

    Numbers align right; ``right`` names text columns that read as numbers (a "12%–15%" range).
    """
    kinds = kinds or {}

    def css_of(name: str, kind: fmt.Kind) -> str:
        if kind not in ("text", "date") or name in right:
            return "num"
        return "txt long" if name in LONG_TEXT else "txt"

    present = [(name, header) for name, header in columns if name in frame.columns]
    head = "".join(f'<th class="{css_of(n, _kind(frame, n, kinds))}" scope="col">{escape(h)}</th>' for n, h in present)
    rows = []
    for record in frame.iter_rows(named=True):
        cells = []
        for name, _ in present:
            kind = _kind(frame, name, kinds)
            cells.append(f'<td class="{css_of(name, kind)}">{escape(fmt.cell(record[name], kind))}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    # Ten or more columns (the ARR bridge's twelve) fit the page only a little tighter.
    wide = ' class="wide"' if len(present) >= WIDE_TABLE else ""
    return (
        f'<div class="table-wrap"><table{wide} data-table="{key}">{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>\n"
    )


def _kind(frame: pl.DataFrame, name: str, kinds: dict[str, fmt.Kind]) -> fmt.Kind:
    if name in kinds:
        return kinds[name]
    kind = fmt.column_kind(name)
    if kind == "text" and frame.schema[name].is_numeric():
        return "number"
    return kind


# ---------------------------------------------------------------------------------------
# sections


def _masthead(data: ReportData) -> str:
    mode = "ARR mode (end dates)" if data.mode == "arr" else f"bookings mode ({data.no_end_dates_text})"
    parts = [data.as_of_text.capitalize(), f"{data.level} level", *([] if data.dateless else [mode])]
    parts += [f"min base {data.min_base:,} customers", *data.where_parts, f"xsell {data.version}"]
    items = _plural(data.level)
    links = "".join(
        f'<li><a href="#{key}">{escape(title.replace("families", items))}</a></li>' for key, title in SECTIONS
    )
    return (
        '<header class="masthead">\n'
        f"<h1>{escape(data.title)}</h1>\n"
        f'<p class="subtitle">{escape(" · ".join(parts))}</p>\n'
        f'<nav aria-label="Sections"><ol>{links}</ol></nav>\n'
        "</header>\n"
    )


def _headline(data: ReportData) -> str:
    summary = data.summary
    if summary.is_empty():
        return _section("headline", "Headline", _empty("headline", "No headline KPIs were computed for this book."))
    cards = []
    for index, record in enumerate(summary.iter_rows(named=True)):
        kpi = _str(record.get("kpi"))
        label = KPI_LABELS.get(kpi, kpi.replace("_", " ").capitalize())
        value = _as_float(record.get("value"))
        low, high = _as_float(record.get("good_low")), _as_float(record.get("good_high"))
        status = record.get("status")
        is_days = "days" in kpi

        def shown(v: float, days: bool = is_days) -> str:
            return fmt.days(v) if days else fmt.percent(v)

        value_text = fmt.MISSING if value is None else shown(value)
        if low is not None and high is not None:
            good = f"good {shown(low)} – {shown(high)}"
        else:
            good = "no published range"
        mark = STATUS_MARKS.get(_str(status), "n/a")
        # (a KPI that does not apply says why next to its mark: 'n/a at product level')
        status_key = _str(status) if _str(status) in STATUS_MARKS else "na"
        why = _str(status).removeprefix("n/a").lstrip(": ").strip()
        good = f"{why} · {good}" if why and status_key == "na" else good
        chart = bullet(f"kpi-{index}", value, low, high, label=label, value_text=shown)
        cards.append(
            f'<div class="kpi" data-kpi="{escape(kpi)}" data-status="{escape(_str(status) or "na")}">'
            f'<div class="kpi-name">{escape(label)}</div>'
            f'<div class="kpi-value">{escape(value_text)}</div>'
            f'<div class="kpi-range"><span class="badge {status_key}">{escape(mark)}</span> {escape(good)}</div>'
            f"{chart}"
            f'<div class="kpi-detail">{escape(data.kpi_detail(kpi, _str(record.get("detail"))))}</div>'
            "</div>"
        )
    intro = (
        "Each KPI against the range published benchmarks call good (shaded band). "
        "A mark outside the band is not a verdict: read the detail line and the section behind it."
    )
    return _section("headline", "Headline", f'<div class="kpis">{"".join(cards)}</div>\n', intro)


def _attach(data: ReportData) -> str:
    attach = data.attach
    items = _plural(data.level)
    if attach.is_empty():
        return _section(
            "attach",
            "Attach rates",
            _empty(
                "attach",
                f"No pair of {items} to compare: the customers own fewer than two distinct {items} "
                f"({data.as_of_text}), so no attach rate exists.",
            ),
        )
    # (the grid of `xsell attach --matrix --all`: every item a row and a column, zeros included)
    axis = matrix_axis(data.attach_items)
    rows = columns = axis[:HEATMAP_MAX]
    row_index = column_index = {name: i for i, name in enumerate(rows)}
    cells: dict[tuple[int, int], HeatCell] = {}
    for record in data.attach_matrix.iter_rows(named=True):
        r = row_index.get(_str(record["base_family"]))
        c = column_index.get(_str(record["target_family"]))
        base_n = _as_float(record.get("base_accounts")) or 0.0
        if r is None or c is None or not base_n:
            continue  # a base of 0 has no rate: an empty cell, as in xsell attach --matrix
        rate = _as_float(record.get("attach_rate"))
        both_n = _as_float(record.get("both_accounts")) or 0.0
        greyed = base_n < data.min_base
        forced = record.get("flag") == "forced_bundle"
        base, target = data.label(record["base_family"]), data.label(record["target_family"])
        hover = (
            f"{base} → {target}: {fmt.percent(rate)} attach — {fmt.count(both_n)} of {fmt.count(base_n)} "
            f"{base} customers also own {target} (95% CI {fmt.percent(_as_float(record.get('ci_low')))}–"
            f"{fmt.percent(_as_float(record.get('ci_high')))}); lift {fmt.ratio(_as_float(record.get('lift')))}; "
            f"co-booked {fmt.count(_as_float(record.get('co_booked')))}, "
            f"cross-sold after {fmt.count(_as_float(record.get('cross_sold_after')))}, "
            f"owned before {fmt.count(_as_float(record.get('before')))}"
        )
        if greyed:
            hover += f". Base under min_base ({data.min_base}): not reported by xsell attach."
        if forced:
            hover += ". Forced bundle: bought on the same deal almost always; this rate is bundling, not selling."
        cells[(r, c)] = HeatCell(
            value=rate,
            label="" if rate is None else f"{rate * 100:.0f}%",
            hover=hover,
            greyed=greyed,
            marked=forced,
        )
    svg = heatmap(
        "attach-heatmap",
        rows,
        columns,
        cells,
        title=f"Attach rate: share of customers owning the row {data.level} who also own the column {data.level}",
        row_label=f"customers who own… (base {data.level})",
        column_label=f"…who also own (target {data.level})",
        scale_label="attach rate",
        grey_label=f"base under {data.min_base} customers",
        mark_label="forced bundle",
        labels={item: data.label(item) for item in rows},
    )
    shown_note = ""
    if len(axis) > len(rows):
        shown_note = (
            f" Showing the top {len(rows)} of {len(axis):,} base {items} and the top {len(columns)} of "
            f"{len(axis):,} target {items} by customers; xsell attach --all lists every pair."
        )
    caption = escape(
        f"Colour = attach rate (viridis, 0–100%); hover a cell for the counts, the 95% Wilson interval, lift and "
        f"when the target was bought (co-booked, after, before). Grey cells have a base under min_base "
        f"({data.min_base}); a corner triangle marks a forced bundle.{shown_note}"
    )
    # A lift reads the same both ways (lift A → B = lift B → A), so a pair is strong only when
    # xsell attach would list it from either side: base AND target with min_base customers. A
    # target of 3 customers, all of them the base's, gives Online Retail lifts of 144.50× on 3.
    strongest = (
        attach.filter(
            (pl.col("base_accounts") >= data.min_base)
            & (pl.col("target_accounts") >= data.min_base)
            & pl.col("flag").is_null()
        )
        .sort(
            ["lift", "attach_rate", "base_family", "target_family"],
            descending=[True, True, False, False],
            nulls_last=True,
        )
        .head(TOP_PAIRS)
    )
    strongest = strongest.with_columns(
        # (at product level each id with its name, as the heatmap shows them)
        pl.Series("base_family", [data.label(v) for v in _col(strongest, "base_family")], dtype=pl.String),
        pl.Series("target_family", [data.label(v) for v in _col(strongest, "target_family")], dtype=pl.String),
        pl.Series(
            "ci",
            [
                f"{fmt.percent(_as_float(lo))}–{fmt.percent(_as_float(hi))}"
                for lo, hi in zip(_col(strongest, "ci_low"), _col(strongest, "ci_high"), strict=True)
            ],
            dtype=pl.String,
        ),
    )
    table = _table(
        strongest,
        [
            ("base_family", f"Base {data.level}"),
            ("target_family", f"Target {data.level}"),
            ("base_accounts", "Base customers"),
            ("both_accounts", "Own both"),
            ("attach_rate", "Attach rate"),
            ("ci", "95% CI"),
            ("target_rate", "Target rate"),
            ("lift", "Lift"),
            ("cross_sold_after", "Cross-sold after"),
            ("cross_sell_attach", "Cross-sell attach"),
        ],
        key="attach-top",
        right=frozenset({"ci"}),
        caption=(
            f"Strongest pairs by lift: base and target each owned by ≥ {data.min_base} customers (the min_base "
            "below which xsell attach lists no pair; a lift reads the same both ways), forced bundles left out"
        ),
    )
    intro = escape(
        f"For each ordered pair of {items} (A, B): of the customers who own A, the share who also own B. "
        "Cross-sell attach counts only those who bought B after A — the number a sales team can claim."
    )
    return _section("attach", "Attach rates", _figure(svg, caption, "attach-heatmap") + table, intro)


def _expansion_totals(data: ReportData, periods: int, word: str) -> str:
    """The bridge's caption: cross-sell's share as `xsell expansion` counts it (the same for every
    --period), and the pass-through cross-sells as `xsell flags` lists them, besides what the
    hatched bars add up to."""
    currency = _currency(data)
    arr_mode = data.mode == "arr"
    text = ""
    if data.cross_sell_share is not None:
        cross, revenue = data.cross_sell_share
        if arr_mode:
            text = (
                "Counted day by day, as xsell expansion counts it (the same for every --period), cross-sell is "
                f"{fmt.percent(cross / revenue)} of ARR added ({fmt.money(cross)} of {fmt.money(revenue)} {currency}: "
                "new, reactivation, cross-sell, upsell and pass-through cross-sell movements). "
                f"The bars are per {word}: ARR at each {word}'s close, so what rises and falls between two closes "
                "nets out. "
            )
        else:
            text = (
                f"Over all {periods} {word}s, cross-sell is {fmt.percent(cross / revenue)} of won revenue "
                f"({fmt.money(cross)} of {fmt.money(revenue)} {currency}; new + cross-sell + upsell + pass-through "
                "cross-sell: the same for every --period). "
            )
    off = f"≥ {data.pass_through_discount:.0%} off list"
    flagged = data.flags.filter(pl.col("flag") == "pass_through") if "flag" in data.flags.columns else data.flags
    if flagged.is_empty():
        return text + f"No cross-sell line was priced as a pass-through ({off})."
    lines = flagged.height
    amount = sum(v for v in _floats(flagged, "amount") if v is not None)
    bars = sum(v for v in _floats(data.expansion, "cross_sell_pass_through") if v is not None)
    held = f"the ARR they moved between {word} closes" if arr_mode else "their bookings"
    return text + (
        f"{lines:,} pass-through cross-sell line{'' if lines == 1 else 's'} ({off}; {fmt.money(amount)} {currency}, "
        f"as in Flags) are kept out of cross-sell; the hatched bars hold {held}: {fmt.money(bars)} {currency} in "
        "total."
    )


def _expansion(data: ReportData) -> str:
    expansion = data.expansion
    if data.dateless:
        return _section("expansion", "Expansion", _empty("expansion", _needs_dates("Expansion")))
    if expansion.is_empty():
        return _section(
            "expansion",
            "Expansion",
            _empty(
                "expansion",
                f"No expansion periods: the book has no won line dated on or before the as-of date "
                f"({data.as_of_text}), "
                "so there is no revenue to classify.",
            ),
        )
    currency = _currency(data)
    periods = [_str(p) for p in _col(expansion, "period")]
    word = period_word(periods)
    starts_inside, partial = data.partial_open_text, data.partial_close_text
    # (the axis stars a partial first or last period; the bars' data attributes keep the period)
    ticks = [
        label + ("*" if (i == 0 and starts_inside) or (i == len(periods) - 1 and partial) else "")
        for i, label in enumerate(periods)
    ]
    arr_mode = data.mode == "arr"
    series = []
    for key, label, colour, hatched in drawn_movements(expansion):
        series.append(Series(key, label, tuple(_floats(expansion, key)), colour, hatched))
    # (bookings mode takes amounts as exported: nothing there is annualised)
    y_label = f"ARR movement ({currency})" if arr_mode else f"Won bookings ({currency})"
    bridge = stacked_bars(
        "expansion-bridge",
        periods,
        series,
        title=(
            f"Revenue bridge by {word}: what was added above zero, what was lost below"
            if arr_mode
            else f"Won bookings by {word}: new, cross-sell and upsell (bookings mode shows no losses)"
        ),
        x_label=word.capitalize(),
        y_label=y_label,
        value_text=fmt.money,
        tick_text=fmt.compact_money,
        tick_labels=ticks,
    )
    totals = _expansion_totals(data, len(periods), word)
    if not arr_mode:
        totals += f" Bookings mode ({data.no_end_dates_text}): contraction, churn and reactivation cannot be seen."
    for sentence in (starts_inside, partial):
        if sentence:
            totals += f" {sentence}"
    body = _figure(bridge, escape(totals), "expansion-bridge")
    closing = _floats(expansion, "closing_arr")
    if arr_mode and any(v is not None for v in closing):
        opening = _floats(expansion, "opening_arr")
        line = line_chart(
            "expansion-arr",
            periods,
            [Series("closing_arr", "ARR at period close", tuple(closing), BLACK)],
            title=f"ARR at the close of each {word}",
            x_label=word.capitalize(),
            y_label=f"ARR ({currency})",
            value_text=fmt.money,
            tick_text=fmt.compact_money,
            height=320,
            tick_labels=ticks,
        )
        first_open = opening[0] if opening else None
        body += _figure(
            line,
            escape(
                f"Opening ARR {fmt.money(first_open)} → closing ARR {fmt.money(closing[-1])} {currency}; "
                "each close is the opening plus the movements in the bridge above."
            ),
            "expansion-arr",
        )
    elif arr_mode:
        body += _empty("expansion-arr", "The expansion frame carries no closing ARR, so no ARR line is drawn.")
    columns = [
        ("period", word.capitalize()),
        ("new", "New"),
        ("cross_sell", "Cross-sell"),
        ("upsell", "Upsell"),
        ("reactivation", "Reactivation"),
        ("contraction", "Contraction"),
        ("churn", "Churn"),
        ("cross_sell_pass_through", "Pass-through"),
        ("cross_sell_share", "Cross-sell share of expansion"),
    ]
    if arr_mode:
        columns += [("opening_arr", "Opening ARR"), ("closing_arr", "Closing ARR")]
    table_frame = expansion.select([c for c, _ in columns if c in expansion.columns])
    if not arr_mode:
        table_frame = table_frame.drop(
            [c for c in ("reactivation", "contraction", "churn") if c in table_frame.columns]
        )
    body += _table(table_frame, columns, key="expansion", caption=f"Movements by {word} ({currency})")
    intro = escape(
        f"ARR mode: each period's change in ARR per account and {data.level}, split into new, reactivation, "
        "cross-sell, upsell, contraction and churn (they add up to the change in ARR)."
        if arr_mode
        else "Bookings mode: every won line booked in the period, as new (land), cross-sell or upsell."
    )
    return _section("expansion", "Expansion", body, intro)


def _curves(km: pl.DataFrame) -> tuple[list[Curve], list[str], int]:
    """Step curves of the share cross-sold (1 − S), "all" first then the largest groups."""
    sizes = (
        km.group_by("group")
        .agg(
            pl.col("at_risk").max().alias("landed"),
            pl.col("events").sum().alias("events"),
            pl.col("censored").sum().alias("censored"),
            pl.col("days").max().alias("end"),
        )
        .with_columns((pl.col("group") == "all").alias("is_all"))
        .sort(["is_all", "landed", "group"], descending=[True, True, False])
    )
    curves: list[Curve] = []
    legends: list[str] = []
    colours = [BLACK, *[c for c in CATEGORICAL if c != BLACK]]
    # With no cross-sell anywhere every group's curve is the same flat line: one says it.
    shown = CURVES_MAX if sizes.get_column("events").sum() else 1
    for index, record in enumerate(sizes.head(shown).iter_rows(named=True)):
        group = _str(record["group"])
        one = km.filter(pl.col("group") == group).sort("days")
        steps = tuple(
            (float(d), 1.0 - float(s))
            for d, s in zip(_floats(one, "days"), _floats(one, "survival"), strict=True)
            if d is not None and s is not None
        )
        label = (
            f"{group}: {fmt.count(record['events'])} of {fmt.count(record['landed'])} cross-sold, "
            f"{fmt.count(record['censored'])} still waiting"
        )
        curves.append(Curve(group, label, steps, float(record["end"] or 0.0), colours[index % len(colours)]))
        legends.append(label)
    return curves, legends, sizes.height


def _at_risk(km: pl.DataFrame, times: Sequence[int]) -> list[tuple[float, int]]:
    """Accounts still followed (not yet cross-sold, not yet censored) at each time."""
    everyone = km.filter(pl.col("group") == "all").sort("days")
    days = _floats(everyone, "days")
    risk = _floats(everyone, "at_risk")
    out = []
    for time in times:
        later = [r for d, r in zip(days, risk, strict=True) if d is not None and d >= time and r is not None]
        out.append((float(time), int(later[0]) if later else 0))
    return out


def _timing(data: ReportData) -> str:
    km, timing = data.km_curve, data.timing
    if data.dateless:
        return _section("timing", "Time to cross-sell", _empty("timing", _needs_dates("Time to cross-sell")))
    if km.is_empty() and timing.is_empty():
        return _section(
            "timing",
            "Time to cross-sell",
            _empty("timing", "No landed account to follow: the book has no won line on or before the as-of date."),
        )
    body = ""
    if km.is_empty():
        body += _empty("timing-curve", "No Kaplan–Meier curve was computed for this book.")
    else:
        curves, _, groups = _curves(km)
        end = max(c.end for c in curves)
        svg = step_chart(
            "timing-km",
            curves,
            title="Share of landed accounts cross-sold, by days since land (Kaplan–Meier)",
            x_label="Days since land",
            y_label="Share cross-sold (1 − S)",
            at_risk=_at_risk(km, [t for t in (0, 90, 180, 365, 730) if t <= end]),
        )
        events = km.filter(pl.col("group") == "all").get_column("events").sum()
        caption = (
            "Accounts not yet cross-sold count until the as-of date and then drop out (censored), so the curve is "
            "not biased toward the fast deals. Dashed lines mark 90, 180 and 365 days; the row under the axis is "
            "the number of accounts still followed at that day."
        )
        if not events:
            caption += " No landed account has been cross-sold yet, so the curve stays at 0%"
            caption += f" (and so does each of the {groups - 1} groups)." if groups > 1 else "."
        elif groups > len(curves):
            caption += f" Showing {len(curves)} of {groups} groups (the largest)."
        body += _figure(svg, escape(caption), "timing-km")
    if timing.is_empty():
        body += _empty("timing-table", "No timing rows were computed.")
    else:
        group_column = timing.columns[0]
        body += _table(
            timing,
            [
                (group_column, group_column.replace("_", " ").capitalize()),
                ("accounts_landed", "Landed"),
                ("accounts_cross_sold", "Cross-sold"),
                ("km_median_days", "KM median (days)"),
                ("median_days", "Median among cross-sold (days)"),
                ("p25_days", "P25"),
                ("p75_days", "P75"),
                ("p90_days", "P90"),
                ("within_90d", "≤ 90 days"),
                ("within_180d", "≤ 180 days"),
                ("within_365d", "≤ 365 days"),
                ("premature_cross_sells", "Premature"),
                ("premature_early_churn_rate", "Early churn (premature)"),
                ("other_early_churn_rate", "Early churn (others)"),
            ],
            key="timing",
            caption="Days from land to first cross-sell; ≤ N days shares are Kaplan–Meier estimates",
        )
    intro = escape(
        f"How long after landing an account buys its first new {data.level}. The median among cross-sold accounts "
        "alone is biased short; the Kaplan–Meier median counts the accounts still waiting."
    )
    return _section("timing", "Time to cross-sell", body, intro)


def _retention(data: ReportData) -> str:
    title = f"Retention by {_plural(data.level)} owned"
    retention = data.retention
    if data.dateless:
        return _section("retention", title, _empty("retention", _needs_dates("Retention")))
    if retention is None:
        return _section(
            "retention",
            title,
            _empty(
                "retention",
                NO_RETENTION,
            ),
        )
    if retention.is_empty():
        return _section(
            "retention", title, _empty("retention", "No account had ARR at the start of the window, so no cohort.")
        )
    owned = [_str(v) for v in _col(retention, "products_owned")]
    unit = data.level if data.level == "family" else "product"
    names = [label if label == "all" else f"{label} {unit if label == '1' else _plural(data.level)}" for label in owned]
    accounts = _floats(retention, "accounts")
    notes = [f"{fmt.count(a)} accounts" if a else "no accounts" for a in accounts]
    svg = grouped_bars(
        "retention-bars",
        names,
        [
            Series("logo_retention", "logo retention", tuple(_floats(retention, "logo_retention")), BLUE),
            Series("grr", "gross revenue retention (GRR)", tuple(_floats(retention, "grr")), ORANGE),
            Series("nrr", "net revenue retention (NRR)", tuple(_floats(retention, "nrr")), GREEN),
        ],
        title=f"Retention over the window, by number of {_plural(data.level)} owned at its start",
        x_label=f"{_plural(data.level).capitalize()} owned at the window start",
        y_label="Share retained (%)",
        value_text=fmt.percent,
        tick_text=lambda v: fmt.percent(v, 0),
        reference=1.0,
        reference_label="100%",
        category_notes=notes,
    )
    caption = escape(
        "Logo retention: share of accounts still paying at the end. GRR: ARR kept, capped at each account's start "
        "(≤ 100%). NRR: end ARR over start ARR, expansion included. A cohort with no accounts has no bar."
    )
    table = _table(
        retention,
        [
            ("products_owned", f"{_plural(data.level).capitalize()} owned"),
            ("accounts", "Accounts"),
            ("start_arr", "Start ARR"),
            ("end_arr", "End ARR"),
            ("logo_retention", "Logo retention"),
            ("grr", "GRR"),
            ("nrr", "NRR"),
        ],
        key="retention",
    )
    return _section("retention", title, _figure(svg, caption, "retention-bars") + table)


def _whitespace(data: ReportData) -> str:
    by_family, top = data.whitespace_by_family, data.whitespace_top
    items = _plural(data.level)
    currency = _currency(data)
    left_out = dict(data.omitted).get("whitespace")
    if left_out:
        return _section("whitespace", "Whitespace", _empty("whitespace", left_out))
    # typical value: the median won-line amount, ARR only where the book has end dates
    typical, expected = ("typical ARR", "Expected ARR") if data.mode == "arr" else ("typical amount", "Expected value")
    body = ""
    if by_family.is_empty():
        body += _empty("whitespace-by-family", data.no_whitespace_text)
    elif not any(_floats(by_family, "whitespace_value")):
        body += _empty(
            "whitespace-by-family",
            f"No whitespace value to chart: the export has no amounts or list prices, so no {data.level} has a "
            f"{typical} and every expected value is empty; the rank within each account follows the score.",
        )
    else:
        ordered = by_family.sort(["whitespace_value", "family"], descending=[True, False], nulls_last=True)
        labels = [data.label(v) for v in _col(ordered, "family")]
        values = [v or 0.0 for v in _floats(ordered, "whitespace_value")]
        hovers = [
            f"{label}: {fmt.money(value)} {currency} expected from {fmt.count(owners)} non-owners "
            f"(mean score {fmt.percent(score)})"
            for label, value, owners, score in zip(
                labels, values, _floats(ordered, "non_owners"), _floats(ordered, "mean_score"), strict=True
            )
        ]
        svg = hbars(
            "whitespace-by-family",
            labels,
            values,
            title=f"Whitespace value by {data.level}: {expected.lower()} from the customers who do not own it yet",
            x_label=f"{expected} ({currency}) = Σ score × {typical}",
            value_text=fmt.money,
            tick_text=fmt.compact_money,
            colours=[BLUE],
            tooltips=hovers,
        )
        body += _figure(
            svg,
            escape(
                f"Score = the probability that it is the customer's next new {data.level}, given that it buys "
                f"one: the {items} it lacks share 100% (one left scores 100%). The model of xsell whitespace: "
                "popularity, recent sales, cross-sell rates, item affinity; forced bundles are no evidence. The "
                f"expected value = score × the {typical} of the target (the median amount of its won lines, "
                "else its list price). Hover a bar for the non-owners."
            ),
            "whitespace-by-family",
        )
    if top.is_empty():
        body += _empty("whitespace-top", "No account has a whitespace candidate.")
    else:
        # (the rows of `xsell whitespace --top N`, in its order: score, then account, then item)
        shown = top.head(TOP_WHITESPACE)
        body += _table(
            shown,
            [
                ("account_id", "Account"),
                ("account_name", "Name"),
                ("family", data.level.capitalize()),
                ("product_name", "Product name"),
                ("score", "Score"),
                ("expected_value", f"Expected value ({currency})"),
                ("reason", "Why"),
                ("rank", "Rank in account"),
            ],
            key="whitespace-top",
            caption=f"Top {shown.height} account × {data.level} opportunities by score (as xsell whitespace "
            f"--top {shown.height})",
        )
    intro = escape(f"Where to sell next: {items} each customer does not own, scored by what similar customers bought.")
    return _section("whitespace", "Whitespace", body, intro)


def _flags(data: ReportData) -> str:
    flags, by_rep = data.flags, data.flags_by_rep
    currency = _currency(data)
    if data.dateless:
        return _section("flags", "Flags", _empty("flags", _needs_dates("Flags")))
    if flags.is_empty():
        return _section(
            "flags",
            "Flags",
            _empty(
                "flags",
                "No findings: none of the checks (pass-through discounts, forced bundles, early churn, premature "
                "cross-sells, rep concentration, price erosion) fired on this book.",
            ),
        )
    counts = (
        flags.with_columns(pl.col("severity").replace_strict(SEVERITY_ORDER, default=9).alias("_order"))
        .group_by("flag", "severity", "_order")
        .agg(
            pl.len().alias("findings"),
            # a book-level finding has no amount: an empty cell, not a 0; nor has a rep's concentration
            # in this sum (its amount is the value of lines the other flags count already)
            pl.when((pl.col("amount").count() > 0) & (pl.col("flag").first() != "rep_concentration"))
            .then(pl.col("amount").sum())
            .alias("amount"),
        )
        .sort(["_order", "findings", "flag"], descending=[False, True, False])
    )
    labels = [f"{_str(f)} ({_str(s)})" for f, s in zip(_col(counts, "flag"), _col(counts, "severity"), strict=True)]
    values = [v or 0.0 for v in _floats(counts, "findings")]
    colours = [SEVERITY_COLOURS.get(_str(s), GREY) for s in _col(counts, "severity")]
    svg = hbars(
        "flags-counts",
        labels,
        values,
        title="Findings by flag, coloured by severity",
        x_label="Findings (count)",
        value_text=fmt.count,
        tick_text=fmt.count,
        whole=True,
        colours=colours,
        legend_items=[LegendItem(name, colour) for name, colour in SEVERITY_COLOURS.items()],
    )
    body = _figure(
        svg,
        escape(
            f"pass_through: a cross-sell priced far below list on another {data.level}'s deal; forced_bundle: a "
            f"{data.level} almost never sold alone; early_churn: a cross-sold {data.level} gone within months; "
            "premature: pitched "
            "within days of land; rep_concentration: a rep with far more flagged cross-sells than the book (its "
            "amount, the value of lines the other flags count already, is left out of the table's Amount); "
            "price_erosion: attach rose while price fell."
        ),
        "flags-counts",
    )
    body += _table(
        counts.select("flag", "severity", "findings", "amount"),
        [("flag", "Flag"), ("severity", "Severity"), ("findings", "Findings"), ("amount", f"Amount ({currency})")],
        key="flags-counts",
    )
    reps = by_rep.filter(pl.col("flagged") > 0) if "flagged" in by_rep.columns else by_rep.clear()
    if not by_rep.is_empty() and (by_rep.get_column("rep") == NO_REP).all():
        # (flags --by rep puts lines without a rep under "(none)": one bar of it names nobody)
        body += _empty(
            "flags-reps",
            "No cross-sell line names a rep (the export has no rep column, or leaves it empty): flagged "
            "cross-sells cannot be put to reps.",
        )
    elif reps.is_empty():
        body += _empty("flags-reps", "No rep has a flagged cross-sell.")
    else:
        concentrated = {
            _str(r) for r, f in zip(_col(flags, "rep"), _col(flags, "flag"), strict=True) if f == "rep_concentration"
        }
        # The largest flagged values, and always the reps flagged for concentration: their
        # flagged lines are often cheap pass-throughs, so value alone would hide them.
        ranked = reps.sort(["flagged_value", "rep"], descending=[True, False], nulls_last=True)
        keep = pl.int_range(pl.len()).lt(TOP_REPS) | pl.col("rep").is_in(sorted(concentrated))
        reps = ranked.filter(keep)
        rep_names = [_str(r) for r in _col(reps, "rep")]
        rep_hovers = [
            f"{name}: {fmt.count(flagged)} of {fmt.count(sold)} cross-sells flagged ({fmt.percent(share)}), "
            f"{fmt.money(value)} {currency}"
            for name, flagged, sold, share, value in zip(
                rep_names,
                _floats(reps, "flagged"),
                _floats(reps, "cross_sells"),
                _floats(reps, "share_flagged"),
                _floats(reps, "flagged_value"),
                strict=True,
            )
        ]
        rep_svg = hbars(
            "flags-reps",
            rep_names,
            [v or 0.0 for v in _floats(reps, "flagged_value")],
            title="Reps with the most flagged cross-sell value",
            x_label=f"Flagged cross-sell value ({currency})",
            value_text=fmt.money,
            tick_text=fmt.compact_money,
            colours=[VERMILLION if name in concentrated else BLUE for name in rep_names],
            tooltips=rep_hovers,
            legend_items=[LegendItem("flagged for rep concentration", VERMILLION), LegendItem("other reps", BLUE)],
        )
        body += _figure(
            rep_svg,
            escape(
                f"The {TOP_REPS} reps with the most flagged cross-sell value, plus every rep flagged for "
                "concentration. Hover a bar for the share of the rep's cross-sells that were flagged."
            ),
            "flags-reps",
        )
        body += _table(
            reps,
            [
                ("rep", "Rep"),
                ("cross_sells", "Cross-sells"),
                ("flagged", "Flagged"),
                ("share_flagged", "Share flagged"),
                ("flagged_value", f"Flagged value ({currency})"),
            ],
            key="flags-reps",
        )
    # The largest few of each kind, most severe first: one kind with many rows (every
    # pass-through line) must not push the rarer, book-level findings off the page.
    findings = (
        flags.with_columns(pl.col("severity").replace_strict(SEVERITY_ORDER, default=9).alias("_order"))
        # (ties keep the findings' own order, a total one)
        .sort(
            ["_order", "flag", "amount", "line_id"],
            descending=[False, False, True, False],
            nulls_last=True,
            maintain_order=True,
        )
        .filter(pl.int_range(pl.len()).over("flag") < FINDINGS_PER_FLAG)
        .head(TOP_FINDINGS)
    )
    findings = findings.with_columns(
        pl.Series("family", [None if v is None else data.label(v) for v in _col(findings, "family")], dtype=pl.String)
    )
    body += _table(
        findings,
        [
            ("flag", "Flag"),
            ("severity", "Severity"),
            ("account_id", "Account"),
            ("family", data.level.capitalize()),
            ("rep", "Rep"),
            ("booked_at", "Booked"),
            ("amount", f"Amount ({currency})"),
            ("detail", "Detail"),
        ],
        key="flags-top",
        caption=(
            f"{findings.height} of {flags.height:,} findings: the {FINDINGS_PER_FLAG} largest of each kind, most "
            "severe first (every finding is in the workbook and in xsell flags)"
        ),
    )
    intro = escape(
        "Where the cross-sell number may be gamed or may not last. Each finding is a line to look at, not a verdict."
    )
    return _section("flags", "Flags", body, intro)


def _fine_print(data: ReportData) -> str:
    settings = pl.DataFrame(
        {"setting": [n for n, _ in data.settings], "value": [v for _, v in data.settings]},
        schema={"setting": pl.String, "value": pl.String},
    )
    body = (
        f'<p class="stamp">Made by xsell {escape(data.version)} {escape(data.as_of_text)} · '
        f"{escape(data.level)} level · {escape(data.mode_text)} · min base {data.min_base:,}.</p>\n"
    )
    body += _table(settings, [("setting", "Setting"), ("value", "Value")], key="settings", caption="Settings").replace(
        "<table ", '<table class="compact" ', 1
    )
    if data.row_account.is_empty():
        body += _empty("row-account", "No input rows were accounted for.")
    else:
        body += _table(
            data.row_account,
            [
                ("table", "Table"),
                ("file", "File"),
                ("rows", "Rows"),
                ("used", "Used"),
                *([("after_as_of", "After as-of")] if "after_as_of" in data.row_account.columns else []),
                ("rejected", "Rejected"),
                ("excluded", "Excluded"),
                ("open", "Open"),
            ],
            key="row-account",
            caption=(
                "Every input row: used, "
                + (
                    "booked after the as-of date (no metric reads past it), "
                    if "after_as_of" in data.row_account.columns
                    else ""
                )
                + "rejected with a reason (see xsell validate), excluded, or open (no metric uses it)"
            ),
        )
    if data.notes:
        body += '<ul class="notes">' + "".join(f"<li>{escape(n)}</li>" for n in data.notes) + "</ul>\n"
    return _section("fine-print", "Fine print", body)


_CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1000px; padding: 24px; color: #222; background: #fff;
  font: 14px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, 'Liberation Sans',
  sans-serif; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 0 0 8px; padding-top: 8px; border-top: 3px solid #0072B2; }
.subtitle, .intro, figcaption, caption, .stamp { color: #555; }
nav ol { display: flex; flex-wrap: wrap; gap: 4px 16px; padding: 0; margin: 8px 0 0; list-style: none; }
nav a { color: #0072B2; }
section { margin: 32px 0; }
figure { margin: 16px 0; }
figure svg { display: block; max-width: 100%; height: auto; }
figcaption { font-size: 12.5px; margin-top: 4px; }
.table-wrap { overflow-x: auto; margin: 12px 0 20px; }
table { border-collapse: collapse; width: 100%; font-size: 12.5px; }
table.compact { width: auto; min-width: 50%; }
table.wide { font-size: 11.5px; }
table.wide th, table.wide td { padding: 3px 4px; }
caption { text-align: left; font-size: 12.5px; padding-bottom: 4px; caption-side: top; }
th, td { padding: 3px 8px; border-bottom: 1px solid #e3e3e3; vertical-align: top; }
th { background: #f4f4f4; font-weight: 600; }
th.num, td.num { text-align: right; font-variant-numeric: tabular-nums; }
th.txt, td.txt { text-align: left; }
td { white-space: nowrap; }
td.long { white-space: normal; min-width: 16em; }
.empty { padding: 12px 16px; background: #f4f4f4; border-left: 4px solid #999; }
.kpis { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 12px; }
.kpi { border: 1px solid #ddd; border-radius: 6px; padding: 10px 12px; }
.kpi svg { display: block; width: 100%; height: auto; }
.kpi-name { font-weight: 600; }
.kpi-value { font-size: 26px; font-weight: 700; font-variant-numeric: tabular-nums; }
.kpi-detail { font-size: 12px; color: #555; }
.badge { display: inline-block; padding: 0 6px; border-radius: 3px; font-weight: 600; font-size: 12px;
  border: 1px solid currentColor; }
.badge.within { color: #00704f; }
.badge.below, .badge.above { color: #a34700; }
.badge.na { color: #666; }
.notes { font-size: 12.5px; color: #555; }
@page { size: A4 landscape; margin: 12mm; }
@media print {
  body { max-width: none; padding: 0; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  nav { display: none; }
  section { break-before: page; margin: 0; }
  section#headline { break-before: auto; margin-top: 12px; }  /* the title page carries the KPIs */
  figure, .kpi, tr { break-inside: avoid; }
  .table-wrap { overflow: visible; }
  table { font-size: 10.5px; }
  thead { display: table-header-group; }
  /* A4 landscape leaves 186 mm: heading, intro and caption fit beside a 135 mm chart */
  figure svg { max-height: 135mm; width: auto; max-width: 100%; }
  h2, .intro, caption { break-after: avoid; }
}
"""
