"""The shape of the plans the commands collect: no node known to be slow where a cheap one
gives the same rows.

Polars rewrites a cross join followed by comparisons between the two sides into an
inequality join (IEJOIN). Against a one-row frame (T, a threshold) that is a broadcast done
the slow way: `xsell validate`'s picture of the overlapping lines took 3.0 CPU-s that way on
the 300k-account benchmark book, 0.5 with T as a literal. A scalar known before the plan is
built goes in as a literal; a one-row frame is joined only where no comparison follows.
"""

from __future__ import annotations

import datetime as dt
import importlib
import re
from pathlib import Path

import polars as pl
import pytest

from crossell_cli.commands.session import open_session
from crossell_cli.ingest.parsers import ISO_TIMESTAMP, fast_date
from crossell_cli.ingest.repeats import held_at

from .test_vendor_fixtures import VARIANTS

REPO = Path(__file__).resolve().parent.parent
COMMANDS = ("attach", "expansion", "timing", "flags", "retention", "summary", "validate", "whitespace", "report")


@pytest.mark.parametrize("command", COMMANDS)
def test_no_command_plan_holds_an_inequality_join(command: str) -> None:
    session = open_session({"data": str(REPO / "sample_data")}, config=None, cwd=REPO)
    module = importlib.import_module(f"crossell_cli.commands.{command}")
    answer = getattr(module, command)(session)
    plans = {"main": answer.plan.main, **answer.plan.sides}
    slow = [name for name, plan in plans.items() if plan is not None and "IEJOIN" in plan.explain()]
    assert slow == []


def fallbacks(plan: pl.LazyFrame) -> list[str]:
    """The nodes of ``plan`` the streaming engine cannot stream: each runs on its whole input
    at once (as Polars' physical graph marks them), e.g. ``replace_strict`` on a column."""
    graph = plan.show_graph(engine="streaming", plan_stage="physical", raw_output=True)
    assert isinstance(graph, str)
    colour = re.search(r'COLOR="([^"]+)">⬤</FONT> in-memory engine fallback', graph)
    assert colour, "Polars' graph no longer names its in-memory fallback"
    label = r'\[label="((?:[^"\\]|\\.)*)",style=filled,fillcolor="' + re.escape(colour.group(1)) + '"'
    return [found.replace("\\n", " ") for found in re.findall(label, graph)]


SOURCES = [
    pytest.param({"data": str(REPO / "sample_data")}, None, id="sample_data"),
    *[pytest.param({k: str(v) for k, v in inputs.items()}, None, id=name) for name, inputs in VARIANTS.items()],
    *[pytest.param({}, c, id=c.parent.name) for c in sorted((REPO / "examples").glob("*/xsell.yaml"))],
]


@pytest.mark.parametrize(("inputs", "config"), SOURCES)
def test_the_probe_of_every_table_streams(inputs: dict[str, str], config: Path | None) -> None:
    """The probe reads every cell of a file once. A node the streaming engine cannot stream
    held the whole file's text in memory: the stage map's replace_strict did (the 1 M-account
    book's probe peaked at 3.3 GB, 1.7 GB streamed, and ran a fifth slower), and so did the
    true/false map, the billing periods, and the replace() blanking attribute cells."""
    session = open_session(inputs, config=config, cwd=REPO)
    assert session.book.probes or session.book.dateless  # (a wide export has no probe)
    held = {table: fallbacks(probe) for table, probe in session.book.probes.items()}
    assert held == {table: [] for table in session.book.probes}


def test_the_overlapping_lines_picture_is_no_inequality_join() -> None:
    lines = pl.LazyFrame(
        {
            "account_id": ["A", "A"],
            "product_id": ["P", "P"],
            "booked_at": [dt.date(2024, 1, 1)] * 2,
            "start_date": [dt.date(2024, 1, 1), dt.date(2024, 2, 1)],
            "end_date": [None, None],
            "stage": ["won", "won"],
        },
        schema_overrides={"end_date": pl.Date},
    )
    plan = held_at(lines, dt.date(2025, 1, 1))
    assert "IEJOIN" not in plan.explain()
    assert plan.collect()["overlapping"].item() == 1


def _caches(plan: pl.LazyFrame) -> set[str]:
    """The ids of the explicit caches (``.cache()``) a plan reads, as built (before optimising)."""
    return set(re.findall(r"CACHE\[id: ([^\]]*)\]", plan.explain(optimized=False)))


