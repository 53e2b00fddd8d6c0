"""Mistakes caught with the valid values (issue 14 item 4): each says everything that is
wrong in one go, with the exit code of its kind, and stdout stays empty."""

from __future__ import annotations

import datetime as dt

import pytest

from .conftest import SAMPLE

ACCOUNT = "15,965 line items: 15,769 used, 196 open (no metric uses them), 0 rejected\n"


def test_a_file_missing_several_required_columns_names_them_all(cli, write):
    path = write("line_items.csv", "Acount Id,Prodct,when,notes\n1,2,3,4\n")
    result = cli("attach", "--line-items", str(path))
    assert (result.exit_code, result.stdout) == (65, "")
    assert result.stderr == (
        f"Error: {path}: no column for account_id, product_id, booked_at (or start_date) and amount "
        "(or period_amount, unit_price, unit_price_minor) (the line_items table needs them). "
        "Headers found: Acount Id, Prodct, when, notes\n"
        "  fix: the closest headers are 'Acount Id' for account_id, 'Prodct' for product_id; map them in "
        "xsell.yaml: columns: {line_items: {account_id: 'Acount Id', product_id: 'Prodct', "
        "booked_at: 'Your Header', amount: 'Your Header'}}\n"
    )


def test_one_missing_column_is_said_as_before(cli, write):
    path = write("line_items.csv", "account_id,product_id,booked_at,amout\na,A,2024-01-01,10\n")
    result = cli("attach", "--line-items", str(path))
    assert result.exit_code == 65
    assert result.stderr.startswith(f"Error: {path}: no column for amount (or period_amount, unit_price, ")
    assert "(the line_items table needs it)" in result.stderr
    assert "  fix: the closest header is 'amout'; map it in xsell.yaml" in result.stderr


def test_an_as_of_date_after_the_data_is_said_once(cli):
    result = cli("summary", "--data", str(SAMPLE), "--as-of", "2026-03-01", "--format", "csv")
    assert result.exit_code == 0
    assert (
        result.stderr == "warning: as-of 2026-03-01 is after the last closed line in the data (2025-12-31)\n" + ACCOUNT
    )
    quiet = cli("summary", "--data", str(SAMPLE), "--as-of", "2026-03-01", "--format", "csv", "-q")
    assert (quiet.exit_code, quiet.stderr) == (0, "")  # a cron job asking for today's date is not an error


def test_an_as_of_date_before_the_first_won_line_says_there_is_nothing_to_measure(cli):
    # Every command printed its bare header (attach, expansion, timing) or an empty answer,
    # and retention said it "needs end dates" of a book that has them (true of the lines booked
    # by then: none): only the row account's "0 used" hinted why.
    warning = (
        "warning: as-of 2000-01-01 is before the first won line in the data (2022-01-01): nothing was won by then, "
        "so there is nothing to measure; pass a later --as-of\n"
    )
    account = "15,965 line items: 0 used, 15,769 after the as-of date, 196 open, 0 rejected\n"
    attach = cli("attach", "--data", str(SAMPLE), "--as-of", "2000-01-01", "--format", "csv")
    assert (attach.exit_code, attach.stderr) == (0, warning + account)
    assert attach.stdout.startswith("base_family,target_family,") and attach.stdout.count("\n") == 1
    for command in ("expansion", "timing", "flags", "whitespace"):
        result = cli(command, "--data", str(SAMPLE), "--as-of", "2000-01-01", "--format", "csv")
        assert (result.exit_code, result.stderr, result.stdout.count("\n")) == (0, warning + account, 1), command
    retention = cli("retention", "--data", str(SAMPLE), "--as-of", "2000-01-01", "--format", "csv")
    assert (retention.exit_code, retention.stdout) == (
        0,
        "products_owned,accounts,start_arr,end_arr,logo_retention,grr,nrr\n",
    )
    assert retention.stderr == (
        "retention needs end dates (a subscription or billing export): no won line booked on or before the as-of "
        "date has an end date, so nobody can be seen to leave\n" + warning + account
    )
    # A day between two won lines measures what was won by then: no warning.
    later = cli("attach", "--data", str(SAMPLE), "--as-of", "2022-06-30", "--format", "csv")
    assert later.exit_code == 0 and not later.stderr.startswith("warning")


