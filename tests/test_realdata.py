"""Every public dataset in ../shared/realdata, run with its example config: validate and every
metric, checked against facts computed independently (here with plain Polars on the raw file,
or taken from the dataset's SOURCE.md)."""

from __future__ import annotations

import polars as pl
import pytest

from .conftest import REPO, invoke, realdata
from .helpers import short_account

pytestmark = pytest.mark.realdata
EXAMPLES = REPO / "examples"


def run(name: str, *args: str):
    result = invoke(
        [*args, "--config", str(EXAMPLES / name / "xsell.yaml"), "--format", "csv"], env={"XSELL_CONFIG": ""}
    )
    assert "Traceback" not in result.output
    return result


def frame(result) -> pl.DataFrame:
    return pl.read_csv(result.stdout.encode(), infer_schema_length=None) if result.stdout else pl.DataFrame()


def account(result) -> tuple[int, int, int]:
    """(rows, used, rejected) of line_items from the one-line account on stderr; "used" counts
    the open rows too (rows no rule rejected)."""
    line = short_account(result.stderr)
    assert line, result.stderr
    return line.rows, line.kept, line.rejected


EVERY = [["summary"], ["attach"], ["whitespace", "--top", "20"], ["expansion"], ["timing"], ["retention"], ["flags"]]


@pytest.mark.parametrize(
    "name", ["crm_sales_opportunities", "aws_saas_sales", "ravenstack", "maven_fuzzy_factory", "telco_churn"]
)
def test_every_command_runs_clean(name):
    realdata(name)
    for args in [["validate"], *EVERY]:
        result = run(name, *args)
        assert result.exit_code in (0, 65), (name, args, result.stderr)
        assert result.stderr.strip(), (name, args)


def test_crm_sales_opportunities():
    folder = realdata("crm_sales_opportunities")
    raw = pl.read_csv(folder / "sales_pipeline.csv", infer_schema=False)
    won = raw.filter(pl.col("deal_stage") == "Won")
    validate = run("crm_sales_opportunities", "validate")
    assert validate.exit_code == 0
    assert account(validate) == (8800, 8800, 0)
    assert frame(validate).filter(pl.col("rule") == "orphan_product").is_empty()  # GTXPro aliased
    expansion = frame(run("crm_sales_opportunities", "expansion"))
    assert (expansion["new"] + expansion["cross_sell"] + expansion["upsell"]).sum() == pytest.approx(
        won["close_value"].cast(pl.Float64).sum()
    )  # 10 005 534
    pairs = frame(run("crm_sales_opportunities", "attach", "--level", "product", "--all"))
    gtk = pairs.filter((pl.col("base_family") == "GTX Basic") & (pl.col("target_family") == "GTK 500")).row(
        0, named=True
    )
    assert (gtk["base_accounts"], gtk["both_accounts"]) == (85, 12)  # SOURCE.md: 12/85 = 0.141
    timing = frame(run("crm_sales_opportunities", "timing", "--level", "product")).row(0, named=True)
    assert (timing["median_days"], timing["p25_days"], timing["p75_days"]) == (5, 2, 11)  # SOURCE.md
    flags = frame(run("crm_sales_opportunities", "flags"))
    assert flags.filter(pl.col("flag") == "pass_through").is_empty()  # no deep discounts here
    retention = run("crm_sales_opportunities", "retention")
    assert retention.exit_code == 0 and "end dates" in retention.stderr


