"""report.html without a browser: every section, offline by construction, empty frames explained."""

from __future__ import annotations

import datetime
import re
import subprocess
import sys
from dataclasses import replace

import polars as pl
import pytest

from crossell_cli.report import ReportData, render_html
from crossell_cli.report.html import SECTIONS
from tests.report.fixtures import bookings_report, empty_report, ravenstack_report, sample_report

CHARTS_SAMPLE = {
    "attach-heatmap",
    "expansion-bridge",
    "expansion-arr",
    "timing-km",
    "retention-bars",
    "whitespace-by-family",
    "flags-counts",
    "flags-reps",
}


def charts(page: str) -> set[str]:
    return {c for c in re.findall(r'<svg [^>]*data-chart="([^"]+)"', page) if not c.startswith("kpi-")}


@pytest.fixture(scope="module")
def sample_page() -> str:
    return render_html(sample_report())


def test_every_section_is_on_the_page_in_order(sample_page: str) -> None:
    positions = [sample_page.index(f'<section id="{key}"') for key, _ in SECTIONS]
    assert positions == sorted(positions)
    for key, title in SECTIONS:
        assert re.search(rf'<section id="{key}"[^>]*>\s*<h2>{re.escape(title)}</h2>', sample_page), key


def test_sample_page_draws_every_chart(sample_page: str) -> None:
    assert charts(sample_page) == CHARTS_SAMPLE
    assert len(re.findall(r'data-chart="kpi-\d+"', sample_page)) == 5


def test_nothing_outside_the_page_is_referenced(sample_page: str) -> None:
    assert "<script" not in sample_page
    assert "@import" not in sample_page and "@font-face" not in sample_page
    # the only URLs: in-page anchors and fills; the SVG namespace is a name, never fetched
    assert set(re.findall(r'(?:href|src)="([^"#][^"]*)"', sample_page)) == set()
    assert set(re.findall(r"url\(([^#)][^)]*)\)", sample_page)) == set()
    assert set(re.findall(r"https?://[^\"' )]+", sample_page)) == {"http://www.w3.org/2000/svg"}
    assert "default-src 'none'" in sample_page  # and the CSP forbids any fetch that slipped through


def test_page_is_small_enough_to_mail(sample_page: str) -> None:
    assert len(sample_page.encode("utf-8")) < 5_000_000


def test_rendering_is_pure_and_repeatable() -> None:
    data = sample_report()
    assert render_html(data) == render_html(data)


def test_kpis_show_value_range_and_status(sample_page: str) -> None:
    card = re.search(r'<div class="kpi" data-kpi="cross_sell_rate" data-status="above">(.*?)</svg>', sample_page)
    assert card is not None
    assert "35.0%" in card.group(1) and "good 15.0% – 30.0%" in card.group(1) and "▲ above" in card.group(1)
    days = re.search(r'data-kpi="median_days_to_cross_sell" data-status="within">(.*?)</svg>', sample_page)
    assert days is not None and "230 days" in days.group(1) and "✓ within" in days.group(1)
    below = re.search(r'data-kpi="cross_sell_revenue_share" data-status="below">(.*?)</svg>', sample_page)
    assert below is not None and "▼ below" in below.group(1)


