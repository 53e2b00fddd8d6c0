"""The shared model: as-of date, ownership, land bundle, line kinds (SPEC §2)."""

from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from crossell_cli.model import active_at, build_model, latest_closed_date

from .conftest import book_from_rows, d
from .oracle import attach_oracle


def kinds(lines, products=(), as_of=None, level="family"):
    model = build_model(book_from_rows(lines, products), as_of=d(as_of) if as_of else None, level=level)
    assert model is not None
    frame = model.classified.collect().sort("line_id")
    return dict(zip(frame["line_id"], frame["kind"], strict=True))


def test_land_bundle_by_day_and_by_contract():
    lines = [
        {
            "line_id": "1",
            "account_id": "a",
            "product_id": "Core",
            "booked_at": "2024-01-01",
            "contract_id": "K1",
        },
        {
            "line_id": "2",
            "account_id": "a",
            "product_id": "Pay",
            "booked_at": "2024-01-01",
            "contract_id": "K2",
        },
        # booked later on the land contract: still the land bundle
        {
            "line_id": "3",
            "account_id": "a",
            "product_id": "Sec",
            "booked_at": "2024-02-01",
            "contract_id": "K1",
        },
        # a new family later, on a new contract: cross-sell (both lines of that first day)
        {
            "line_id": "4",
            "account_id": "a",
            "product_id": "Ana",
            "booked_at": "2024-05-01",
            "contract_id": "K3",
        },
        {
            "line_id": "5",
            "account_id": "a",
            "product_id": "Ana",
            "booked_at": "2024-05-01",
            "contract_id": "K3",
        },
        # more of a family already bought: upsell
        {
            "line_id": "6",
            "account_id": "a",
            "product_id": "Ana",
            "booked_at": "2024-07-01",
            "contract_id": "K4",
        },
        {
            "line_id": "7",
            "account_id": "a",
            "product_id": "Core",
            "booked_at": "2024-07-01",
            "contract_id": "K4",
        },
    ]
    assert kinds(lines) == {
        "1": "new",
        "2": "new",
        "3": "new",
        "4": "cross_sell",
        "5": "cross_sell",
        "6": "upsell",
        "7": "upsell",
    }


def test_land_bundle_of_several_families_is_all_new():
    lines = [
        {"line_id": str(i), "account_id": "a", "product_id": p, "booked_at": "2024-01-01"}
        for i, p in enumerate(["A", "B", "C"], start=1)
    ]
    assert set(kinds(lines).values()) == {"new"}


def test_a_tier_of_a_family_already_owned_is_upsell_at_family_level_only():
    products = [{"product_id": "basic", "family": "Plan"}, {"product_id": "pro", "family": "Plan"}]
    lines = [
        {"line_id": "1", "account_id": "a", "product_id": "basic", "booked_at": "2024-01-01"},
        {"line_id": "2", "account_id": "a", "product_id": "pro", "booked_at": "2024-06-01"},
    ]
    assert kinds(lines, products)["2"] == "upsell"
    assert kinds(lines, products, level="product")["2"] == "cross_sell"


def test_lines_after_as_of_and_lost_lines_are_not_purchases():
    lines = [
        {"line_id": "1", "account_id": "a", "product_id": "A", "booked_at": "2024-01-01"},
        {"line_id": "2", "account_id": "a", "product_id": "B", "booked_at": "2024-03-01", "stage": "lost"},
        {"line_id": "3", "account_id": "a", "product_id": "B", "booked_at": "2024-09-01"},
    ]
    assert kinds(lines, as_of="2024-06-01") == {"1": "new"}


def test_default_as_of_ignores_open_pipeline_dates():
    book = book_from_rows(
        [
            {"account_id": "a", "product_id": "A", "booked_at": "2024-01-01", "stage": "won"},
            {"account_id": "a", "product_id": "B", "booked_at": "2024-02-01", "stage": "lost"},
            {"account_id": "a", "product_id": "C", "booked_at": "2026-12-01", "stage": "open"},
        ]
    )
    assert book.line_items.select(latest_closed_date()).collect().item() == d("2024-02-01")
    assert book_from_rows([]).line_items.select(latest_closed_date()).collect().item() is None


def test_ownership_uses_active_lines_only():
    book = book_from_rows(
        [
            {"account_id": "a", "product_id": "A", "booked_at": "2024-01-01", "end_date": "2024-03-01"},
            {"account_id": "b", "product_id": "A", "booked_at": "2024-01-01", "start_date": "2024-07-01"},
            {"account_id": "c", "product_id": "A", "booked_at": "2024-01-01", "end_date": "2024-06-02"},
        ]
    )
    model = build_model(book, as_of=d("2024-06-01"), level="family")
    assert model is not None
    owned = model.ownership.collect()
    assert owned["account_id"].to_list() == ["c"]  # a ended, b not started; end is exclusive
    at_end = model.won.filter(active_at(pl.lit(dt.date(2024, 6, 2)))).select("account_id", "item").unique().collect()
    assert at_end.is_empty()


