"""The whitespace model (metrics/choice.py), the backtest metrics and the fit cache: tiny books
worked out by hand, properties over generated books, and the CLI's exact streams."""

from __future__ import annotations

import datetime as dt
import math
import os
import shutil
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crossell_cli.metrics import backtest as bt
from crossell_cli.metrics import choice

from .conftest import d

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"


def lines_of(rows: list[tuple[str, str, str, str | None]]) -> pl.DataFrame:
    """(account, item, booked day, contract) -> won lines that start when booked and never end."""
    return pl.DataFrame(
        {
            "account_id": [r[0] for r in rows],
            "item": [r[1] for r in rows],
            "booked_at": [d(r[2]) for r in rows],
            "start_date": [d(r[2]) for r in rows],
            "end_date": [None] * len(rows),
            "contract_id": [r[3] for r in rows],
        },
        schema={
            "account_id": pl.String,
            "item": pl.String,
            "booked_at": pl.Date,
            "start_date": pl.Date,
            "end_date": pl.Date,
            "contract_id": pl.String,
        },
    )


def state_of(lines: pl.DataFrame, when: str, items=("A", "B", "C")):
    idx = choice.item_index(list(items), list(items))
    return choice.build_state(lines, None, idx, d(when), ["all"]), idx


def test_crosssell_counts_leave_out_the_land_bundle_by_hand():
    lines = lines_of(
        [
            ("a1", "A", "2024-01-01", "k1"),
            ("a1", "B", "2024-03-01", "k2"),  # cross-sold after A
            ("a2", "A", "2024-01-01", "k3"),
            ("a2", "B", "2024-01-05", "k3"),  # on the land contract: land bundle, not a cross-sell
            ("a3", "A", "2024-01-01", "k4"),
            ("a4", "B", "2024-01-01", "k5"),
            ("a4", "A", "2024-02-01", "k6"),  # owns A, but bought B before A
        ]
    )
    st, _ = state_of(lines, "2024-06-30")
    pairs = choice.crosssell_counts(st)
    a, b = 0, 1
    # Base A -> B: owners of A are a1..a4; a2's B is in its land bundle, a4's B came first.
    assert pairs.n2[0, a, b] == 2 and pairs.x2[0, a, b] == 1
    # Item level: B outside the land bundle for a1, a3 (never bought): n1 = 2, x1 = 1 (a1).
    assert pairs.n1[0, b] == 2 and pairs.x1[0, b] == 1


def test_a_book_without_dates_counts_co_ownership_by_hand():
    """A wide export: every cell "bought" on one day, so nothing is bought later. a owns A, B;
    b owns A; c owns A, B, C; d owns B. Co-ownership is the evidence (SPEC's attach rate):
    A -> B is 2 of A's 3 owners, B -> A 2 of B's 3, A -> C 1 of 3."""
    cells = {"a": "AB", "b": "A", "c": "ABC", "d": "B"}
    lines = lines_of([(who, item, "2024-01-01", who) for who, items in cells.items() for item in items])
    st, _ = state_of(lines, "2024-01-01")
    dated = choice.crosssell_counts(st)
    assert dated.x2.sum() == 0 and dated.x1.sum() == 0  # (what the dated counts see: nothing)
    pairs = choice.crosssell_counts(st, co_owned=True)
    a, b, c = 0, 1, 2
    assert (pairs.x2[0, a, b], pairs.n2[0, a, b]) == (2, 3)
    assert (pairs.x2[0, b, a], pairs.n2[0, b, a]) == (2, 3)
    assert (pairs.x2[0, a, c], pairs.n2[0, a, c]) == (1, 3)
    assert (pairs.x2[0, c, a], pairs.n2[0, c, a]) == (1, 1)
    assert pairs.x2[0].diagonal().tolist() == [0, 0, 0]
    assert pairs.x1[0].tolist() == [3, 3, 1] and pairs.n1[0].tolist() == [4, 4, 4]
    # Fitted on it: no model (no dates to learn from), the noisy-or of shrunk attach rates.
    # b owns A only: score(X) = r(A -> X) = (x2 + 10 ρ_X) / (3 + 10), shrunk towards the item's
    # rate ρ_X = (owners + 10 β_X) / (4 + 10), itself towards β_X = (owners + 1) / (4 + 2).
    fitted = choice.fit(
        lines,
        None,
        items=["A", "B", "C"],
        ranked=["A", "B", "C"],
        as_of=d("2024-01-01"),
        horizon=180,
        min_base=3,
        co_owned=True,
    )
    assert fitted.theta is None and fitted.co_owned and "without dates" in fitted.how
    rho_b, rho_c = (3 + 10 * 4 / 6) / 14, (1 + 10 * 2 / 6) / 14
    got = choice.score(fitted, lines.filter(pl.col("account_id") == "b"), None)
    scores = dict(zip(got["family"].to_list(), got["score"].to_list(), strict=True))
    assert scores == pytest.approx({"B": (2 + 10 * rho_b) / 13, "C": (1 + 10 * rho_c) / 13}, rel=1e-12)
    assert got.filter(pl.col("family") == "B").select("base", "base_bought", "base_customers").row(0) == ("A", 2, 3)


