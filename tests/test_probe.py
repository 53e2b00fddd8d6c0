"""The probe (the clean lane alone) gives the same book as the two lanes, or steps aside.

``Session.read`` collects every table's probe and, when all rows are clean, builds the book
over them in memory (``load_probed``). That book must be the two-lane book, frame for frame:
the same used rows, issues (excluded rows) and counts. When a row is not clean, the
probed load keeps the probe's clean rows and reads the others again for the problem lane:
the book is still the two-lane book.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from crossell_cli.commands.session import open_session
from crossell_cli.errors import XsellError
from crossell_cli.ingest import load, load_probed
from crossell_cli.model import ALL_COLUMNS, CORE_COLUMNS, MONEY_COLUMNS

from .helpers import eager

REPO = Path(__file__).resolve().parent.parent
REALDATA = REPO.parent / "shared" / "realdata"
SAMPLE = REPO / "sample_data"
CORPUS = REPO / "tests" / "corpus"


def _probed_and_lanes(cli: dict[str, object], config: Path | None = None):  # type: ignore[no-untyped-def]
    session = open_session(cli, config=config, cwd=REPO)
    book = load(session.settings, session.profile)
    probes = book.probes
    if not probes:  # a wide export is read whole, as it is
        return None, book
    got = pl.collect_all(list(probes.values()), engine="streaming")
    probed = load_probed(book, session.settings, session.profile, dict(zip(probes, got, strict=True)))
    return probed, book


def _same(probed, book) -> None:  # type: ignore[no-untyped-def]
    fast, lanes = eager(probed), eager(book)
    assert_frame_equal(fast.line_items.sort("_row", "line_id"), lanes.line_items.sort("_row", "line_id"))
    assert_frame_equal(fast.accounts.sort("account_id"), lanes.accounts.sort("account_id"))
    assert_frame_equal(fast.products, lanes.products)
    assert_frame_equal(fast.issues, lanes.issues)
    assert_frame_equal(fast.counts, lanes.counts)
    assert probed.sources == book.sources  # what validate's notes say about each file


def _probed_rows(folder: Path, rows: str):  # type: ignore[no-untyped-def]
    """Line items (account_id, product_id, booked_at, amount) written to ``folder``, read
    through the probe: the probed book, checked to be the two-lane book."""
    (folder / "line_items.csv").write_text("account_id,product_id,booked_at,amount\n" + rows)
    probed, book = _probed_and_lanes({"data": str(folder)})
    assert probed is not None
    _same(probed, book)
    return eager(probed)


def test_a_clean_book_is_read_through_the_probe_and_gives_the_same_book() -> None:
    probed, book = _probed_and_lanes({"data": str(SAMPLE)})
    assert probed is not None  # sample_data is clean: the fast path is the one taken
    _same(probed, book)


EXAMPLES = sorted(p for p in (REPO / "examples").glob("*/xsell.yaml"))


@pytest.mark.parametrize("config", EXAMPLES, ids=[p.parent.name for p in EXAMPLES])
def test_every_example_gives_the_same_book_through_the_probe(config: Path) -> None:
    if not REALDATA.exists():
        pytest.fail(f"the real datasets are missing: {REALDATA}")
    probed, book = _probed_and_lanes({}, config=config)
    if probed is not None:
        _same(probed, book)


@pytest.mark.parametrize(
    ("third", "counts"),
    [
        # a clean book: the probe alone, the excluded row listed
        ("c,Addon,2024-02-01,50,", [4, 3, 1, 0]),
        # a book read again: the excluded row is still excluded, not used
        ("c,Addon,not a date,50,", [4, 2, 1, 1]),
    ],
)
def test_a_row_the_config_excludes_is_listed_and_not_used(tmp_path: Path, third: str, counts: list[int]) -> None:
    folder = tmp_path / "book"
    folder.mkdir()
    (folder / "line_items.csv").write_text(
        f"account_id,product_id,booked_at,amount,note\na,Core,2024-01-01,100,\nb,Core,2024-01-02,100,test\n{third}\nd,Addon,2024-02-01,50,\n"
    )
    config = tmp_path / "xsell.yaml"
    config.write_text(f"data:\n  dir: {folder}\nexclude:\n  - {{column: note, in: [test], reason: test account}}\n")
    probed, book = _probed_and_lanes({}, config=config)
    assert probed is not None
    _same(probed, book)
    read = eager(probed)
    assert [read.count("line_items", k) for k in ("rows", "used", "excluded", "rejected")] == counts


def test_with_exclusions_an_accounts_footer_or_repeated_header_is_still_not_an_account(tmp_path: Path) -> None:
    # The probe's test for a config with exclude: rules had no footer or header test for
    # accounts and products: 'Grand Totals (2 records)' and a repeated header became accounts.
    folder = tmp_path / "book"
    folder.mkdir()
    (folder / "line_items.csv").write_text(
        "account_id,product_id,booked_at,amount,note\na,Core,2024-01-01,100,\nb,Core,2024-01-02,100,test\n"
    )
    (folder / "accounts.csv").write_text(
        'account_id,segment\na,SMB\naccount_id,segment\nb,SMB\n"Grand Totals (2 records)",\n'
    )
    config = tmp_path / "xsell.yaml"
    config.write_text(f"data:\n  dir: {folder}\nexclude:\n  - {{column: note, in: [test], reason: test account}}\n")
    probed, book = _probed_and_lanes({}, config=config)
    assert probed is not None
    _same(probed, book)
    read = eager(probed)
    assert read.accounts["account_id"].to_list() == ["a", "b"]
    assert [read.count("accounts", k) for k in ("rows", "used", "rejected", "footer_lines")] == [3, 2, 1, 1]


BAD = [
    "a,Core,2024-01-01,100\nb,Core,not a date,100\n",  # a bad cell
    "a,Core,2024-01-01,100\n,,,\n",  # a blank line
    "a,Core,2024-01-01,100\nGrand Total,,,100\n",  # a report footer
    "a,Core,2024-01-01,100\nb,Core,2024-01-01,100,extra\n",  # a ragged row
    "a,Core,2024-01-01,100\nb,,2024-01-01,100\n",  # a required value missing
]


@pytest.mark.parametrize("rows", BAD)
def test_a_row_that_is_not_clean_is_read_again_and_the_book_is_the_two_lanes_book(tmp_path: Path, rows: str) -> None:
    # The clean rows are the probe's; the others are read again by row number and take the
    # problem lane. Before, the probed load stepped aside and every collect read the file again.
    assert _probed_rows(tmp_path, rows).count("line_items", "used") == 1


def test_a_footer_looking_row_between_clean_rows_read_again_is_a_data_row(tmp_path: Path) -> None:
    # 'Total Care' looks like a report footer, so its row is not clean and is read again; a
    # footer is such a row after the last data row, and the last clean row (3) comes after it.
    read = _probed_rows(
        tmp_path,
        "a,Core,2024-01-01,100\n"
        "Total Care,Core,2024-01-02,100\n"
        "c,Core,2024-01-03,100\n"
        "d,Core,2024-01-04,100\n"
        "Grand Total,,,400\n",
    )
    assert (read.count("line_items", "used"), read.count("line_items", "footer_lines")) == (4, 1)


@pytest.mark.parametrize("last", ["Total Wine & More", "Copyright Clearance Center", "Subtotal Inc"])
def test_a_whole_row_whose_first_cell_looks_like_a_footer_is_data(tmp_path: Path, last: str) -> None:
    # A customer named 'Total Wine & More' in the last rows: its rows have an account, a product
    # and a date, so they are data rows, not a report's trailer (they were dropped as footers).
    read = _probed_rows(
        tmp_path,
        f"a,Core,2024-01-01,100\n{last},Core,2024-01-02,100\n{last},Addon,2024-03-02,50\nGrand Total,,,250\n",
    )
    assert (read.count("line_items", "used"), read.count("line_items", "footer_lines")) == (3, 1)


def test_a_file_whose_rows_are_mostly_not_clean_takes_the_two_lanes(tmp_path: Path) -> None:
    # Reading most of the file again for the problem lane saves nothing and holds the probe
    # in memory next to it: more than half the rows not clean, and the two lanes stream it.
    good, bad = "a,Core,2024-01-01,100\n", "b,Core,not a date,100\n"
    (tmp_path / "line_items.csv").write_text("account_id,product_id,booked_at,amount\n" + good + bad * 2)
    probed, book = _probed_and_lanes({"data": str(tmp_path)})
    assert probed is None
    assert eager(book).count("line_items", "rejected") == 2
    assert _probed_rows(tmp_path, good * 2 + bad).count("line_items", "rejected") == 1


def _corpus() -> list[tuple[dict[str, object], Path | None]]:
    """Every input of the bad-input corpus, as the command line or a config gives it."""
    files = [*sorted(CORPUS.glob("*.csv")), CORPUS / "tab_delimited.tsv", CORPUS / "bad_cells.xlsx"]
    cases: list[tuple[dict[str, object], Path | None]] = [({"line_items": str(p)}, None) for p in files]
    cases += [({"data": str(CORPUS / d)}, None) for d in ("accounts_products_bad", "orphan_product")]
    configs = [*sorted((CORPUS / "fixes").glob("*.yaml")), CORPUS / "lookup_unmatched" / "xsell.yaml"]
    return cases + [({}, config) for config in configs]


def test_every_corpus_input_gives_the_two_lanes_book_through_the_probe() -> None:
    taken = not_clean = 0
    for cli, config in _corpus():
        try:
            probed, book = _probed_and_lanes(cli, config)
        except Exception:  # a file that stops before any row is read: not the probe's business
            continue
        if probed is None:  # a wide export is read whole; a mostly bad file takes the two lanes
            continue
        taken += 1
        try:
            lanes = eager(book)
        except XsellError as stop:  # a guard (mixed currencies) stops both the same way
            with pytest.raises(XsellError, match=re.escape(str(stop))):
                eager(probed)
            continue
        not_clean += int(lanes.issues.filter(pl.col("severity") == "rejected").height > 0)
        _same(probed, book)
    assert taken > 20
    assert not_clean > 10


def test_exact_copies_found_from_the_probes_row_hashes_are_the_two_lanes_copies(tmp_path: Path) -> None:
    # A clean export holding copies: the probe carries each row's hash, and the copy check
    # reads the candidates off it (then compares their cells as text) instead of hashing the
    # file again; the book, its issues included, is the two lanes' book.
    read = _probed_rows(
        tmp_path,
        "a,Core,2024-01-01,100\n"
        "a,Core,2024-01-01,100\n"
        "b,Core,2024-01-01,100.0\n"
        "b,Core,2024-01-01,100\n"
        "a,Core,2024-01-01,100\n",
    )
    copies = read.issues.filter(pl.col("rule") == "duplicate_row")
    assert copies.select("row", "value").rows() == [(2, "1"), (5, "1")]


def test_the_probed_book_reads_no_header_or_sample_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """``load`` read each file's headers and a sample of its dates; the book over the probes
    is finished from what it found, so neither is read a second time (0.2 CPU s a run on the
    300 k-account book). Here any second read of a file's header or sample fails."""
    import crossell_cli.ingest.book as book_module

    session = open_session({"data": str(SAMPLE)}, config=None, cwd=REPO)

    def again(*args: object, **kwargs: object) -> None:
        raise AssertionError("a file was read again")

    monkeypatch.setattr(book_module, "read_source", again)
    monkeypatch.setattr(book_module, "collect_checked", again)
    probed = session.read()
    assert probed is not session.book  # the book over the probes, in memory
    _same(probed, session.book)