def test_aws_saas_sales():
    folder = realdata("aws_saas_sales")
    raw = pl.read_csv(folder / "SaaS-Sales.csv", infer_schema=False)
    validate = run("aws_saas_sales", "validate")
    assert account(validate) == (9994, 9994, 0)
    expansion = frame(run("aws_saas_sales", "expansion"))
    total = (expansion["new"] + expansion["cross_sell"] + expansion["upsell"]).sum()
    assert total == pytest.approx(raw["Sales"].cast(pl.Float64).sum())  # 2 297 200.86
    timing = frame(run("aws_saas_sales", "timing", "--level", "product")).row(0, named=True)
    assert (timing["accounts_landed"], timing["accounts_cross_sold"]) == (99, 99)
    assert (timing["median_days"], timing["p75_days"]) == (52, 96)  # SOURCE.md (p25 is 20.5 with linear)
    summary = frame(run("aws_saas_sales", "summary"))
    assert summary.filter(pl.col("kpi") == "multi_product_rate")["value"][0] == 1.0  # every customer
    pairs = frame(run("aws_saas_sales", "attach", "--level", "product", "--all"))
    alchemy = pairs.filter(pl.col("target_family") == "Alchemy")["target_accounts"].unique().to_list()
    assert alchemy == [raw.filter(pl.col("Product") == "Alchemy")["Customer ID"].n_unique()]  # 49
    assert frame(run("aws_saas_sales", "flags", "--flag", "pass_through")).is_empty()
    deep = frame(run("aws_saas_sales", "flags", "--flag", "pass_through", "--pass-through-discount", "0.7"))
    assert deep.height > 0 and (deep["discount"] >= 0.7).all()  # SOURCE.md: at 0.7 many fire


def test_ravenstack_arr_mode():
    folder = realdata("ravenstack")
    validate = run("ravenstack", "validate")
    assert account(validate) == (5000, 5000, 0)
    movements = frame(run("ravenstack", "expansion"))
    moved = (
        movements.select(pl.sum_horizontal("new", "reactivation", "cross_sell", "upsell", "contraction", "churn"))
        .to_series()
        .sum()
    )
    subs = pl.read_csv(folder / "ravenstack_subscriptions.csv", infer_schema=False)
    active = subs.filter(pl.col("end_date").is_null() | (pl.col("end_date") > "2024-12-31"))
    assert moved == pytest.approx(active["arr_amount"].cast(pl.Float64).sum())  # SOURCE.md: 121 915 296
    assert movements["cross_sell"].sum() == 0  # Basic / Pro / Enterprise are tiers of one family
    by_product = frame(run("ravenstack", "expansion", "--level", "product"))
    assert by_product["cross_sell"].sum() > 0  # a tier move is a cross-sell only at product level
    retention = frame(run("ravenstack", "retention", "--level", "product"))
    assert retention["products_owned"].to_list() == ["1", "2", "3+", "all"]
    assert retention.filter(pl.col("products_owned") == "all")["accounts"][0] > 0


def test_maven_fuzzy_factory_land_bundles_are_not_cross_sells():
    realdata("maven_fuzzy_factory")
    validate = run("maven_fuzzy_factory", "validate")
    assert account(validate) == (40025, 40025, 0)
    summary = frame(run("maven_fuzzy_factory", "summary"))
    assert summary.filter(pl.col("kpi") == "multi_product_rate")["value"][0] == pytest.approx(0.245, abs=5e-4)
    timing = frame(run("maven_fuzzy_factory", "timing")).row(0, named=True)
    assert timing["accounts_landed"] == 31696
    assert timing["accounts_cross_sold"] == 326  # SOURCE.md: a new product on a later order
    assert frame(run("maven_fuzzy_factory", "flags", "--flag", "forced_bundle")).is_empty()


def test_online_retail_exclusions_and_rejections_add_up():
    folder = realdata("online_retail")
    raw = pl.read_csv(folder / "online_retail_2010-12_2011-12.csv", infer_schema=False)
    non_products = ["POST", "DOT", "C2", "M", "m", "D", "S", "B", "CRUK", "PADS", "AMAZONFEE", "BANK CHARGES"]
    excluded = (
        pl.col("InvoiceNo").str.starts_with("C")
        | pl.col("StockCode").is_in(non_products)
        | pl.col("StockCode").str.contains("^(DCGS|gift_0001)")
        | pl.col("Quantity").str.starts_with("-")
    )
    kept = raw.filter(~excluded)
    used = kept.filter(pl.col("CustomerID").is_not_null())
    validate = run("online_retail", "validate")
    assert validate.exit_code == 65  # a quarter of the rows have no customer: rejected, with the reason
    assert account(validate) == (raw.height, used.height, kept.height - used.height)
    assert f"{raw.filter(excluded).height:,} excluded by the config" in validate.stderr
    pairs = run("online_retail", "attach", "--base", "85123A")
    head = pairs.stdout.splitlines()
    assert head[0].startswith("base_family,target_family")
    customers = used.select(pl.col("CustomerID").str.replace(r"\.0$", "")).n_unique()
    summary = frame(run("online_retail", "summary")).row(1, named=True)
    assert summary["kpi"] == "multi_product_rate"
    assert f"{customers:,}" in frame(run("online_retail", "summary")).row(0, named=True)["detail"]


