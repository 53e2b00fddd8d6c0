"""Gaming flags on tiny books worked out by hand, and the planted patterns of the sample."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from crossell_cli.metrics import pairs
from crossell_cli.metrics.flags import FlagSettings, fails, line_flag_mask
from crossell_cli.metrics.periods import Calendar
from crossell_cli.model import build_model

from .conftest import SAMPLE, book_from_rows, d
from .helpers import by_rep, collect, expansion, filter_findings, flags, forced_bundles


def run_flags(lines, products=(), *, as_of="2024-12-31", **settings):
    model = build_model(book_from_rows(lines, products), as_of=d(as_of), level="family")
    assert model is not None
    return flags(model, FlagSettings(**settings)), model


def line(account, product, booked, amount=100.0, **extra):
    return {"account_id": account, "product_id": product, "booked_at": booked, "amount": amount, **extra}


def test_pass_through_needs_the_discount_and_another_family_on_the_deal():
    lines = [
        line("a", "Core", "2024-01-01", contract_id="k1"),
        # 95% off, folded into a Core expansion deal: pass-through
        line("a", "Core", "2024-06-01", 50.0, contract_id="k2", rep="Rex", line_id="pt"),
        line(
            "a",
            "Analytics",
            "2024-06-01",
            5.0,
            list_amount=100.0,
            discount=0.95,
            contract_id="k2",
            rep="Rex",
            line_id="x1",
        ),
        # 95% off but alone on its deal: a discount, not a pass-through
        line("a", "Payroll", "2024-07-01", 5.0, list_amount=100.0, contract_id="k3", line_id="x2"),
        # 85% off with Core on the deal: above the 10% threshold
        line("a", "Security", "2024-08-01", 15.0, list_amount=100.0, contract_id="k4", line_id="x3"),
        line("a", "Core", "2024-08-01", 10.0, contract_id="k4"),
        # exactly 10% of list counts (≤)
        line("b", "Core", "2024-01-01", contract_id="m1"),
        line("b", "Analytics", "2024-09-01", 10.0, list_amount=100.0, contract_id="m2", line_id="x4"),
        line("b", "Core", "2024-09-01", 20.0, contract_id="m2"),
    ]
    findings, _ = run_flags(lines, premature_days=0)
    passed = findings.filter(pl.col("flag") == "pass_through")
    assert passed["line_id"].to_list() == ["x4", "x1"]  # sorted by amount, largest first
    row = passed.filter(pl.col("line_id") == "x1").row(0, named=True)
    assert (row["severity"], row["family"], row["rep"], row["contract_id"]) == ("high", "Analytics", "Rex", "k2")
    assert row["detail"].startswith("95% off list") and "with Core" in row["detail"]
    assert findings.filter(pl.col("line_id") == "x2").is_empty()
    assert findings.filter(pl.col("line_id") == "x3").is_empty()


def test_pass_through_detail_shows_money_as_people_read_it():
    lines = [
        line("a", "Core", "2024-01-01", contract_id="k1"),
        line("a", "Core", "2024-06-01", 50.0, contract_id="k2"),
        line("a", "Payroll", "2024-06-01", 3032.0, list_amount=75800.0, contract_id="k2", line_id="x1"),
        line("b", "Core", "2024-01-01", contract_id="m1"),
        line("b", "Core", "2024-06-01", 50.0, contract_id="m2"),
        line("b", "Payroll", "2024-06-01", 24691.35, list_amount=1234567.5, contract_id="m2", line_id="x2"),
    ]
    findings, _ = run_flags(lines, premature_days=0)
    details = dict(findings.filter(pl.col("flag") == "pass_through").select("line_id", "detail").iter_rows())
    # 3032 / 75800 = 0.04 of list: 96% off; whole units with thousands separators, not 75800.0
    assert details["x1"] == "96% off list (75,800 → 3,032) on contract k2 with Core"
    # 24 691.35 / 1 234 567.5 = 0.02; 1 234 567.5 rounds half to even, like f"{x:,.0f}"
    assert details["x2"] == f"98% off list ({1234567.5:,.0f} → {24691.35:,.0f}) on contract m2 with Core"
    assert details["x2"] == "98% off list (1,234,568 → 24,691) on contract m2 with Core"


def test_pass_through_without_contract_ids_uses_the_same_day():
    lines = [
        line("a", "Core", "2024-01-01"),
        line("a", "Core", "2024-06-01", 30.0),
        line("a", "Analytics", "2024-06-01", 1.0, list_amount=100.0, line_id="x"),
    ]
    findings, _ = run_flags(lines, premature_days=0)
    assert findings.filter(pl.col("flag") == "pass_through")["line_id"].to_list() == ["x"]
    assert "the same day" in findings.filter(pl.col("flag") == "pass_through")["detail"][0]


@pytest.fixture(params=["join", "sparse"])
def pair_way(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Pairs counted by the self-join, or by the sparse products a wide book takes."""
    if request.param == "sparse":
        monkeypatch.setattr(pairs, "SPARSE_ITEMS", 0)
        monkeypatch.setattr(pairs, "SPARSE_WIDTH", 0.0)
    return str(request.param)