def test_the_report_says_what_reading_the_book_found_about_the_as_of_date(cli, tmp_path):
    # The report wrote its file and the row account, and dropped the as-of warnings every
    # other command prints.
    out = tmp_path / "r.html"
    result = cli("report", "--data", str(SAMPLE), "--as-of", "2026-03-01", "-o", str(out))
    assert result.exit_code == 0
    assert result.stderr == (
        f"wrote {out}\nwarning: as-of 2026-03-01 is after the last closed line in the data (2025-12-31)\n" + ACCOUNT
    )


def test_a_closed_line_dated_after_today_is_said_when_it_sets_the_as_of_date(cli, write):
    # One typo (2204 for 2024) made 2204-01-15 the default as-of date: every other customer's
    # cross-sell fell outside the window (cross_sell_rate 0 of 4), and nothing said so.
    path = write(
        "line_items.csv",
        "account_id,product_id,booked_at,amount\n"
        "a,Core,2024-01-15,10\na,Addon,2024-06-15,5\nb,Core,2024-02-01,10\nc,Core,2204-01-15,10\n",
    )
    result = cli("summary", "--line-items", str(path), "--format", "csv")
    assert result.exit_code == 0
    assert result.stderr == (
        "warning: the as-of date is 2204-01-15, the last closed line's, which is after today "
        f"({dt.date.today().isoformat()}): 1 closed line is dated after today (a typo?); "
        "pass --as-of to measure at another date\n"
        "4 line items: 4 used, 0 rejected\n"
    )
    given = cli("summary", "--line-items", str(path), "--format", "csv", "--as-of", "2024-12-31")
    assert given.stderr == "4 line items: 3 used, 1 after the as-of date, 0 rejected\n"


def test_nothing_to_measure_is_a_header_and_a_reason_like_every_command(cli, write):
    # Nothing won yet (one open line): expansion and timing printed a blank line, no header,
    # and said nothing on stderr; attach and summary print the header.
    path = write("line_items.csv", "account_id,product_id,booked_at,amount,stage\nA-001,CORE,2024-01-10,100,open\n")
    reason = "no won line with a date on or before the as-of date: nothing to measure\n"
    account = "1 line items: 0 used, 1 open (no metric uses them), 0 rejected\n"
    expansion = cli("expansion", "--line-items", str(path), "--format", "csv")
    assert (expansion.exit_code, expansion.stderr) == (0, reason + account)
    assert expansion.stdout == (
        "period,period_start,new,reactivation,cross_sell,upsell,contraction,churn,expansion,cross_sell_share,"
        "cross_sell_pass_through,opening_arr,closing_arr\n"
    )
    timing = cli("timing", "--line-items", str(path), "--format", "csv", "--by", "segment")
    assert (timing.exit_code, timing.stderr) == (0, reason + account)
    assert timing.stdout.startswith("segment,accounts_landed,accounts_cross_sold,median_days,")
    assert timing.stdout.count("\n") == 1
    assert cli("expansion", "--line-items", str(path), "--format", "json").stdout == "[]\n"


@pytest.mark.parametrize("command", ["attach", "summary", "expansion", "timing", "retention", "flags", "whitespace"])
def test_every_line_item_rejected_is_bad_input_not_an_empty_answer(cli, write, tmp_path, command):
    """Every row rejected (an Excel serial number for a date, as an export changed upstream):
    every command printed an empty table, "no won line with a date on or before the as-of
    date", and exited 0, which a nightly job reads as a quiet month. It is bad input data
    (exit 65), and nothing is written over the last good output."""
    path = write("line_items.csv", "account_id,product_id,booked_at,amount\nA-001,CORE,45306,100\n")
    out = tmp_path / "last.csv"
    out.write_text("yesterday\n")
    result = cli(command, "--line-items", str(path), "-o", str(out))
    assert (result.exit_code, result.stdout, out.read_text()) == (65, "", "yesterday\n")
    assert result.stderr == (
        "1 line items: 0 used, 1 rejected — see 'xsell validate'\n"
        "Error: every line item was rejected (1 of 1 rows): there is nothing to measure\n"
        "  fix: run 'xsell validate' to list them with the reason and the fix\n"
    )


