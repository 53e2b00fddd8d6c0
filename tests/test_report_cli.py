"""`xsell report` end to end: the numbers are each command's own, and the command writes what it says.

The report's record (ReportData) is captured on its way to the renderer of a real
`xsell report` run, and every frame in it is compared, as CSV bytes, with what the
command that owns the metric prints with `--format csv` on the same book and options.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import importlib
import io
import os
import pty
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import openpyxl
import polars as pl
import pytest

import crossell_cli.report as report_package
from crossell_cli.render import guard_formulas
from crossell_cli.report import ReportData

from .conftest import REPO, SAMPLE, Invocation, invoke, realdata
from .test_report_xlsx import SHEETS, formats

Capture = Callable[..., tuple[Invocation, ReportData]]


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Capture]:
    """Run `xsell report ARGS -o tmp/report.html` in-process; return the run and the ReportData drawn."""
    seen: list[ReportData] = []
    real = report_package.render_html

    def spy(data: ReportData) -> str:
        seen.append(data)
        return real(data)

    monkeypatch.setattr(report_package, "render_html", spy)

    def run(*args: str, cwd: Path = REPO) -> tuple[Invocation, ReportData]:
        seen.clear()
        result = invoke(["report", *args, "-o", str(tmp_path / "report.html")], env={"XSELL_CONFIG": ""}, cwd=cwd)
        assert result.exit_code == 0, result.output
        assert len(seen) == 1
        return result, seen[0]

    yield run


def csv_of(frame: pl.DataFrame) -> str:
    """A frame as the commands write it with --format csv."""
    return guard_formulas(frame).write_csv()


def command_csv(*args: str, cwd: Path = REPO) -> str:
    result = invoke([*args, "--format", "csv"], env={"XSELL_CONFIG": ""}, cwd=cwd)
    assert result.exit_code == 0, result.output
    return result.stdout


def assert_agrees(data: ReportData, book: list[str], *, timing_by: str | None = None, arr: bool = True) -> None:
    """Every frame of the report equals the CSV of the command that owns it (same options)."""
    filters = list(book)
    pairs = [
        (data.summary, ["summary", *filters]),
        (data.attach, ["attach", "--all", *filters]),
        (data.expansion, ["expansion", *filters]),
        (data.whitespace_top, ["whitespace", "--top", "20", *filters]),
        (data.whitespace_by_family, ["whitespace", "--by", "family", *filters]),
        (data.flags, ["flags", "--all-findings", *filters]),
        (data.flags_by_rep, ["flags", "--by", "rep", *filters]),
    ]
    if arr:
        assert data.retention is not None
        pairs.append((data.retention, ["retention", *filters]))
    else:
        assert data.retention is None
    overall = data.timing.filter(pl.col("group") == "all")
    pairs.append((overall, ["timing", *filters]))
    if timing_by is not None:
        groups = data.timing.filter(pl.col("group") != "all").rename({"group": timing_by})
        pairs.append((groups, ["timing", "--by", timing_by, *filters]))
    for frame, args in pairs:
        assert csv_of(frame) == command_csv(*args), f"report differs from `xsell {' '.join(args)}`"


def assert_curve_is_timings_estimate(data: ReportData) -> None:
    """The drawn Kaplan–Meier curve gives the timing table's within_Nd and km_median_days."""
    assert data.km_curve.columns == ["group", "days", "survival", "at_risk", "events", "censored"]
    for row in data.timing.iter_rows(named=True):
        curve = data.km_curve.filter(pl.col("group") == row["group"]).sort("days")
        assert int(curve["at_risk"][0]) == row["accounts_landed"]
        assert int(curve["events"].sum()) == row["accounts_cross_sold"]
        for horizon in (90, 180, 365):
            within = row[f"within_{horizon}d"]
            if within is None:
                continue
            before = curve.filter(pl.col("days") <= horizon)["survival"]
            assert within == 1.0 - (before[-1] if before.len() else 1.0)
        reached = curve.filter(pl.col("survival") <= 0.5)["days"]
        assert row["km_median_days"] == (reached[0] if reached.len() else None)