def test_telco_wide_export():
    folder = realdata("telco_churn")
    raw = pl.read_csv(folder / "Telco-Customer-Churn.csv", infer_schema=False)
    validate = run("telco_churn", "validate")
    assert account(validate) == (7043, 7043, 0)
    pairs = frame(run("telco_churn", "attach", "--all"))

    def rate(a: str, b: str) -> float:
        return pairs.filter((pl.col("base_family") == a) & (pl.col("target_family") == b))["attach_rate"][0]

    internet = raw.filter(pl.col("InternetService") != "No")
    assert rate("Internet", "Online Security") == pytest.approx(
        internet.filter(pl.col("OnlineSecurity") == "Yes").height / internet.height
    )  # SOURCE.md: 2 019 / 5 517 = 0.366
    assert rate("Internet", "Streaming TV") == pytest.approx(0.491, abs=5e-4)
    summary = frame(run("telco_churn", "summary"))
    assert summary.filter(pl.col("kpi") == "multi_product_rate")["value"][0] == pytest.approx(0.821, abs=5e-4)
    for command in ("expansion", "timing", "retention", "flags"):
        result = run("telco_churn", command)
        assert result.exit_code == 0 and "needs dates" in result.stderr


# ----------------------------------------------------------------------------- issue 13: honest numbers


def test_aws_cohort_km_median_is_the_exact_half():
    realdata("aws_saas_sales")
    cohorts = frame(run("aws_saas_sales", "timing", "--by", "cohort"))
    q2 = cohorts.filter(pl.col("cohort") == "2020-Q2").row(0, named=True)
    # Every one of the 22 was cross-sold: S(t) = (accounts still waiting after t) / 22, and the
    # 11th first cross-sell comes on day 56 (the 12th on day 65: median among them 60.5).
    assert (q2["accounts_landed"], q2["accounts_cross_sold"], q2["median_days"]) == (22, 22, 60.5)
    assert q2["km_median_days"] == 56  # was 65: the float product left S(56) at 0.5000000000000001


def test_no_within_share_beyond_follow_up_and_no_churn_rate_without_end_dates():
    realdata("online_retail")
    cohorts = frame(run("online_retail", "timing", "--by", "cohort"))
    # T = 2011-12-09: the 2011-Q4 cohort was watched at most 69 days, 2011-Q3 at most 161
    late = {r["cohort"]: r for r in cohorts.iter_rows(named=True)}
    assert [late["2011-Q4"][f"within_{n}d"] for n in (90, 180, 365)] == [None, None, None]  # 365d was 34.7%
    assert late["2011-Q3"]["within_90d"] is not None and late["2011-Q3"]["within_180d"] is None
    assert late["2010-Q4"]["within_365d"] is not None
    assert cohorts["premature_early_churn_rate"].is_null().all() and cohorts["other_early_churn_rate"].is_null().all()
    realdata("maven_fuzzy_factory")
    maven = frame(run("maven_fuzzy_factory", "timing", "--by", "cohort"))
    last = maven.filter(pl.col("cohort") == "2015-Q1").row(0, named=True)  # T = 2015-03-19
    assert [last[f"within_{n}d"] for n in (90, 180, 365)] == [None, None, None]
    realdata("aws_saas_sales")
    aws = frame(run("aws_saas_sales", "timing")).row(0, named=True)
    assert (aws["premature_early_churn_rate"], aws["other_early_churn_rate"]) == (None, None)  # were 0.0
    assert aws["within_365d"] == 1.0  # all 99 cross-sold (the last on day ~300): known, not empty