def test_classification_matches_the_oracle_on_the_sample():
    from crossell_cli.config import resolve_settings
    from crossell_cli.ingest import load

    from .conftest import SAMPLE

    line_items, products, _ = attach_oracle.load_canonical_csv(SAMPLE)
    expected = {row["line_id"]: row["kind"] for row in attach_oracle.classify_lines(line_items, products)}
    book = load(resolve_settings(file_values={}, config_dir=None, cli={"data": SAMPLE}))
    model = build_model(book, as_of=None, level="family")
    assert model is not None
    got = model.classified.select("line_id", "kind").collect()
    assert dict(got.iter_rows()) == expected
    counts = got.group_by("kind").len()
    assert set(counts["kind"]) == {"new", "cross_sell", "upsell"}
    assert pl.Series(list(expected.values())).value_counts().height == 3


def test_the_won_lines_and_their_classification_carry_no_stage():
    """Every won line's stage says 'won' (or there is none): the facts held in memory (the
    classification, read by flags, expansion, summary, timing and the report) would carry
    it on every line, a sixth of a GB at 10 M lines. The lost and open lines keep theirs."""
    lines = [
        {"account_id": "A", "product_id": "Core", "booked_at": "2024-01-01", "amount": 100.0, "stage": "won"},
        {"account_id": "A", "product_id": "Add", "booked_at": "2024-02-01", "amount": 50.0, "stage": "lost"},
    ]
    model = build_model(book_from_rows(lines), as_of=None, level="family")
    assert "stage" not in model.won.collect_schema().names()
    assert "stage" not in model.classified.collect_schema().names()
    assert model.lines.select("stage").collect()["stage"].to_list() == ["won", "lost"]
    assert model.won.collect().height == 1


def test_ownership_read_off_the_item_histories_is_the_ownership_of_the_lines():
    """Once the item histories are in memory (the summary, the report), the ownership is read
    off them (held_at_t: some line active at T), not from every won line again; it must be
    the same pairs, a pair whose lines leave a gap at T included."""
    import dataclasses

    book = book_from_rows(
        [
            {"account_id": "a", "product_id": "A", "booked_at": "2024-01-01", "end_date": "2024-03-01"},
            {"account_id": "b", "product_id": "A", "booked_at": "2024-01-01", "start_date": "2024-07-01"},
            {"account_id": "c", "product_id": "A", "booked_at": "2024-01-01", "end_date": "2024-06-02"},
            # d held A until March and again from July: not at T, though its first start is
            # before T and one of its lines never ends
            {"account_id": "d", "product_id": "A", "booked_at": "2024-01-01", "end_date": "2024-03-01"},
            {"account_id": "d", "product_id": "A", "booked_at": "2024-05-01", "start_date": "2024-07-01"},
            {"account_id": "d", "product_id": "B", "booked_at": "2024-02-01"},
        ]
    )
    model = build_model(book, as_of=d("2024-06-01"), level="family")
    direct = dataclasses.replace(model, in_memory=True).ownership.collect().sort("account_id", "item")
    assert direct.rows() == [("c", "A"), ("d", "B")]
    for first in ("classified", "item_history"):
        read_off = dataclasses.replace(model, in_memory=True)
        getattr(read_off, first)  # made first: the classification (and histories), or the histories alone
        history = read_off.item_history.collect()
        held = history.filter(pl.col("held_at_t")).sort("account_id", "item").select("account_id", "item")
        assert held.rows() == direct.rows()
        assert read_off.ownership.collect().sort("account_id", "item").rows() == direct.rows()


def test_the_facts_hold_the_won_lines_alone_unless_the_stages_are_asked_for():
    """Only the summary reads lost lines (its cross-sell win rate): every other command's facts
    hold the won lines alone, without their stage, and measure the same."""
    from pathlib import Path

    from crossell_cli.commands.session import open_session
    from crossell_cli.model import CORE_COLUMNS

    from .conftest import SAMPLE

    session = open_session({"data": str(SAMPLE)}, config=None, cwd=Path.cwd())
    won_only, _ = session.facts(CORE_COLUMNS)
    every, _ = session.facts(CORE_COLUMNS, stages=True)
    assert "stage" not in won_only.all_lines.collect_schema().names()
    stages = every.all_lines.group_by("stage").len().collect()
    assert set(stages["stage"].to_list()) == {"won", "lost"}  # (the open lines come after T)
    won = stages.filter(pl.col("stage") == "won")["len"].item()
    assert won_only.all_lines.collect().height == won
    for fact in ("won", "owned", "item_history"):
        got, want = (getattr(model, fact).collect() for model in (won_only, every))
        assert got.sort(got.columns, nulls_last=True).equals(want.sort(want.columns, nulls_last=True)), fact