def test_sample_report_numbers_are_the_commands_numbers(captured: Capture) -> None:
    book = ["--data", str(SAMPLE)]
    result, data = captured(*book, "--curves-by", "land_family")
    assert data.mode == "arr" and data.level == "family" and str(data.as_of) == "2025-12-31"
    assert_agrees(data, book, timing_by="land_family")
    assert_curve_is_timings_estimate(data)
    assert set(data.km_curve["group"].unique()) == set(data.timing["group"])
    assert data.row_account["table"].to_list() == ["line_items", "accounts", "products"]
    assert (
        result.stderr.splitlines()[-1] == "15,965 line items: 15,769 used, 196 open (no metric uses them), 0 rejected"
    )
    # the fine print counts as that line does: used, rejected, excluded and open add up to the rows
    lines = data.row_account.row(0, named=True)
    assert (lines["rows"], lines["used"], lines["rejected"], lines["excluded"], lines["open"]) == (
        15965,
        15769,
        0,
        0,
        196,
    )
    for row in data.row_account.iter_rows(named=True):
        assert row["used"] + row["rejected"] + row["excluded"] + row["open"] == row["rows"]
    assert result.stderr.startswith("wrote ")
    # ARR mode: the first period opens with the earliest won line's start (no partial mark here)
    won = pl.read_csv(SAMPLE / "line_items.csv", try_parse_dates=True).filter(pl.col("stage") == "won")
    assert data.first_day == won["start_date"].min() == data.expansion["period_start"][0]


def test_filtered_report_is_the_filtered_commands(captured: Capture) -> None:
    """--where, --as-of, --level, --window and --period reach every metric as they reach each command."""
    book = [
        "--data",
        str(SAMPLE),
        "--where",
        "segment=Enterprise",
        "--as-of",
        "2025-06-30",
        "--level",
        "product",
        "--window",
        "180d",
    ]
    _, data = captured(*book, "--period", "year", "--curves-by", "cohort")
    assert data.level == "product" and str(data.as_of) == "2025-06-30"
    # each command takes the options it has: --window (summary, retention, flags), --period (expansion)
    assert csv_of(data.summary) == command_csv("summary", *book)
    assert csv_of(data.attach) == command_csv("attach", "--all", *book[:-2])
    assert csv_of(data.expansion) == command_csv("expansion", "--period", "year", *book[:-2])
    assert csv_of(data.whitespace_top) == command_csv("whitespace", "--top", "20", *book[:-2])
    assert csv_of(data.whitespace_by_family) == command_csv("whitespace", "--by", "family", *book[:-2])
    assert data.retention is not None
    assert csv_of(data.retention) == command_csv("retention", *book)
    assert csv_of(data.flags) == command_csv("flags", "--all-findings", *book)
    assert csv_of(data.flags_by_rep) == command_csv("flags", "--by", "rep", *book)
    assert csv_of(data.timing.filter(pl.col("group") == "all")) == command_csv("timing", *book[:-2])
    cohorts = data.timing.filter(pl.col("group") != "all").rename({"group": "cohort"})
    assert csv_of(cohorts) == command_csv("timing", "--by", "cohort", *book[:-2])
    assert_curve_is_timings_estimate(data)
    assert ("where", "segment=Enterprise") in data.settings and ("period", "year") in data.settings
    # the page names products as the products table does (whitespace's product_name)
    products = pl.read_csv(SAMPLE / "products.csv")
    assert sorted(data.item_names.iter_rows()) == sorted(products.select("product_id", "product_name").iter_rows())


@pytest.mark.realdata
def test_ravenstack_report_numbers_are_the_commands_numbers(captured: Capture) -> None:
    realdata("ravenstack")
    book = ["-c", "examples/ravenstack/xsell.yaml"]
    _, data = captured(*book, "--curves-by", "cohort")
    assert data.mode == "arr" and data.title == "Cross-sell report: ravenstack"
    assert data.expansion["closing_arr"].null_count() == 0  # the ARR line has a value per period
    assert_agrees(data, book, timing_by="cohort")
    assert_curve_is_timings_estimate(data)


def test_bookings_mode_has_no_retention(captured: Capture, tmp_path: Path) -> None:
    lines = pl.read_csv(SAMPLE / "line_items.csv", infer_schema=False).drop("end_date")
    lines.write_csv(tmp_path / "line_items.csv")
    for name in ("accounts.csv", "products.csv"):
        (tmp_path / name).write_bytes((SAMPLE / name).read_bytes())
    book = ["--data", str(tmp_path)]
    _, data = captured(*book)
    assert data.mode == "bookings" and data.retention is None
    assert csv_of(data.expansion) == command_csv("expansion", *book)
    # bookings mode: the first period opens with the earliest won booking
    won = pl.read_csv(SAMPLE / "line_items.csv", try_parse_dates=True).filter(pl.col("stage") == "won")
    assert data.first_day == won["booked_at"].min()