DATED = ["aws_saas_sales", "crm_sales_opportunities", "maven_fuzzy_factory", "online_retail", "ravenstack"]


@pytest.mark.parametrize("name", DATED)
def test_flags_stay_rare_and_premature_is_book_level_where_the_book_is_fast(name):
    realdata(name)
    flags = frame(run(name, "flags"))
    assert flags.height <= 300, flags.group_by("flag").len()
    premature = flags.filter(pl.col("flag") == "premature") if flags.height else flags
    timing = frame(run(name, "timing")).row(0, named=True)
    if name == "ravenstack":  # one family: nothing is cross-sold
        assert flags.is_empty() and timing["accounts_cross_sold"] == 0
        return
    # every one of these books cross-sells within 90 days at the median: one book-level row
    assert timing["median_days"] < 90
    assert premature.height == 1 and premature["line_id"][0] is None
    assert f"median time to cross-sell is {timing['median_days']:g} days" in premature["detail"][0]
    assert flags.filter(pl.col("flag") == "rep_concentration").is_empty()


def test_flag_counts_on_online_retail_maven_and_crm():
    realdata("online_retail")
    detail = frame(run("online_retail", "flags"))["detail"].to_list()
    assert (
        len(detail) == 1 and "52,283 of 168,204 cross-sell lines came within 90 days" in detail[0]
    )  # were 52 283 rows
    realdata("maven_fuzzy_factory")
    detail = frame(run("maven_fuzzy_factory", "flags"))["detail"].to_list()
    assert len(detail) == 1 and "365 of 373 cross-sell lines" in detail[0]  # were 365 rows
    realdata("crm_sales_opportunities")
    reps = frame(run("crm_sales_opportunities", "flags", "--by", "rep"))
    assert reps.height > 20 and (reps["flagged"] == 0).all()  # 24 reps were at 100% flagged


def test_ravenstack_arr_bridge_and_one_denominator_for_every_period():
    realdata("ravenstack")
    moves = ["new", "reactivation", "cross_sell", "upsell", "contraction", "churn", "cross_sell_pass_through"]
    notes = set()
    for period in ("month", "quarter", "year"):
        rows = frame(run("ravenstack", "expansion", "--period", period))
        bridge = rows.select(pl.col("opening_arr") + pl.sum_horizontal(moves) - pl.col("closing_arr")).to_series()
        assert bridge.abs().max() < 1e-6
        assert rows["closing_arr"][-1] == 121_915_296  # SOURCE.md: ARR active at T
        assert rows["opening_arr"][1:].to_list() == rows["closing_arr"][:-1].to_list()
        table = invoke(
            [
                "expansion",
                "--period",
                period,
                "--config",
                str(EXAMPLES / "ravenstack" / "xsell.yaml"),
                "--format",
                "table",
            ],
            env={"XSELL_CONFIG": ""},
        ).stdout
        notes.add(next(line for line in table.splitlines() if line.startswith("cross-sell is")))
    # was 125.2 M by quarter, 122.0 M by year, 128.4 M by month
    assert notes == {
        "cross-sell is 0.0% of ARR added (0 of 135,248,832 added by new, reactivation, cross-sell, upsell and "
        "pass-through cross-sell movements, counted day by day: the same for every --period)"
    }
    segment = invoke(
        ["expansion", "--by", "segment", "--config", str(EXAMPLES / "ravenstack" / "xsell.yaml"), "--format", "table"],
        env={"XSELL_CONFIG": ""},
    ).stdout
    assert "no account has a segment" in segment