def test_popularity_and_trend_by_hand():
    lines = lines_of(
        [
            ("a1", "A", "2024-01-01", None),
            ("a2", "A", "2024-01-01", None),
            ("a2", "B", "2024-06-20", None),
            ("a3", "B", "2024-01-01", None),
        ]
    )
    st, idx = state_of(lines, "2024-06-30")
    pop = choice.popularity(st)
    assert pop[0] == pytest.approx(math.log(3 / 4)) and pop[2] == pytest.approx(math.log(1 / 4))
    # 30 days back (2024-05-31): 3 customers, 1 owned B then; a2 bought B since: (1 + .5) / (2 + 1).
    # A: 2 owned it, the third (a3) did not buy it since: (0 + .5) / (1 + 1). 180 days back
    # (2024-01-02) the same 3 customers owned the same.
    long, short = choice.trends(lines, st, idx.select("item", "i"), (180, 30))
    assert short[1] == pytest.approx(math.log(0.5 / 0.5)) and short[0] == pytest.approx(math.log(0.25 / 0.75))
    assert list(long) == list(short)
    # 200 days back (2023-12-13) nobody was a customer: every item (0 + .5) / (0 + 1)
    (before,) = choice.trends(lines, st, idx.select("item", "i"), (200,))
    assert list(before) == [0.0, 0.0, 0.0]


def test_snapshots_keep_a_full_horizon_of_history():
    lines = lines_of([("a1", "A", "2024-01-01", None)])
    assert choice.snapshots(lines, d("2024-12-31"), 90) == [d("2024-10-02"), d("2024-07-04"), d("2024-04-05")]
    assert choice.snapshots(lines, d("2024-03-01"), 90) == []


def _block(f: np.ndarray, y: np.ndarray, row: np.ndarray) -> choice.Block:
    starts = np.flatnonzero(np.r_[True, row[1:] != row[:-1]])
    return choice.Block(f, y, row, starts)


def _choice_problem(seed: int, d: int = 3, accounts: int = 40) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features (d × cells), purchases (1 or 2 per account) and each cell's account (sorted)."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, 7, accounts)
    row = np.repeat(np.arange(accounts), sizes)
    f = rng.normal(size=(d, row.size))
    y = np.zeros(row.size)
    first = np.r_[0, np.cumsum(sizes)[:-1]]
    for a in range(accounts):
        y[first[a] + rng.choice(sizes[a], size=1 + a % 2, replace=False)] = 1.0
    return f, y, row


def test_the_choice_fit_is_the_optimum_of_the_penalised_likelihood():
    """The loss written out account by account, apart from the code: −Σ over each purchase of
    log(e^{θ·f_cell} / Σ over the account's cells e^{θ·f}) + l2/2 |θ|². At the fitted θ its
    gradient (central differences) is zero and every nearby θ does worse."""
    f, y, row = _choice_problem(7)
    l2 = 1.0
    theta = choice.fit_choice([_block(f.copy(), y, row)], l2=l2)

    def loss(t: np.ndarray) -> float:
        total = 0.5 * l2 * float(t @ t)
        for a in np.unique(row):
            u = t @ f[:, row == a]
            log_z = math.log(sum(math.exp(v) for v in u))
            total += sum(log_z - u[j] for j in np.flatnonzero(y[row == a]))
        return total

    h = 1e-5
    gradient = [(loss(theta + h * e) - loss(theta - h * e)) / (2 * h) for e in np.eye(theta.size)]
    assert max(abs(g) for g in gradient) < 1e-6
    assert abs(theta).max() > 0.05  # (a fit that stayed at 0 would pass the gradient only by luck)
    for e in np.eye(theta.size):
        assert loss(theta) < loss(theta + 1e-3 * e) and loss(theta) < loss(theta - 1e-3 * e)


class _Recorded(np.ndarray):
    """Features that note every θ the fit scores them at (θ @ f, the start of each pass)."""

    thetas: list[bytes]

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if ufunc is np.matmul and np.ndim(inputs[0]) == 1:
            _Recorded.thetas.append(np.asarray(inputs[0]).tobytes())
        plain = [np.asarray(x) if isinstance(x, _Recorded) else x for x in inputs]
        return getattr(ufunc, method)(*plain, **kwargs)