# ---------------------------------------------------------------------------------------
# what the command writes, and where


def test_html_file_is_small_self_contained_and_written_atomically(cli, tmp_path: Path) -> None:
    result = cli("report", "--data", str(SAMPLE), "-o", "out/report-{as_of}.html")
    assert result.exit_code == 73 and "does not exist" in result.stderr  # the folder is not there yet
    (tmp_path / "out").mkdir()
    result = cli("report", "--data", str(SAMPLE), "-o", "out/report-{as_of}.html")
    assert result.exit_code == 0, result.output
    page = tmp_path / "out" / "report-2025-12-31.html"
    assert result.stderr.startswith("wrote out/report-2025-12-31.html\n")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [page.name]  # no temp file left
    text = page.read_text(encoding="utf-8")
    assert page.stat().st_size < 5_000_000
    assert text.startswith("<!DOCTYPE html>") and "<script" not in text
    # The only URLs are XML namespaces, which nothing fetches.
    assert set(re.findall(r"https?://[^\s\"'<>)]+", text)) <= {"http://www.w3.org/2000/svg"}
    assert "default-src 'none'" in text


XLSX_BOOKS = {
    "sample": ["--data", str(SAMPLE), "--curves-by", "land_family"],
    "ravenstack": ["-c", "examples/ravenstack/xsell.yaml", "--curves-by", "cohort"],
}


TABLED = {
    "sample": set(SHEETS[1:]) - {"Attach matrix"},
    # one family: no pair, no whitespace, no cross-sell to flag
    "ravenstack": {"Expansion", "Timing", "KM curve", "Retention"},
}


@pytest.mark.parametrize("name", sorted(XLSX_BOOKS))
def test_xlsx_read_back_sheets_formats_frozen_headers_charts_and_numbers(name: str, tmp_path: Path) -> None:
    if name == "ravenstack":
        realdata("ravenstack")
    path = tmp_path / f"report-{name}.xlsx"
    result = invoke(["report", *XLSX_BOOKS[name], "-o", str(path)], env={"XSELL_CONFIG": ""}, cwd=REPO)
    assert result.exit_code == 0, result.output
    workbook = openpyxl.load_workbook(path)
    assert workbook.sheetnames == SHEETS
    for title in SHEETS[1:]:
        if title != "Attach matrix":  # a grid: its row labels stay too (C2); a sentence when empty
            assert workbook[title].freeze_panes == "A2", title
    # A metric with rows is an Excel table; an empty one keeps its header and says why.
    tabled = {title for title in SHEETS[1:] if workbook[title].tables}
    assert tabled == TABLED[name]
    expansion = workbook["Expansion"]
    for money in ("new", "cross_sell", "churn", "opening_arr", "closing_arr"):
        assert formats(expansion, money) == {"#,##0"}, money
    assert formats(expansion, "cross_sell_share") <= {"0.0%"}
    assert formats(expansion, "period_start") == {"yyyy-mm-dd"}
    timing = workbook["Timing"]
    assert formats(timing, "within_365d") == {"0.0%"} and formats(timing, "accounts_landed") == {"#,##0"}
    assert {formats(workbook["Retention"], n).pop() for n in ("logo_retention", "grr", "nrr")} == {"0.0%"}
    # The workbook's numbers are the command's: the Expansion sheet against `xsell expansion`.
    command = pl.read_csv(
        io.StringIO(command_csv("expansion", *XLSX_BOOKS[name][:2])),
        try_parse_dates=True,
        schema_overrides={"period": pl.String},
    )
    header = [c.value for c in expansion[1]]
    # (the Excel table's rows; a sentence under it may say a period is partial)
    (table,) = expansion.tables.values()
    last_row = int(re.sub(r"^.*[A-Z]", "", table.ref))
    sheet_rows = [[c.value for c in row] for row in expansion.iter_rows(min_row=2, max_row=last_row)]
    assert header == command.columns and len(sheet_rows) == command.height
    for got, want in zip(sheet_rows, command.iter_rows(), strict=True):
        for value, expected in zip(got, want, strict=True):
            if isinstance(expected, dt.date):
                assert value.date() == expected
            else:
                assert value == expected
    with zipfile.ZipFile(path) as archive:
        charts = [n for n in archive.namelist() if re.fullmatch(r"xl/charts/chart\d+\.xml", n)]
        bridge = next(archive.read(n).decode() for n in charts if "<c:barChart>" in archive.read(n).decode())
    assert len(charts) == 2  # the expansion bridge and the Kaplan–Meier curve
    assert '<c:grouping val="stacked"/>' in bridge and "<c:lineChart>" in bridge  # ARR line on the second axis