@pytest.mark.parametrize(
    ("command", "by_rep", "findings"), [("flags", "main", "counts"), ("report", "flags_by_rep", "flags")]
)
def test_the_by_rep_table_reads_the_flagged_lines_the_findings_read(command: str, by_rep: str, findings: str) -> None:
    """`flags --by rep` and the report collect the by-rep table with the findings: the flagged
    lines both read (pass-through, premature, early churn) are the same cached plans, so one
    collect computes them once (before: twice, 1.4 CPU s of the report at 300k accounts)."""
    session = open_session({"data": str(REPO / "sample_data")}, config=None, cwd=REPO)
    module = importlib.import_module(f"crossell_cli.commands.{command}")
    answer = module.flags(session, by="rep") if command == "flags" else module.report(session)
    plans = {"main": answer.plan.main, **answer.plan.sides}
    shared = _caches(plans[by_rep])
    assert shared, "the by-rep table reads no cached flagged lines"
    assert shared <= _caches(plans[findings])


def test_a_bookings_export_builds_no_arr_plan(tmp_path: Path) -> None:
    """Under --mode auto the data choose bookings or ARR. The lines are in memory before the
    plan is built, so whether a won line has an end date is known then: a bookings export
    builds no ARR bridge, day-by-day ARR count or retention (before: built and thrown away,
    two sorts of every line), and an ARR export no bookings table."""
    (tmp_path / "line_items.csv").write_text(
        "account_id,product_id,booked_at,amount\na,Core,2024-01-01,100\na,Addon,2024-03-01,50\n"
    )
    session = open_session({"data": str(tmp_path)}, config=None, cwd=REPO)
    expansion = importlib.import_module("crossell_cli.commands.expansion").expansion(session)
    assert {"mode_bookings"} <= set(expansion.plan.sides)
    assert not {"mode_arr", "added"} & set(expansion.plan.sides)
    report = importlib.import_module("crossell_cli.commands.report").report(session)
    assert {"expansion_bookings"} <= set(report.plan.sides)
    assert not {"expansion_arr", "arr_added", "retention"} & set(report.plan.sides)
    sample = open_session({"data": str(REPO / "sample_data")}, config=None, cwd=REPO)
    expansion = importlib.import_module("crossell_cli.commands.expansion").expansion(sample)
    assert {"mode_arr", "added"} <= set(expansion.plan.sides)
    assert "mode_bookings" not in expansion.plan.sides
    retention = importlib.import_module("crossell_cli.commands.retention").retention(session)
    assert retention.plan.main is not None
    assert retention.plan.main.collect().height == 0  # its answer is the message that it needs end dates