def test_an_as_of_date_inside_the_data_says_nothing_more(cli):
    # (8,130 closed lines of the sample are booked after 2024-06-30: no metric reads them)
    for as_of, account in (
        ("2025-12-31", ACCOUNT),
        ("2024-06-30", "15,965 line items: 7,639 used, 8,130 after the as-of date, 196 open, 0 rejected\n"),
    ):
        result = cli("attach", "--data", str(SAMPLE), "--as-of", as_of, "--format", "csv")
        assert (result.exit_code, result.stderr) == (0, account)


def test_a_where_value_nobody_has_lists_the_values(cli):
    result = cli("attach", "--data", str(SAMPLE), "--where", "segment=Enterprize")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "Error: no account has segment = 'Enterprize'; values: Enterprise, Mid-Market, SMB (did you mean Enterprise?)\n"
    )


def test_an_account_name_several_accounts_hold_lists_them(cli):
    result = cli("whitespace", "--data", str(SAMPLE), "--account", "Lumen Motors")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.startswith(
        "Error: --account Lumen Motors: 7 accounts match 'Lumen Motors'; use an account_id: "
        "A-000042 (Lumen Motors 00042), A-000733 (Lumen Motors 00733), "
    )


def test_a_base_family_the_data_lacks_is_a_usage_error_with_nothing_on_stdout(cli):
    result = cli("attach", "--data", str(SAMPLE), "--base", "Cor", "--format", "csv")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == "Error: --base Cor: no family of that name\n  fix: did you mean 'Core'?\n"


def test_a_year_past_9999_is_a_bad_date_not_a_crash(cli, write):
    """Polars reads '+20128-02-05 10:00:00' as a date in the year 20128, which no deal was booked
    on and Python cannot hold: it was kept by validate and crashed attach (exit 70, "year
    20128 is out of range"). Found by a review. Now it is a rejected row like any bad date."""
    path = write(
        "line_items.csv",
        "line_id,account_id,product_id,booked_at,amount,stage\n"
        "L1,A1,P1,2024-01-05 10:00:00,100,won\n"
        "L2,A1,P2,+20128-02-05 10:00:00,200,won\n"
        "L3,A2,P1,2024-01-07 10:00:00,300,won\n"
        "L4,A2,P2,2024-03-05 10:00:00,50,won\n",
    )
    checked = cli("validate", "--line-items", str(path))
    assert checked.exit_code == 65
    assert checked.stdout == (
        "table,file,row,column,header,value,rule,severity,message\n"
        f"line_items,{path},2,booked_at,booked_at,'+20128-02-05 10:00:00,bad_date,rejected,"
        "\"'+20128-02-05 10:00:00' is not a date; write dates as YYYY-MM-DD, or list the file's format "
        'in date_formats: in xsell.yaml"\n'
    )
    assert checked.stderr == (
        f"line_items: 4 rows, 3 used, 1 rejected, 0 warnings — {path}\n4 line items: 3 used, 1 rejected\n"
    )
    pairs = cli("attach", "--line-items", str(path), "--all", "--format", "csv")
    assert pairs.exit_code == 0
    # A2 alone owns both: P1 first on 2024-01-07, P2 on 2024-03-05 (A1's P2 line is the rejected one)
    assert pairs.stdout.splitlines()[1:] == [
        "P2,P1,1,1,1.0,0.20654931437723745,1.0,2,1.0,1.0,0,0,1,0.0,",
        "P1,P2,2,1,0.5,0.09453120573423074,0.9054687942657693,1,0.5,1.0,0,1,0,0.5,",
    ]
    assert pairs.stderr == "4 line items: 3 used, 1 rejected — see 'xsell validate'\n"


def test_the_accounts_a_name_matches_are_listed_by_id_every_time(cli):
    """The accounts an ambiguous --account matches were sorted by id, then joined with their
    segments, and a Polars join keeps no order unless asked: about one run in three listed
    them in another order (the first test of this file then failed now and then). Run
    ten times, the old code gave another order in at least one run every time it was tried."""
    expected = "Error: --account Lumen Motors: 7 accounts match 'Lumen Motors'; use an account_id: " + ", ".join(
        f"{i} (Lumen Motors {i[3:]})" for i in ("A-000042", "A-000733")
    )
    got = {
        cli("whitespace", "--data", str(SAMPLE), "--account", "Lumen Motors").stderr[: len(expected)] for _ in range(10)
    }
    assert got == {expected}


