"""Every public dataset in ../shared/realdata, run with its example config: validate and every
metric, checked against facts computed independently (here with plain Polars on the raw file,
or taken from the dataset's SOURCE.md)."""

from __future__ import annotations

import re

import polars as pl
import pytest

from .conftest import REPO, invoke, realdata

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
    """(rows, used, rejected) of line_items from the one-line account on stderr."""
    match = re.search(r"line_items: ([\d ]+) rows, ([\d ]+) used, ([\d ]+) rejected", result.stderr)
    assert match, result.stderr
    rows, used, rejected = (int(g.replace(" ", "")) for g in match.groups())
    return rows, used, rejected


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
    assert f"{raw.filter(excluded).height:,}".replace(",", " ") + " excluded by the config" in validate.stderr
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