def test_the_choice_fit_scores_each_point_once():
    """A Newton step whose trial point is accepted goes on from the probabilities the line
    search computed there: no θ is scored twice (each pass over the cells is a full read of
    an array that is hundreds of MB on a large catalogue)."""
    f, y, row = _choice_problem(11)
    _Recorded.thetas = []
    theta = choice.fit_choice([_block(f.copy().view(_Recorded), y, row)], l2=1.0)
    seen = _Recorded.thetas
    assert len(seen) >= 3
    assert len(seen) == len(set(seen))
    assert seen[0] == np.zeros(theta.size).tobytes() and seen[-1] == theta.tobytes()
    # the same θ as a fit on plain arrays
    assert np.array_equal(theta, choice.fit_choice([_block(f.copy(), y, row)], l2=1.0))


def test_backtest_metrics_by_hand():
    cands = pl.DataFrame({"account_id": ["x"] * 4 + ["y"] * 2, "item": ["A", "B", "C", "D", "A", "B"]})
    scores = cands.with_columns(pl.Series("score", [0.9, 0.8, 0.8, 0.1, 0.2, 0.1]))
    truth = pl.DataFrame({"account_id": ["x", "x", "y"], "item": ["C", "E", "A"]})
    got = bt.per_account(scores, cands, truth).to_dicts()
    x, y = got
    # x ranks A, B, C (B before C: tie by name), D; truth C (rank 3) and E (not a candidate)
    assert x["precision_at_1"] == 0 and x["precision_at_3"] == pytest.approx(1 / 3)
    assert x["recall_at_3"] == pytest.approx(1 / 2) and x["hit_rate_at_3"] == 1.0
    assert x["map_at_3"] == pytest.approx((1 / 3) / 2)
    assert x["ndcg_at_3"] == pytest.approx((1 / math.log2(4)) / (1 + 1 / math.log2(3)))
    assert y["precision_at_1"] == 1 and y["map_at_5"] == 1 and y["precision_at_5"] == pytest.approx(1 / 5)
    table = bt.table({"popularity": bt.per_account(scores, cands, truth), "same": bt.per_account(scores, cands, truth)})
    assert table["accounts"].to_list() == [2, 2]
    assert table.filter(pl.col("model") == "same").row(0, named=True)["p1_vs_popularity"] == 0.0


def test_bootstrap_is_fixed():
    diff = np.array([0.0, 1.0, 0.0, 1.0, 1.0])
    assert bt.bootstrap(diff) == bt.bootstrap(diff)
    low, high = bt.bootstrap(diff)
    assert 0.0 <= low <= 0.6 <= high <= 1.0


# ----------------------------------------------------------------------------- properties


@st.composite
def books(draw):
    n = draw(st.integers(4, 14))
    rows = []
    for a in range(n):
        start = draw(st.integers(0, 400))
        for k in range(draw(st.integers(1, 4))):
            item = draw(st.sampled_from("ABCDE"))
            day = dt.date(2023, 1, 1) + dt.timedelta(days=start + draw(st.integers(0, 300)) * (k > 0))
            rows.append((f"a{a:02d}", item, day.isoformat(), f"k{a}-{k % 2}"))
    return rows


def _scores(rows):
    lines = lines_of(rows)
    segments = pl.DataFrame(
        {
            "account_id": sorted({r[0] for r in rows}),
            "segment": ["S" if i % 2 else "M" for i in range(len({r[0] for r in rows}))],
        }
    )
    fitted = choice.fit(
        lines, segments, items=list("ABCDE"), ranked=list("ABCD"), as_of=d("2024-06-30"), horizon=90, min_base=2
    )
    return choice.score(fitted, lines, segments)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books(), st.randoms(use_true_random=False))
def test_scores_are_probabilities_and_do_not_depend_on_row_order(rows, rnd):
    got = _scores(rows)
    assert got["score"].is_between(0.0, 1.0).all()
    assert not got["family"].is_in(["E"]).any()  # E is not ranked
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    again = _scores(shuffled)
    assert got.sort("account_id", "family").equals(again.sort("account_id", "family"))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books())
def test_lines_after_the_as_of_date_change_nothing(rows):
    cut = d("2024-06-30")
    later = [r for r in rows if d(r[2]) > cut]
    kept = [r for r in rows if d(r[2]) <= cut]
    if not kept:
        return
    assert _scores(kept).equals(_scores(kept + later))