def test_forced_bundle_pair_and_its_threshold(pair_way):
    lines = []
    for i in range(20):
        lines.append(line(f"a{i}", "Core", "2024-01-01", contract_id=f"k{i}"))
        if i < 12:  # Success only ever on Core's deal
            lines.append(line(f"a{i}", "Success", "2024-01-01", contract_id=f"k{i}"))
    findings, model = run_flags(lines, premature_days=0)
    bundle = findings.filter(pl.col("flag") == "forced_bundle")
    assert bundle.select("family", "base_family", "severity").rows() == [("Success", "Core", "medium")]
    assert bundle["line_id"][0] is None and bundle["amount"][0] is None  # fields that do not apply are empty
    # 12 lines < min_base 13: not enough evidence
    assert forced_bundles(model, share=0.95, min_lines=13).is_empty()
    # one Success line sold alone: 11/12 = 91.7% < 95%
    lines.append(line("z", "Success", "2024-02-01", contract_id="solo"))
    findings, _ = run_flags(lines, premature_days=0)
    assert findings.filter(pl.col("flag") == "forced_bundle").is_empty()


def test_findings_that_tie_on_every_other_key_come_in_base_family_order():
    """A family bundled with several bases gives one forced_bundle finding per base, equal in
    severity, amount (none), flag and family: base_family (then detail) breaks the tie, so two
    runs give the same bytes (before, their order changed from run to run)."""
    bases = [f"Base{k}" for k in range(8)]
    lines = []
    for i in range(15):
        for product in (*bases, "Addon"):
            lines.append(line(f"a{i}", product, "2024-01-01", contract_id=f"k{i}"))
    for _ in range(5):
        findings, _ = run_flags(lines, premature_days=0, min_base=10)
        bundle = findings.filter((pl.col("flag") == "forced_bundle") & (pl.col("family") == "Addon"))
        assert bundle["base_family"].to_list() == bases


def test_early_churn_premature_and_their_boundaries():
    lines = [
        line("a", "Core", "2024-01-01", contract_id="1"),
        # cross-sold on day 90 after land: premature (≤ 90); ended 180 days after start: early (≤ 180)
        line("a", "Analytics", "2024-03-31", contract_id="2", end_date="2024-09-27", line_id="pa"),
        line("b", "Core", "2024-01-01", contract_id="3"),
        # day 91: not premature; ended after 181 days: not early
        line("b", "Analytics", "2024-04-01", contract_id="4", end_date="2024-09-29", line_id="pb"),
        line("c", "Core", "2024-01-01", contract_id="5"),
        # ends after T: not churned (yet)
        line("c", "Payroll", "2024-06-01", contract_id="6", end_date="2025-01-15"),
        line("d", "Core", "2024-01-01", contract_id="7"),
        # a family that churned early but came back: not all lines ended
        line("d", "Payroll", "2024-06-01", contract_id="8", end_date="2024-07-01"),
        line("d", "Payroll", "2024-10-01", contract_id="9"),
        # a land-bundle family that churns early is not a cross-sell
        line("e", "Core", "2024-01-01", contract_id="10"),
        line("e", "Payroll", "2024-01-01", contract_id="10", end_date="2024-02-01"),
    ]
    findings, _ = run_flags(lines)
    early = findings.filter(pl.col("flag") == "early_churn")
    assert early.select("account_id", "family", "line_id").rows() == [("a", "Analytics", "pa")]
    assert "180 days" in early["detail"][0]
    premature = findings.filter(pl.col("flag") == "premature")
    assert premature.select("account_id", "line_id", "severity").rows() == [("a", "pa", "low")]


