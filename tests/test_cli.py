"""The command line through CliRunner: exit codes, stdout and stderr apart, every format."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from .conftest import REPO, SAMPLE, invoke

GOOD = "account_id,product_id,booked_at,amount\na,A,2024-01-01,10\na,B,2024-03-01,5\nb,A,2024-01-01,10\n"
BAD = GOOD + "c,A,not a date,10\nd,,2024-01-01,10\n"
HEADER_ONLY = "account_id,product_id,booked_at,amount\n"
COMMANDS = [
    ["validate"],
    ["attach"],
    ["attach", "--matrix"],
    ["summary"],
    ["whitespace"],
    ["whitespace", "--by", "family"],
    ["expansion"],
    ["expansion", "--mode", "arr"],
    ["timing"],
    ["timing", "--by", "pair"],
    ["retention"],
    ["flags"],
    ["flags", "--by", "rep"],
]


def test_attach_on_sample_data_pipes_clean_csv(cli):
    result = cli("attach", "--data", str(SAMPLE))
    assert result.exit_code == 0
    frame = pl.read_csv(result.stdout.encode())
    assert frame.columns[:5] == [
        "base_family",
        "target_family",
        "base_accounts",
        "both_accounts",
        "attach_rate",
    ]
    assert frame["base_accounts"].min() >= 10  # min_base
    assert "\x1b[" not in result.stdout and "│" not in result.stdout  # no colour, no box drawing
    assert result.stderr == "15,965 line items: 15,769 used, 196 open (no metric uses them), 0 rejected\n"


def test_options_before_and_after_the_command(cli):
    before = cli("--data", str(SAMPLE), "--level", "product", "attach")
    after = cli("attach", "--data", str(SAMPLE), "--level", "product")
    assert before.exit_code == after.exit_code == 0
    assert before.stdout == after.stdout


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl", "parquet", "xlsx", "table"])
def test_every_output_format_to_a_file(cli, tmp_path, fmt):
    target = tmp_path / f"out.{ {'table': 'txt'}.get(fmt, fmt) }"
    result = cli("attach", "--data", str(SAMPLE), "-o", str(target))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert f"wrote {target}" in result.stderr
    if fmt == "csv":
        frame = pl.read_csv(target)
    elif fmt == "json":
        frame = pl.DataFrame(json.loads(target.read_text()))
    elif fmt == "jsonl":
        frame = pl.read_ndjson(target)
    elif fmt == "parquet":
        frame = pl.read_parquet(target)
    elif fmt == "xlsx":
        frame = pl.read_excel(target, sheet_name="data")
    else:
        assert "Attach rates" in target.read_text()
        return
    assert frame.height > 10
    rate = frame["attach_rate"].drop_nulls()
    assert ((rate >= 0) & (rate <= 1)).all()  # raw fractions, not percents


def test_json_to_stdout_is_an_array_of_objects(cli):
    result = cli("attach", "--data", str(SAMPLE), "--format", "json", "--where", "segment=SMB")
    rows = json.loads(result.stdout)
    assert isinstance(rows, list) and {"base_family", "attach_rate", "flag"} <= set(rows[0])


def test_parquet_goes_through_a_pipe_but_not_to_a_terminal():
    proc = subprocess.run(
        [*_xsell(), "attach", "--data", str(SAMPLE), "--format", "parquet"],
        capture_output=True,
        cwd=REPO,
        env={**os.environ, "XSELL_CONFIG": ""},
    )
    assert proc.returncode == 0
    assert pl.read_parquet(proc.stdout).height > 10
    if Path("/usr/bin/script").exists():
        cmd = f"{' '.join(_xsell())} attach --data {SAMPLE} --format parquet"
        tty = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, text=True, cwd=REPO)
        assert tty.returncode == 2 and "binary" in tty.stdout


def test_output_that_is_an_input_is_refused(cli):
    target = SAMPLE / "line_items.csv"
    before = target.read_bytes()
    result = cli("attach", "--data", str(SAMPLE), "-o", str(target))
    assert result.exit_code == 73
    assert "one of the inputs" in result.stderr
    assert target.read_bytes() == before


def test_unwritable_output_folder(cli, tmp_path):
    result = cli("attach", "--data", str(SAMPLE), "-o", str(tmp_path / "no" / "such" / "out.csv"))
    assert result.exit_code == 73
    assert "does not exist" in result.stderr


def test_placeholders_in_the_output_path(cli, tmp_path):
    result = cli("attach", "--data", str(SAMPLE), "-o", str(tmp_path / "attach-{as_of}.csv"))
    assert result.exit_code == 0
    assert (tmp_path / "attach-2025-12-31.csv").exists()


def test_as_of_in_the_output_path_of_a_book_without_dates_is_unknown(cli, tmp_path):
    # A wide export's lines carry a placeholder day: the file was named attach-1970-01-01.csv.
    (tmp_path / "owners.csv").write_text("customer,Phone,Internet\na,Yes,Yes\nb,Yes,No\n")
    (tmp_path / "xsell.yaml").write_text(
        "data:\n  line_items:\n    path: owners.csv\n    wide:\n      account: customer\n"
        "      columns: {Phone: Phone, Internet: Internet}\n"
    )
    result = cli("attach", "-c", str(tmp_path / "xsell.yaml"), "-o", str(tmp_path / "attach-{as_of}.csv"))
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in tmp_path.glob("attach-*")) == ["attach-unknown.csv"]


def test_formula_injection_guard_on_text_cells(cli, write):
    path = write(
        "line_items.csv",
        "account_id,product_id,booked_at,amount\nx,=HYPERLINK(1),2024-01-01,10\nx,@SUM,2024-01-01,3\n",
    )
    result = cli("attach", "--line-items", str(path), "--all")
    assert "'=HYPERLINK(1)" in result.stdout and "'@SUM" in result.stdout
    assert ",=" not in result.stdout


@pytest.mark.parametrize("args", COMMANDS)
@pytest.mark.parametrize(
    ("content", "code"),
    [("", 65), (HEADER_ONLY, 0), (BAD, None)],
    ids=["empty", "header-only", "bad-rows"],
)
def test_every_command_on_empty_header_only_and_bad_files(cli, write, args, content, code):
    path = write("line_items.csv", content)
    result = cli(*args, "--line-items", str(path))
    assert "Traceback" not in result.output
    if content == "":
        assert result.exit_code == 65
        assert "line_items.csv" in result.stderr and "empty" in result.stderr
        assert result.stdout == ""
        return
    if content == HEADER_ONLY:
        assert result.exit_code == 0
        assert result.stderr.splitlines()[-1] == "0 line items: 0 used, 0 rejected"
        return
    expected = 65 if args == ["validate"] else 0
    assert result.exit_code == expected
    pointer = "" if args == ["validate"] else " — see 'xsell validate'"  # validate does not send you to itself
    assert result.stderr.splitlines()[-1] == "5 line items: 3 used, 2 rejected" + pointer
    if args == ["validate"]:
        rows = pl.read_csv(result.stdout.encode(), infer_schema=False)
        assert rows.filter(pl.col("severity") == "rejected").select("row", "column", "rule").rows() == [
            ("4", "booked_at", "bad_date"),
            ("5", "product_id", "missing_value"),
        ]


LOST_ONLY = "account_id,product_id,booked_at,amount,stage\na,A,2024-01-01,10,lost\nb,B,2024-02-01,5,lost\n"


@pytest.mark.parametrize("args", COMMANDS)
def test_every_command_on_a_book_of_lost_deals_only(cli, write, args):
    # There is an as-of date (closed lines) but no won line: nobody landed.
    path = write("line_items.csv", LOST_ONLY)
    result = cli(*args, "--line-items", str(path))
    assert "Traceback" not in result.output
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[-1] == "2 line items: 2 used, 0 rejected"


def test_strict_turns_rejected_rows_into_a_failure(cli, write):
    path = write("line_items.csv", BAD)
    result = cli("attach", "--line-items", str(path), "--strict")
    assert result.exit_code == 65
    assert "--strict" in result.stderr and result.stdout == ""


def test_validate_writes_rejects_to_a_file(cli, write, tmp_path):
    path = write("line_items.csv", BAD)
    target = tmp_path / "rejects.csv"
    result = cli("validate", "--line-items", str(path), "-o", str(target))
    assert result.exit_code == 65
    frame = pl.read_csv(target)
    assert set(frame.columns) >= {"table", "file", "row", "column", "value", "rule", "message"}


def test_quiet_prints_nothing_unless_something_is_wrong(cli, write):
    good = write("good.csv", GOOD)
    assert cli("attach", "--line-items", str(good), "--quiet").stderr == ""
    bad = write("bad.csv", BAD)
    assert "2 rejected" in cli("attach", "--line-items", str(bad), "--quiet").stderr


def test_usage_errors_exit_2(cli):
    assert cli("attach", "--level", "brand", "--data", str(SAMPLE)).exit_code == 2
    assert cli("attach", "--no-such-option").exit_code == 2
    assert cli("attach", "--where", "segment", "--data", str(SAMPLE)).exit_code == 2
    result = cli("attach", "--where", "tier=Gold", "--data", str(SAMPLE))
    assert result.exit_code == 2 and "segment" in result.stderr  # lists what can be filtered


def test_a_panic_inside_polars_is_an_internal_error_not_a_traceback(cli, monkeypatch):
    # A Rust panic surfaces as pyo3's PanicException, a BaseException: the boundary must
    # still turn it into exit 70 with a message, and --debug must still show the traceback.
    from crossell_cli.metrics import flags

    def panics(*args, **kwargs):
        raise pl.exceptions.PanicException("assertion failed: i < self.len()")

    monkeypatch.setattr(flags, "flags", panics)
    result = cli("flags", "--data", str(SAMPLE))
    assert result.exit_code == 70
    assert "Internal error: PanicException: assertion failed" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    debug = cli("flags", "--data", str(SAMPLE), "--debug")
    assert debug.exit_code == 70 and "Traceback" in debug.stderr


def test_missing_inputs_exit_66(cli, tmp_path):
    assert cli("attach", "--data", str(tmp_path / "nowhere")).exit_code == 66
    assert cli("attach").exit_code == 66  # no input at all: says how to give one
    assert cli("attach", "--config", str(tmp_path / "missing.yaml")).exit_code == 66


def test_bad_config_exit_78(cli, write):
    config = write("xsell.yaml", "min_bse: 3\n")
    result = cli("attach", "--data", str(SAMPLE), "--config", str(config))
    assert result.exit_code == 78
    assert "min_bse" in result.stderr and "min_base" in result.stderr


def test_unknown_base_family_suggests_close_matches(cli):
    result = cli("attach", "--data", str(SAMPLE), "--base", "Analytic")
    assert (result.exit_code, result.stdout) == (2, "")  # a bad option value: nothing on stdout
    assert "Analytics" in result.stderr


def test_sample_is_deterministic(cli, tmp_path):
    first, second = tmp_path / "one", tmp_path / "two"
    assert cli("sample", "--accounts", "300", "--seed", "3", "-o", str(first)).exit_code == 0
    assert cli("sample", "--accounts", "300", "--seed", "3", "-o", str(second)).exit_code == 0
    for name in ("accounts.csv", "products.csv", "line_items.csv", "planted.csv"):
        assert (first / name).read_bytes() == (second / name).read_bytes()
    third = tmp_path / "three"
    cli("sample", "--accounts", "300", "--seed", "4", "-o", str(third))
    assert (third / "line_items.csv").read_bytes() != (first / "line_items.csv").read_bytes()


def test_shipped_sample_data_is_what_the_generator_writes(cli, tmp_path):
    result = cli("sample", "-o", str(tmp_path / "fresh"))
    assert result.exit_code == 0
    for name in ("accounts.csv", "products.csv", "line_items.csv", "planted.csv"):
        assert (tmp_path / "fresh" / name).read_bytes() == (SAMPLE / name).read_bytes(), name
    assert sum(p.stat().st_size for p in SAMPLE.iterdir()) < 5_000_000


def _xsell() -> list[str]:
    return [sys.executable, "-m", "crossell_cli"]


def test_help_does_not_import_polars():
    code = (
        "import sys\nfrom crossell_cli.cli import app\n"
        "try:\n    app(['attach', '--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'polars' not in sys.modules, 'polars imported by --help'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert "Example" in proc.stdout


def test_no_color_in_a_terminal(tmp_path):
    """NO_COLOR is honoured even when stdout is a terminal (run under `script`)."""
    if not Path("/usr/bin/script").exists():
        pytest.skip("util-linux `script` is needed to fake a terminal")
    cmd = f"{' '.join(_xsell())} attach --data {SAMPLE}"
    proc = subprocess.run(
        ["script", "-qc", cmd, "/dev/null"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "NO_COLOR": "1", "XSELL_CONFIG": "", "COLUMNS": "120"},
    )
    assert "Attach rates" in proc.stdout
    assert "\x1b[3" not in proc.stdout and "\x1b[1m" not in proc.stdout
    colour = subprocess.run(
        ["script", "-qc", cmd, "/dev/null"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={k: v for k, v in {**os.environ, "XSELL_CONFIG": "", "COLUMNS": "120"}.items() if k != "NO_COLOR"},
    )
    assert "\x1b[" in colour.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["summary"],
        ["whitespace", "--top", "5"],
        ["whitespace", "--by", "family"],
        ["expansion", "--period", "year", "--by", "segment"],
        ["timing", "--by", "cohort"],
        ["retention", "--window", "2y"],
    ],
)
def test_issue_three_commands_on_sample_data(cli, args):
    result = cli(*args, "--data", str(SAMPLE))
    assert result.exit_code == 0, result.stderr
    frame = pl.read_csv(result.stdout.encode())
    assert frame.height > 0
    assert result.stderr == "15,965 line items: 15,769 used, 196 open (no metric uses them), 0 rejected\n"


def test_whitespace_for_one_account_by_id_or_name(cli):
    by_id = cli("whitespace", "--data", str(SAMPLE), "--account", "A-000042")
    frame = pl.read_csv(by_id.stdout.encode())
    assert set(frame["account_id"]) == {"A-000042"}
    assert frame["rank"].to_list() == list(range(1, frame.height + 1))
    name = frame["account_name"][0]
    by_name = cli("whitespace", "--data", str(SAMPLE), "--account", name.upper())
    assert by_name.stdout == by_id.stdout
    unknown = cli("whitespace", "--data", str(SAMPLE), "--account", "A-00042")
    assert unknown.exit_code == 2
    assert "A-000042" in unknown.stderr or "close matches" in unknown.stderr


@pytest.mark.parametrize("text", ["", "  "])
def test_whitespace_for_an_empty_account_is_a_usage_error(cli, text):
    """--account '' matched every name (the empty text is in each) and listed all 4 000."""
    result = cli("whitespace", "--data", str(SAMPLE), "--account", text)
    assert (result.exit_code, result.stdout, result.stderr) == (
        2,
        "",
        "Error: --account: empty\n  fix: give an account_id or an account name, or leave --account out\n",
    )


RETENTION_HEADER = "products_owned,accounts,start_arr,end_arr,logo_retention,grr,nrr\n"
NO_END_DATES = (
    "retention needs end dates (a subscription or billing export): no won line booked on or before the "
    "as-of date has an end date, so nobody can be seen to leave\n"
)


def test_retention_without_end_dates_says_why_and_exits_0(cli, write):
    path = write("line_items.csv", GOOD)
    result = cli("retention", "--line-items", str(path))
    assert (result.exit_code, result.stdout) == (0, RETENTION_HEADER)
    assert result.stderr == NO_END_DATES + "3 line items: 3 used, 0 rejected\n"


def test_retention_without_end_dates_replaces_yesterdays_output_file(cli, write, tmp_path):
    """A nightly `xsell retention -o retention.csv` over an export without end dates said why on
    stderr and left yesterday's file as it was, numbers and all; `-f json` printed nothing that
    parses. The table is written empty (its header, `[]`), the message still on stderr."""
    path = write("line_items.csv", GOOD)
    out = tmp_path / "retention.csv"
    out.write_text("products_owned,accounts\n1,257\n")
    result = cli("retention", "--line-items", str(path), "-o", str(out))
    assert (result.exit_code, result.stdout, out.read_text()) == (0, "", RETENTION_HEADER)
    assert result.stderr == NO_END_DATES + f"wrote {out}\n" + "3 line items: 3 used, 0 rejected\n"
    as_json = cli("retention", "--line-items", str(path), "-f", "json")
    assert (as_json.exit_code, as_json.stdout) == (0, "[]\n")
    # On a terminal's table the message is the whole answer: no empty table above it.
    table = cli("retention", "--line-items", str(path), "-f", "table")
    assert (table.exit_code, table.stdout) == (0, "")


def test_retention_before_any_end_date_says_the_lines_have_none_by_the_as_of_date(cli, write):
    """Every line has an end date, but none is booked by --as-of: the message said "no won
    line in this export has an end date", which the export contradicts."""
    path = write("line_items.csv", "account_id,product_id,booked_at,end_date,amount\na,A,2024-01-01,2024-06-01,10\n")
    result = cli("retention", "--line-items", str(path), "--as-of", "2023-06-01")
    assert (result.exit_code, result.stdout) == (0, RETENTION_HEADER)
    assert result.stderr == (
        "retention needs end dates (a subscription or billing export): no won line booked on or before the "
        "as-of date has an end date, so nobody can be seen to leave\n"
        # (and why no line has one: nothing was won by then)
        "warning: as-of 2023-06-01 is before the first won line in the data (2024-01-01): nothing was won by then, "
        "so there is nothing to measure; pass a later --as-of\n"
        "1 line items: 0 used, 1 after the as-of date, 0 rejected\n"
    )


