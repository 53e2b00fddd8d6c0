"""Lines a book holds more than once (issue 13, item 5): exact duplicate rows and overlapping
subscriptions of one product, as warnings that `xsell validate` lists and sums up.

Hand-worked frames for the functions in ingest/repeats.py, then the validate command on the
corpus files (the per-row listing is checked in test_bad_inputs.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from crossell_cli.ingest.read import EXTRA, ROW, RawTable
from crossell_cli.ingest.repeats import ROW_HASH, concurrent_at_start, duplicate_rows, held_at
from crossell_cli.ingest.rules import CONCURRENT, DUPLICATE_OF

from .conftest import invoke

CORPUS = Path(__file__).resolve().parent / "corpus"
D = dt.date
NO_CONFIG = {"XSELL_CONFIG": ""}


def lines(rows: list[tuple[int, str, str, D, D | None, str | None]]) -> pl.LazyFrame:
    return pl.LazyFrame(
        rows,
        schema={
            ROW: pl.Int64,
            "account_id": pl.String,
            "product_id": pl.String,
            "start_date": pl.Date,
            "end_date": pl.Date,
            "stage": pl.String,
        },
        orient="row",
    ).with_columns(pl.col("start_date").alias("booked_at"))


def test_concurrent_at_start_counts_the_lines_held_when_each_starts():
    book = lines(
        [
            (1, "A", "P", D(2024, 1, 1), D(2025, 1, 1), "won"),
            (2, "A", "P", D(2024, 6, 1), D(2025, 6, 1), "won"),  # L1 still runs: 2
            (3, "A", "P", D(2025, 1, 1), None, "won"),  # L1 ended that day (exclusive), L2 runs: 2
            (4, "A", "Q", D(2024, 6, 1), None, "won"),  # another product, alone of its pair: not swept
            (5, "B", "P", D(2024, 1, 1), D(2024, 7, 1), "won"),
            (6, "B", "P", D(2024, 7, 1), None, "won"),  # a renewal that ends the old line: 1
            (7, "B", "P", D(2024, 8, 1), None, "lost"),  # not held
            (8, "B", "P", D(2024, 9, 1), D(2024, 9, 1), "won"),  # never active
            (9, "C", "P", D(2024, 3, 1), None, None),  # no stage column: a purchase
            (10, "C", "P", D(2024, 3, 1), None, None),  # same day, later row: 2
        ]
    )
    got = concurrent_at_start(book).sort(ROW).collect()
    want = pl.DataFrame(
        {ROW: [1, 2, 3, 5, 6, 9, 10], CONCURRENT: [1, 2, 2, 1, 1, 1, 2]},
        schema={ROW: pl.Int64, CONCURRENT: pl.Int64},
    )
    assert_frame_equal(got, want)


def test_concurrent_at_start_is_silent_without_end_dates():
    book = lines([(1, "A", "P", D(2024, 1, 1), None, None), (2, "A", "P", D(2024, 2, 1), None, None)])
    assert concurrent_at_start(book).collect().is_empty()


def test_concurrent_at_start_does_not_depend_on_row_order():
    rows = [
        (1, "A", "P", D(2024, 1, 1), D(2025, 1, 1), "won"),
        (2, "A", "P", D(2024, 6, 1), None, "won"),
        (3, "A", "P", D(2024, 7, 1), D(2024, 8, 1), "won"),
    ]
    forward = concurrent_at_start(lines(rows)).sort(ROW).collect()
    backward = concurrent_at_start(lines(rows[::-1])).sort(ROW).collect()
    assert_frame_equal(forward, backward)
    assert forward[CONCURRENT].to_list() == [1, 2, 3]


def _held_at_start(rows: list[tuple[int, str, str, D, D | None, str | None]]) -> dict[int, int]:
    """By hand: each won line's count of won lines of its pair active on its start day, itself
    included (a line starting that day counts when it comes earlier in the file; a line
    ending that day does not: end dates are exclusive), for a book with an end date."""
    held = [r for r in rows if r[5] in (None, "won") and (r[4] is None or r[4] > r[3])]
    if not any(r[4] is not None for r in held):
        return {}
    return {
        line[0]: sum(
            1
            for other in held
            if other[1:3] == line[1:3]
            and (other[3] < line[3] or (other[3] == line[3] and other[0] <= line[0]))
            and (other[4] is None or other[4] > line[3])
        )
        for line in held
    }


_DAYS = st.integers(0, 40).map(lambda n: D(2024, 1, 1) + dt.timedelta(days=n))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["A", "B"]),
            st.sampled_from(["P", "Q", "R"]),
            _DAYS,
            st.one_of(st.none(), _DAYS),
            st.sampled_from([None, "won", "won", "lost"]),
        ),
        max_size=14,
    )
)
def test_concurrent_at_start_warns_exactly_the_lines_counted_by_hand(cells):
    """Every line the overlap warning names (2 or more held at its start), with its count, and
    no other: the sweep skips the pairs with one line, which can never reach 2."""
    rows = [(i, *cell) for i, cell in enumerate(cells, start=1)]
    got = concurrent_at_start(lines(rows)).filter(pl.col(CONCURRENT) >= 2).collect()
    want = {row: n for row, n in _held_at_start(rows).items() if n >= 2}
    assert dict(zip(got[ROW], got[CONCURRENT], strict=True)) == want


def test_held_at_counts_pairs_active_on_the_day():
    book = lines(
        [
            (1, "A", "P", D(2024, 1, 1), D(2025, 1, 1), "won"),  # ended on T
            (2, "A", "P", D(2024, 6, 1), None, "won"),
            (3, "A", "P", D(2025, 1, 1), None, "won"),
            (4, "A", "Q", D(2024, 6, 1), None, "won"),
            (5, "B", "P", D(2024, 6, 1), None, "won"),
            (6, "B", "P", D(2024, 7, 1), None, "won"),
            (7, "C", "P", D(2024, 6, 1), None, "open"),
        ]
    )
    got = held_at(book, D(2025, 1, 1)).collect()
    want = pl.DataFrame(
        {
            "pairs": [3],
            "overlapping": [2],
            "most": [2],
            "account_id": ["A"],
            "product_id": ["P"],
            "as_of": [D(2025, 1, 1)],
        },
        schema_overrides={"most": pl.Int64, "pairs": pl.Int64, "overlapping": pl.Int64},
    )
    assert_frame_equal(got, want)


def test_held_at_names_the_first_account_then_its_first_product_on_a_tie():
    # A holds Q twice and P once; B holds P twice: the most is 2, held by (A, Q) and (B, P).
    # The pair named is A's (the first account), with A's product Q, not the first product
    # among all tied pairs (P, which A holds only once).
    book = lines(
        [
            (1, "B", "P", D(2024, 1, 1), None, "won"),
            (2, "B", "P", D(2024, 2, 1), None, "won"),
            (3, "A", "P", D(2024, 1, 1), None, "won"),
            (4, "A", "Q", D(2024, 1, 1), None, "won"),
            (5, "A", "Q", D(2024, 3, 1), None, "won"),
        ]
    )
    got = held_at(book, D(2025, 1, 1)).collect().row(0, named=True)
    assert (got["pairs"], got["overlapping"], got["most"]) == (3, 2, 2)
    assert (got["account_id"], got["product_id"]) == ("A", "Q")


def test_duplicate_rows_compare_every_cell_and_point_to_the_first_copy():
    raw_frame = pl.LazyFrame(
        {
            ROW: [1, 2, 3, 4, 5, 6],
            "c0": ["A", "A", "A", "B", "B", "B"],
            "c1": ["x", "x", "x", "y", "y", "y"],
            "c2": ["note", "note", "other", None, None, None],
        },
        schema_overrides={ROW: pl.Int64},
    )
    raw = RawTable(Path("f.csv"), ("a", "b", "c"), raw_frame, "utf-8", ",", "csv")
    # copies meet every row rule alike, so the copies are found over the file's rows (the
    # warning then attaches to the used ones); a null cell equals a null cell
    got = duplicate_rows(raw).sort(ROW).collect()
    want = pl.DataFrame({ROW: [2, 5, 6], DUPLICATE_OF: [1, 4, 4]}, schema={ROW: pl.Int64, DUPLICATE_OF: pl.Int64})
    assert_frame_equal(got, want)


def test_validate_sums_up_duplicate_rows():
    result = invoke(["validate", "--line-items", str(CORPUS / "duplicate_rows.csv"), "--format", "csv"], env=NO_CONFIG)
    assert result.exit_code == 65  # rows 7 and 8 have a bad date
    assert (
        "warning: exact duplicate rows: 3 used line_items rows repeat an earlier row cell for cell "
        "(e.g. row 2 = row 1); they are used as they are" in result.stderr
    )


def test_validate_sums_up_overlapping_subscriptions():
    result = invoke(
        ["validate", "--line-items", str(CORPUS / "overlapping_subscriptions.csv"), "--format", "csv"], env=NO_CONFIG
    )
    assert result.exit_code == 0
    assert (
        "warning: overlapping subscriptions: 4 won lines start while another line of the same product is "
        "active for the account (rule overlapping_lines lists them); on 2025-01-01, 2 of the 4 account × "
        "product pairs with an active line hold 2 or more at once (up to 3: account A-003, product CORE)"
    ) in result.stderr


def test_validate_says_nothing_of_repeats_in_a_clean_bookings_export():
    result = invoke(
        ["validate", "--line-items", str(CORPUS / "repeat_orders_no_end_dates.csv"), "--format", "csv"], env=NO_CONFIG
    )
    assert result.exit_code == 0
    assert "duplicate" not in result.stderr and "overlapping" not in result.stderr


def test_a_rejected_ragged_row_is_not_the_copy_of_a_used_row(tmp_path: Path):
    # Row 1 has a sixth cell (rejected: ragged_row); row 3 repeats its five named cells and is
    # used. The extra text is part of the row, so row 3 copies nothing: no duplicate_row.
    path = tmp_path / "lines.csv"
    path.write_text(
        "account_id,product_id,booked_at,amount,note\n"
        "A-001,CORE,2024-01-15,1200,x,EXTRA\n"
        "A-002,CORE,2024-02-01,900,y\n"
        "A-001,CORE,2024-01-15,1200,x\n"
    )
    out = tmp_path / "issues.csv"
    result = invoke(["validate", "--line-items", str(path), "-o", str(out)], env=NO_CONFIG)
    assert result.exit_code == 65
    issues = pl.read_csv(out)
    assert issues.select("row", "rule").rows() == [(1, "ragged_row")]
    assert "exact duplicate rows" not in result.stderr


def test_duplicate_rows_compare_the_extra_cells_too():
    raw_frame = pl.LazyFrame(
        {ROW: [1, 2, 3], "c0": ["A", "A", "A"], EXTRA: ["more", None, None]},
        schema_overrides={ROW: pl.Int64},
    )
    raw = RawTable(Path("f.csv"), ("a",), raw_frame, "utf-8", ",", "csv")
    got = duplicate_rows(raw).sort(ROW).collect()
    want = pl.DataFrame({ROW: [3], DUPLICATE_OF: [2]}, schema={ROW: pl.Int64, DUPLICATE_OF: pl.Int64})
    assert_frame_equal(got, want)


def test_duplicate_rows_of_typed_parquet_columns_compare_the_cells_as_text():
    # Typed cells are hashed as values and compared as the text they read as: 1.5 = 1.5 and
    # NaN = NaN (copies), but -0.0 and 0.0 hash alike and read differently: no copy.
    day, other = D(2024, 1, 15), D(2024, 2, 1)
    raw_frame = pl.LazyFrame(
        {
            ROW: [1, 2, 3, 4, 5, 6, 7],
            "c0": ["A"] * 7,
            "c1": [1.5, 1.5, -0.0, 0.0, float("nan"), float("nan"), 1.5],
            "c2": [day, day, day, day, other, other, other],
        },
        schema_overrides={ROW: pl.Int64},
    )
    raw = RawTable(
        Path("f.parquet"),
        ("a", "b", "c"),
        raw_frame,
        "utf-8",
        None,
        "parquet",
        dtypes=(pl.String(), pl.Float64(), pl.Date()),
    )
    got = duplicate_rows(raw).sort(ROW).collect()
    want = pl.DataFrame({ROW: [2, 6], DUPLICATE_OF: [1, 5]}, schema={ROW: pl.Int64, DUPLICATE_OF: pl.Int64})
    assert_frame_equal(got, want)


def test_row_hashes_read_before_spare_the_copy_check_a_pass_over_the_file(tmp_path: Path):
    # With every row's hash at hand and no two alike, nothing is read: the frame below would
    # fail if it were (its file does not exist).
    gone = pl.scan_csv(tmp_path / "missing.csv", schema={ROW: pl.Int64, "c0": pl.String})
    raw = RawTable(Path("f.csv"), ("a",), gone, "utf-8", ",", "csv")
    hashed = pl.DataFrame({ROW: [1, 2, 3], ROW_HASH: [11, 12, 13]}, schema={ROW: pl.Int64, ROW_HASH: pl.UInt64})
    assert duplicate_rows(raw, hashed).collect().is_empty()
    # Two rows sharing a hash are compared cell by cell, as without the hashes.
    frame = pl.LazyFrame({ROW: [1, 2, 3], "c0": ["A", "A", "B"]}, schema_overrides={ROW: pl.Int64})
    raw = RawTable(Path("f.csv"), ("a",), frame, "utf-8", ",", "csv")
    hashed = pl.DataFrame({ROW: [1, 2, 3], ROW_HASH: [7, 7, 7]}, schema={ROW: pl.Int64, ROW_HASH: pl.UInt64})
    got = duplicate_rows(raw, hashed).collect()
    assert got.rows() == [(2, 1)]
    assert_frame_equal(got, duplicate_rows(raw).collect())


def test_duplicate_rows_of_a_parquet_duration_column_compare_its_values():
    # Polars cannot write a duration as text: its cells are compared as values, so a file with
    # such a column is checked the same whether or not two of its rows share a hash.
    day = dt.timedelta(days=1)
    frame = pl.LazyFrame(
        {ROW: [1, 2, 3], "c0": ["A", "A", "A"], "c1": [day, day, 2 * day]}, schema_overrides={ROW: pl.Int64}
    )
    raw = RawTable(
        Path("f.parquet"), ("a", "b"), frame, "utf-8", None, "parquet", dtypes=(pl.String(), pl.Duration("us"))
    )
    want = pl.DataFrame({ROW: [2], DUPLICATE_OF: [1]}, schema={ROW: pl.Int64, DUPLICATE_OF: pl.Int64})
    assert_frame_equal(duplicate_rows(raw).collect(), want)
    hashed = pl.DataFrame({ROW: [1, 2, 3], ROW_HASH: [5, 5, 6]}, schema={ROW: pl.Int64, ROW_HASH: pl.UInt64})
    assert_frame_equal(duplicate_rows(raw, hashed).collect(), want)


@pytest.mark.parametrize(
    "extra",
    [
        {"term": [dt.timedelta(days=365), dt.timedelta(days=365), dt.timedelta(days=366)]},
        {"tags": [[1, 2], [1, 2], [1, 3]], "meta": [{"k": "x"}, {"k": "x"}, {"k": "x"}]},
    ],
    ids=["duration", "list and struct"],
)
def test_validate_reads_a_parquet_export_with_columns_polars_cannot_write_as_text(tmp_path: Path, extra):
    """A duration, a list or a struct: Polars cannot cast them to text, and a list or struct
    ended validate's copy check in 'could not be read: cannot cast List type' (exit 65) on a
    file every other command reads. Rows 1 and 2 repeat every cell; row 3 differs from row 1
    in that column only."""
    path = tmp_path / "lines.parquet"
    pl.DataFrame(
        {
            "account_id": ["A-1", "A-1", "A-1"],
            "product_id": ["Core", "Core", "Core"],
            "booked_at": [D(2024, 1, 15)] * 3,
            "amount": [100.0, 100.0, 100.0],
            **extra,
        }
    ).write_parquet(path)
    result = invoke(["validate", "--line-items", str(path), "--format", "csv"], env=NO_CONFIG)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "table,file,row,column,header,value,rule,severity,message\n"
        f"line_items,{path},2,(row),,1,duplicate_row,warning,"
        '"every cell repeats row 1; both rows are used (counted twice); if the export repeated the line, remove the copy"\n'
    )
    assert result.stderr == (
        f"line_items: 3 rows, 3 used, 0 rejected, 1 warnings — {path}\n"
        "warning: exact duplicate rows: 1 used line_items rows repeat an earlier row cell for cell (e.g. row 2 = "
        "row 1); they are used as they are, so each copy counts again — remove the copies from the export if they "
        "are not separate purchases (rule duplicate_row lists them)\n"
        "3 line items: 3 used, 0 rejected\n"
    )
    attach = invoke(["attach", "--line-items", str(path), "--format", "csv", "-q"], env=NO_CONFIG)
    assert attach.exit_code == 0, attach.stderr