def _facts(cli: dict[str, object], config: Path | None, columns: tuple[str, ...]) -> object:
    """What ``Session.facts`` reads (frames and notes), or the error that stops it."""
    try:
        session = open_session(cli, config=config, cwd=REPO)
        return session._read_facts(columns, apply_where=True)
    except XsellError as stop:
        return str(stop)


@pytest.mark.parametrize("columns", [CORE_COLUMNS, MONEY_COLUMNS], ids=["core", "money"])
def test_facts_without_the_unread_line_columns_are_the_facts_of_the_whole_book(
    columns: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command that reads no list value, discount or rep (attach, timing, retention, summary,
    whitespace) leaves their values out of the probe: the rows it uses, their values and the
    counts are those read with every column kept, on every corpus input (bad cells in those
    columns included: such a row is still read again and rejected or kept as before)."""
    import crossell_cli.commands.session as session_module

    sources = [({"data": str(SAMPLE)}, None), *_corpus()]
    narrow = [_facts(cli, config, columns) for cli, config in sources]
    monkeypatch.setattr(session_module, "unread_line_columns", lambda _columns: ())
    whole = [_facts(cli, config, columns) for cli, config in sources]
    compared = 0
    for (cli, config), got, want in zip(sources, narrow, whole, strict=True):
        if isinstance(want, str):
            assert got == want, (cli, config)
            continue
        assert not isinstance(got, str), (cli, config, got)
        (got_frames, got_meta), (want_frames, want_meta) = got, want
        assert got_meta == want_meta, (cli, config)
        assert got_frames.keys() == want_frames.keys()
        for name, frame in want_frames.items():
            assert_frame_equal(got_frames[name], frame, check_row_order=False)  # (frames a group_by made)
        compared += 1
    assert compared > 20


def test_a_command_that_reads_no_list_values_keeps_no_list_value_or_rep(monkeypatch: pytest.MonkeyPatch) -> None:
    """On the 1 M-account book, the reps, list amounts and discounts that attach never reads
    were a third of a GB of the probe: the probe still checks each cell, and keeps no value."""
    import crossell_cli.commands.session as session_module

    kept: dict[str, list[str]] = {}

    def spy(book, settings, profile, probed, **options):  # type: ignore[no-untyped-def]
        kept[str(len(kept))] = probed["line_items"].columns
        return load_probed(book, settings, profile, probed, **options)

    monkeypatch.setattr(session_module, "load_probed", spy)
    session = open_session({"data": str(SAMPLE)}, config=None, cwd=REPO)
    session.facts(CORE_COLUMNS)
    session.facts(ALL_COLUMNS)
    core, every = kept["0"], kept["1"]
    assert {"rep", "list_amount", "discount"} & set(core) == set()
    assert {"account_id", "product_id", "amount", "quantity", "line_id", "contract_id"} <= set(core)
    assert {"rep", "list_amount", "discount"} <= set(every)


def test_a_command_that_reads_no_list_values_does_not_look_up_list_prices() -> None:
    """list_amount defaults to the catalogue's list price × quantity: a join of every line
    with the catalogue, which Polars keeps even when nothing reads its column (it cannot know
    the catalogue's product ids are unique). It took a fifth of attach's facts on the 300 k-
    account book; a command that reads no list value no longer joins."""
    session = open_session({"data": str(SAMPLE)}, config=None, cwd=REPO)
    plans = {}
    for name, columns in (("core", CORE_COLUMNS), ("all", ALL_COLUMNS)):
        model = session.model(book=session.read(columns=columns))
        plans[name] = model.lines.select(c for c in columns if c in model.lines.collect_schema().names()).explain()
    assert "list_price" not in plans["core"]
    assert "list_price" in plans["all"]