def test_an_export_with_no_usable_line_gives_one_header_of_the_commands_own_columns(tmp_path):
    """A header-only export (or one whose every row is rejected or open): the streamed output
    had written the main plan's header when the command's 'nothing to measure' answer wrote an
    empty frame of its own, so attach, flags and whitespace printed their header twice, and
    `flags --by rep` / `whitespace --by family` the findings' or rows' header under their own."""
    import os
    import subprocess
    import sys

    from .conftest import REPO

    (tmp_path / "line_items.csv").write_text("line_id,account_id,product_id,booked_at,amount\n")
    wanted = {
        ("attach",): "base_family,target_family,base_accounts,both_accounts,attach_rate,ci_low,ci_high,"
        "target_accounts,target_rate,lift,co_booked,cross_sold_after,before,cross_sell_attach,flag\n",
        ("flags",): "flag,severity,line_id,account_id,family,base_family,product_id,rep,contract_id,booked_at,"
        "amount,list_amount,discount,detail\n",
        ("flags", "--by", "rep"): "rep,cross_sells,flagged,share_flagged,flagged_value\n",
        ("whitespace",): "account_id,account_name,family,score,expected_value,reason,rank\n",
        ("whitespace", "--by", "family"): "family,non_owners,whitespace_value,mean_score\n",
    }
    for args, header in wanted.items():
        got = subprocess.run(
            [sys.executable, "-m", "crossell_cli", *args, "--data", str(tmp_path), "--format", "csv", "--no-cache"]
            if args[0] == "whitespace"
            else [sys.executable, "-m", "crossell_cli", *args, "--data", str(tmp_path), "--format", "csv"],
            capture_output=True,
            text=True,
            cwd=REPO,
            env={**os.environ, "XSELL_CONFIG": ""},
            timeout=300,
        )
        assert (got.returncode, got.stdout, got.stderr) == (0, header, "0 line items: 0 used, 0 rejected\n"), args


def test_an_input_that_is_a_pipe_is_refused_with_the_reason(cli, tmp_path):
    """`--line-items <(cat x.csv)` or a named pipe: xsell reads an input more than once, so the
    second read of a pipe found nothing ('no column for account_id … Headers found: (none)',
    exit 65: false) and a named pipe waited for ever for a second writer (a hung cron job)."""
    import os

    fifo = tmp_path / "line_items.csv"
    os.mkfifo(fifo)
    got = cli("validate", "--line-items", str(fifo))
    assert (got.exit_code, got.stdout) == (2, "")
    assert got.stderr == (
        f"Error: {fifo} is a pipe, not a file: xsell reads an input more than once (its header, a sample of its "
        "dates, then its rows)\n  fix: save it to a file first (e.g. `… > line_items.csv`) and give that file\n"
    )


def test_a_base_under_min_base_says_why_its_csv_is_empty(cli):
    """`attach --base X` for a base under min_base lists no pair; the reason was a table note
    only, so a CSV or JSON run printed a bare header and nothing else."""
    got = cli("attach", "--data", str(SAMPLE), "--base", "Legacy Connector", "--min-base", "100", "--format", "csv")
    assert got.exit_code == 0
    assert got.stdout.count("\n") == 1 and got.stdout.startswith("base_family,target_family,")
    assert got.stderr == (
        "Legacy Connector has fewer than 100 customers; --all shows its pairs anyway\n"
        "15,965 line items: 15,769 used, 196 open (no metric uses them), 0 rejected\n"
    )


def test_an_account_id_with_a_zero_too_few_suggests_the_padded_id_first(cli):
    """A-00042 for A-000042: difflib ranks the ids one edit away alike and kept the five that
    sort last, so the id meant was not among them."""
    got = cli("whitespace", "--data", str(SAMPLE), "--account", "A-00042")
    assert (got.exit_code, got.stdout) == (2, "")
    assert got.stderr == (
        "Error: --account A-00042: no account with that id or name\n"
        "  fix: close matches: A-000042, A-003042, A-002042, A-001042, A-000942\n"
    )


