"""The probe (the clean lane alone) gives the same book as the two lanes, or steps aside.

``Session.read`` collects every table's probe and, when all rows are clean, builds the book
over them in memory (``load_probed``). That book must be the two-lane book, frame for frame:
the same used rows, issues (excluded rows) and counts. When a row is not clean the probed
load must refuse (None), so that the two lanes name the problem.
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
    probed = load_probed(session.settings, session.profile, dict(zip(probes, got, strict=True)))
    return probed, book


def _same(probed, book) -> None:  # type: ignore[no-untyped-def]
    fast, lanes = eager(probed), eager(book)
    assert_frame_equal(fast.line_items.sort("_row", "line_id"), lanes.line_items.sort("_row", "line_id"))
    assert_frame_equal(fast.accounts.sort("account_id"), lanes.accounts.sort("account_id"))
    assert_frame_equal(fast.products, lanes.products)
    assert_frame_equal(fast.issues, lanes.issues)
    assert_frame_equal(fast.counts, lanes.counts)


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


def test_a_row_the_config_excludes_keeps_the_probe_and_is_listed(tmp_path: Path) -> None:
    folder = tmp_path / "book"
    folder.mkdir()
    (folder / "line_items.csv").write_text(
        "account_id,product_id,booked_at,amount,note\n"
        "a,Core,2024-01-01,100,\n"
        "b,Core,2024-01-02,100,test\n"
        "c,Addon,2024-02-01,50,\n"
    )
    config = tmp_path / "xsell.yaml"
    config.write_text(f"data:\n  dir: {folder}\nexclude:\n  - {{column: note, in: [test], reason: test account}}\n")
    probed, book = _probed_and_lanes({}, config=config)
    assert probed is not None
    _same(probed, book)
    assert eager(probed).count("line_items", "excluded") == 1


BAD = [
    "a,Core,2024-01-01,100\nb,Core,not a date,100\n",  # a bad cell
    "a,Core,2024-01-01,100\n,,,\n",  # a blank line
    "a,Core,2024-01-01,100\nGrand Total,,,100\n",  # a report footer
    "a,Core,2024-01-01,100\nb,Core,2024-01-01,100,extra\n",  # a ragged row
    "a,Core,2024-01-01,100\nb,,2024-01-01,100\n",  # a required value missing
]


@pytest.mark.parametrize("rows", BAD)
def test_a_row_that_is_not_clean_sends_the_book_through_the_two_lanes(tmp_path: Path, rows: str) -> None:
    (tmp_path / "line_items.csv").write_text("account_id,product_id,booked_at,amount\n" + rows)
    probed, book = _probed_and_lanes({"data": str(tmp_path)})
    assert probed is None
    lanes = eager(book)
    assert lanes.count("line_items", "used") == 1


def test_every_corpus_file_the_probe_accepts_gives_the_same_book() -> None:
    taken = 0
    for path in sorted(CORPUS.glob("*.csv")):
        try:
            probed, book = _probed_and_lanes({"line_items": str(path)})
        except Exception:  # a file that stops before any row is read: not the probe's business
            continue
        if probed is None:
            continue
        taken += 1
        try:
            eager(book)
        except XsellError as stop:  # a guard (mixed currencies) stops both the same way
            with pytest.raises(XsellError, match=re.escape(str(stop))):
                eager(probed)
            continue
        _same(probed, book)
    assert taken > 5


def test_exact_copies_found_from_the_probes_row_hashes_are_the_two_lanes_copies(tmp_path: Path) -> None:
    # A clean export holding copies: the probe carries each row's hash, and the copy check
    # reads the candidates off it (then compares their cells as text) instead of hashing the
    # file again; the book, its issues included, is the two lanes' book.
    (tmp_path / "line_items.csv").write_text(
        "account_id,product_id,booked_at,amount\n"
        "a,Core,2024-01-01,100\n"
        "a,Core,2024-01-01,100\n"
        "b,Core,2024-01-01,100.0\n"
        "b,Core,2024-01-01,100\n"
        "a,Core,2024-01-01,100\n"
    )
    probed, book = _probed_and_lanes({"data": str(tmp_path)})
    assert probed is not None
    _same(probed, book)
    copies = eager(probed).issues.filter(pl.col("rule") == "duplicate_row")
    assert copies.select("row", "value").rows() == [(2, "1"), (5, "1")]