def test_attach_matrix_with_a_family_named_like_its_first_columns_is_a_usage_error(cli, write):
    """A family named base_accounts made --matrix --all stop with "Internal error:
    DuplicateError" (exit 70): the grid's first columns bear those names."""
    path = write(
        "line_items.csv",
        "account_id,product_id,booked_at,amount\nA1,base_accounts,2024-01-10,10\nA1,Core,2024-03-01,5\n",
    )
    result = cli("attach", "--line-items", str(path), "--matrix", "--all")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.startswith(
        "Error: --matrix: a family is named 'base_accounts', the name of the matrix's own first columns\n"
        "  fix: use the pair list (leave --matrix out), or rename it with families: in xsell.yaml\n"
    )


def test_expansion_mode_follows_the_data(cli, write):
    bookings = cli("expansion", "--line-items", str(write("b.csv", GOOD)))
    assert pl.read_csv(bookings.stdout.encode())["churn"].null_count() > 0  # ARR-only columns empty
    arr = write("a.csv", "account_id,product_id,booked_at,end_date,amount\na,A,2024-01-01,2024-05-01,10\n")
    frame = pl.read_csv(cli("expansion", "--line-items", str(arr), "--as-of", "2024-06-30").stdout.encode())
    assert frame["churn"].to_list() == [0.0, -10.0]