@st.composite
def lines_and_accounts(draw: st.DrawFn) -> tuple[list[dict], list[str]]:
    """A small book (few accounts, families, days and contracts, so that land days, land
    contracts, a contract shared by two accounts and repeat purchases all happen) and some of
    its accounts."""
    day = st.integers(0, 6).map(lambda i: dt.date(2024, 1, 1) + dt.timedelta(days=30 * i))
    line = st.fixed_dictionaries(
        {
            "account_id": st.sampled_from("abcd"),
            "product_id": st.sampled_from(["Core", "Add", "Extra"]),
            "booked_at": day,
            "contract_id": st.sampled_from([None, "C1", "C2", "C3"]),
        }
    )
    lines = draw(st.lists(line, max_size=14))
    return lines, draw(st.lists(st.sampled_from("abcde"), unique=True))


@settings(max_examples=150, deadline=None)
@given(book=lines_and_accounts(), made_first=st.booleans())
def test_the_classification_of_some_accounts_is_the_books_for_those_accounts(
    book: tuple[list[dict], list[str]], made_first: bool
) -> None:
    """A line's kind reads its own account's lines alone, so ``classified_of(accounts)`` (the
    pass-through flag's kinds of a few deep-discount lines) gives each line of those accounts
    the kind the whole book's classification gives it, from those accounts' lines alone,
    whether the whole classification is made already or not."""
    import dataclasses

    lines, chosen = book
    model = dataclasses.replace(build_model(book_from_rows(lines), as_of=None, level="family"), in_memory=True)
    accounts = pl.LazyFrame({"account_id": chosen}, schema={"account_id": pl.String})
    columns = ["line_id", "account_id", "item", "land_date", "in_land_bundle", "first_date", "kind"]
    whole = dataclasses.replace(model).classified.collect()
    if made_first:
        _ = model.classified
    got = model.classified_of(accounts).collect()
    assert ("_classification" in model.__dict__) == made_first
    expected = whole.filter(pl.col("account_id").is_in(chosen))
    assert got.columns == whole.columns
    assert got.select(columns).sort("line_id").rows() == expected.select(columns).sort("line_id").rows()


@settings(max_examples=150, deadline=None)
@given(
    book=lines_and_accounts(),
    amounts=st.lists(st.sampled_from([0.0, 0.1, 10.0, 99.99, 1234.5]), min_size=14, max_size=14),
    window=st.sampled_from([30, 60, 400]),
)
def test_the_summary_read_off_the_histories_is_the_summary_of_the_kinds(
    book: tuple[list[dict], list[str]], amounts: list[float], window: int
) -> None:
    """The summary's cross-sold customers, cross-sell revenue and lines, and rebuy gaps come
    from the item histories (no line classified); they must be what the lines' kinds give:
    the cross-sell lines in the window, and the days of every family bought on two days."""
    import dataclasses

    from crossell_cli.metrics.stats import money_sum
    from crossell_cli.metrics.summary import summary_parts

    lines = [dict(line, amount=amount) for line, amount in zip(book[0], amounts, strict=False)]
    model = dataclasses.replace(build_model(book_from_rows(lines), as_of=None, level="family"), in_memory=True)
    parts = summary_parts(model, window_days=window, premature_days=90, early_churn_days=180)
    got = {k: v.collect() for k, v in parts.items() if k in ("crossed", "revenue", "rebuy")}

    kinds = model.classified.collect()
    since = kinds["as_of"].max() - dt.timedelta(days=window) if kinds.height else None
    in_window = kinds.filter(pl.col("booked_at") > since) if since is not None else kinds
    cross = in_window.filter(pl.col("kind") == "cross_sell")
    owners = set(model.customers.collect()["account_id"])
    assert got["crossed"].item() == len(set(cross["account_id"]) & owners)
    assert got["revenue"].row(0) == (
        cross.select(money_sum(pl.col("amount"))).item(),
        in_window.select(money_sum(pl.col("amount"))).item(),
        cross.height,
    )
    days: dict[tuple[str, str], set[dt.date]] = {}
    for account, item, day in kinds.select("account_id", "item", "booked_at").iter_rows():
        days.setdefault((account, item), set()).add(day)
    gaps = sorted(
        (b - a).days for ds in days.values() if len(ds) > 1 for a, b in zip(sorted(ds), sorted(ds)[1:], strict=False)
    )
    want = None if not gaps else float(pl.Series(gaps).median())  # type: ignore[arg-type]
    assert got["rebuy"].item() == want


@settings(max_examples=150, deadline=None)
@given(book=lines_and_accounts(), made_first=st.booleans())
def test_the_cross_sell_lines_read_off_the_histories_are_the_classifications(
    book: tuple[list[dict], list[str]], made_first: bool
) -> None:
    """``cross_sell_lines`` (what the flags read) are the lines ``classified`` calls cross_sell,
    with the same columns and values, whether they are read off the item histories (no line
    classified) or filtered from a classification made first."""
    import dataclasses

    model = dataclasses.replace(build_model(book_from_rows(book[0]), as_of=None, level="family"), in_memory=True)
    whole = dataclasses.replace(model).classified.collect()
    if made_first:
        _ = model.classified
    got = model.cross_sell_lines.collect()
    assert ("_classification" in model.__dict__) == made_first
    expected = whole.filter(pl.col("kind") == "cross_sell")
    assert got.schema == expected.schema
    assert got.sort("line_id").rows() == expected.sort("line_id").rows()