def test_rep_concentration():
    lines = []
    # 10 reps × 10 cross-sells each, all clean; rep "R0" has 4 premature ones, R1 has 2
    for r in range(10):
        for k in range(10):
            account = f"r{r}a{k}"
            premature = (r == 0 and k < 4) or (r == 1 and k < 2)
            lines.append(line(account, "Core", "2023-01-01", contract_id=f"{account}l"))
            lines.append(
                line(
                    account,
                    "Analytics",
                    "2023-02-01" if premature else "2023-09-01",
                    rep=f"R{r}",
                    contract_id=f"{account}x",
                )
            )
    findings, _ = run_flags(lines)
    concentrated = findings.filter(pl.col("flag") == "rep_concentration")
    # book share 6/100; R0 4/10 = 40% ≥ 12% and ≥ 3 lines; R1 2/10 has too few lines
    assert concentrated["rep"].to_list() == ["R0"]
    assert "4 of 10" in concentrated["detail"][0]


def fast_book():
    """Three accounts land with Core on 2024-01-01; each buys Addon on day 10 (rep R0), then Extra
    on day 200 and Payroll on day 210 (rep R1). First cross-sells: days 10, 10, 10."""
    lines = []
    for a in ("a1", "a2", "a3"):
        lines.append(line(a, "Core", "2024-01-01", contract_id=f"{a}-l"))
        lines.append(line(a, "Addon", "2024-01-11", 50.0, rep="R0", contract_id=f"{a}-1", line_id=f"{a}-addon"))
        lines.append(line(a, "Extra", "2024-07-19", rep="R1", contract_id=f"{a}-2"))
        lines.append(line(a, "Payroll", "2024-07-29", rep="R1", contract_id=f"{a}-3"))
    return lines


def test_premature_is_one_book_level_finding_when_the_book_cross_sells_that_fast():
    findings, model = run_flags(fast_book())
    # The book's median time to (first) cross-sell is 10 days < premature_days 90: coming within
    # 90 days is how this book behaves. One row with the counts: 3 of the 9 cross-sell lines.
    premature = findings.filter(pl.col("flag") == "premature")
    assert premature.height == 1
    row = premature.row(0, named=True)
    assert (row["severity"], row["line_id"], row["account_id"], row["rep"]) == ("low", None, None, None)
    assert row["amount"] == 150.0  # the three Addon lines
    assert row["detail"] == (
        "the book's median time to cross-sell is 10 days (first cross-sell of its 3 cross-sold accounts), "
        "under premature_days 90: 3 of 9 cross-sell lines came within 90 days of land; premature is not a signal here"
    )
    # Those lines are not flagged for rep concentration either: without this rule R0 (3 of 3
    # flagged) was "concentrated" against a book share of 3/9.
    assert findings.filter(pl.col("flag") == "rep_concentration").is_empty()
    reps = {r["rep"]: r for r in by_rep(model, FlagSettings()).iter_rows(named=True)}
    assert (reps["R0"]["cross_sells"], reps["R0"]["flagged"]) == (3, 0)
    # Four more accounts whose first cross-sell comes on day 180: the median is 180 now, premature
    # is a signal again and each premature line is its own row.
    slow = fast_book()
    for a in ("b1", "b2", "b3", "b4"):
        slow.append(line(a, "Core", "2024-01-01", contract_id=f"{a}-l"))
        slow.append(line(a, "Addon", "2024-06-29", rep="R2", contract_id=f"{a}-x"))
    findings, _ = run_flags(slow)
    premature = findings.filter(pl.col("flag") == "premature")
    assert premature["line_id"].sort().to_list() == ["a1-addon", "a2-addon", "a3-addon"]