@st.composite
def dated_lines(draw):
    """Won lines with a start on or after the booking and sometimes an end: items A–E."""
    rows = []
    for _ in range(draw(st.integers(0, 25))):
        booked = dt.date(2024, 1, 1) + dt.timedelta(days=draw(st.integers(0, 200)))
        start = booked + dt.timedelta(days=draw(st.sampled_from([0, 0, 10, 60])))
        end = draw(st.one_of(st.none(), st.integers(1, 150).map(lambda n, s=start: s + dt.timedelta(days=n))))
        rows.append(
            {
                "account_id": draw(st.sampled_from(["a1", "a2", "a3", "a4", "a5"])),
                "item": draw(st.sampled_from("ABCDE")),
                "booked_at": booked,
                "start_date": start,
                "end_date": end,
                "contract_id": draw(st.sampled_from(["k1", "k2", None])),
            }
        )
    schema = {c: (pl.Date if c in ("booked_at", "start_date", "end_date") else pl.String) for c in choice.LINE_COLUMNS}
    return pl.DataFrame(rows, schema=schema)


@settings(max_examples=200, deadline=None)
@given(dated_lines(), st.integers(0, 260), st.booleans())
def test_the_state_at_a_date_is_owned_at_and_the_purchases_by_then(lines, day, bought_only):
    """``build_state`` groups the lines once for what is owned at the date and what was bought
    by then; it gives what the plain definitions give on their own (an item is owned at the date
    when one of its lines was booked and started by then and has not ended). E is not an item
    of the index, yet owning it makes a customer."""
    when = dt.date(2024, 1, 1) + dt.timedelta(days=day)
    idx = choice.item_index(list("ABCD"), list("ABCD"))
    st_ = choice.build_state(lines, None, idx, when, ["all"], bought_only=bought_only)
    active = (
        (pl.col("booked_at") <= when)
        & (pl.col("start_date") <= when)
        & (pl.col("end_date").is_null() | (pl.col("end_date") > when))
    )
    own = lines.filter(active).select("account_id", "item").unique()
    assert st_.customers["account_id"].to_list() == sorted(set(own["account_id"]))
    a_of = {acc: k for k, acc in enumerate(st_.customers["account_id"])}
    i_of = dict(zip(idx["item"], idx["i"], strict=True))
    owned = sorted((a_of[acc], i_of[it]) for acc, it in own.iter_rows() if it in i_of)
    assert list(st_.owned.iter_rows()) == owned
    bought = choice.first_purchases(lines.lazy(), when).collect() if not bought_only else None
    by_then = lines.filter(pl.col("booked_at") <= when).select("account_id", "item").unique()
    expected = sorted((acc, it, i_of[it], a_of.get(acc)) for acc, it in by_then.iter_rows() if it in i_of)
    got = sorted(st_.first.select("account_id", "item", "i", "a").iter_rows(), key=lambda r: (r[0], r[1]))
    assert got == expected
    if bought is not None:
        firsts = {(r["account_id"], r["item"]): (r["first"], r["in_land"]) for r in bought.iter_rows(named=True)}
        assert {(r["account_id"], r["item"]): (r["first"], r["in_land"]) for r in st_.first.iter_rows(named=True)} == {
            k: v for k, v in firsts.items() if k[1] in i_of
        }


# ----------------------------------------------------------------------------- the CLI


def test_backtest_on_sample_data_exact_streams(cli):
    got = cli("backtest", "--data", str(SAMPLE), "--cutoff", "2025-06-30", "--horizon", "180d", "--format", "csv")
    assert got.exit_code == 0, got.output
    rows = pl.read_csv(got.stdout.encode())
    assert rows["model"].to_list() == ["popularity", "attach_baseline", "whitespace"]
    assert rows["accounts"].to_list() == [658, 658, 658]
    p1 = dict(zip(rows["model"], rows["precision_at_1"].round(3), strict=True))
    map5 = dict(zip(rows["model"], rows["map_at_5"].round(3), strict=True))
    # The research harness's figures (popularity, today's score, the model), to the digit.
    assert (p1["popularity"], map5["popularity"]) == (0.179, 0.398)
    assert (p1["attach_baseline"], map5["attach_baseline"]) == (0.350, 0.551)
    assert (p1["whitespace"], map5["whitespace"]) == (0.430, 0.603)
    assert got.stderr == "15,965 line items: 15,769 used, 196 open (no metric uses them), 0 rejected\n"
    again = cli("backtest", "--data", str(SAMPLE), "--cutoff", "2025-06-30", "--horizon", "180d", "--format", "csv")
    assert again.stdout == got.stdout  # the bootstrap is seeded: same bytes