def test_an_unknown_level_says_both_levels_and_what_they_mean(cli):
    got = cli("attach", "--data", str(SAMPLE), "--level", "foo")
    assert (got.exit_code, got.stdout) == (2, "")
    assert got.stderr == (
        "Error: --level foo: choose family or product\n"
        "  fix: --level family rolls products up to their family (the default); --level product keeps them apart\n"
    )


def test_a_window_of_zero_days_is_said_to_be_empty(cli):
    # '0d' was "not a duration", which it is: a duration of no day, so no window at all.
    for window in ("0d", "0m", "0"):
        result = cli("summary", "--data", str(SAMPLE), "--window", window)
        assert (result.exit_code, result.stdout) == (2, "")
        assert (
            result.stderr
            == f"Error: --window: '{window}' is no time at all; give at least one day, e.g. 1d, 90d or 1y\n"
        )
    bad = cli("summary", "--data", str(SAMPLE), "--window", "soon")
    assert bad.stderr == "Error: --window: 'soon' is not a duration; write e.g. 365d, 26w, 12m or 1y\n"


def test_an_invisible_character_in_a_value_is_shown_by_its_code_in_the_message(cli, write):
    # A zero-width space between two digits: "'70' is not a number" showed a number. The
    # message shows it as \u200b; the value column keeps the raw text.
    path = write(
        "line_items.csv",
        "account_id,product_id,booked_at,amount\nA-1,CORE,2024-01-01,7\u200b0\nA-2,CORE,2024-01-02,\u2060\n".encode(),
    )
    result = cli("validate", "--line-items", str(path), "--format", "csv")
    assert result.exit_code == 65
    assert result.stdout == (
        "table,file,row,column,header,value,rule,severity,message\n"
        f"line_items,{path},1,amount,amount,7\u200b0,bad_number,rejected,\"'7\\u200b0' is not a number; amounts "
        'may look like 1200.50, $1,200.50, USD 1,200.50 or (1,200.00)"\n'
        f"line_items,{path},2,amount,amount,\u2060,bad_number,rejected,\"'\\u2060' is not a number; amounts "
        'may look like 1200.50, $1,200.50, USD 1,200.50 or (1,200.00)"\n'
    )


@pytest.mark.parametrize("bad_row", [1, 3, 5])
def test_a_parquet_binary_column_that_is_not_utf8_names_its_column_and_row(cli, tmp_path, bad_row):
    # Raw cp1252 bytes in a Parquet BINARY column were reported as a CSV would be: "line 1
    # (byte 18) is not valid UTF-8 ... pass --encoding", of a file with no lines and no encoding.
    import polars as pl

    ids = [b"A-1", b"A-2", b"A-3", b"A-4", b"A-5"]
    ids[bad_row - 1] = b"Soci\xe9t\xe9"
    path = tmp_path / "line_items.parquet"
    pl.DataFrame(
        {
            "product_id": [b"CORE"] * 5,  # (a BINARY column of UTF-8 text reads as text)
            "account_id": ids,
            "booked_at": ["2024-01-01"] * 5,
            "amount": [1.0] * 5,
        }
    ).write_parquet(path)
    result = cli("attach", "--line-items", str(path))
    assert (result.exit_code, result.stdout) == (65, "")
    assert result.stderr == (
        f"Error: {path}: column 'account_id', row {bad_row}, is not UTF-8 text: b'Soci\\xe9t\\xe9'\n"
        "  fix: the column holds raw bytes (Parquet BINARY) in another encoding: write it as UTF-8 text (a STRING "
        "column) when exporting, or decode it first (in pandas: .str.decode('cp1252'))\n"
    )