def test_the_multi_product_rate_names_the_forced_bundles_it_counts() -> None:
    """Customers who own a family only sold on another's deals are 'multi-product' without any
    cross-sell: the card says which bundles those are, the three largest by customers."""

    def detail(data: ReportData) -> str:
        found = re.search(
            r'data-kpi="multi_product_rate".*?<div class="kpi-detail">(.*?)</div>', render_html(data), re.S
        )
        assert found is not None
        return found.group(1)

    data = sample_report()
    assert detail(data) == (
        "customers owning 2+ families; 3.09 families per customer. Forced bundles count here: Success Plan, "
        "sold on Core&#x27;s deals in 95%+ of its lines (2,519 customers own both). Owning a forced bundle is no "
        "cross-sell (see Attach rates)"
    )
    unforced = data.attach.with_columns(flag=pl.lit(None, pl.String))
    assert detail(replace(data, attach=unforced)) == "customers owning 2+ families; 3.09 families per customer"
    # four forced pairs: the three shared by most customers, then how many more
    both = pl.Series([9, 7, 7, 3] + [1] * (data.attach.height - 4))
    four = data.attach.with_columns(flag=pl.when(both >= 3).then(pl.lit("forced_bundle")), both_accounts=both)
    top = four.head(3)
    text = detail(replace(data, attach=four))
    assert text.count("&#x27;s deals in 95%+ of its lines") == 3 and text.endswith(
        "own both); and 1 more forced bundle. Owning a forced bundle is no cross-sell (see Attach rates)"
    )
    assert f"{top['target_family'][0]}, sold on {top['base_family'][0]}&#x27;s deals in 95%+" in text
    # at product level each product is named beside its id; the threshold is the configured one
    named = replace(
        data,
        level="product",
        item_names=pl.DataFrame({"item": ["Core"], "name": ["Core platform"]}),
        settings=tuple((k, "0.8" if k == "forced_bundle_share" else v) for k, v in data.settings),
    )
    assert "Success Plan, sold on Core Core platform&#x27;s deals in 80%+ of its lines" in detail(named)


def test_a_null_status_reads_n_a() -> None:
    page = render_html(ravenstack_report())
    card = re.search(r'data-kpi="cross_sell_win_rate" data-status="na">(.*?)</div></div>', page, re.S)
    assert card is not None
    assert "n/a" in card.group(1) and "needs a stage column" in card.group(1)


def test_a_kpi_that_does_not_apply_says_why_next_to_a_grey_mark() -> None:
    """'n/a at product level' is a reason, not a CSS class: the badge is the grey n/a and the
    reason stands next to it, where the reader looks (not only in the fine print)."""
    data = sample_report()
    summary = data.summary.with_columns(
        pl.when(pl.col("kpi") == "cross_sell_rate")
        .then(pl.lit("n/a at product level"))
        .otherwise("status")
        .alias("status")
    )
    page = render_html(replace(data, summary=summary))
    card = re.search(r'data-kpi="cross_sell_rate" data-status="n/a at product level">(.*?)<svg', page, re.S)
    assert card is not None
    assert '<span class="badge na">n/a</span> at product level · good 15.0% – 30.0%' in card.group(1)
    assert 'class="badge n/a' not in page


def test_the_masthead_names_a_where_filter() -> None:
    """KPIs of one segment must not read as the whole book's: the subtitle names --where."""
    data = sample_report()
    settings = tuple((n, "segment=Enterprise" if n == "where" else v) for n, v in data.settings)
    subtitle = re.search(r'<p class="subtitle">([^<]*)</p>', render_html(replace(data, settings=settings)))
    assert subtitle is not None
    assert subtitle.group(1) == (
        "As of 2025-12-31 · family level · ARR mode (end dates) · min base 10 customers · "
        "only accounts where segment=Enterprise · xsell 0.1.0"
    )


def test_heatmap_cells_carry_counts_on_hover_and_the_forced_bundle_is_marked(sample_page: str) -> None:
    assert "<title>Core → Analytics: 26.0% attach — 954 of 3,666 Core customers also own Analytics" in sample_page
    forced = re.search(r'data-row="Core" data-column="Success Plan"[^>]*data-marked="true"', sample_page)
    assert forced is not None
    assert "Forced bundle: bought on the same deal almost always" in sample_page


def test_bases_under_min_base_are_greyed() -> None:
    data = sample_report()
    page = render_html(replace(data, min_base=100))  # Legacy Connector has 90 customers
    greyed = set(re.findall(r'class="cell greyed" data-row="([^"]+)"', page))
    assert greyed == {"Legacy Connector"}
    assert "base under 100 customers" in page