def test_book_median_is_timing_median_among_the_cross_sold():
    from crossell_cli.config import resolve_settings
    from crossell_cli.ingest import load
    from crossell_cli.metrics.timing import median_days_to_cross_sell

    from .helpers import timing

    model = build_model(
        load(resolve_settings(file_values={}, config_dir=None, cli={"data": SAMPLE})), as_of=None, level="family"
    )
    overall = timing(model, by=None, calendar=Calendar(), premature_days=90, early_churn_days=180).row(0, named=True)
    median = collect(median_days_to_cross_sell(model)).row(0)
    assert median == (overall["median_days"], overall["accounts_cross_sold"])
    assert median == (175.0, 2744)  # over 90: premature stays a signal in the sample


def churn_book(churned: int) -> list[dict]:
    """Ten accounts land with Core on 2023-01-01 and buy Addon on day 200 (R1 sells to a0-a5,
    R2 to a6-a9); the first ``churned`` of them drop Addon 60 days later (early churn)."""
    lines = []
    for i in range(10):
        lines.append(line(f"a{i}", "Core", "2023-01-01", contract_id=f"a{i}-l"))
        end = "2023-09-18" if i < churned else None
        lines.append(
            line(f"a{i}", "Addon", "2023-07-20", rep="R1" if i < 6 else "R2", contract_id=f"a{i}-x", end_date=end)
        )
    return lines


def test_rep_concentration_says_once_when_the_book_share_is_out_of_reach():
    findings, _ = run_flags(churn_book(6))
    assert findings.filter(pl.col("flag") == "early_churn").height == 6
    rows = findings.filter(pl.col("flag") == "rep_concentration")
    # 6 of 10 flagged: 2 × 60% = 120%, no rep can be there. One book-level row says so (R1 at
    # 100% is the book's flags, not a rep standing out), instead of silence.
    assert rows.height == 1
    row = rows.row(0, named=True)
    assert (row["severity"], row["rep"], row["amount"]) == ("medium", None, 600.0)
    assert row["detail"] == (
        "6 of 10 cross-sell lines with a rep are flagged (60.0%): no rep can be at 2× the book's share, "
        "so none is singled out; the flags themselves are the finding"
    )
    # At exactly half, 2× is 100%: still reachable, so the rule compares reps: R1 has 5 of 6.
    findings, _ = run_flags(churn_book(5))
    rows = findings.filter(pl.col("flag") == "rep_concentration")
    assert rows.height == 0  # R1 5/6 = 83% < 100%
    half = churn_book(5)
    half = [dict(x, rep="R2") if x["account_id"] == "a5" and x["product_id"] == "Addon" else x for x in half]
    findings, _ = run_flags(half)
    rows = findings.filter(pl.col("flag") == "rep_concentration")
    assert rows["rep"].to_list() == ["R1"] and "5 of 5 cross-sells flagged (100.0%) vs 50.0%" in rows["detail"][0]


def test_price_erosion():
    lines = []
    # 100 customers since 2023; first half (2024-01-01, 2024-07-01]: 10 buy Addon at 80% of list;
    # second half: 20 buy at 50% of list -> attach up, price down 37.5%
    for i in range(100):
        lines.append(line(f"a{i}", "Core", "2023-01-01"))
    for i in range(10):
        lines.append(line(f"a{i}", "Addon", "2024-03-01", 80.0, list_amount=100.0))
    for i in range(10, 30):
        lines.append(line(f"a{i}", "Addon", "2024-10-01", 50.0, list_amount=100.0))
    findings, _ = run_flags(lines, premature_days=0)
    erosion = findings.filter(pl.col("flag") == "price_erosion")
    assert erosion["family"].to_list() == ["Addon"]
    assert "0.8 → 0.5" in erosion["detail"][0]
    # the same volumes at the same price: nothing
    flat = [dict(x, amount=80.0) if x["product_id"] == "Addon" else x for x in lines]
    findings, _ = run_flags(flat, premature_days=0)
    assert findings.filter(pl.col("flag") == "price_erosion").is_empty()