def test_backtest_when_no_evaluated_customer_is_in_some_segment(cli, write):
    # Only a1 (segment A) buys something new after the cutoff: the attach baseline scores the
    # evaluated customers segment by segment, and segment B (and "no segment") list nobody.
    # This stopped with an IndexError (exit 70) before.
    lines = write(
        "line_items.csv",
        "account_id,product_id,booked_at,amount\na1,Core,2024-01-01,100\na1,Analytics,2024-08-01,50\n"
        "a2,Core,2024-01-01,100\nb1,Core,2024-02-01,100\nb2,Core,2024-02-01,100\nb2,Payroll,2024-03-01,40\n",
    )
    accounts = write("accounts.csv", "account_id,segment\na1,A\na2,A\nb1,B\nb2,B\n")
    got = cli(
        "backtest", "--line-items", str(lines), "--accounts", str(accounts), "--cutoff", "2024-06-30",
        "--horizon", "90d", "--no-cache", "--format", "csv",
    )  # fmt: skip
    assert got.exit_code == 0, got.output
    assert got.stderr == "6 line items: 6 used, 0 rejected; 4 accounts\n"
    rows = pl.read_csv(got.stdout.encode())
    # a1 owns Core at the cutoff; its candidates are Payroll (one owner) and Analytics (none
    # yet): every model puts Payroll first, so the Analytics it bought is found at rank 2.
    assert rows["model"].to_list() == ["popularity", "attach_baseline", "whitespace"]
    assert rows["accounts"].to_list() == [1, 1, 1]
    assert rows["precision_at_1"].to_list() == [0.0, 0.0, 0.0]
    assert rows["map_at_3"].to_list() == [0.5, 0.5, 0.5]
    assert rows["ndcg_at_3"].to_list() == [pytest.approx(1 / math.log2(3))] * 3


def test_backtest_default_cutoff_is_as_of_minus_horizon(cli):
    got = cli("backtest", "--data", str(SAMPLE), "--horizon", "180d", "--format", "table")
    assert got.exit_code == 0, got.output
    assert "cutoff 2025-07-04 · horizon 180d" in " ".join(got.stdout.split())