def test_flags_fail_on_exit_codes(cli):
    plain = cli("flags", "--data", str(SAMPLE))
    assert plain.exit_code == 0  # findings never change the exit code by themselves
    assert cli("flags", "--data", str(SAMPLE), "--fail-on", "high").exit_code == 1
    assert cli("flags", "--data", str(SAMPLE), "--fail-on", "low", "--flag", "premature").exit_code == 1
    # only low findings shown, alerting on medium and above: nothing matches
    assert cli("flags", "--data", str(SAMPLE), "--flag", "premature", "--fail-on", "medium").exit_code == 0
    assert cli("flags", "--data", str(SAMPLE), "--fail-on", "urgent").exit_code == 2
    frame = pl.read_csv(plain.stdout.encode())
    assert frame.columns == [
        "flag",
        "severity",
        "line_id",
        "account_id",
        "family",
        "base_family",
        "product_id",
        "rep",
        "contract_id",
        "booked_at",
        "amount",
        "list_amount",
        "discount",
        "detail",
    ]
    order = {"high": 0, "medium": 1, "low": 2}
    ranks = [order[s] for s in frame["severity"]]
    assert ranks == sorted(ranks)


def test_flags_cron_quiet_and_dated_output(cli, tmp_path):
    target = tmp_path / "flags-{as_of}.csv"
    result = cli("flags", "--data", str(SAMPLE), "--fail-on", "high", "-q", "-o", str(target))
    assert result.exit_code == 1
    assert (tmp_path / "flags-2025-12-31.csv").exists()
    # (the findings at or above the level counted, not every finding: 40 high, 57 medium, 53 low)
    assert result.stderr == "40 of 150 findings at or above high; --fail-on high matched\n"
    medium = cli("flags", "--data", str(SAMPLE), "--fail-on", "medium", "-q", "-o", str(target))
    assert (medium.exit_code, medium.stderr) == (1, "97 of 150 findings at or above medium; --fail-on medium matched\n")


