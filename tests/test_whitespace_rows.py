"""Whitespace rows are ranked, valued, ordered and explained by position (customer and item
numbers); these tests hold them to the same rows built by name, the plain way: joins on
account_id and family, sorts on names, a reason written per row."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crossell_cli.metrics import choice
from crossell_cli.metrics import whitespace as ws
from crossell_cli.model import build_model
from crossell_cli.runs import running

from .conftest import book_from_rows

ITEMS = ("Core", "Analytics", "Payroll", "Mobile")
# Yak and Zed: sellable and never sold, without a list price: their typical value, and so
# their expected value, is unknown, and they score alike (every order must break the tie by
# item). Old: not sellable, never offered.
CATALOGUE = [
    {"product_id": "Core", "product_name": "Core Suite", "list_price": 100.0},
    {"product_id": "Analytics", "product_name": "Analytics Pro"},
    {"product_id": "Payroll", "list_price": 40.0},
    {"product_id": "Mobile", "product_name": "Mobile App"},
    {"product_id": "Zed"},
    {"product_id": "Yak"},
    {"product_id": "Old", "sellable": False},
]


@st.composite
def books(draw):
    lines, accounts = [], []
    for k in range(draw(st.integers(3, 16))):
        account = f"a{k:02d}"
        segment = draw(st.sampled_from(["SMB", "ENT", None]))
        accounts.append({"account_id": account, "account_name": f"Name {k}" if k % 3 else None, "segment": segment})
        start = dt.date(2023, 1, 1) + dt.timedelta(days=draw(st.integers(0, 300)))
        for n in range(draw(st.integers(1, 4))):
            day = start + dt.timedelta(days=draw(st.integers(0, 400)) * (n > 0))
            lines.append(
                {
                    "account_id": account,
                    "product_id": draw(st.sampled_from(ITEMS)),
                    "booked_at": day.isoformat(),
                    "amount": float(draw(st.integers(1, 5)) * 100),
                    "contract_id": f"k{k}-{n % 2}",
                }
            )
    return lines, accounts


def by_name(model, fitted, *, min_base, order, top, forced):
    """The rows as whitespace built them by name (before they were built by position)."""
    lines = model.won.select(choice.LINE_COLUMNS).collect()
    scored = choice.score(fitted, lines, ws.segments(model), forced=forced).lazy()
    segment = model.accounts.select("account_id", pl.col("segment").cast(pl.String))
    customers = model.customers.join(segment, on="account_id", how="left").with_columns(
        pl.col("segment").fill_null(ws._NO_SEGMENT)
    )
    rows = (
        scored.join(customers, on="account_id", how="left")
        .join(ws.typical_value(model, customers), on=["segment", "family"], how="left")
        .with_columns((pl.col("score") * pl.col("typical")).alias("expected_value"))
        .drop("segment", "typical")
        .join(model.accounts.select("account_id", "account_name"), on="account_id", how="left")
    )
    within = (["expected_value", "score", "family"], [True, True, False])
    if order != "value":
        within = (["score", "family"], [True, False])
    rows = rows.sort(["account_id", *within[0]], descending=[False, *within[1]], nulls_last=True).with_columns(
        running(pl.repeat(1, pl.len(), dtype=pl.Int64), "account_id").alias("rank")
    )
    if order == "value":
        rows = rows.sort(
            ["expected_value", "score", "account_id", "family"], descending=[True, True, False, False], nulls_last=True
        )
    elif order == "score":
        rows = rows.sort(["score", "account_id", "family"], descending=[True, False, False])
    if top is not None:
        rows = rows.head(top)
    return ws._with_reason(rows, model, min_base=min_base, forced=forced).select(ws.columns(model.level)).collect()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    books(),
    st.sampled_from(["account", "score", "value"]),
    st.one_of(st.none(), st.integers(1, 40)),
    st.sampled_from(["family", "product"]),
    st.integers(1, 4),
)
def test_rows_by_position_are_the_rows_by_name(book, order, top, level, min_base):
    lines, accounts = book
    model = build_model(book_from_rows(lines, CATALOGUE, accounts), as_of=None, level=level)
    fitted = ws.fit(model, min_base=min_base)
    if fitted is None:
        return
    forced = [("Core", "Analytics")]
    got = ws.whitespace(
        model,
        min_base=min_base,
        order=order,
        top=top,
        fitted=fitted,
        forced=pl.LazyFrame({"base_family": ["Core"], "family": ["Analytics"]}),
    ).collect()
    want = by_name(model, fitted, min_base=min_base, order=order, top=top, forced=forced)
    assert got.columns == list(ws.columns(level))
    assert got.equals(want), (got, want)


def test_an_item_without_a_known_value_has_an_empty_expected_value_and_sorts_last():
    lines = [
        {"account_id": "a", "product_id": "Core", "booked_at": "2024-01-01", "amount": 100.0},
        {"account_id": "b", "product_id": "Core", "booked_at": "2024-01-01", "amount": 100.0},
        {"account_id": "b", "product_id": "Payroll", "booked_at": "2024-02-01", "amount": 50.0},
    ]
    accounts = [{"account_id": "a"}, {"account_id": "b"}]
    model = build_model(book_from_rows(lines, CATALOGUE, accounts), as_of=None, level="family")
    rows = ws.whitespace(model, min_base=1, order="value").collect()
    # Analytics, Mobile, Yak and Zed: never sold and no list price; Payroll: its one line's 50
    unknown = rows.filter(pl.col("expected_value").is_null())
    assert sorted(set(unknown["family"])) == ["Analytics", "Mobile", "Yak", "Zed"]
    # the empty values come last, by score among themselves
    assert rows.tail(unknown.height).equals(unknown)
    assert unknown.equals(unknown.sort(["score", "account_id", "family"], descending=[True, False, False]))
    payroll = rows.filter(pl.col("account_id") == "a", pl.col("family") == "Payroll").row(0, named=True)
    assert payroll["expected_value"] == payroll["score"] * 50.0  # the median Payroll line


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_an_evidence_key_reads_back_as_the_counts_it_was_made_from(data):
    n = data.draw(st.integers(1, 30))
    levels = data.draw(st.sampled_from([["all"], [choice._NONE, "ENT", "SMB"]]))
    min_base = data.draw(st.integers(1, 5))
    rng = np.random.default_rng(data.draw(st.integers(0, 10_000)))
    n2 = rng.integers(0, 8, size=(len(levels), n, n)).astype(float)
    x2 = np.minimum(rng.integers(0, 8, size=n2.shape), n2).astype(float)
    pairs = choice.Pairs(np.zeros((len(levels), n)), np.zeros((len(levels), n)), n2, x2)
    fitted = choice.Fitted(
        dt.date(2024, 1, 1),
        180,
        min_base,
        [f"i{k:02d}" for k in range(n)],
        np.ones(n, bool),
        levels,
        None,
        np.zeros(6),
        np.ones(6),
        None,
        pairs,
    )
    cells = 50
    g = rng.integers(0, len(levels), cells)
    base = rng.integers(-1, n, cells)
    i = rng.integers(0, n, cells)
    got = choice.evidence(fitted, choice.evidence_key(fitted, g, base, i))
    assert got["i"].to_list() == i.tolist()
    assert got["base_i"].to_list() == base.tolist()
    for k in range(cells):
        if base[k] < 0:
            assert (got["base_bought"][k], got["base_customers"][k], got["seg_g"][k]) == (0, 0, -1)
            continue
        local = n2[g[k], base[k], i[k]] >= min_base
        counts = (x2, n2) if not local else (x2[g[k]], n2[g[k]])
        if local:
            want = (counts[0][base[k], i[k]], counts[1][base[k], i[k]])
        else:
            want = (x2[:, base[k], i[k]].sum(), n2[:, base[k], i[k]].sum())
        assert (got["base_bought"][k], got["base_customers"][k]) == want
        named = local and levels[g[k]] != choice._NONE and len(levels) > 1
        assert got["seg_g"][k] == (g[k] if named else -1)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c", "d", "e", "f", "g", "h"]),
            st.sampled_from(["V", "W", "X", "Y", "Z"]),
            st.sampled_from([0.0, 0.25, 0.5, 1.0]),
        ),
        max_size=40,
        unique_by=lambda r: (r[0], r[1]),
    ),
    st.integers(0, 45),
)
def test_the_top_by_score_is_the_head_of_the_score_order(cells, n):
    rows = pl.DataFrame(cells, schema={"account_id": pl.String, "family": pl.String, "score": pl.Float64}, orient="row")
    assert ws.top_by_score(rows, n).equals(ws.by_score(rows).head(n))
    assert ws.top_by_score(rows.lazy(), n).equals(ws.by_score(rows).head(n))  # (the report's rows are a plan)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books(), st.sampled_from(["family", "product"]))
def test_scoring_the_whole_book_on_the_fits_own_state_gives_the_cells_a_fresh_state_gives(book, level):
    lines, accounts = book
    model = build_model(book_from_rows(lines, CATALOGUE, accounts), as_of=None, level=level)
    fitted = ws.fit(model, min_base=2)
    if fitted is None:
        return
    assert fitted.state is not None
    won = model.won.select(choice.LINE_COLUMNS).collect()
    segments = ws.segments(model)
    reused = choice.score_cells(fitted, won, segments, forced=[("Core", "Analytics")], whole_book=True)
    fresh = choice.score_cells(fitted, won, segments, forced=[("Core", "Analytics")])
    assert reused.frame.equals(fresh.frame)
    assert reused.customers.select("account_id", "a", "g").equals(fresh.customers.select("account_id", "a", "g"))


def test_a_family_nobody_bought_is_not_said_to_score_on_popularity(cli, write):
    """HR is in the catalogue and nobody bought it: its reason said "scored on popularity and
    recent sales", which it has none of. BI and CRM, bought, keep that reason."""
    write(
        "line_items.csv",
        "account_id,product_id,booked_at,amount\na1,CRM,2024-01-10,100\na1,BI,2024-03-10,50\n"
        "a2,CRM,2024-02-01,100\na3,CRM,2024-02-01,100\na3,BI,2024-05-01,100\na4,BI,2024-02-01,100\n",
    )
    write("products.csv", "product_id,family,list_price\nCRM,CRM,100\nBI,BI,50\nHR,HR,70\n")
    result = cli("whitespace", "--line-items", "line_items.csv", "--products", "products.csv", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    rows = pl.read_csv(result.stdout.encode()).select("account_id", "family", "reason").rows()
    base = "no owned family with 10+ customers to learn from; "
    assert rows == [
        ("a2", "BI", base + "scored on popularity and recent sales"),
        ("a4", "CRM", base + "scored on popularity and recent sales"),
        *[
            (a, "HR", base + "no customer bought this family by the as-of date: scored on the model's prior alone")
            for a in ("a1", "a3", "a2", "a4")
        ],
    ]