def test_severity_order_filters_and_fail_on():
    findings = pl.DataFrame(
        {"flag": ["premature", "pass_through", "early_churn"], "severity": ["low", "high", "medium"]}
    )
    assert fails(findings, "high") and fails(findings, "low")
    assert not fails(findings.filter(pl.col("severity") == "low"), "medium")
    assert not fails(findings, None)
    assert filter_findings(findings, names=None, severity="medium")["flag"].to_list() == ["pass_through", "early_churn"]
    assert filter_findings(findings, names=["premature"], severity=None).height == 1


def test_expansion_moves_pass_through_out_of_cross_sell():
    lines = [
        line("a", "Core", "2024-01-05", contract_id="k1"),
        line("a", "Core", "2024-05-01", 30.0, contract_id="k2"),
        line("a", "Analytics", "2024-05-01", 1.0, list_amount=100.0, contract_id="k2", line_id="pt"),
        line("b", "Core", "2024-01-05", contract_id="m1"),
        line("b", "Analytics", "2024-05-01", 60.0, list_amount=100.0, contract_id="m2"),
    ]
    model = build_model(book_from_rows(lines), as_of=d("2024-06-30"), level="family")
    pt = pl.DataFrame({"line_id": ["pt"], "account_id": ["a"], "item": ["Analytics"]})
    for mode in ("bookings", "arr"):
        frame = expansion(model, mode=mode, calendar=Calendar("quarter"), pass_through_lines=pt)
        q2 = frame.filter(pl.col("period") == "2024-Q2").row(0, named=True)
        assert q2["cross_sell"] == 60.0 and q2["cross_sell_pass_through"] == 1.0, mode
        assert q2["expansion"] == 60.0 + 30.0


def planted_keys(frame: pl.DataFrame) -> set[tuple]:
    keys: set[tuple] = set()
    for r in frame.iter_rows(named=True):
        flag = r["flag"]
        if flag in ("pass_through", "premature"):
            keys.add((flag, r["line_id"]))
        elif flag == "early_churn":
            keys.add((flag, r["account_id"], r["family"]))
        elif flag == "forced_bundle":
            keys.add((flag, r["base_family"], r["family"]))
        elif flag == "rep_concentration":
            keys.add((flag, r["rep"]))
        else:
            keys.add((flag, r["family"]))
    return keys


def sample_findings(folder: Path) -> pl.DataFrame:
    from crossell_cli.config import resolve_settings
    from crossell_cli.ingest import load

    book = load(resolve_settings(file_values={}, config_dir=None, cli={"data": folder}))
    return flags(build_model(book, as_of=None, level="family"), FlagSettings())


def test_every_planted_pattern_is_found_and_nothing_else(pair_way):
    planted = pl.read_csv(SAMPLE / "planted.csv", infer_schema=False)
    found = sample_findings(SAMPLE)
    assert planted_keys(found) == planted_keys(planted)  # precision and recall both 1.0
    assert set(planted["flag"]) == {
        "pass_through",
        "forced_bundle",
        "early_churn",
        "premature",
        "rep_concentration",
        "price_erosion",
    }


@pytest.mark.parametrize(("accounts", "seed"), [(300, 1), (1500, 2), (2500, 11)])
def test_planted_patterns_hold_for_other_sizes_and_seeds(tmp_path, accounts, seed):
    from crossell_cli.sample import SampleSpec, write_sample

    write_sample(tmp_path, SampleSpec(accounts=accounts, seed=seed))
    planted = pl.read_csv(tmp_path / "planted.csv", infer_schema=False)
    assert planted_keys(sample_findings(tmp_path)) == planted_keys(planted)