def test_attach_marks_and_can_exclude_forced_bundles(cli):
    frame = pl.read_csv(cli("attach", "--data", str(SAMPLE), "--all").stdout.encode())
    marked = frame.filter(pl.col("flag") == "forced_bundle").select("base_family", "target_family").rows()
    assert marked == [("Core", "Success Plan")]
    excluded = pl.read_csv(cli("attach", "--data", str(SAMPLE), "--all", "--exclude-bundles").stdout.encode())
    assert excluded.height == frame.height - 1
    assert excluded["flag"].null_count() == excluded.height


def test_flags_by_rep(cli):
    frame = pl.read_csv(cli("flags", "--data", str(SAMPLE), "--by", "rep").stdout.encode())
    assert frame.columns == ["rep", "cross_sells", "flagged", "share_flagged", "flagged_value"]
    assert set(frame["rep"][:2]) == {"Dana Whitfield", "Priya Raman"}


def test_flags_lists_the_first_200_findings_unless_all_findings(cli, write):
    # 250 accounts, each with a 95%-off Addon on its Core expansion deal: 250 pass-through
    # findings (high), amounts 1 … 250. Premature is book-level here (all cross-sell on day 31).
    rows = ["account_id,product_id,booked_at,amount,list_amount,contract_id"]
    for i in range(1, 251):
        rows += [
            f"a{i},Core,2024-01-01,1000,,L{i}",
            f"a{i},Core,2024-02-01,500,,X{i}",
            f"a{i},Addon,2024-02-01,{i},{i * 20},X{i}",
        ]
    path = write("line_items.csv", "\n".join(rows) + "\n")
    default = cli("flags", "--line-items", str(path), "--flag", "pass_through", "--format", "csv")
    listed = pl.read_csv(default.stdout.encode())
    assert listed.height == 200 and listed["amount"].to_list() == [float(i) for i in range(250, 50, -1)]
    assert "showing the first 200 of 250 findings (by severity, then amount); 50 more with --all-findings" in (
        default.stderr
    )
    every = cli("flags", "--line-items", str(path), "--flag", "pass_through", "--all-findings", "--format", "csv")
    assert pl.read_csv(every.stdout.encode()).height == 250 and "more with --all-findings" not in every.stderr
    table = cli("flags", "--line-items", str(path), "--format", "table")
    # + the forced bundle Core → Addon and the book-level premature row: a note under the table
    assert "showing the first 200 of 252 findings" in table.stdout and "52 more with --all-findings" in table.stdout
    assert "more with --all-findings" not in table.stderr
    # --fail-on looks at every finding, listed or not
    assert cli("flags", "--line-items", str(path), "--fail-on", "high", "-q").exit_code == 1