@pytest.mark.parametrize("first", ["classified", "item_history"])
def test_the_item_histories_are_grouped_once_and_the_timing_classifies_no_line(
    first: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each (account, family)'s first booking, first start, last end and land-bundle mark are
    grouped from the won lines once per run, whichever is asked for first: the classification
    (its kinds read them), the early-churn flag, the cross-sell timing and price erosion read
    the same rows (before: three groupings of every won line in `xsell flags`). `xsell timing`
    reads the histories alone: no line is classified for it (the join back of the histories
    to every won line and the classified lines in memory cost 0.4-0.6 s at 300k accounts)."""
    from crossell_cli import model as model_module
    from crossell_cli.commands.timing import timing
    from crossell_cli.metrics import flags as flags_metric
    from crossell_cli.model import ALL_COLUMNS

    calls: list[str] = []
    for name in ("_item_history", "_classify"):
        real = getattr(model_module, name)
        monkeypatch.setattr(model_module, name, lambda *a, _real=real, _name=name: calls.append(_name) or _real(*a))
    session = open_session({"data": str(REPO / "sample_data")}, config=None, cwd=REPO)
    got = timing(session, by="pair").plan.main
    assert got is not None and got.collect().height > 0
    assert calls == ["_item_history"]

    calls.clear()
    model, _ = session.facts(ALL_COLUMNS)
    getattr(model, first)
    settings = flags_metric.FlagSettings.of(session.settings)
    plans = [
        model.classified,
        flags_metric.early_churned(model, days=settings.early_churn_days),
        flags_metric.premature_verdict(model, days=settings.premature_days),
        flags_metric.price_erosion(model, settings),
    ]
    pl.collect_all(plans)
    assert sorted(calls) == ["_classify", "_item_history"]


def test_the_pass_through_flag_of_expansion_classifies_only_the_deep_discount_accounts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`xsell expansion` on an ARR export reads the kinds of the deep-discount lines alone (its
    pass-through movements): only their accounts' lines are classified, never the whole book
    in memory (before: every won line classified and held, 0.9 s and 0.2 GB at 300k
    accounts, for a few hundred lines). `xsell flags` reads its other cross-sell lines off the
    item histories (``Model.cross_sell_lines``): it classifies no more than those accounts'
    lines either (before: every won line, 0.9 s at 300k accounts)."""
    from crossell_cli import model as model_module
    from crossell_cli.commands.expansion import expansion
    from crossell_cli.commands.flags import flags

    classified: list[int] = []
    real = model_module._classify

    def counting(bundled: pl.LazyFrame, history: pl.LazyFrame) -> pl.LazyFrame:
        got = real(bundled, history)
        classified.append(got.collect().height)
        return got

    monkeypatch.setattr(model_module, "_classify", counting)
    session = open_session({"data": str(REPO / "sample_data")}, config=None, cwd=REPO)
    answer = expansion(session)
    assert answer.plan.model is not None
    assert "_classification" not in answer.plan.model.__dict__
    won = answer.plan.model.won.collect()
    assert len(classified) == 1 and 0 < classified[0] < won.height / 4
    assert answer.plan.sides["pass_through"].collect().item() > 0

    classified.clear()
    answer = flags(session)
    assert answer.plan.model is not None and "_classification" not in answer.plan.model.__dict__
    assert answer.plan.main is not None
    pl.collect_all([answer.plan.main, *answer.plan.sides.values()])
    assert len(classified) == 1 and 0 < classified[0] < won.height / 4


def test_the_summary_classifies_no_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """The summary's cross-sell customers, revenue share and rebuy gaps are read off the item
    histories (a family's cross-sell lines are its first day's lines when none of its lines is
    in the land bundle): no line is classified for it (before: every won line classified and
    held in memory, 0.8 s at 300k accounts)."""
    from crossell_cli import model as model_module
    from crossell_cli.commands.summary import summary

    calls: list[str] = []
    for name in ("_item_history", "_classify"):
        real = getattr(model_module, name)
        monkeypatch.setattr(model_module, name, lambda *a, _real=real, _name=name: calls.append(_name) or _real(*a))
    session = open_session({"data": str(REPO / "sample_data")}, config=None, cwd=REPO)
    answer = summary(session)
    frames = pl.collect_all(list(answer.plan.sides.values()))
    assert calls == ["_item_history"]
    revenue = dict(zip(answer.plan.sides, frames, strict=True))["revenue"]
    assert revenue["won_cross_lines"].item() > 0


@pytest.mark.parametrize(("by", "reps"), [(None, False), ("rep", True), ("segment", False)])
def test_the_expansion_facts_hold_only_the_columns_it_reads(by: str | None, reps: bool) -> None:
    """`xsell expansion` reads the lines' money, dates and deals, and the pass-through flag's
    line id and list value; the rep (and the row, its tie-break) only by rep. The product,
    quantity and discount stay out of the facts in memory (before: every column, 0.4 GB more
    at 300k accounts)."""
    from crossell_cli.commands.expansion import expansion

    session = open_session({"data": str(REPO / "sample_data")}, config=None, cwd=REPO)
    answer = expansion(session, by=by)
    assert answer.plan.model is not None
    held = set(answer.plan.model.all_lines.collect_schema().names())
    assert {"line_id", "list_amount", "amount", "contract_id", "end_date"} <= held
    assert not {"product_id", "quantity", "discount"} & held
    assert ({"rep", "_row"} <= held) == reps
    assert reps or not {"rep", "_row"} & held


@pytest.mark.parametrize(
    ("command", "bridge", "daily"), [("expansion", "mode_arr", "added"), ("report", "expansion_arr", "arr_added")]
)
def test_the_arr_bridge_and_the_day_by_day_count_read_one_grouping_of_the_lines(
    command: str, bridge: str, daily: str
) -> None:
    """The period bridge reads each family's last day-row of a period off the day-by-day rows
    the ARR-added count reads: one grouping and one sort of the lines, an explicit cache that
    both plans of one collect share (before: two, 2.7 CPU s each at 300k accounts)."""
    session = open_session({"data": str(REPO / "sample_data")}, config=None, cwd=REPO)
    module = importlib.import_module(f"crossell_cli.commands.{command}")
    answer = getattr(module, command)(session)
    plans = {"main": answer.plan.main, **answer.plan.sides}
    shared = _caches(plans[daily])
    assert shared, "the day-by-day count reads no cached rows"
    assert shared <= _caches(plans[bridge])


def test_the_probe_parses_each_date_once() -> None:
    """Polars shares a repeated subexpression only when no when/then is inside it. The fast
    date parse was wrapped in one (an empty cell skipped the parse), and the date range check
    reads the parsed value twice: every date of an export was parsed twice (2.4 of the 1 M-
    account book's probe CPU s were its three date columns; 1.0-1.4 parsed once)."""
    session = open_session({"data": str(REPO / "sample_data")}, config=None, cwd=REPO)
    for table, probe in session.book.probes.items():
        dates = [name for name, dtype in probe.collect_schema().items() if dtype == pl.Date]
        assert probe.explain().count(".str.strptime(") == len(dates), table


@pytest.mark.parametrize(
    ("formats", "parses"),
    [((), 1), ((ISO_TIMESTAMP,), 2), (("%d/%m/%Y",), 2), ((ISO_TIMESTAMP, "%m/%d/%Y"), 3)],
)
def test_a_date_column_is_parsed_once_per_format(formats: tuple[str, ...], parses: int) -> None:
    plan = pl.LazyFrame({"t": ["2024-01-05", ""]}).select(fast_date(pl.col("t"), formats)).explain()
    assert plan.count(".str.strptime(") == parses