def test_expansion_bridge_in_arr_mode_has_losses_and_an_arr_line(sample_page: str) -> None:
    assert 'data-series="churn" data-category="2025-Q4" data-value="-3015294.4"' in sample_page
    assert 'data-series="cross_sell_pass_through" data-category="2025-Q4" data-value="4892.3"' in sample_page
    closing = sample_report().expansion.get_column("closing_arr").to_list()[-1]
    assert f'data-series="closing_arr" data-category="2025-Q4" data-value="{closing!r}"' in sample_page
    assert "cross-sell is 12.4% of ARR added (48,772,638 of 393,394,226 currency units" in sample_page
    assert "the hatched bars hold the ARR they moved between quarter closes: 9,161 currency units in total." in (
        sample_page
    )


def test_bookings_mode_draws_no_churn_and_explains_missing_retention() -> None:
    page = render_html(bookings_report())
    series = set(re.findall(r'class="bar" data-series="([^"]+)"', page))
    assert {"new", "cross_sell", "upsell"} <= series
    assert not {"churn", "contraction", "reactivation"} & series
    assert "expansion-arr" not in charts(page)
    assert (
        "Bookings mode (no won line booked on or before the as-of date has an end date): contraction, churn and "
        "reactivation cannot be seen." in page
    )
    assert re.search(r'data-empty="retention">Retention needs end dates', page)


def test_km_curve_draws_one_curve_per_group_with_the_waiting_count(sample_page: str) -> None:
    groups = re.findall(r'class="curve" data-series="([^"]+)"', sample_page)
    assert set(groups) == {"all", "Core", "Success Plan", "Payments", "Analytics", "Security"}
    assert "all: 2,744 of 3,850 cross-sold, 1,106 still waiting" in sample_page
    assert re.findall(r'class="marker" data-day="(\d+)"', sample_page) == ["90", "180", "365"]


def test_ravenstack_says_why_attach_whitespace_and_flags_are_empty() -> None:
    page = render_html(ravenstack_report())
    assert charts(page) == {"expansion-bridge", "expansion-arr", "timing-km", "retention-bars"}
    for key in ("attach", "whitespace-by-family", "whitespace-top", "flags"):
        assert re.search(rf'data-empty="{key}">\w', page), key
    assert "No landed account has been cross-sold yet" in page
    # (its config folds the tiers into one family: the reason, not "no evidence points to one")
    one = replace(ravenstack_report(), attach_items=pl.DataFrame({"item": ["Subscription"], "customers": [500]}))
    assert (
        '<p class="empty" data-empty="whitespace-by-family">No whitespace: every customer owns every sellable '
        "family (the book has one family).</p>" in render_html(one)
    )


def test_an_empty_book_explains_every_section_and_draws_no_chart() -> None:
    page = render_html(empty_report())
    assert re.findall(r"<svg ", page) == []
    for key in ("headline", "attach", "expansion", "timing", "retention", "whitespace-top", "flags", "row-account"):
        assert re.search(rf'data-empty="{key}">\w', page), key
    for key, title in SECTIONS:
        assert f'<section id="{key}"' in page and f"<h2>{title}</h2>" in page


def test_text_from_the_data_is_escaped() -> None:
    data = sample_report()
    hostile = data.whitespace_top.with_columns(
        pl.lit("<script>alert(1)</script>").alias("account_name"), pl.lit('"><img src=x>').alias("reason")
    )
    page = render_html(replace(data, whitespace_top=hostile, title="Q3 <b>board</b>"))
    assert "<script>alert" not in page and "<img src=x>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<title>Q3 &lt;b&gt;board&lt;/b&gt;</title>" in page


def test_fine_print_has_settings_row_account_version_and_notes(sample_page: str) -> None:
    fine = sample_page[sample_page.index('<section id="fine-print"') :]
    assert "Made by xsell 0.1.0 as of 2025-12-31" in fine
    assert '<td class="txt">pass_through_discount</td><td class="txt long">0.9</td>' in fine
    assert re.search(r"line_items</td><td[^>]*>sample_data/line_items.csv</td><td[^>]*>15,965</td>", fine)
    assert '<td class="num">196</td></tr>' in fine  # open rows
    assert "Amounts are annualised recurring value in one currency." in fine