BRIDGE_CSV = """account_id,product_id,booked_at,end_date,amount
a,Core,2024-01-15,,100
a,Addon,2024-05-01,2024-08-01,50
b,Core,2024-02-01,2024-07-01,200
c,Core,2024-08-15,,80
"""


def test_expansion_arr_notes_one_denominator_and_a_silent_group_said_out_loud(cli, write):
    path = write("subs.csv", BRIDGE_CSV)
    shares = set()
    for period in ("month", "quarter", "year"):
        out = cli("expansion", "--line-items", str(path), "--period", period, "--format", "table").stdout
        shares.add(next(line for line in out.splitlines() if line.startswith("cross-sell is")))
    # new 100 + 200 + 80 and cross-sell 50, counted day by day: 50 of 430 whatever the period
    assert len(shares) == 1 and shares.pop().startswith("cross-sell is 11.6% of ARR added (50 of 430 added")
    table = cli("expansion", "--line-items", str(path), "--by", "segment", "--format", "table").stdout
    assert "no account has a segment: every row is the '(none)' group" in table
    header = next(line for line in table.splitlines() if "opening" in line).split()
    assert header.index("opening") < header.index("new") < header.index("closing")  # reads as a bridge
    rows = pl.read_csv(cli("expansion", "--line-items", str(path)).stdout.encode())
    assert rows.select("period", "opening_arr", "closing_arr").rows() == [
        ("2024-Q1", 0.0, 300.0),
        ("2024-Q2", 300.0, 350.0),
        ("2024-Q3", 350.0, 180.0),
    ]