def test_summary_status_says_where_the_saas_ranges_do_not_apply():
    statuses = {}
    for name in ("aws_saas_sales", "crm_sales_opportunities", "maven_fuzzy_factory", "online_retail", "ravenstack"):
        realdata(name)
        summary = frame(run(name, "summary"))
        statuses[name] = set(summary.filter(pl.col("value").is_not_null())["status"])
    # Online Retail runs at product level (its config): its 37.6% revenue share was "within"
    assert statuses["online_retail"] == {"n/a at product level"}
    # no end dates, and the same family bought again every 8 (crm) to 80 (aws) days at the median
    for name in ("aws_saas_sales", "crm_sales_opportunities", "maven_fuzzy_factory"):
        assert statuses[name] == {"n/a: not a subscription book"}, name
    # subscriptions with end dates, but its config folds the tiers into one family: none can be a cross-sell
    assert statuses["ravenstack"] == {"n/a: one family in the book"}
    telco = frame(run("telco_churn", "summary"))
    assert telco.filter(pl.col("kpi") == "multi_product_rate")["status"][0] == "above"  # no dates: judged as before


def test_online_retail_exact_duplicate_rows_are_warned_and_used():
    # Issue 13 item 5: 5 187 used rows repeat an earlier used row cell for cell. Computed here
    # from the raw file: the rows the config keeps and that have a customer, every column compared.
    folder = realdata("online_retail")
    raw = pl.read_csv(folder / "online_retail_2010-12_2011-12.csv", infer_schema=False).with_row_index("row", 1)
    non_products = ["POST", "DOT", "C2", "M", "m", "D", "S", "B", "CRUK", "PADS", "AMAZONFEE", "BANK CHARGES"]
    excluded = (
        pl.col("InvoiceNo").str.starts_with("C")
        | pl.col("StockCode").is_in(non_products)
        | pl.col("StockCode").str.contains("^(DCGS|gift_0001)")
        | pl.col("Quantity").str.starts_with("-")
    )
    used = raw.filter(~excluded & pl.col("CustomerID").is_not_null())
    cells = [c for c in raw.columns if c != "row"]
    copies = used.filter(~pl.struct(cells).is_first_distinct())
    assert copies.height == 5187
    validate = run("online_retail", "validate")
    listed = frame(validate).filter(pl.col("rule") == "duplicate_row")
    assert listed.height == copies.height
    assert sorted(listed["row"].to_list()) == copies["row"].to_list()
    assert (
        "warning: exact duplicate rows: 5,187 used line_items rows repeat an earlier row cell for cell "
        "(e.g. row 518 = row 495); they are used as they are" in validate.stderr
    )
    assert account(validate)[1] == used.height  # still used: nothing dropped silently
    assert "overlapping" not in validate.stderr  # no end dates: a repeat order is not an overlap


def test_ravenstack_overlapping_subscriptions_are_warned():
    # Issue 13 item 5: on T = 2024-12-31, 1 204 of the 1 414 account × product pairs with an
    # active subscription hold 2 or more at once, up to 11 (A-5a92e7, Pro). Computed here from
    # the raw file with a pairwise self-join (xsell uses a sweep).
    folder = realdata("ravenstack")
    subs = (
        pl.read_csv(folder / "ravenstack_subscriptions.csv", infer_schema=False)
        .with_row_index("row", 1)
        .with_columns(pl.col("start_date").str.to_date(), pl.col("end_date").str.to_date(strict=False))
        .filter(pl.col("end_date").is_null() | (pl.col("end_date") > pl.col("start_date")))
    )
    t = pl.date(2024, 12, 31)
    held = (
        subs.filter((pl.col("start_date") <= t) & (pl.col("end_date").is_null() | (pl.col("end_date") > t)))
        .group_by("account_id", "plan_tier")
        .len()
    )
    assert (held.height, held.filter(pl.col("len") >= 2).height, held["len"].max()) == (1414, 1204, 11)
    pairs = subs.join(subs, on=["account_id", "plan_tier"], suffix="_m").filter(
        (pl.col("row_m") != pl.col("row"))
        & (pl.col("start_date_m") <= pl.col("start_date"))
        & (pl.col("end_date_m").is_null() | (pl.col("end_date_m") > pl.col("start_date")))
        & ((pl.col("start_date_m") < pl.col("start_date")) | (pl.col("row_m") < pl.col("row")))
    )
    starting_over = pairs.group_by("row").agg((pl.len() + 1).alias("held")).sort("row")
    assert starting_over.height == 3509
    validate = run("ravenstack", "validate")
    assert validate.exit_code == 0
    listed = frame(validate).filter(pl.col("rule") == "overlapping_lines").sort("row")
    assert listed["row"].to_list() == starting_over["row"].to_list()
    assert listed["value"].to_list() == starting_over["held"].to_list()
    assert (
        "warning: overlapping subscriptions: 3,509 won lines start while another line of the same product is "
        "active for the account (rule overlapping_lines lists them); on 2024-12-31, 1,204 of the 1,414 "
        "account × product pairs with an active line hold 2 or more at once (up to 11: account A-5a92e7, "
        "product Pro)"
    ) in validate.stderr
    assert "duplicate rows" not in validate.stderr