def test_print_css_puts_each_section_on_its_own_page(sample_page: str) -> None:
    css = sample_page[sample_page.index("@media print") :]
    assert re.search(r"section\s*\{[^}]*break-before:\s*page", css)
    assert re.search(r"section#headline\s*\{[^}]*break-before:\s*auto", css)
    assert "@page" in sample_page


def test_flag_tables_keep_rare_findings_and_concentrated_reps(sample_page: str) -> None:
    flags = sample_page[sample_page.index('<section id="flags"') :]
    top = flags[flags.index('data-table="flags-top"') :]
    for kind in ("pass_through", "early_churn", "forced_bundle", "price_erosion", "rep_concentration", "premature"):
        assert f'<td class="txt">{kind}</td>' in top, kind
    # the two concentrated reps have little flagged value but are always on the reps chart
    assert 'data-category="Dana Whitfield"' in flags and 'data-category="Priya Raman"' in flags


def test_importing_the_package_does_not_import_xlsxwriter() -> None:
    code = "import sys, crossell_cli.report; print('xlsxwriter' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("argv", [["--help"], ["report", "--help"]])
def test_xsell_help_never_imports_the_report_renderers(argv: list[str]) -> None:
    code = (
        "import sys\n"
        "from crossell_cli.cli import main\n"
        f"sys.argv = ['xsell', *{argv!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('RESULT', *(m in sys.modules for m in ('crossell_cli.report', 'xlsxwriter', 'polars')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "RESULT False False False"


def test_report_data_is_frozen() -> None:
    data = sample_report()
    with pytest.raises(AttributeError):
        data.title = "x"  # type: ignore[misc]
    assert isinstance(data, ReportData)


def test_tied_rows_of_the_top_tables_come_in_a_fixed_order() -> None:
    """Findings tied on severity, flag and amount keep the order `xsell flags` gives them (a
    total one: base_family breaks a forced bundle's tie); whitespace rows keep the order of
    `xsell whitespace --top N` (score, account, item: total), as the workbook does. Same data,
    same page."""
    data = sample_report()
    columns = data.flags.columns
    bundles = pl.DataFrame(
        [
            {c: None for c in columns}
            | {"flag": "forced_bundle", "severity": "medium", "family": "Addon", "base_family": base, "detail": base}
            for base in ("Base1", "Base2", "Base3", "Base4", "Base5")
        ],
        schema=data.flags.schema,
    )
    row = data.whitespace_top.head(1)
    tied = pl.concat(
        [
            row.with_columns(pl.lit(family).alias("family"), pl.lit(None, dtype=pl.Float64).alias("expected_value"))
            for family in ("Zeta", "Alpha")
        ]
    )
    page = render_html(replace(data, flags=bundles, whitespace_top=tied))
    top = page[page.index('data-table="flags-top"') :]
    top = top[: top.index("</table>")]
    assert re.findall(r"Base\d", top) == ["Base1", "Base2", "Base3"]
    shown = page[page.index('data-table="whitespace-top"') :]
    shown = shown[: shown.index("</table>")]
    assert shown.index(">Zeta<") < shown.index(">Alpha<")
    # the sample's top rows, by score: the page lists them in that order, not re-sorted by value
    page = render_html(data)
    shown = page[page.index('data-table="whitespace-top"') :]
    shown = shown[: shown.index("</table>")]
    at = [shown.index(f">{a}<") for a in data.whitespace_top["account_id"].unique(maintain_order=True)]
    assert at == sorted(at) and len(at) > 1
    assert data.whitespace_top["score"].is_sorted(descending=True)
    assert not data.whitespace_top["expected_value"].is_sorted(descending=True)


def _pair(base: str, target: str, base_n: int, both: int, target_n: int, customers: int = 4334) -> dict[str, object]:
    rate = both / base_n
    return {
        "base_family": base,
        "target_family": target,
        "base_accounts": base_n,
        "both_accounts": both,
        "attach_rate": rate,
        "ci_low": rate / 2,
        "ci_high": min(rate * 2, 1.0),
        "target_accounts": target_n,
        "target_rate": target_n / customers,
        "lift": rate / (target_n / customers),
        "co_booked": 0,
        "cross_sold_after": both,
        "before": 0,
        "cross_sell_attach": rate,
        "flag": None,
    }


def test_strongest_pairs_need_min_base_customers_on_both_sides() -> None:
    """Online Retail at product level: 35923 → 84402B has a base of 30 (min_base) but 84402B has
    3 customers, all of them 35923's, so its lift is 4 334 / 30 = 144.50× on 3 accounts. A lift
    reads the same both ways (B → A has a base of 3, which xsell attach does not list), so a
    strongest pair needs min_base customers on both sides; the caption says the threshold."""
    rows = [
        _pair("35923", "84402B", 30, 3, 3),
        _pair("84402B", "35923", 3, 3, 30),
        _pair("17012F", "17012D", 33, 24, 35),
        _pair("17012D", "17012F", 35, 24, 33),
    ]
    pairs = pl.DataFrame(rows)
    page = render_html(replace(sample_report(), attach=pairs, min_base=30, level="product"))
    table = page[page.index('data-table="attach-top"') : page.index("</table>", page.index('data-table="attach-top"'))]
    caption = re.search(r"<caption>(.*?)</caption>", table)
    assert caption is not None
    assert caption.group(1) == (
        "Strongest pairs by lift: base and target each owned by ≥ 30 customers (the min_base below which xsell "
        "attach lists no pair; a lift reads the same both ways), forced bundles left out"
    )
    body = [re.findall(r"<td[^>]*>([^<]*)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", table)]
    assert [row[:8] for row in body if row] == [
        ["17012F", "17012D", "33", "24", "72.7%", "36.4%–100.0%", "0.8%", "90.06×"],
        ["17012D", "17012F", "35", "24", "68.6%", "34.3%–100.0%", "0.8%", "90.06×"],
    ]


def test_bookings_mode_by_config_on_a_book_with_end_dates_says_so() -> None:
    """`mode: bookings` in the config on a book with end dates: the mode is not for want of them."""
    page = render_html(replace(bookings_report(), end_dates=True))
    assert "bookings mode (the config&#x27;s mode is bookings, so end dates are not read)" in page
    assert "Bookings mode (the config&#x27;s mode is bookings, so end dates are not read): contraction" in page


def test_product_level_says_product_where_it_means_the_item() -> None:
    page = render_html(replace(sample_report(), level="product"))
    assert "How long after landing an account buys its first new product." in page
    assert "ARR mode: each period&#x27;s change in ARR per account and product, split into new" in page
    assert (
        "pass_through: a cross-sell priced far below list on another product&#x27;s deal; forced_bundle: a product "
        "almost never sold alone; early_churn: a cross-sold product gone within months;" in page
    )


def test_product_level_names_each_product_beside_its_id() -> None:
    """The heatmap, its hovers, the strongest pairs, the whitespace chart and table and the
    findings say "CORE-PRO Core Pro", not a bare id (Online Retail's ids are stock codes)."""
    base = sample_report()
    names = pl.DataFrame(
        {"item": ["Core", "Analytics", "Payments"], "name": ["Core platform", "Analytics hub", "Payments hub"]}
    )
    page = render_html(replace(base, level="product", item_names=names))
    heat = page[
        page.index('data-chart="attach-heatmap"') : page.index("</svg>", page.index('data-chart="attach-heatmap"'))
    ]
    assert ">Core platform<" not in heat and ">Core Core platform<" in heat
    assert "Core Core platform → Success Plan: " in heat
    pairs = page[page.index("attach-top") :]
    assert (
        '<td class="txt">Analytics Analytics hub</td><td class="txt">AI Assistant</td>'
        in pairs[: pairs.index("</table>")]
    )
    bars = page[page.index('data-chart="whitespace-by-family"') :]
    assert ">Analytics Analytics hub<" in bars[: bars.index("</svg>")]
    findings = page[page.index("flags-top") :]
    families = re.findall(
        r"<tr>(?:<td[^>]*>[^<]*</td>){3}<td[^>]*>([^<]*)</td>", findings[: findings.index("</table>")]
    )
    assert families[:4] == ["Payroll", "Payroll", "Payments Payments hub", "Payments Payments hub"]
    assert "–" in families  # a finding without a family (a rep's) stays empty
    # a family without a name stays as it was, and the family level ignores names
    assert "Success Plan → Core Core platform: " in heat
    assert render_html(replace(base, item_names=names)) == render_html(base)


def test_a_last_period_cut_short_by_the_as_of_date_is_marked() -> None:
    """As of 15 November, 2025-Q4 holds 46 of its 92 days: its bars are starred and the caption
    says why. A period that closes on its last day (sample_data: 31 December) is not marked."""
    whole = render_html(sample_report())
    assert "2025-Q4*" not in whole and "is partial" not in whole
    page = render_html(replace(sample_report(), as_of=datetime.date(2025, 11, 15)))
    bridge = page[page.index('data-chart="expansion-bridge"') :]
    assert ">2025-Q4*<" in bridge[: bridge.index("</svg>")] and ">2025-Q3<" in bridge[: bridge.index("</svg>")]
    # the star is on the axis only: the bars' data attributes keep the period
    assert 'data-category="2025-Q4"' in bridge and 'data-category="2025-Q4*"' not in page
    assert (
        "* 2025-Q4 is partial: it closes on the as-of date, 2025-11-15, not on its last day (2025-12-31), so its "
        "bars hold 46 of its 92 days." in page
    )
    years = replace(
        sample_report(),
        as_of=datetime.date(2025, 12, 30),
        expansion=pl.DataFrame({"period": ["2025"], "period_start": [datetime.date(2025, 1, 1)], "new": [1.0]}),
    )
    assert (
        "* 2025 is partial: it closes on the as-of date, 2025-12-30, not on its last day (2025-12-31), so its bars hold 364 of its 365 days."
        in render_html(years)
    )


def test_a_first_period_the_book_starts_inside_is_marked() -> None:
    """A book whose first line is dated 14 February holds 46 of the first quarter's 90 days:
    its bars are starred and the caption says so; a book starting on the 1st is not marked."""
    base = sample_report()
    assert base.expansion["period_start"][0] == datetime.date(2022, 1, 1)
    assert "is partial" not in render_html(replace(base, first_day=datetime.date(2022, 1, 1)))
    page = render_html(replace(base, first_day=datetime.date(2022, 2, 14), as_of=datetime.date(2025, 11, 15)))
    bridge = page[page.index('data-chart="expansion-bridge"') :]
    bridge = bridge[: bridge.index("</svg>")]
    assert ">2022-Q1*<" in bridge and ">2025-Q4*<" in bridge and ">2022-Q2<" in bridge
    assert 'data-category="2022-Q1"' in bridge
    assert (
        "* 2022-Q1 is partial: the book&#x27;s first line in it is dated 2022-02-14, so its bars hold 46 of its 90 "
        "days. * 2025-Q4 is partial: it closes on the as-of date" in page
    )
    # one period both opened and closed inside: each sentence counts the days the book holds
    one = replace(
        base,
        first_day=datetime.date(2025, 10, 11),
        as_of=datetime.date(2025, 11, 15),
        expansion=pl.DataFrame({"period": ["2025-Q4"], "period_start": [datetime.date(2025, 10, 1)], "new": [1.0]}),
    )
    assert (
        "* 2025-Q4 is partial: the book&#x27;s first line in it is dated 2025-10-11, so its bars hold 36 of its 92 "
        "days. * 2025-Q4 is partial: it closes on the as-of date, 2025-11-15, not on its last day (2025-12-31), so "
        "its bars hold 36 of its 92 days." in render_html(one)
    )


def test_bridge_titles_say_what_the_bars_hold() -> None:
    """ARR mode has losses below zero; bookings mode has none to draw, and its title says so."""
    title = '<title id="expansion-bridge-title">{}</title>'
    arr = render_html(sample_report())
    assert title.format("Revenue bridge by quarter: what was added above zero, what was lost below") in arr
    bookings = render_html(bookings_report())
    assert title.format("Won bookings by quarter: new, cross-sell and upsell (bookings mode shows no losses)") in (
        bookings
    )


def test_the_pass_through_split_is_drawn_only_when_a_period_holds_one() -> None:
    """Its legend entry promised a hatched bar there was none of (sample_data at an earlier T)."""
    label = "cross-sell at pass-through price (flagged)"
    assert label in render_html(sample_report())
    base = sample_report()
    none = replace(
        base,
        expansion=base.expansion.with_columns(pl.lit(0.0).alias("cross_sell_pass_through")),
        flags=base.flags.filter(pl.col("flag") != "pass_through"),
    )
    page = render_html(none)
    assert label not in page and 'data-series="cross_sell_pass_through"' not in page
    assert 'data-series="cross_sell"' in page
    assert "No cross-sell line was priced as a pass-through" in page


def test_the_score_is_said_to_be_conditional_on_a_new_purchase(sample_page: str) -> None:
    """aws_saas_sales' top 20 all score 100%: each of those customers lacks one family. The
    caption said 'the probability that it is the customer's next purchase', unconditionally."""
    assert (
        "Score = the probability that it is the customer&#x27;s next new family, given that it buys one: the "
        "families it lacks share 100% (one left scores 100%)." in sample_page
    )


def test_money_words_follow_the_mode() -> None:
    """Bookings mode takes amounts as exported: no axis or caption calls them annualised or ARR."""
    arr, bookings = render_html(sample_report()), render_html(bookings_report())
    label = ">{}</text>"  # (an axis title's text)
    assert label.format("ARR movement (currency units)") in arr
    assert label.format("Expected ARR (currency units) = Σ score × typical ARR") in arr
    assert label.format("Won bookings (currency units)") in bookings
    assert label.format("Expected value (currency units) = Σ score × typical amount") in bookings
    assert "Whitespace value by family: expected value from the customers" in bookings
    charts_and_captions = bookings[: bookings.index('<section id="fine-print"')]
    assert not re.search("annualised|typical ARR|Expected ARR", charts_and_captions)


def test_a_book_without_reps_says_so_instead_of_a_none_bar() -> None:
    data = sample_report()
    nobody = pl.DataFrame(
        {
            "rep": ["(none)"],
            "cross_sells": [2744],
            "flagged": [133],
            "share_flagged": [133 / 2744],
            "flagged_value": [9161.1],
        }
    )
    page = render_html(
        replace(data, flags_by_rep=nobody, flags=data.flags.with_columns(pl.lit(None, pl.String).alias("rep")))
    )
    assert (
        '<p class="empty" data-empty="flags-reps">No cross-sell line names a rep (the export has no rep column, or '
        "leaves it empty): flagged cross-sells cannot be put to reps.</p>" in page
    )
    assert "flags-reps" not in charts(page)


def test_a_reps_concentration_adds_no_amount_to_the_flag_counts(sample_page: str) -> None:
    """The two concentrated reps' amount (9,161) is exactly the 40 pass-through lines' (9,161):
    a reader adding up the Amount column counted those lines twice."""
    rows = re.findall(
        r'<tr><td class="txt">(\w+)</td><td class="txt">(\w+)</td><td class="num">([\d,]+)</td>'
        r'<td class="num">([^<]*)</td></tr>',
        sample_page,
    )
    counts = {flag: (severity, findings, amount) for flag, severity, findings, amount in rows}
    assert counts["pass_through"] == ("high", "40", "9,161")
    assert counts["rep_concentration"] == ("medium", "2", "–")