def test_as_of_of_a_where_without_lines_on_or_before_it(cli, write):
    """T is read off the lines the command reads; when the --where accounts have none on or
    before T (a2 has only an open line, booked later), it still is the whole book's T."""
    write(
        "line_items.csv",
        "account_id,product_id,booked_at,amount,stage\n"
        "a1,Core,2024-01-01,100,won\na1,Analytics,2024-02-01,50,won\na2,Core,2024-06-01,80,open\n",
    )
    folder = write("accounts.csv", "account_id,segment\na1,Ent\na2,SMB\n").parent
    got = cli("attach", "--data", str(folder), "--where", "segment=SMB", "-f", "table")
    assert got.exit_code == 0, got.output
    assert "settings: as of 2024-02-01 · level family · where segment=SMB · min_base 10" in got.stdout
    again = cli("attach", "--data", str(folder), "--where", "segment=SMB", "--as-of", "2023-12-01", "-f", "table")
    assert "settings: as of 2023-12-01 · level family · where segment=SMB" in again.stdout
    whole = cli("attach", "--data", str(folder), "-f", "table")
    assert "settings: as of 2024-02-01 · level family · min_base 10" in whole.stdout


@pytest.mark.parametrize(("level", "header"), [("family", "families owned"), ("product", "products owned")])
def test_the_retention_table_says_what_it_counts(cli, level, header):
    """The table under "Retention by families owned" headed its buckets "products owned" (the
    SPEC's column name, which machine formats keep): at family level it says families."""
    result = cli("retention", "--data", str(SAMPLE), "--level", level, "--format", "table")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"Retention by {header}"
    heading = next(line for line in lines if line.lstrip().startswith(("families", "products")))
    assert heading.split()[:2] == header.split()
    csv = cli("retention", "--data", str(SAMPLE), "--level", level, "--format", "csv")
    assert csv.stdout.splitlines()[0].startswith("products_owned,")


CLOSE_DT = (
    "account_id,product_id,Close Dt,start_date,amount\n"
    "A1,CORE,2024-01-10,2021-01-01,1000\n"
    "A1,ANALYTICS,2024-09-10,2021-01-01,500\n"
    "A2,CORE,2024-02-10,2021-01-01,1000\n"
)
START_DATE_WARNING = (
    "warning: line_items has no booked_at column, so each line's booking date is its start date ('start_date'); "
    "not read: 'Close Dt'. If that is the close date, map it in xsell.yaml "
    "(columns: line_items: booked_at: 'Close Dt')\n"
)


def test_validate_names_a_config_relative_file_as_it_would_be_typed_from_here(tmp_path, write):
    """examples/online_retail/xsell.yaml reads '../../../shared/realdata/…': the footer said
    'examples/online_retail/../../../shared/realdata/online_retail/online_retail_2010-12_2011-12.csv',
    which an 80-column terminal split mid-name. A path typed without '..' is shown as typed."""
    write("shared/line_items.csv", "account_id,product_id,booked_at,amount\nA1,CORE,2024-01-10,100\n")
    write("work/examples/retail/xsell.yaml", "data:\n  line_items: ../../../shared/line_items.csv\n")
    result = invoke(
        ["validate", "-c", "examples/retail/xsell.yaml", "--format", "csv", "-o", "out.csv"],
        env={"XSELL_CONFIG": ""},
        cwd=tmp_path / "work",
    )
    assert result.exit_code == 0
    assert (
        result.stderr.splitlines()[0] == "line_items: 1 rows, 1 used, 0 rejected, 0 warnings — ../shared/line_items.csv"
    )
    typed = invoke(
        ["validate", "--line-items", "../shared/line_items.csv", "--format", "csv", "-o", "out.csv"],
        env={"XSELL_CONFIG": ""},
        cwd=tmp_path / "work",
    )
    assert typed.stderr.splitlines()[0].endswith(" — ../shared/line_items.csv")
    absolute = invoke(
        ["validate", "--line-items", str(tmp_path / "shared" / "line_items.csv"), "--format", "csv", "-o", "out.csv"],
        env={"XSELL_CONFIG": ""},
        cwd=tmp_path / "shared",
    )
    assert absolute.stderr.splitlines()[0].endswith(f" — {tmp_path / 'shared' / 'line_items.csv'}")