@pytest.mark.parametrize("name", ["crm_sales_opportunities", "aws_saas_sales", "maven_fuzzy_factory", "telco_churn"])
def test_no_repeat_warnings_where_the_export_has_none(name):
    realdata(name)
    validate = run(name, "validate")
    assert "duplicate rows" not in validate.stderr and "overlapping" not in validate.stderr
    listed = frame(validate)
    if listed.height:
        assert listed.filter(pl.col("rule").is_in(["duplicate_row", "overlapping_lines"])).is_empty()


def test_online_retail_whitespace_by_family_is_exact_and_repeatable():
    """Every sellable product a customer lacks is counted, never a pruned subset: 22423 (REGENCY
    CAKESTAND 3 TIER) has 4 335 customers − 881 owners = 3 454 non-owners, from the raw file by
    hand; and a second run (over the cached fit) gives the same bytes."""
    folder = realdata("online_retail")
    raw = pl.read_csv(folder / "online_retail_2010-12_2011-12.csv", infer_schema=False)
    kept = raw.filter(
        pl.col("CustomerID").is_not_null()
        & ~pl.col("InvoiceNo").str.starts_with("C")
        & ~pl.col("Quantity").str.starts_with("-")
    )
    customers = kept.filter(~pl.col("StockCode").is_in(["POST", "DOT", "C2", "M", "m", "D", "S", "B", "CRUK"]))
    customers = customers.filter(~pl.col("StockCode").is_in(["PADS", "AMAZONFEE", "BANK CHARGES"]))
    customers = customers.filter(~pl.col("StockCode").str.contains("^(DCGS|gift_0001)"))
    everyone = customers["CustomerID"].n_unique()
    owners = customers.filter(pl.col("StockCode") == "22423")["CustomerID"].n_unique()
    assert (everyone, owners) == (4335, 881)
    first = run("online_retail", "whitespace", "--by", "family")
    again = run("online_retail", "whitespace", "--by", "family")
    assert first.exit_code == 0, first.stderr
    assert again.stdout == first.stdout
    rows = frame(first)
    assert rows.filter(pl.col("family") == "22423")["non_owners"].to_list() == [3454]
    assert rows.height == rows["family"].n_unique()


def test_an_as_of_date_on_a_book_without_dates_is_said_not_to_apply():
    # The wide export's lines carry a placeholder day (1970-01-01): --as-of 1960-01-01 cut every
    # line ("before the first won line in the data (1970-01-01)", and "-22,159 used, 29,202
    # after the as-of date"), and --as-of 2000-01-01 was "after the last closed line (1970-01-01)".
    realdata("telco_churn")
    plain = run("telco_churn", "attach")
    for day in ("1960-01-01", "2000-01-01"):
        result = run("telco_churn", "attach", "--as-of", day)
        assert (result.exit_code, result.stdout) == (0, plain.stdout)
        assert result.stderr == (
            f"warning: --as-of {day} does not apply: the book has no dates (ownership as exported)\n"
            "7,043 line items: 7,043 used, 0 rejected\n"
        )