def test_without_o_the_page_goes_to_a_pipe(cli) -> None:
    result = cli("report", "--data", str(SAMPLE))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("<!DOCTYPE html>") and result.stdout.rstrip().endswith("</html>")
    assert result.stderr == "15,965 line items: 15,769 used, 196 open (no metric uses them), 0 rejected\n"


def test_without_o_on_a_terminal_it_asks_for_a_file() -> None:
    """A 200 KB page dumped on a terminal is never wanted: usage error (exit 2), before any reading."""
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "crossell_cli", "report", "--data", str(SAMPLE)],
            stdout=follower,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            env={**os.environ, "XSELL_CONFIG": ""},
        )
    finally:
        os.close(follower)
        os.close(leader)
    assert done.returncode == 2
    assert "give -o report.html or -o report.xlsx" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "report.csv"], "a report is .html or .xlsx"),
        (["-o", "report"], "a report is .html or .xlsx"),
        (["--format", "csv", "-o", "r.html"], "a report is html or xlsx"),
        (["--curves-by", "rep", "-o", "r.html"], "--curves-by rep"),
    ],
)
def test_bad_output_options_are_usage_errors_before_any_reading(cli, args: list[str], message: str) -> None:
    result = cli("report", "--data", "no-such-folder", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr


def test_the_report_never_overwrites_an_input(cli, tmp_path: Path) -> None:
    target = tmp_path / "line_items.xlsx"
    pl.read_csv(SAMPLE / "line_items.csv", infer_schema=False).head(50).write_excel(target)
    before = target.read_bytes()
    result = cli("report", "--line-items", str(target), "-o", str(target))
    assert result.exit_code == 73 and "one of the inputs" in result.stderr
    assert target.read_bytes() == before


def test_strict_with_rejected_rows_writes_nothing(cli, write, tmp_path: Path) -> None:
    write("line_items.csv", "account_id,product_id,booked_at,amount\nA,Core,2024-01-01,10\nB,Core,not a date,5\n")
    result = cli("report", "--data", ".", "--strict", "-o", "report.html")
    assert result.exit_code == 65
    assert not (tmp_path / "report.html").exists()


def test_a_book_with_nothing_dated_by_the_as_of_date_still_reports_why(cli, tmp_path: Path) -> None:
    result = cli("report", "--data", str(SAMPLE), "--as-of", "2000-01-01", "-o", "report.html")
    assert result.exit_code == 0, result.output
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "No expansion periods" in page and "No pair of families to compare" in page


def test_a_wide_export_without_dates_reports_what_it_can(cli, write, tmp_path: Path) -> None:
    write(
        "telco.csv",
        "customerID,PhoneService,InternetService\n"
        + "".join(f"C{i},{'Yes' if i % 3 else 'No'},{'Fiber optic' if i % 2 else 'No'}\n" for i in range(60)),
    )
    write(
        "xsell.yaml",
        "data:\n  line_items:\n    path: telco.csv\n"
        "    wide: {account: customerID, columns: {PhoneService: Phone, InternetService: Internet}}\n",
    )
    result = cli("report", "-c", "xsell.yaml", "-o", "report.html")
    assert result.exit_code == 0, result.output
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Expansion needs dates" in page and "Time to cross-sell needs dates" in page
    assert 'data-chart="attach-heatmap"' in page
    assert "No whitespace value to chart" in page  # no amounts: no bars of zeros
    assert "bookings mode" not in page and "ARR mode" not in page  # no dates, so no mode either
    assert cli("report", "-c", "xsell.yaml", "-o", "report.xlsx").exit_code == 0


def test_whitespace_too_wide_for_a_report_is_left_out_and_said(
    captured: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scoring whitespace grows with signatures × owned × candidates (974 M rows on Online Retail at
    product level): past the limit the report leaves it out, measured before the plan, and says why."""
    command = importlib.import_module("crossell_cli.commands.report")  # the module (the package exports the function)
    monkeypatch.setattr(command, "WHITESPACE_ROWS", 1000)
    _, data = captured("--data", str(SAMPLE))
    assert data.whitespace_top.is_empty() and data.whitespace_by_family.is_empty()
    (section, why) = data.omitted[0]
    # sample_data: Σ families owned over its (segment, owned set) types = 1 675, × 10 families = 16 750
    assert section == "whitespace" and "16,750" in why and "1,000" in why
    # (and how to get what the section would show: the same options, --top N or --by family)
    assert "'xsell whitespace' with the same options ranks without a limit, given the memory: add --top 20" in why
    assert "or --by family for the value per family" in why
    page = report_package.render_html(data)
    assert "Whitespace was left out" in page
    assert csv_of(data.attach) == command_csv("attach", "--all", "--data", str(SAMPLE))  # nothing else changes


def test_same_book_same_bytes(cli, tmp_path: Path) -> None:
    """Two runs give the same page and the same workbook, byte for byte (a report can be diffed)."""
    for name in ("a.html", "b.html", "a.xlsx", "b.xlsx"):
        assert cli("report", "--data", str(SAMPLE), "-q", "-o", name).exit_code == 0
    assert (tmp_path / "a.html").read_bytes() == (tmp_path / "b.html").read_bytes()
    assert (tmp_path / "a.xlsx").read_bytes() == (tmp_path / "b.xlsx").read_bytes()


def _work_model(lines, accounts):
    from crossell_cli.model import build_model

    from .conftest import book_from_rows, d

    return build_model(book_from_rows(lines, accounts=accounts), as_of=d("2024-06-01"), level="family")


def test_whitespace_work_counts_customer_types_by_hand():
    """Σ over (segment, owned set) types of the items owned × the items in the book: a2 owns what
    a1 owns in the same segment (one type), a3 the same set in another segment, a4 one item; D
    was bought and ended, so it counts as offered only. (5 owned over the types) × 4 items = 20.
    Counting every customer as its own type gives 7 × 4 = 28: within a limit of 28 or more that
    bound is returned and the types are not looked for."""
    from crossell_cli.commands.report import whitespace_work

    owns = {"a1": "AB", "a2": "BA", "a3": "AB", "a4": "C"}
    lines = [{"account_id": a, "product_id": p, "booked_at": "2024-01-01"} for a, items in owns.items() for p in items]
    lines.append({"account_id": "a4", "product_id": "D", "booked_at": "2024-01-01", "end_date": "2024-02-01"})
    segments = {"a1": "Ent", "a2": "Ent", "a3": "SMB", "a4": "Ent"}
    model = _work_model(lines, [{"account_id": a, "segment": s} for a, s in segments.items()])
    assert whitespace_work(model) == 20
    assert whitespace_work(model, within=27) == 20
    assert whitespace_work(model, within=28) == 28


def test_whitespace_work_past_64_owned_items_compares_the_sets_by_name():
    """65 items: too many for the bit mask, so the owned sets are told apart by their names.
    y and z own all 65 (one type), x owns one: (65 + 1) × 65."""
    items = [f"P{k:02d}" for k in range(65)]
    lines = [{"account_id": a, "product_id": p, "booked_at": "2024-01-01"} for a in ("y", "z") for p in items]
    lines.append({"account_id": "x", "product_id": "P00", "booked_at": "2024-01-01"})
    model = _work_model(lines, [])
    from crossell_cli.commands.report import whitespace_work

    assert whitespace_work(model) == 66 * 65


# ---------------------------------------------------------------------------------------
# the page's sentences say what the commands print

_SHARE_NOTE = re.compile(r"cross-sell is (\d+\.\d%) of (?:ARR added|all won revenue) \(([\d,]+) of ([\d,]+)")


def _expansion_share(*args: str) -> tuple[str, str, str]:
    """The share, cross-sell and revenue that `xsell expansion --format table`'s note prints."""
    result = invoke(["expansion", *args, "--format", "table"], env={"XSELL_CONFIG": "", "COLUMNS": "300"}, cwd=REPO)
    assert result.exit_code == 0, result.output
    found = _SHARE_NOTE.search(result.stdout)
    assert found is not None, result.stdout
    share, cross, won = found.groups()
    return share, cross, won


def _pass_through(*args: str) -> tuple[int, float]:
    """How many pass_through findings `xsell flags --all-findings` lists, and their amount."""
    flags = pl.read_csv(io.StringIO(command_csv("flags", "--all-findings", *args)), infer_schema=False)
    lines = flags.filter(pl.col("flag") == "pass_through")
    return lines.height, float(lines["amount"].cast(pl.Float64).sum())


def _page(tmp_path: Path) -> str:
    return html.unescape((tmp_path / "report.html").read_text(encoding="utf-8"))


@pytest.mark.parametrize("period", ["year", "month"])
def test_expansion_sentence_is_the_expansion_commands_share_whatever_the_period(
    captured: Capture, tmp_path: Path, period: str
) -> None:
    """SPEC §2: cross-sell's share of ARR added is the same whatever --period is; the report's
    sentence is the command's figure (counted day by day), not a sum of period movements (by
    year, 27,720,327 of 389,794,921: a family added in an account's first year is counted new).
    Its pass-through figures are the Flags table's: 40 lines, 9,161."""
    book = ["--data", str(SAMPLE)]
    captured(*book, "--period", period)
    page = _page(tmp_path)
    share, cross, won = _expansion_share(*book, "--period", period)
    assert (share, cross, won) == ("12.4%", "48,772,638", "393,394,226")
    assert (
        f"Counted day by day, as xsell expansion counts it (the same for every --period), cross-sell is {share} of "
        f"ARR added ({cross} of {won} currency units: new, reactivation, cross-sell, upsell and pass-through "
        "cross-sell movements)." in page
    )
    lines, amount = _pass_through(*book)
    assert (lines, f"{amount:,.0f}") == (40, "9,161")
    assert (
        f"{lines} pass-through cross-sell lines (≥ 90% off list; {amount:,.0f} currency units, as in Flags) "
        "are kept out of cross-sell;" in page
    )


def test_bookings_sentence_is_the_expansion_commands_share(captured: Capture, tmp_path: Path) -> None:
    """Bookings mode: the command's share of all won revenue counts pass-through cross-sells in
    the revenue (new + cross-sell + upsell + pass-through); the page's sentence is that figure."""
    lines = pl.read_csv(SAMPLE / "line_items.csv", infer_schema=False).drop("end_date")
    folder = tmp_path / "book"
    folder.mkdir()
    lines.write_csv(folder / "line_items.csv")
    for name in ("accounts.csv", "products.csv"):
        (folder / name).write_bytes((SAMPLE / name).read_bytes())
    book = ["--data", str(folder)]
    captured(*book, "--period", "year")
    page = _page(tmp_path)
    share, cross, won = _expansion_share(*book, "--period", "year")
    assert (
        f"Over all 4 years, cross-sell is {share} of won revenue ({cross} of {won} currency units; new + "
        "cross-sell + upsell + pass-through cross-sell: the same for every --period)." in page
    )
    count, amount = _pass_through(*book)
    assert count > 0
    assert (
        f"{count} pass-through cross-sell lines (≥ 90% off list; {amount:,.0f} currency units, as in Flags) "
        f"are kept out of cross-sell; the hatched bars hold their bookings: {amount:,.0f} currency units in total."
        in page
    )


_HEAT_CELL = re.compile(
    r'<rect [^>]*class="cell(?: greyed)?" data-row="([^"]+)" data-column="([^"]+)" data-value="([^"]*)"'
    r"[^>]*><title>([^<]*)</title>"
)


def test_attach_matrix_is_the_attach_commands_grid_zeros_included(captured: Capture, tmp_path: Path) -> None:
    """The heatmap and the workbook's Attach matrix hold `xsell attach --matrix --all`'s rows,
    columns and cells: a pair nobody owns both of (CORE-ENT → CORE-STARTER, base 625) is 0.0,
    not an empty cell; products nobody owns (ANALYTICS-PLUS, SECURITY-ADV) are rows and
    columns, their own rows empty (a base of 0 is the only empty cell besides the diagonal)."""
    book = ["--data", str(SAMPLE), "--level", "product"]
    captured(*book)
    page = html.unescape((tmp_path / "report.html").read_text(encoding="utf-8"))
    grid = pl.read_csv(io.StringIO(command_csv("attach", "--matrix", "--all", *book)), infer_schema_length=None)
    items = grid.columns[2:]
    assert {"ANALYTICS-PLUS", "SECURITY-ADV"} <= set(items) and len(items) == 14
    want = {
        (base, target): value
        for base, *values in grid.drop("base_accounts").iter_rows()
        for target, value in zip(items, values, strict=True)
        if value is not None
    }
    assert want[("CORE-ENT", "CORE-STARTER")] == 0.0 and want[("CORE-ENT", "SECURITY-ADV")] == 0.0
    cells = {(row, column): (value, hover) for row, column, value, hover in _HEAT_CELL.findall(page)}
    assert {(r, c): float(v) for (r, c), (v, _) in cells.items()} == want
    assert cells[("CORE-ENT", "CORE-STARTER")][1].startswith(
        "CORE-ENT Core Enterprise → CORE-STARTER Core Starter: 0.0% attach — 0 of 625 CORE-ENT Core Enterprise "
        "customers also own CORE-STARTER Core Starter"
    )
    # the rows are named as the products table names them, each id beside its name
    names = dict(pl.read_csv(SAMPLE / "products.csv").select("product_id", "product_name").iter_rows())
    shown = set(re.findall(r'class="row-label"[^>]*>[^<]*<title>([^<]+)</title>', page))
    assert shown == {f"{item} {names[item]}" for item in grid["base_family"]} and set(grid["base_family"]) == set(items)
    # the workbook's matrix: the same grid
    path = tmp_path / "report.xlsx"
    result = invoke(["report", *book, "-o", str(path)], env={"XSELL_CONFIG": ""}, cwd=REPO)
    assert result.exit_code == 0, result.output
    sheet = openpyxl.load_workbook(path)["Attach matrix"]
    header = [c.value for c in sheet[1]]
    assert header[:2] == ["base_family", "base_accounts"] and set(header[2:]) == set(items)
    rows = [r for r in sheet.iter_rows(min_row=2, values_only=True) if r[0] is not None and r[1] is not None]
    assert {r[0] for r in rows} == set(grid["base_family"])
    got = {(r[0], t): v for r in rows for t, v in zip(header[2:], r[2:], strict=True) if v is not None}
    # (XlsxWriter writes 16 significant digits: 147/853 reads back one unit in the last place off)
    assert got == pytest.approx(want, rel=1e-15, abs=0.0)
    assert got[("CORE-ENT", "CORE-STARTER")] == 0.0 and ("ANALYTICS-PLUS", "CORE-ENT") not in got


def _report_option_help(name: str) -> str:
    import typer

    from crossell_cli.cli import app

    command = typer.main.get_command(app).commands["report"]  # type: ignore[attr-defined]
    (option,) = [p for p in command.params if p.name == name]
    return str(option.help)


def test_top_help_says_the_rows_are_ordered_by_score() -> None:
    """The whitespace table is `xsell whitespace --top N`'s rows: by score (then account, then
    item), not by value; the help says so, as the README and the table's caption do."""
    assert _report_option_help("top") == (
        "Whitespace: the N account × family (or product) rows with the highest score, "
        "as 'xsell whitespace --top N' lists them."
    )


def test_report_takes_the_flag_thresholds_as_flags_does(captured: Capture) -> None:
    """README: the report takes the flag thresholds. --pass-through-discount and
    --forced-bundle-share reach its flags (and the pass-through lines kept out of cross-sell,
    and the forced bundles marked in attach) as they reach `xsell flags`, declared alike."""
    book = ["--data", str(SAMPLE)]
    thresholds = ["--pass-through-discount", "0.99", "--forced-bundle-share", "0.3"]
    _, data = captured(*book, *thresholds)
    assert ("pass_through_discount", "0.99") in data.settings and ("forced_bundle_share", "0.3") in data.settings
    assert data.pass_through_discount == 0.99
    assert csv_of(data.flags) == command_csv("flags", "--all-findings", *book, *thresholds)
    assert csv_of(data.flags_by_rep) == command_csv("flags", "--by", "rep", *book, *thresholds)
    # 11 lines are 99% off list (40 at the default 90%); at 30% Core is bundled with Success Plan
    # both ways (at the default 95%, Success Plan on Core's deals only)
    assert data.flags.filter(pl.col("flag") == "pass_through").height == 11
    forced = data.attach.filter(pl.col("flag") == "forced_bundle").select("base_family", "target_family")
    assert sorted(forced.iter_rows()) == [("Core", "Success Plan"), ("Success Plan", "Core")]
    import typer

    from crossell_cli.cli import app

    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    for name in ("pass_through_discount", "forced_bundle_share"):
        (in_flags,) = [p for p in commands["flags"].params if p.name == name]
        (in_report,) = [p for p in commands["report"].params if p.name == name]
        same = ("opts", "help", "metavar", "default", "required", "min", "max")
        assert [getattr(in_report, a) for a in same] == [getattr(in_flags, a) for a in same]
        assert (in_report.min, in_report.max) == (0.0, 1.0)


@pytest.mark.realdata
def test_workbook_summary_holds_the_summary_csvs_raw_values(tmp_path: Path) -> None:
    """README: the workbook's cells are the CSV output's raw values under its column names. On
    ravenstack two KPIs have no status (no median yet, no stage column): the CSV's cell is empty,
    and so is the workbook's, not the page's "n/a"."""
    realdata("ravenstack")
    book = ["-c", "examples/ravenstack/xsell.yaml"]
    path = tmp_path / "report.xlsx"
    result = invoke(["report", *book, "-o", str(path)], env={"XSELL_CONFIG": ""}, cwd=REPO)
    assert result.exit_code == 0, result.output
    sheet = openpyxl.load_workbook(path)["Summary"]
    cells = list(sheet.iter_rows(min_row=5, values_only=True))
    header = list(cells[0])
    want = list(csv.reader(io.StringIO(command_csv("summary", *book))))
    columns = want[0]
    rows = [dict(zip(header, r, strict=True)) for r in cells[1 : len(want)]]
    numbers = {"value", "good_low", "good_high"}
    expected = [
        [(float(v) if v else None) if c in numbers else (v or None) for c, v in zip(columns, row, strict=True)]
        for row in want[1:]
    ]
    assert [[r[c] for c in columns] for r in rows] == expected
    status = {r["kpi"]: r["status"] for r in rows}
    # (its config folds the tiers into one family: nothing to judge a cross-sell rate by)
    assert status == {
        "cross_sell_rate": "n/a: one family in the book",
        "multi_product_rate": "n/a: one family in the book",
        "cross_sell_revenue_share": "n/a: one family in the book",
        "median_days_to_cross_sell": None,
        "cross_sell_win_rate": None,
    }


def test_before_any_end_date_the_page_says_so_as_retention_does(captured: Capture, tmp_path: Path) -> None:
    """sample_data has end dates, just none on a line booked by 2019-01-01: the page says what
    `xsell retention` says ("no won line booked on or before the as-of date has an end date"),
    never that the book has none."""
    book = ["--data", str(SAMPLE), "--as-of", "2019-01-01"]
    _, data = captured(*book)
    assert data.mode == "bookings" and data.retention is None
    page = _page(tmp_path)
    command = invoke(["retention", *book, "--format", "table"], env={"XSELL_CONFIG": ""}, cwd=REPO)
    said = (command.stdout + command.stderr).strip().splitlines()[0]
    assert said == (
        "retention needs end dates (a subscription or billing export): no won line booked on or before the as-of "
        "date has an end date, so nobody can be seen to leave"
    )
    assert f'<p class="empty" data-empty="retention">{said[0].upper()}{said[1:]}.</p>' in page
    subtitle = re.search(r'<p class="subtitle">([^<]*)</p>', page)
    assert subtitle is not None
    assert subtitle.group(1) == (
        "As of 2019-01-01 · family level · bookings mode (no won line booked on or before the as-of date has an "
        "end date) · min base 10 customers · xsell " + data.version
    )


def test_overlapping_subscriptions_at_t_are_said_as_validate_says_them(captured: Capture, tmp_path: Path) -> None:
    """ARR, the bridge and retention add up every line held at T: the page says how many account ×
    product pairs hold two or more at once, with validate's own figures (a report of inflated ARR
    must not be silent about it), and a bookings book, where a repeat order is a purchase, does not."""
    book = ["--data", str(SAMPLE)]
    _, data = captured(*book)
    said = invoke(["validate", *book, "--format", "csv"], env={"XSELL_CONFIG": ""}, cwd=REPO).stderr
    held = re.search(r"on 2025-12-31, ([\d,]+) of the ([\d,]+) account × product pairs", said)
    assert held is not None
    overlap = [n for n in data.notes if n.startswith("Overlapping subscriptions")]
    assert overlap == [
        f"Overlapping subscriptions: on 2025-12-31, {held.group(1)} of the {held.group(2)} account × product pairs "
        "with an active line hold 2 or more at once (up to 3: account A-000140, product CORE-PRO). ARR, expansion "
        "and retention add them up: right for added seats, inflated when a new subscription replaces an old one "
        "that the export never ends ('xsell validate' lists the lines)."
    ]
    assert data.notes[-1].startswith("Amounts are the lines' annualised recurring value, in one currency; rows used")
    config = tmp_path / "bookings.yaml"
    config.write_text("mode: bookings\n", encoding="utf-8")
    _, bookings = captured(*book, "-c", str(config))
    assert not [n for n in bookings.notes if n.startswith("Overlapping")]
    assert bookings.notes[-1].startswith(
        "Amounts are the won lines' values as exported (bookings mode: none is taken as recurring), in one currency"
    )