def test_a_close_date_under_an_unknown_header_is_named_when_the_start_dates_stand_in(cli, write):
    """'Close Dt' is no header xsell knows: every booking date silently became the start date
    (2021-01-01 on every line), so nobody was cross-sold and T moved three years back, with no
    word on any stream (found by a red-team pass)."""
    path = write("line_items.csv", CLOSE_DT)
    result = cli("timing", "--line-items", str(path), "--format", "csv")
    assert result.exit_code == 0
    assert result.stderr == START_DATE_WARNING + "3 line items: 3 used, 0 rejected\n"
    checked = cli("validate", "--line-items", str(path), "--format", "csv")
    assert checked.exit_code == 0
    assert checked.stderr == (
        f"line_items: 3 rows, 3 used, 0 rejected, 0 warnings — {path}\n"
        + START_DATE_WARNING
        + "3 line items: 3 used, 0 rejected\n"
    )


def test_a_billing_export_without_booking_dates_is_not_warned_about_its_other_columns(cli, write):
    """A subscription export (ravenstack) has start dates and no close date: its columns not
    read (mrr_amount, churn_flag) are no date, and the start dates are its booking dates."""
    path = write(
        "line_items.csv",
        "account_id,product_id,start_date,amount,mrr_amount,churn_flag\nA1,CORE,2024-01-10,1200,100,False\n",
    )
    result = cli("attach", "--line-items", str(path), "--format", "csv")
    assert (result.exit_code, result.stderr) == (0, "1 line items: 1 used, 0 rejected\n")


@pytest.mark.parametrize(
    ("content", "error"),
    [
        pytest.param(
            "account_id,product_id,booked_at,amount,Amount\nA1,CORE,2024-01-10,1000,5\n",
            "the headers 'amount' (column 4) and 'Amount' (column 5) are one name, so the amount column is "
            "ambiguous\n"
            "  fix: rename one of them in the file, or map amount to another header with columns.line_items.amount "
            "in xsell.yaml\n",
            id="headers differing in case",
        ),
        pytest.param(
            "account_id,product_id,booked_at,amount\n"
            "A1,CORE,17/06/2022,1000\nA1,AN,12/03/2023,500\nA2,CORE,04/22/2024,1000\n",
            "column 'booked_at' has ambiguous dates: dates like '12/03/2023' read both as %m/%d/%Y and as "
            "%d/%m/%Y\n"
            "  fix: say which it is with date_formats: ['%m/%d/%Y'] (month first) or ['%d/%m/%Y'] (day first) "
            "in xsell.yaml\n",
            id="ambiguous dates",
        ),
    ],
)
def test_an_error_quotes_what_the_file_says(cli, write, content, error):
    """'amount' and 'Amount' in one file: the message said "the header 'amount' appears in
    columns 4 and 5", and column 5 has no header 'amount' to find. A column mixing day-first
    and month-first dates, with one that reads either way: the message quoted '17/06/2022',
    which only reads day-first, as the ambiguous example."""
    path = write("line_items.csv", content)
    result = cli("validate", "--line-items", str(path))
    assert (result.exit_code, result.stdout, result.stderr) == (65, "", f"Error: {path}: {error}")


def test_a_repeated_account_or_product_row_is_rejected_not_counted_as_used(cli, write, tmp_path):
    """An accounts file repeating A1 and a catalogue repeating CORE: the repeats were dropped
    (the first row of a key is used) with a warning, and the row account still said
    "accounts: 3 rows, 3 used" for two accounts used. Every row is used or rejected."""
    write("line_items.csv", "account_id,product_id,booked_at,amount\nA1,CORE,2024-01-10,1000\n")
    write("accounts.csv", "account_id,segment\nA1,SMB\nA2,Enterprise\nA1,Enterprise\n")
    write("products.csv", "product_id,family\nCORE,Core\nCORE,Mobile\n")
    result = cli("validate", "--data", str(tmp_path), "--format", "csv")
    assert result.exit_code == 65
    assert result.stdout.splitlines()[1:] == [
        f"accounts,{tmp_path / 'accounts.csv'},3,account_id,account_id,A1,duplicate_account,rejected,"
        "account 'A1' appears again; this copy is not used (the first row is); keep one row per account in the export",
        f"products,{tmp_path / 'products.csv'},2,product_id,product_id,CORE,duplicate_product,rejected,"
        "product 'CORE' appears again; this copy is not used (the first row is); keep one row per product in the "
        "catalogue (product_aliases may map two ids onto one)",
    ]
    assert result.stderr.splitlines()[1:3] == [
        f"accounts: 3 rows, 2 used, 1 rejected, 0 warnings — {tmp_path / 'accounts.csv'}",
        f"products: 2 rows, 1 used, 1 rejected, 0 warnings — {tmp_path / 'products.csv'}",
    ]