def test_a_parquet_accounts_file_that_is_not_utf8_is_named_not_the_line_items(cli, tmp_path):
    # Polars' error names no file: it was blamed on the line items, a valid CSV ("not valid
    # UTF-8 … pass --encoding"), when the bad cell was in accounts.parquet.
    import polars as pl

    (tmp_path / "line_items.csv").write_text(
        "account_id,product_id,booked_at,amount\nA-1,CORE,2024-01-01,1\nA-2,CORE,2024-01-02,2\n", encoding="utf-8"
    )
    pl.DataFrame(
        {"account_id": ["A-1", "A-2"], "account_name": [b"Acme", b"Caf\xe9 Lumi\xe8re"]},
        schema={"account_id": pl.String, "account_name": pl.Binary},
    ).write_parquet(tmp_path / "accounts.parquet")
    result = cli("summary", "--data", str(tmp_path))
    assert (result.exit_code, result.stdout) == (65, "")
    assert result.stderr.startswith(
        f"Error: {tmp_path / 'accounts.parquet'}: column 'account_name', row 2, is not UTF-8 text: "
        "b'Caf\\xe9 Lumi\\xe8re'\n  fix: the column holds raw bytes (Parquet BINARY)"
    )


@pytest.mark.parametrize("bad_row", [1, 2, 63, 64, 65, 500, 999, 1000])
def test_the_bisection_finds_the_first_cell_that_is_not_utf8_in_any_row_group(tmp_path, bad_row):
    import polars as pl

    from crossell_cli.ingest import parquet_text_error

    values = [f"v{i}".encode() for i in range(1, 1001)]
    values[bad_row - 1] = b"\xff"
    if bad_row < 1000:
        values[-1] = b"\xfe"  # a later bad cell too: the first is the one named
    path = tmp_path / "t.parquet"
    pl.DataFrame({"x": values}, schema={"x": pl.Binary}).write_parquet(path, row_group_size=64)
    found = parquet_text_error(path)
    assert found is not None and found.message.startswith(
        f"{path}: column 'x', row {bad_row}, is not UTF-8 text: b'\\x"
    )
    assert parquet_text_error(tmp_path / "missing.parquet") is None


@pytest.mark.parametrize(
    ("encoding", "bad", "message"),
    [
        (None, b"\xe9", "line 4 (byte 84) is not valid UTF-8: b'\\xe91,2'"),
        ("cp1252", b"\x81", "byte 84 (line 4) is not valid cp1252: b'\\x811,2'"),
    ],
)
def test_an_old_mac_file_names_the_line_of_a_bad_byte(cli, write, encoding, bad, message):
    # Lines ended by CR alone (old Mac files) were counted by LF: line 4 was called line 1.
    path = write(
        "line_items.csv",
        b"account_id,product_id,booked_at,amount\rA1,P1,2024-01-05,100\rA1,P2,2024-03-05,50\rA2,P"
        + bad
        + b"1,2024-02-01,70\r",
    )
    result = cli("validate", "--line-items", str(path), *(("--encoding", encoding) if encoding else ()))
    assert (result.exit_code, result.stdout) == (65, "")
    assert result.stderr.startswith(f"Error: {path}: {message}\n  fix: ")


def test_a_lone_carriage_return_is_shown_and_named_in_the_messages(cli, write):
    # An old Mac line ending inside an LF file joins two lines into one row. The message
    # printed the \r itself (a terminal moved its cursor over the text; a table showed a
    # blank) and blamed an unquoted delimiter only.
    path = write(
        "line_items.csv",
        b"account_id,product_id,booked_at,amount\nA-1,CORE,2024-01-01,100\rA-2,CORE,2024-01-02,50\nA-3,CORE,2024-01-03,70\n",
    )
    result = cli("validate", "--line-items", str(path), "--format", "csv")
    assert result.exit_code == 65
    assert result.stdout == (
        "table,file,row,column,header,value,rule,severity,message\n"
        f"line_items,{path},1,(row),,CORE,ragged_row,rejected,\"the row has more values than the header ('CORE' is "
        "extra); a value probably contains an unquoted delimiter, or a lone carriage return (\\r, an old Mac line "
        'ending) joined two lines; quote the value, or save the file again with Windows or Unix line endings"\n'
        f'line_items,{path},1,amount,amount,"100\rA-2",bad_number,rejected,"\'100\\rA-2\' is not a number; amounts '
        'may look like 1200.50, $1,200.50, USD 1,200.50 or (1,200.00)"\n'
    )