def test_by_rep_summary():
    lines = [
        line("a", "Core", "2024-01-01", contract_id="1"),
        line("a", "Analytics", "2024-02-01", 10.0, rep="R1", contract_id="2"),
        line("b", "Core", "2023-01-01", contract_id="3"),
        line("b", "Analytics", "2023-09-01", 20.0, rep="R1", contract_id="4"),
    ]
    model = build_model(book_from_rows(lines), as_of=d("2024-12-31"), level="family")
    row = by_rep(model, FlagSettings()).row(0, named=True)
    assert (row["rep"], row["cross_sells"], row["flagged"], row["share_flagged"], row["flagged_value"]) == (
        "R1",
        2,
        1,
        0.5,
        10.0,
    )


def test_by_rep_counts_only_the_lines_the_chosen_flags_mark():
    """R1's first cross-sell comes on day 90 and its family ends 179 days later: premature
    (low) and early churn (medium). R2's is 95% off list on a deal with a Core upsell:
    pass-through (high). The book's median time to cross-sell is 91 days (90, 91, 213), so
    premature lines are flagged one by one."""
    lines = [
        line("a", "Core", "2024-01-01", contract_id="1"),
        line("a", "Analytics", "2024-03-31", 100.0, rep="R1", contract_id="2", end_date="2024-09-27"),
        line("b", "Core", "2024-01-01", contract_id="3"),
        line("b", "Analytics", "2024-04-01", 20.0, rep="R1", contract_id="4"),
        line("c", "Core", "2024-01-01", contract_id="5"),
        line("c", "Core", "2024-08-01", 50.0, contract_id="6"),
        line("c", "Analytics", "2024-08-01", 5.0, list_amount=100.0, rep="R2", contract_id="6"),
    ]
    findings, model = run_flags(lines)
    # (2 of the 3 cross-sell lines are flagged: one book-level rep_concentration row says so)
    assert sorted(findings["flag"].to_list()) == ["early_churn", "pass_through", "premature", "rep_concentration"]

    def flagged(**chosen: object) -> dict[str, tuple[int, int, float]]:
        mask = line_flag_mask(**chosen) if chosen else None  # type: ignore[arg-type]
        got = by_rep(model, FlagSettings(), mask=mask)
        return {r["rep"]: (r["cross_sells"], r["flagged"], r["flagged_value"]) for r in got.iter_rows(named=True)}

    assert flagged() == {"R1": (2, 1, 100.0), "R2": (1, 1, 5.0)}
    assert flagged(names=["pass_through"]) == {"R1": (2, 0, 0.0), "R2": (1, 1, 5.0)}
    assert flagged(names=["early_churn"]) == {"R1": (2, 1, 100.0), "R2": (1, 0, 0.0)}
    assert flagged(names=["premature"]) == {"R1": (2, 1, 100.0), "R2": (1, 0, 0.0)}
    assert flagged(severity="high") == {"R1": (2, 0, 0.0), "R2": (1, 1, 5.0)}
    assert flagged(severity="medium") == {"R1": (2, 1, 100.0), "R2": (1, 1, 5.0)}
    assert flagged(names=["premature", "pass_through"], severity="medium") == flagged(names=["pass_through"])
    assert line_flag_mask(["forced_bundle", "rep_concentration"]) == 0


def test_by_rep_follows_flag_and_severity_on_the_sample(cli):
    """Only Dana Whitfield and Priya Raman have pass-through findings (20 each in planted.csv);
    --flag pass_through --by rep flags their 40 lines and no one else's."""
    result = cli("flags", "--data", str(SAMPLE), "--flag", "pass_through", "--by", "rep", "-f", "csv")
    assert result.exit_code == 0
    reps = pl.read_csv(result.stdout.encode())
    flagged = reps.filter(pl.col("flagged") > 0)
    assert sorted(flagged.select("rep", "flagged").rows()) == [("Dana Whitfield", 20), ("Priya Raman", 20)]
    result = cli("flags", "--data", str(SAMPLE), "--flag", "forced_bundle", "--by", "rep")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "Error: --by rep counts the cross-sell lines a flag marks, and forced_bundle marks none\n"
        "  fix: choose a line flag: pass_through, early_churn, premature; or leave out --by rep to list the findings\n"
    )