def test_a_warning_names_the_header_its_cell_was_read_from(cli, write):
    """Rejected rows named their header ('Total Price'); warnings left it empty, so a person
    could not tell which column of the export to look at."""
    path = write("line_items.csv", 'account_id,product_id,booked_at,Total Price\nA1,CORE,2024-01-10,"(1,932.00)"\n')
    result = cli("validate", "--line-items", str(path), "--format", "csv")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[1] == (
        f"line_items,{path},1,amount,Total Price,'-1932.0,negative_amount,warning,"
        "amount -1932.0 is negative (a credit or refund?); it is counted as is"
    )


def test_whitespace_for_an_account_its_where_leaves_out_is_a_usage_error(cli, write, tmp_path):
    """--account A1 --where segment=Enterprise, A1 an SMB account: the answer was an empty
    list under "A1 owns no family at …, or already owns every sellable one", below a header
    showing the two families A1 owns."""
    write("line_items.csv", "account_id,product_id,booked_at,amount\nA1,CORE,2024-01-10,1000\nA2,CORE,2024-02-10,900\n")
    write("accounts.csv", "account_id,segment\nA1,SMB\nA2,Enterprise\n")
    result = cli("whitespace", "--data", str(tmp_path), "--account", "A1", "--where", "segment=Enterprise")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.startswith(
        "Error: --account A1: A1 is not among the accounts --where segment=Enterprise keeps\n"
        "  fix: leave --where out to see this account's whitespace, or choose an account it keeps\n"
    )
    kept = cli("whitespace", "--data", str(tmp_path), "--account", "A2", "--where", "segment=Enterprise")
    assert kept.exit_code == 0 and kept.stdout.startswith("account_id,")


def test_a_stage_under_an_unknown_header_is_named_when_every_line_counts_as_won(cli, write):
    """'Opp Status' is no header xsell knows: without a stage column every line is a purchase
    (SPEC §1), so the lost Analytics deal counted as owned (attach Core → Analytics 1 of 2),
    and nothing said that a column of won and lost went unread."""
    path = write(
        "line_items.csv",
        "account_id,product_id,booked_at,amount,Opp Status\n"
        "A1,CORE,2024-01-10,1000,won\nA1,ANALYTICS,2024-09-10,500,lost\nA2,CORE,2024-02-10,1000,won\n",
    )
    result = cli("attach", "--line-items", str(path), "--format", "csv")
    assert result.exit_code == 0
    assert result.stderr == (
        "warning: line_items has no stage column, so every line counts as won; not read: 'Opp Status'. "
        "If that says won, lost or open, map it in xsell.yaml (columns: line_items: stage: 'Opp Status')\n"
        "3 line items: 3 used, 0 rejected\n"
    )
    # A subscription status (active, canceled) is no deal's stage: nothing to say.
    billing = write(
        "subs.csv", "account_id,product_id,start_date,amount,Subscription Status\nA1,CORE,2024-01-10,1000,active\n"
    )
    quiet = cli("attach", "--line-items", str(billing), "--format", "csv")
    assert (quiet.exit_code, quiet.stderr) == (0, "1 line items: 1 used, 0 rejected\n")


def test_retention_without_end_dates_keeps_its_reason_in_the_workbook(cli, write, tmp_path):
    """The empty table written in place of yesterday's (above) said nothing in an .xlsx of
    why it is empty: its notes sheet now carries the reason."""
    import openpyxl

    path = write("line_items.csv", GOOD)
    out = tmp_path / "retention.xlsx"
    result = cli("retention", "--line-items", str(path), "-o", str(out))
    assert result.exit_code == 0
    book = openpyxl.load_workbook(out)
    assert [c.value for c in book["data"][1]] == RETENTION_HEADER.strip().split(",")
    assert book["data"].max_row == 1
    notes = [row[0] for row in book["about"].iter_rows(values_only=True) if row[0]]
    assert notes == ["Retention by families owned", NO_END_DATES.strip()]


def test_a_folder_holding_only_a_compressed_export_says_to_decompress_it(cli, tmp_path):
    """line_items.csv.gz in the --data folder was 'found no data files' (as if nothing were there)."""
    import gzip

    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "line_items.csv.gz").write_bytes(gzip.compress(GOOD.encode(), mtime=0))
    result = cli("attach", "--data", str(folder))
    assert result.exit_code == 66
    assert result.stdout == ""
    assert result.stderr == (
        f"Error: {folder}: no line_items file (looked for line_items.csv/.parquet/.xlsx; found line_items.csv.gz "
        f"(compressed))\n  fix: decompress line_items.csv.gz first (gunzip, or 7-Zip on Windows) into {folder}, "
        "then run again\n"
    )