def test_whitespace_fit_cache_is_reused_and_no_cache_writes_nothing(cli, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("XSELL_CACHE_DIR", str(cache))
    first = cli("whitespace", "--data", str(SAMPLE), "--account", "A-000042")
    assert first.exit_code == 0
    fits = list(cache.glob("whitespace-*"))
    assert len(fits) == 1 and (fits[0] / "meta.json").exists()
    warm = cli("whitespace", "--data", str(SAMPLE), "--account", "A-000042")
    assert warm.stdout == first.stdout
    other = tmp_path / "other"
    monkeypatch.setenv("XSELL_CACHE_DIR", str(other))
    fresh = cli("whitespace", "--data", str(SAMPLE), "--account", "A-000042", "--no-cache")
    assert fresh.stdout == first.stdout and not other.exists()
    # Another setting is another fit.
    cli("whitespace", "--data", str(SAMPLE), "--account", "A-000042", "--min-base", "12")
    monkeypatch.setenv("XSELL_CACHE_DIR", str(cache))
    cli("whitespace", "--data", str(SAMPLE), "--account", "A-000042", "--min-base", "12")
    assert len(list(cache.glob("whitespace-*"))) == 2


@pytest.mark.parametrize("joined", ["config lookup", "salesforce deals"])
def test_a_changed_joined_file_is_never_answered_from_the_cache(cli, tmp_path, monkeypatch, joined):
    """The file a table is joined to (a config's lookup:, the deals export a profile joins)
    decides who bought what as much as the table does: the caches are keyed on it too. Before,
    a deal that closed overnight left the line-items file as it was, and whitespace answered
    from the old fit and facts: it offered a product the account now owned."""
    monkeypatch.setenv("XSELL_CACHE_DIR", str(tmp_path / "cache"))
    book = tmp_path / "book"
    book.mkdir()
    if joined == "config lookup":
        (book / "order_items.csv").write_text(
            "order_item_id,order_id,product_id,price_usd,created_at\n"
            "1,O1,P1,10,2024-01-01\n2,O2,P2,20,2024-01-01\n3,O3,P1,10,2024-02-01\n4,O4,P2,10,2024-03-01\n"
        )
        joined_file = book / "orders.csv"
        joined_file.write_text("order_id,user_id\nO1,U1\nO2,U2\nO3,U2\nO4,U3\n")
        (book / "xsell.yaml").write_text(
            "data:\n  line_items:\n    path: order_items.csv\n"
            "    lookup: {path: orders.csv, match: order_id, columns: [user_id]}\n"
            "columns:\n  line_items: {account_id: user_id, booked_at: created_at, amount: price_usd, "
            "contract_id: order_id, line_id: order_item_id}\n"
        )
        args = ["-c", str(book / "xsell.yaml")]
        change = ("O4,U3", "O4,U1")  # U1 now owns P2 as well
    else:
        (book / "OpportunityLineItem.csv").write_text(
            '"ID","OPPORTUNITYID","PRODUCT2ID","TOTALPRICE","QUANTITY"\n'
            '"00k1","0061","01t1","100","1"\n"00k2","0062","01t2","100","1"\n"00k3","0063","01t2","100","1"\n'
        )
        joined_file = book / "Opportunity.csv"
        joined_file.write_text(
            '"ID","ACCOUNTID","CLOSEDATE","STAGENAME","ISWON","ISCLOSED"\n'
            '"0061","0011","2024-01-01","Closed Won","true","true"\n'
            '"0062","0011","2024-02-01","Negotiation","false","false"\n'
            '"0063","0012","2024-02-01","Closed Won","true","true"\n'
        )
        args = ["--profile", "salesforce", "--data", str(book)]
        change = ('"Negotiation","false","false"', '"Closed Won","true","true"')  # 0011 now owns 01t2
    run = ("whitespace", *args, "--format", "csv")
    before = cli(*run)
    assert before.exit_code == 0, before.output
    assert cli(*run).stdout == before.stdout  # warm: the same answer
    joined_file.write_text(joined_file.read_text().replace(*change))
    after, fresh = cli(*run), cli(*run, "--no-cache")
    assert fresh.exit_code == 0 and fresh.stdout != before.stdout
    assert (after.exit_code, after.stdout, after.stderr) == (0, fresh.stdout, fresh.stderr)


def test_the_code_fingerprint_changes_with_the_source_not_with_compiled_copies(tmp_path):
    from crossell_cli.cache import source_fingerprint

    (tmp_path / "pkg" / "__pycache__").mkdir(parents=True)
    source = tmp_path / "pkg" / "mod.py"
    source.write_text("x = 1\n")
    (tmp_path / "pkg" / "rules.yaml").write_text("a: 1\n")
    before = source_fingerprint(tmp_path / "pkg")
    assert [Path(p).name for p, *_ in before] == ["mod.py", "rules.yaml"]
    (tmp_path / "pkg" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"compiled")
    assert source_fingerprint(tmp_path / "pkg") == before
    source.write_text("x = 2  # an edit\n")
    assert source_fingerprint(tmp_path / "pkg") != before


def test_a_warm_whitespace_run_reads_its_facts_from_the_cache_not_the_export(cli, tmp_path, monkeypatch):
    """The second run over the same export and settings takes the facts the first one read
    (lines up to T, accounts, products, the row account) from the cache: the same bytes on both
    streams, without reading the export, or even planning its read (its headers, mapping and
    date sample: 0.3 s of a warm run on Online Retail). A changed export is read again."""
    import crossell_cli.commands.session as session_module
    from crossell_cli.commands.session import Session

    book = tmp_path / "book"
    shutil.copytree(SAMPLE, book)
    monkeypatch.setenv("XSELL_CACHE_DIR", str(tmp_path / "cache"))
    args = ("whitespace", "--data", str(book), "--account", "A-000042", "--format", "csv")
    cold = cli(*args)
    assert cold.exit_code == 0, cold.output
    assert len(list((tmp_path / "cache").glob("facts-*"))) == 1

    reads: list[str] = []
    read_facts = Session._read_facts

    def counted(self: Session, *args: object, **kwargs: object) -> object:
        reads.append("read")
        return read_facts(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Session, "_read_facts", counted)
    load = session_module.load

    def planned(*args: object, **kwargs: object) -> object:
        reads.append("plan")
        return load(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(session_module, "load", planned)
    warm = cli(*args)
    assert (warm.exit_code, warm.stdout, warm.stderr) == (0, cold.stdout, cold.stderr)
    whole = cli("whitespace", "--data", str(book), "--top", "5", "--format", "csv")
    assert whole.exit_code == 0, whole.output  # any account of the book, from the same facts
    assert reads == []
    line_items = book / "line_items.csv"
    stat = line_items.stat()
    os.utime(line_items, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    again = cli(*args)
    assert (again.exit_code, again.stdout, reads) == (0, cold.stdout, ["read", "plan"])
    assert len(list((tmp_path / "cache").glob("facts-*"))) == 2


def test_a_warm_account_run_reads_the_typical_values_and_the_ownership_it_needs_only(cli, tmp_path, monkeypatch):
    """expected_value's typical values are a fact of the whole book: the fit keeps them, so a warm
    --account run neither groups the book's lines for them again nor works out every customer's
    ownership (its header needs the one account's): 0.15 of 0.9 s on Online Retail. Same bytes."""
    from crossell_cli.metrics import whitespace as metric
    from crossell_cli.model import Model

    monkeypatch.setenv("XSELL_CACHE_DIR", str(tmp_path / "cache"))
    args = ("whitespace", "--data", str(SAMPLE), "--account", "A-000042", "--format", "csv")
    cold = cli(*args)
    assert cold.exit_code == 0, cold.output
    values = pl.read_csv(cold.stdout.encode())["expected_value"]
    assert values.len() > 0 and values.null_count() == 0  # (the typical values are read)

    used: list[str] = []
    typical_value = metric.typical_value

    def counted(*args: object, **kwargs: object) -> object:
        used.append("typical")
        return typical_value(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(metric, "typical_value", counted)
    ownership = Model.ownership

    def whole_book(self: Model) -> pl.LazyFrame:
        used.append("ownership")
        return ownership.func(self)

    monkeypatch.setattr(Model, "ownership", property(whole_book))
    warm = cli(*args)
    assert (warm.exit_code, warm.stdout, warm.stderr) == (0, cold.stdout, cold.stderr)
    assert used == []
    fresh = cli(*args, "--no-cache")  # without a fit to carry them, they are worked out
    assert (fresh.stdout, "typical" in used, "ownership" in used) == (cold.stdout, True, True)


def test_whitespace_book_order_is_total_and_top_is_its_head(cli):
    whole = cli("whitespace", "--data", str(SAMPLE), "--format", "csv")
    top = cli("whitespace", "--data", str(SAMPLE), "--top", "25", "--format", "csv")
    assert whole.exit_code == top.exit_code == 0
    rows = pl.read_csv(whole.stdout.encode())
    assert rows.equals(rows.sort(["score", "account_id", "family"], descending=[True, False, False]))
    assert top.stdout.splitlines() == whole.stdout.splitlines()[:26]
    value = pl.read_csv(cli("whitespace", "--data", str(SAMPLE), "--sort", "value", "--format", "csv").stdout.encode())
    assert value.equals(
        value.sort(
            ["expected_value", "score", "account_id", "family"], descending=[True, True, False, False], nulls_last=True
        )
    )


@pytest.mark.realdata
def test_cutting_an_export_at_the_as_of_date_changes_no_score(cli, tmp_path):
    from .conftest import realdata

    source = realdata("aws_saas_sales") / "SaaS-Sales.csv"
    raw = pl.read_csv(source, infer_schema=False, encoding="utf8-lossy")
    day = pl.col("Order Date").str.to_date("%m/%d/%Y")
    cut = tmp_path / "cut" / "SaaS-Sales.csv"
    cut.parent.mkdir()
    raw.filter(day <= dt.date(2021, 6, 30)).write_csv(cut)
    args = ("whitespace", "--level", "product", "--as-of", "2021-06-30", "--format", "csv", "--no-cache")
    whole = cli(*args, "--line-items", str(source))
    part = cli(*args, "--line-items", str(cut))
    assert whole.exit_code == part.exit_code == 0, whole.output
    assert whole.stdout == part.stdout


def test_max_rows_gates_scoring_before_any_fit():
    """whitespace(max_rows=N): 3 customers × 3 sellable families = 9 cells; at N = 8 nothing is
    fitted or scored and the result is empty with the scored columns' types; at N = 9 rows come."""
    from crossell_cli.metrics import whitespace as ws
    from crossell_cli.model import build_model

    from .conftest import book_from_rows

    # a1 owns A, a2 owns A and B, a3 owns A and C: whitespace a1 {B, C}, a2 {C}, a3 {B}: 4 rows.
    owned = [("a1", "A"), ("a2", "A"), ("a2", "B"), ("a3", "A"), ("a3", "C")]
    lines = [{"account_id": a, "product_id": f, "booked_at": "2024-01-15"} for a, f in owned]
    model = build_model(book_from_rows(lines), as_of=d("2024-06-30"), level="family")
    assert model is not None
    assert ws.scoring_rows(model) == 9
    gated = ws.whitespace(model, min_base=1, max_rows=8).collect()
    assert gated.is_empty() and gated.columns == list(ws.COLUMNS)
    assert gated.schema["score"] == pl.Float64 and gated.schema["rank"] == pl.Int64
    assert ws.whitespace(model, min_base=1, max_rows=9).collect().height == 4


def test_a_reason_without_evidence_names_the_forced_bundles_into_the_family(cli):
    """A-002470 owns Core (1,978 SMB customers), but Core → Success Plan is a forced bundle, so
    no owned family gives evidence for Success Plan. The reason used to say only that no owned
    family had 10+ customers, which is false for Core. The whole book and --account agree."""
    expected = (
        "no owned family with 10+ customers to learn from (Core → Success Plan: a forced bundle, never evidence); "
        "scored on popularity and recent sales"
    )
    for args in (("--account", "A-002470"), ()):
        got = cli("whitespace", "--data", str(SAMPLE), *args, "--format", "csv")
        assert got.exit_code == 0
        rows = pl.read_csv(got.stdout.encode()).filter(pl.col("account_id") == "A-002470")
        assert rows.filter(pl.col("family") == "Success Plan")["reason"].to_list() == [expected]
        assert rows.filter(pl.col("family") != "Success Plan")["reason"].str.starts_with("owns Core; ").all()
    # every reason without a base in the sample is one of a forced bundle's target
    whole = pl.read_csv(cli("whitespace", "--data", str(SAMPLE), "--format", "csv").stdout.encode())
    bare = whole.filter(pl.col("reason").str.starts_with("no owned family"))
    assert bare.height == 268 and bare["reason"].unique().to_list() == [expected]


def test_the_cache_keeps_the_newest_entries_within_its_byte_budget(tmp_path, monkeypatch):
    """A fit on a wide catalogue is hundreds of MB (Online Retail: 430 MB), so eight of them
    kept 3.4 GB. Entries are kept newest first while they fit in KEEP_BYTES together, and never
    more than KEEP; the newest stays whatever its size."""
    from crossell_cli import cache

    monkeypatch.setattr(cache, "KEEP_BYTES", 1000)
    monkeypatch.setattr(cache, "KEEP", 3)
    sizes = {"a": 600, "b": 300, "c": 500, "d": 100, "e": 50}  # a newest, e oldest
    for age, (name, size) in enumerate(sizes.items()):
        entry = tmp_path / f"whitespace-{name}"
        entry.mkdir()
        (entry / "x.npy").write_bytes(b"\0" * size)
        os.utime(entry, (1_000_000 - age, 1_000_000 - age))
    (tmp_path / "facts-z").mkdir()  # another kind: not counted, not touched
    cache._prune(tmp_path)
    # a (600) and b (900 in all) fit; c would make 1 400; d makes 1 000; e would be a fourth
    assert sorted(p.name for p in tmp_path.iterdir()) == ["facts-z", "whitespace-a", "whitespace-b", "whitespace-d"]
    big = tmp_path / "whitespace-huge"
    big.mkdir()
    (big / "x.npy").write_bytes(b"\0" * 5000)
    cache._prune(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["facts-z", "whitespace-huge"]


def test_the_settings_line_of_a_book_without_dates_says_what_its_score_is(cli):
    """Telco (a wide export): no model, no horizon; the score is the co-ownership noisy-or,
    the chance the customer buys the family, not 'the next family bought'."""
    config = Path(__file__).resolve().parents[1] / "examples" / "telco_churn" / "xsell.yaml"
    got = cli("whitespace", "-c", str(config), "--account", "7590-VHVEG", "--format", "table", "--wide", "--no-cache")
    assert got.exit_code == 0
    settings_text = " ".join(got.stdout[got.stdout.index("settings:") :].split())
    assert settings_text.startswith(
        "settings: no dates (a wide export: ownership as exported) · level family · min_base 10 · ranked: every "
        "sellable family a customer does not own (9 families) · score: chance it buys it, co-ownership noisy-or "
        "(a book without dates: no purchase order to learn from) · rows by score, ties by account_id then family"
    )
    assert "Phone" in got.stdout and "customers also own Phone (88%)" in got.stdout


def test_an_export_copied_over_with_its_old_size_and_time_is_a_new_input(tmp_path):
    # `cp -p` or `rsync -t` of a new export with the old one's size and modification time: the
    # cache answered from the old one. The change time (and the inode, for a replaced file) moves.
    from crossell_cli.cache import fingerprint

    path = tmp_path / "line_items.csv"
    path.write_text("account_id,product_id\na,Core\n")
    before = fingerprint([path])
    stamp = path.stat()
    time.sleep(0.01)
    path.write_text("account_id,product_id\nb,Core\n")  # same size, in place
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (stamp.st_size, stamp.st_mtime_ns)
    assert fingerprint([path]) != before
    again = fingerprint([path])
    assert fingerprint([path]) == again  # reading it changes nothing
