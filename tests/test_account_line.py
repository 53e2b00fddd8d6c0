"""The row account on stderr (SPEC §1 "Nothing is lost"; issue 14 item 2, issue 13 item 5):
one line of at most 80 characters in the common case, open rows counted apart from used
ones, every table that lost rows named; validate gives each table's full account."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from crossell_cli.commands.session import account_line, table_account
from crossell_cli.ingest import COUNTS_SCHEMA


def counts(*tables: dict[str, Any]) -> pl.DataFrame:
    rows = []
    for table in tables:
        row: dict[str, Any] = dict.fromkeys(COUNTS_SCHEMA, 0)
        row.update(table)
        # as the loader counts, and the session for a given --as-of
        row["used"] = row["rows"] - row["rejected"] - row["excluded"] - row["open"] - row["after_as_of"]
        rows.append(row)
    return pl.DataFrame(rows, schema=COUNTS_SCHEMA)


SAMPLE = (
    {"table": "line_items", "rows": 15_965, "open": 196},
    {"table": "accounts", "rows": 4_000},
    {"table": "products", "rows": 14},
)


def test_open_rows_are_counted_apart_from_used_rows():
    line = account_line(counts({"table": "line_items", "rows": 8_800, "open": 2_089}))
    assert line == "8,800 line items: 6,711 used, 2,089 open (no metric uses them), 0 rejected"


def test_a_clean_book_names_its_other_tables_when_they_fit():
    line = account_line(counts({"table": "line_items", "rows": 15_965}, *SAMPLE[1:]))
    assert line == "15,965 line items: 15,965 used, 0 rejected; 4,000 accounts, 14 products"


def test_what_does_not_fit_is_left_to_validate():
    assert account_line(counts(*SAMPLE)) == "15,965 line items: 15,769 used, 196 open (no metric uses them), 0 rejected"


def test_rejected_rows_in_any_table_are_always_said():
    line = account_line(counts({"table": "line_items", "rows": 5, "rejected": 2}, {"table": "accounts", "rows": 3}))
    assert line == "5 line items: 3 used, 2 rejected; 3 accounts — see 'xsell validate'"
    line = account_line(
        counts(
            {"table": "line_items", "rows": 120_431, "rejected": 4},
            {"table": "accounts", "rows": 10_000, "rejected": 2},
            {"table": "products", "rows": 40},
        )
    )
    assert line == "120,431 line items: 120,427 used, 4 rejected; accounts: 2 rejected\n  — see 'xsell validate'"


def test_validate_does_not_send_the_reader_to_itself():
    line = account_line(counts({"table": "line_items", "rows": 5, "rejected": 2}), see_validate=False)
    assert line == "5 line items: 3 used, 2 rejected"


def test_excluded_and_dropped_lines():
    line = account_line(
        counts({"table": "line_items", "rows": 541_909, "rejected": 132_516, "excluded": 13_023, "blank_lines": 2})
    )
    assert line == "541,909 line items: 396,370 used, 132,516 rejected, 13,023 excluded\n  — see 'xsell validate'"
    line = account_line(counts({"table": "line_items", "rows": 16, "blank_lines": 2, "footer_lines": 3}))
    assert line == "16 line items: 16 used, 0 rejected (2 blank and 3 report-footer lines dropped)"


@pytest.mark.parametrize("size", [0, 1, 999, 12_345, 9_876_543, 123_456_789])
def test_fits_80_columns_whatever_the_counts(size):
    """Every count at once, up to hundreds of millions: the words wrap, a number never splits."""
    line = account_line(
        counts(
            {
                "table": "line_items",
                "rows": size * 5,
                "open": size,
                "rejected": size,
                "excluded": size,
                "after_as_of": size,
            },
            {"table": "accounts", "rows": size, "rejected": size, "blank_lines": size},
            {"table": "products", "rows": size, "excluded": size},
        )
    )
    assert max(len(part) for part in line.splitlines()) <= 80, line
    words = line.split()
    line = " ".join(words)
    assert words[:5] == [f"{size * 5:,}", "line", "items:", f"{size:,}", "used,"], line
    if size:
        assert (
            f"{size:,} after the as-of date" in line
            and f"{size:,} open" in line
            and f"{size:,} rejected" in line
            and f"{size:,} excluded" in line
        )
        assert f"accounts: {size:,} rejected" in line and f"products: 0 rejected, {size:,} excluded" in line
        assert line.endswith("— see 'xsell validate'")


def test_validate_gives_each_table_in_full():
    row = counts({"table": "accounts", "rows": 4_000, "rejected": 2, "open": 0, "blank_lines": 1}).row(0, named=True)
    assert table_account(row, warnings=5) == (
        "accounts: 4,000 rows, 3,998 used, 2 rejected, 5 warnings (1 blank lines dropped)"
    )


def test_lines_booked_after_the_as_of_date_are_not_called_used():
    line = account_line(counts({"table": "line_items", "rows": 15_965, "open": 196, "after_as_of": 8_130}))
    assert line == "15,965 line items: 7,639 used, 8,130 after the as-of date, 196 open, 0 rejected"
    row = counts({"table": "line_items", "rows": 5, "open": 1, "after_as_of": 2}).row(0, named=True)
    assert table_account(row) == (
        "line_items: 5 rows, 2 used, 2 booked after the as-of date (no metric reads past it), "
        "1 open (no metric uses them), 0 rejected"
    )


# Two won lines by 2024-03-31, a won and a lost line after it, an open one: with --as-of
# 2024-03-31 no metric reads the two closed lines after T, so they are not "used".
AFTER_BOOK = (
    "account_id,product_id,booked_at,amount,stage\n"
    "a1,CRM,2024-01-10,100,won\n"
    "a1,BI,2024-02-10,50,won\n"
    "a2,CRM,2024-05-01,100,won\n"
    "a3,CRM,2024-06-01,100,lost\n"
    "a4,CRM,2024-09-01,100,open\n"
)


@pytest.mark.parametrize("command", ["attach", "timing", "summary", "whitespace", "whitespace"])
def test_the_row_account_leaves_out_lines_after_a_given_as_of(cli, write, command):
    """Commands said '5 line items: 4 used, 1 open' with --as-of 2024-03-31, though none of them
    reads a line booked after T. Whitespace twice: the second run reads its facts from the cache."""
    write("line_items.csv", AFTER_BOOK)
    result = cli(command, "--line-items", "line_items.csv", "--as-of", "2024-03-31", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines()[-1] == "5 line items: 2 used, 2 after the as-of date, 1 open, 0 rejected"
    result = cli(command, "--line-items", "line_items.csv", "--format", "csv")
    assert result.stderr.splitlines()[-1] == "5 line items: 4 used, 1 open (no metric uses them), 0 rejected"


def test_a_long_line_wraps_between_its_pieces():
    """Online Retail with --as-of 2011-06-30 wrapped '132,516' away from 'rejected'."""
    line = account_line(
        counts(
            {"table": "line_items", "rows": 541_909, "after_as_of": 224_418, "rejected": 132_516, "excluded": 13_023}
        )
    )
    assert line == (
        "541,909 line items: 171,952 used, 224,418 after the as-of date,\n"
        "  132,516 rejected, 13,023 excluded\n"
        "  — see 'xsell validate'"
    )
