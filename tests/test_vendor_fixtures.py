"""Real-world vendor exports (tests/fixtures/vendors/*): each folder loads with its built-in
profile alone and gives the numbers hand-computed in its EXPECTED.md.

Every expected number below is copied from the folder's EXPECTED.md (the comment names the
section). Where EXPECTED.md leaves a decision open or settles it differently from the README,
the README wins and the comment says so. Where xsell is wrong, the test states what it
should do and is marked ``xfail(strict=True, reason="BUG: ...")``.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from crossell_cli.commands.session import open_session

from .conftest import Invocation
from .helpers import SHORT_ACCOUNT, session_load, table_accounts
from .helpers import as_of as model_as_of

VENDORS = Path(__file__).resolve().parent / "fixtures" / "vendors"

SF_DL = VENDORS / "salesforce_dataloader"
SF_REPORT = VENDORS / "salesforce_report"
SF_CPQ = VENDORS / "salesforce_cpq"
HS_DEALS = VENDORS / "hubspot_deals"
HS_LINES = VENDORS / "hubspot_line_items"
ST_SUBS = VENDORS / "stripe_subscriptions"
ST_ITEMS = VENDORS / "stripe_subscription_items"
HS_INTERNAL = VENDORS / "hubspot_line_items_internal"
HS_INTERNAL_NOCALC = HS_INTERNAL / "without_calculated"
SF_OBJECTS = VENDORS / "salesforce_objects"

HS_DEALS_FILE = "hubspot-crm-exports-all-deals-2024-07-01.csv"
HS_COMPANIES_FILE = "hubspot-crm-exports-all-companies-2024-07-01.csv"
HS_LINE_ITEMS_FILE = "hubspot-crm-exports-line-items-2024-07-01.csv"
HS_PRODUCTS_FILE = "hubspot-crm-exports-products-2024-07-01.csv"

# The inputs of each variant, as the profile alone reads them (no columns: mapping).
VARIANTS: dict[str, dict[str, Any]] = {
    "salesforce_dataloader": {
        "profile": "salesforce",
        "line_items": SF_DL / "extract_OpportunityLineItem.csv",
        "accounts": SF_DL / "extract_Account.csv",
        "products": SF_DL / "extract_Product2.csv",
    },
    "salesforce_report": {
        "profile": "salesforce",
        "line_items": SF_REPORT / "report_opportunity_products.csv",
        "accounts": SF_REPORT / "report_accounts.csv",
        "products": SF_REPORT / "report_products.csv",
    },
    # The formatted report has no ID columns: the profile keys accounts on "Account Name" and
    # products on "Product Name", and takes families from its "Product Family" column, so it is
    # read without the products file (which is keyed on Product Code).
    "salesforce_report_xlsx": {
        "profile": "salesforce",
        "line_items": SF_REPORT / "report_opportunity_products_formatted.xlsx",
    },
    "salesforce_cpq": {
        "profile": "salesforce",
        "line_items": SF_CPQ / "extract_SBQQ__Subscription__c.csv",
        "accounts": SF_CPQ / "extract_Account.csv",
        "products": SF_CPQ / "extract_Product2.csv",
    },
    "hubspot_deals": {
        "profile": "hubspot",
        "line_items": HS_DEALS / HS_DEALS_FILE,
        "accounts": HS_DEALS / HS_COMPANIES_FILE,
    },
    # HubSpot line items carry no company and no close date: the format makes the profile alone
    # impossible. This is the analyst's own join (shipped in the fixture); the profile's automatic
    # deals lookup and a config lookup: are tested further down.
    "hubspot_line_items": {
        "profile": "hubspot",
        "line_items": HS_LINES / "line_items_joined_with_deals.csv",
        "accounts": HS_LINES / HS_COMPANIES_FILE,
        "products": HS_LINES / HS_PRODUCTS_FILE,
    },
    # Issue 13: exports the profiles alone must join (line items -> deals / opportunities).
    "hubspot_line_items_internal": {"profile": "hubspot", "data": HS_INTERNAL},
    "hubspot_line_items_internal_without_calculated": {"profile": "hubspot", "data": HS_INTERNAL_NOCALC},
    "salesforce_objects": {"profile": "salesforce", "data": SF_OBJECTS},
    "stripe_subscriptions": {
        "profile": "stripe",
        "line_items": ST_SUBS / "subscriptions.csv",
        "accounts": ST_SUBS / "customers.csv",
        "products": ST_SUBS / "products.csv",
    },
    "stripe_subscription_items": {
        "profile": "stripe",
        "line_items": ST_ITEMS / "subscription_items.csv",
        "accounts": ST_ITEMS / "customers.csv",
        "products": ST_ITEMS / "products.csv",
    },
}


# ---------------------------------------------------------------------------------------------
# helpers


def args_of(inputs: Mapping[str, Any]) -> list[str]:
    out = ["--profile", inputs["profile"]]
    if inputs.get("data") is not None:
        out += ["--data", str(inputs["data"])]
    for table in ("line_items", "accounts", "products"):
        if inputs.get(table) is not None:
            out += [f"--{table.replace('_', '-')}", str(inputs[table])]
    return out


def frame(result: Invocation) -> pl.DataFrame:
    assert result.exit_code == 0, result.stderr
    return pl.read_csv(result.stdout.encode(), infer_schema_length=0) if result.stdout.strip() else pl.DataFrame()


def issues(result: Invocation) -> pl.DataFrame:
    """validate's rows (rejections and warnings), whatever its exit code."""
    return pl.read_csv(result.stdout.encode(), infer_schema_length=0)


def row_where(table: pl.DataFrame, **match: str) -> dict[str, Any]:
    rows = table.filter(pl.all_horizontal([pl.col(k) == v for k, v in match.items()])).to_dicts()
    assert len(rows) == 1, (match, table)
    return rows[0]


def f(value: Any) -> float:
    return float(value)


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def sf15(salesforce_id: str) -> str:
    """The 15-character form: 15- and 18-character IDs of one record are the same ID, whichever
    form xsell keeps."""
    return salesforce_id[:15]


def counts(stderr: str, table: str) -> tuple[int, int, int]:
    """(rows, used, rejected) of one table from validate's account of it on stderr; "used"
    counts the open rows too, as EXPECTED.md does (rows no rule rejected)."""
    account = table_accounts(stderr).get(table)
    assert account, stderr
    return account.rows, account.kept, account.rejected


def dropped(stderr: str, table: str) -> int:
    """All blank / footer / debris lines validate's account says were dropped for one table."""
    segment = next(s for s in stderr.splitlines() if s.startswith(f"{table}:"))
    inside = re.search(r"\(([^)]*) lines dropped\)", segment)
    return sum(int(n) for n in re.findall(r"(\d+) [a-z-]+", inside.group(1))) if inside else 0


@pytest.fixture
def lib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """lib(inputs, config=None, **cli) -> (book, report, model); no stray xsell.yaml is picked up."""
    monkeypatch.delenv("XSELL_CONFIG", raising=False)

    def run(inputs: Mapping[str, Any], config: Path | None = None, **cli: Any) -> Any:
        session = open_session({**inputs, **cli}, config=config, cwd=tmp_path)
        book, report = session_load(session)
        return book, report, session.model()

    return run


def amounts(book: Any, key: Callable[[str], str] = str) -> dict[str, float]:
    lines = book.line_items
    return {key(i): a for i, a in zip(lines["line_id"], lines["amount"], strict=True)}


def column(book: Any, name: str, key: Callable[[str], str] = str) -> dict[str, Any]:
    lines = book.line_items
    return {key(i): v for i, v in zip(lines["line_id"], lines[name], strict=True)}


def kinds(model: Any, key: Callable[[str], str] = str) -> dict[str, str]:
    """line_id -> new / cross_sell / upsell for every won line booked on or before T."""
    classified = model.classified.collect()
    return {key(i): k for i, k in zip(classified["line_id"], classified["kind"], strict=True)}


def land_dates(model: Any) -> dict[str, dt.date]:
    land = model.land.collect()
    return dict(zip(land["account_id"], land["land_date"], strict=True))


def days_to_first_cross_sell(model: Any) -> dict[str, int]:
    classified = model.classified.filter(pl.col("kind") == "cross_sell").collect()
    first = classified.group_by("account_id").agg(
        (pl.col("booked_at").min() - pl.col("land_date").first()).dt.total_days().alias("days")
    )
    return dict(zip(first["account_id"], first["days"], strict=True))


def won_lines_per_account(model: Any) -> dict[str, int]:
    won = model.won.group_by("account_id").len().collect()
    return dict(zip(won["account_id"], won["len"], strict=True))


def arr_at(model: Any, when: dt.date | None = None) -> dict[str, float]:
    """Σ amount of active won lines per account at ``when`` (default T)."""
    when = when or model_as_of(model)
    active = (
        model.won.filter(
            (pl.col("booked_at") <= when)
            & (pl.col("start_date") <= when)
            & (pl.col("end_date").is_null() | (pl.lit(when) < pl.col("end_date")))
        )
        .group_by("account_id")
        .agg(pl.col("amount").sum())
        .collect()
    )
    return {a: v for a, v in zip(active["account_id"], active["amount"], strict=True) if v}


def stage_counts(book: Any) -> dict[str, int]:
    table = book.line_items.group_by("stage").len()
    return dict(zip(table["stage"], table["len"], strict=True))


def derived_csv(source: Path, target: Path, transform: Callable[[pl.DataFrame], pl.DataFrame]) -> Path:
    """A variant of a fixture file (text cells kept as they are) written under tmp_path."""
    table = pl.read_csv(source, infer_schema_length=0)
    transform(table).write_csv(target)
    return target


# ---------------------------------------------------------------------------------------------
# every variant: loads with the profile alone, every command answers


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_command_runs_on_every_vendor_export_with_the_profile_alone(cli, variant):
    base = args_of(VARIANTS[variant])
    for command in (["attach", "--all"], ["summary"], ["whitespace"], ["expansion"], ["timing"], ["flags"]):
        result = cli(*command, *base, "--format", "csv")
        assert result.exit_code == 0, (command, result.stderr)
        assert "Traceback" not in result.output
        assert SHORT_ACCOUNT.match(result.stderr.strip().splitlines()[-1]), result.stderr


# ---------------------------------------------------------------------------------------------
# salesforce_dataloader

# EXPECTED.md "Lines": ARR (= TotalPrice), by the 15-character form of the line Id.
DL_ARR = {
    "00k8c00000Rt1Aa": 54000.0,  # L1
    "00k8c00000Rt1Ab": 30000.0,  # L2
    "00k8c00000Sx4Kq": 36000.0,  # L3
    "00k8c00000Rv2Fe": 48000.0,  # L4
    "00k8c00000Uy8Nb": 10200.0,  # L5
    "00k8c00000Vb3Pm": 12000.0,  # L6
    "00k8c00000Rz6Wd": 36000.0,  # L7
    "00k8c00000Tq9Hs": 24300.0,  # L8 (lost)
    "00k8c00000Sa1Jc": 11400.0,  # L9
    "00k8c00000Sa1Jd": 8550.0,  # L10
    "00k8c00000Vd7Ty": 6000.0,  # L11 (open)
    "00k8c00000Sm5Rg": 216000.0,  # L12
    "00k8c00000Uz2Ak": 3000.0,  # L13
    "00k8c00000Uz2Al": 90000.0,  # L14
    "00k8c00000Vh6Cn": 9600.0,  # L15
    "00k8c00000Vk9Xe": 4800.0,  # L16 (open)
}
ACME_SF, BOREALIS_SF, COBALT_SF = "0018c00002Kq7vAAAR", "0018c00002Kq7wZAAR", "0018c00002LmR3xAAF"
DUNMORE_SF, EVERGREEN_SF, FLUVIALE_SF = "0018c00002LmR9QAAV", "0018c00002NpX1bAAF", "0018c00002QzH4kAAF"


def test_dataloader_rows_used_and_rejected(cli):
    # EXPECTED.md "Row accounting": 16 rows, 16 used, 0 rejected; accounts 6; products 5; no orphans.
    result = cli("validate", *args_of(VARIANTS["salesforce_dataloader"]), "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert frame(result).is_empty()  # no rejection, no warning (no orphans)
    assert counts(result.stderr, "line_items") == (16, 16, 0)
    assert counts(result.stderr, "accounts") == (6, 6, 0)
    assert counts(result.stderr, "products") == (5, 5, 0)
    assert dropped(result.stderr, "line_items") == 0  # no footer, no blank lines


def test_dataloader_arr_per_line_from_java_doubles(lib):
    # EXPECTED.md "Lines": ARR = TotalPrice ("54000.0"); won ARR total 564,750, all USD.
    book, _, _ = lib(VARIANTS["salesforce_dataloader"])
    assert amounts(book, sf15) == DL_ARR
    won = book.line_items.filter(pl.col("stage") == "won")
    assert won["amount"].sum() == 564750.0
    assert set(book.line_items["currency"]) == {"USD"}


def test_dataloader_list_values_and_percent_discounts(lib):
    # EXPECTED.md "Lines": list amount = ListPrice × Quantity; discount = Discount / 100, empty when empty.
    book, _, _ = lib(VARIANTS["salesforce_dataloader"])
    lists, discounts = column(book, "list_amount", sf15), column(book, "discount", sf15)
    assert lists["00k8c00000Rt1Aa"] == 60000.0 and discounts["00k8c00000Rt1Aa"] == pytest.approx(0.10)  # L1
    assert lists["00k8c00000Sx4Kq"] == 45000.0 and discounts["00k8c00000Sx4Kq"] == pytest.approx(0.20)  # L3
    assert discounts["00k8c00000Sa1Jc"] == pytest.approx(0.05)  # L9: "5.0" is 5 %, not 500 %
    assert lists["00k8c00000Uz2Ak"] == 60000.0 and discounts["00k8c00000Uz2Ak"] == pytest.approx(0.95)  # L13
    # L12: priced below list (2,160 < 2,400) without a Discount value: list 240,000, discount empty
    assert lists["00k8c00000Sm5Rg"] == 240000.0 and discounts["00k8c00000Sm5Rg"] is None
    assert column(book, "quantity", sf15)["00k8c00000Sm5Rg"] == 100.0


def test_dataloader_dates_ids_and_no_end_dates(lib):
    # EXPECTED.md "Lines" and "Account IDs (18 ↔ 15)".
    book, _, _ = lib(VARIANTS["salesforce_dataloader"])
    booked = column(book, "booked_at", sf15)
    assert booked["00k8c00000Rt1Aa"] == d("2023-02-15")  # L1
    assert booked["00k8c00000Vk9Xe"] == d("2024-06-14")  # L16
    # ServiceDate is empty: the service starts on the close date; no end dates at all
    assert column(book, "start_date", sf15)["00k8c00000Uy8Nb"] == d("2024-01-10")
    assert book.line_items["end_date"].null_count() == 16
    accounts = column(book, "account_id", sf15)
    assert sf15(accounts["00k8c00000Uz2Ak"]) == sf15(EVERGREEN_SF)
    assert column(book, "contract_id", sf15)["00k8c00000Uz2Ak"][:15] == "0068c00001Ve9Fy"
    # the Data Loader's CreatedDate datetimes (2022-11-03T15:22:41.000Z) are dates
    created = {sf15(a): c for a, c in book.accounts.select("account_id", "created_at").iter_rows()}
    assert created[sf15(ACME_SF)] == d("2022-11-03")


def test_dataloader_stage_is_the_iswon_isclosed_outcome(lib):
    # EXPECTED.md "Row accounting": 13 Closed Won, 1 Closed Lost (L8), 2 open (L11, L16).
    book, _, _ = lib(VARIANTS["salesforce_dataloader"])
    assert stage_counts(book) == {"won": 13, "lost": 1, "open": 2}
    stages = column(book, "stage", sf15)
    assert stages["00k8c00000Tq9Hs"] == "lost"
    assert stages["00k8c00000Vd7Ty"] == stages["00k8c00000Vk9Xe"] == "open"


def test_dataloader_iswon_decides_when_the_org_renamed_its_stages(lib, tmp_path):
    # Salesforce profile notes: StageName values are org-specific; IsWon / IsClosed are the outcome.
    renamed = {"Closed Won": "Contract Signed (EMEA)", "Closed Lost": "Lost to Competitor"}
    path = derived_csv(
        SF_DL / "extract_OpportunityLineItem.csv",
        tmp_path / "extract_OpportunityLineItem.csv",
        lambda t: t.with_columns(pl.col("OPPORTUNITY.STAGENAME").replace(renamed)),
    )
    book, report, _ = lib({**VARIANTS["salesforce_dataloader"], "line_items": path})
    assert report.tables["line_items"].rejected == 0
    assert stage_counts(book) == {"won": 13, "lost": 1, "open": 2}


def test_dataloader_products_inactive_is_unsellable(lib):
    # EXPECTED.md: 5 products, CORE-LEG inactive -> sellable = false; families from Family.
    book, _, _ = lib(VARIANTS["salesforce_dataloader"])
    products = {sf15(p): (fam, s) for p, fam, s in book.products.select("product_id", "family", "sellable").iter_rows()}
    assert products["01t8c00000Bv9Qe"] == ("Core Platform", False)  # CORE-LEG
    assert products["01t8c00000Bv9Qa"] == ("Core Platform", True)  # CORE-STD
    assert products["01t8c00000Bv9Qb"] == ("Core Platform", True)  # CORE-ENT: tiers share a family
    assert products["01t8c00000Bv9Qc"] == ("Analytics", True)
    assert products["01t8c00000Bv9Qd"] == ("Security", True)


def test_dataloader_windows1252_accounts_refused_with_a_hint(cli):
    # EXPECTED.md "Files": not valid UTF-8 -> refused with a hint (never a silent lossy decode).
    inputs = {**VARIANTS["salesforce_dataloader"], "accounts": SF_DL / "extract_Account_windows1252.csv"}
    result = cli("validate", *args_of(inputs), "--format", "csv")
    assert result.exit_code == 65
    assert "extract_Account_windows1252.csv" in result.stderr
    assert "UTF-8" in result.stderr and "--encoding" in result.stderr and "cp1252" in result.stderr


def test_dataloader_windows1252_accounts_read_with_encoding_cp1252(lib):
    # EXPECTED.md "Files": ... or read it with encoding: cp1252 (byte 0xE9 is é).
    inputs = {**VARIANTS["salesforce_dataloader"], "accounts": SF_DL / "extract_Account_windows1252.csv"}
    book, report, _ = lib(inputs, encoding="cp1252")
    assert report.tables["accounts"].used == 6
    assert "Société Fluviale" in book.accounts["account_name"].to_list()


def test_dataloader_won_lines_land_dates_and_line_kinds(lib):
    # EXPECTED.md "Won lines per account, land date, cross-sells".
    _, _, model = lib(VARIANTS["salesforce_dataloader"])
    won = {sf15(a): n for a, n in won_lines_per_account(model).items()}
    assert won == {
        sf15(ACME_SF): 3,
        sf15(BOREALIS_SF): 3,
        sf15(COBALT_SF): 1,
        sf15(DUNMORE_SF): 2,
        sf15(EVERGREEN_SF): 3,
        sf15(FLUVIALE_SF): 1,
    }
    lands = {sf15(a): day for a, day in land_dates(model).items()}
    assert lands == {
        sf15(ACME_SF): d("2023-02-15"),
        sf15(BOREALIS_SF): d("2023-03-31"),
        sf15(COBALT_SF): d("2023-05-12"),
        sf15(DUNMORE_SF): d("2023-06-30"),
        sf15(EVERGREEN_SF): d("2023-08-08"),
        sf15(FLUVIALE_SF): d("2024-05-02"),
    }
    assert kinds(model, sf15) == {
        "00k8c00000Rt1Aa": "new",  # L1 Acme land bundle, with L2 (one opportunity)
        "00k8c00000Rt1Ab": "new",  # L2
        "00k8c00000Sx4Kq": "cross_sell",  # L3 Security, 217 days after land
        "00k8c00000Rv2Fe": "new",  # L4 Borealis land
        "00k8c00000Uy8Nb": "cross_sell",  # L5 Analytics, 285 days
        "00k8c00000Vb3Pm": "upsell",  # L6 +5 Core seats
        "00k8c00000Rz6Wd": "new",  # L7 Cobalt land (L8 lost is not a purchase)
        "00k8c00000Sa1Jc": "new",  # L9 Dunmore land bundle, with L10 (L11 open)
        "00k8c00000Sa1Jd": "new",  # L10
        "00k8c00000Sm5Rg": "new",  # L12 Evergreen land
        "00k8c00000Uz2Ak": "cross_sell",  # L13 Analytics, 203 days
        "00k8c00000Uz2Al": "cross_sell",  # L14 Security, 203 days
        "00k8c00000Vh6Cn": "new",  # L15 Société Fluviale land (L16 open)
    }


def test_dataloader_days_to_first_cross_sell(lib, cli):
    # EXPECTED.md: cross-sells 217 (Acme), 285 (Borealis), 203 (Evergreen) days after land.
    _, _, model = lib(VARIANTS["salesforce_dataloader"])
    days = {sf15(a): n for a, n in days_to_first_cross_sell(model).items()}
    assert days == {sf15(ACME_SF): 217, sf15(BOREALIS_SF): 285, sf15(EVERGREEN_SF): 203}
    timing = row_where(
        frame(cli("timing", *args_of(VARIANTS["salesforce_dataloader"]), "--format", "csv")), group="all"
    )
    assert (int(timing["accounts_landed"]), int(timing["accounts_cross_sold"])) == (6, 3)
    assert f(timing["median_days"]) == 217.0  # median of 203, 217, 285
    assert timing["premature_cross_sells"] == "0"  # L3, L5, L13, L14 are all > 90 days after land


def test_dataloader_as_of_follows_the_readme(lib):
    # EXPECTED.md says T = 2024-06-14 (latest close date, an open line) or 2024-05-02 on won rows
    # ("the result is the same"). README "As-of date": the latest date of a closed line, so open
    # pipeline never moves T -> 2024-05-02.
    _, _, model = lib(VARIANTS["salesforce_dataloader"])
    assert model_as_of(model) == d("2024-05-02")


def test_dataloader_expansion_bookings(cli):
    # EXPECTED.md lines: new = land bundles, cross-sells L3 (2023-Q3), L5 + L14 (2024-Q1), upsell L6.
    # L13 is a pass-through cross-sell: README "flags" moves it to cross_sell_pass_through.
    table = frame(
        cli("expansion", *args_of(VARIANTS["salesforce_dataloader"]), "--mode", "bookings", "--format", "csv")
    )
    q = {r["period"]: r for r in table.to_dicts()}
    assert f(q["2023-Q1"]["new"]) == 132000.0  # L1 + L2 + L4
    assert f(q["2023-Q2"]["new"]) == 55950.0  # L7 + L9 + L10
    assert (f(q["2023-Q3"]["new"]), f(q["2023-Q3"]["cross_sell"])) == (216000.0, 36000.0)  # L12; L3
    assert (f(q["2024-Q1"]["cross_sell"]), f(q["2024-Q1"]["upsell"])) == (100200.0, 12000.0)  # L5 + L14; L6
    assert f(q["2024-Q1"]["cross_sell_pass_through"]) == 3000.0  # L13
    assert f(q["2024-Q2"]["new"]) == 9600.0  # L15
    total = sum(f(r[c]) for r in q.values() for c in ("new", "cross_sell", "upsell", "cross_sell_pass_through"))
    assert total == 564750.0  # won ARR total


def test_dataloader_attach_core_platform_to_analytics(cli):
    # EXPECTED.md "Family attach": base 6, both 3, 0.5, target 0.5, lift 1.0, Wilson [0.1876, 0.8124],
    # co_booked 1, cross_sold_after 2, before 0, cross_sell_attach 0.3333; hidden without --all.
    base = args_of(VARIANTS["salesforce_dataloader"])
    table = frame(cli("attach", *base, "--all", "--format", "csv"))
    pair = row_where(table, base_family="Core Platform", target_family="Analytics")
    assert (int(pair["base_accounts"]), int(pair["both_accounts"])) == (6, 3)
    assert f(pair["attach_rate"]) == 0.5 and f(pair["target_rate"]) == 0.5 and f(pair["lift"]) == 1.0
    assert f(pair["ci_low"]) == pytest.approx(0.1876, abs=1e-4)
    assert f(pair["ci_high"]) == pytest.approx(0.8124, abs=1e-4)
    assert (int(pair["co_booked"]), int(pair["cross_sold_after"]), int(pair["before"])) == (1, 2, 0)
    assert f(pair["cross_sell_attach"]) == pytest.approx(1 / 3)
    hidden = cli("attach", *base, "--format", "csv")
    assert hidden.exit_code == 0 and "Core Platform,Analytics" not in hidden.stdout  # base 6 < min_base 10


def test_dataloader_attach_analytics_to_security_and_headline(cli):
    # EXPECTED.md: Analytics -> Security base 3, both 2, 0.6667, lift 1.3333; multi-product rate 4/6,
    # mean families per customer 12/6 = 2.0.
    base = args_of(VARIANTS["salesforce_dataloader"])
    pair = row_where(
        frame(cli("attach", *base, "--all", "--format", "csv")), base_family="Analytics", target_family="Security"
    )
    assert (int(pair["base_accounts"]), int(pair["both_accounts"])) == (3, 2)
    assert f(pair["attach_rate"]) == pytest.approx(2 / 3) and f(pair["lift"]) == pytest.approx(4 / 3)
    kpi = row_where(frame(cli("summary", *base, "--format", "csv")), kpi="multi_product_rate")
    assert f(kpi["value"]) == pytest.approx(4 / 6)
    assert "2.00 families per customer" in kpi["detail"]


def test_dataloader_pass_through_flag(cli):
    # EXPECTED.md "Flags worth expecting": L13 pass_through (high), 0.05 of its 60,000 list on the same
    # opportunity as L14; nothing is premature.
    table = frame(cli("flags", *args_of(VARIANTS["salesforce_dataloader"]), "--format", "csv"))
    assert table["flag"].to_list() == ["pass_through"]
    flag = table.row(0, named=True)
    assert sf15(flag["line_id"]) == "00k8c00000Uz2Ak" and flag["severity"] == "high"
    assert (f(flag["amount"]), f(flag["list_amount"])) == (3000.0, 60000.0)


# ---------------------------------------------------------------------------------------------
# salesforce_report (Details Only CSV and the formatted .xlsx)

# EXPECTED.md table: ARR per data row (no line id column: line_id = data row number).
# L1..L16 in file order (Total Price 54,000.00 ... 4,800.00)
_REPORT_TOTALS = (54000, 30000, 36000, 48000, 10200, 12000, 36000, 24300, 11400, 8550, 6000, 216000, 3000, 90000)
REPORT_ARR = {str(row): float(arr) for row, arr in enumerate((*_REPORT_TOTALS, 9600, 4800), start=1)}


def test_report_rows_used_and_footers_dropped_and_counted(cli):
    # EXPECTED.md "Row accounting": 16 used, 0 rejected, 5 footer lines dropped and counted
    # (2 blank, Grand Totals, Confidential, Copyright); accounts 6 and products 5, each with 5.
    result = cli("validate", *args_of(VARIANTS["salesforce_report"]), "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert frame(result).is_empty()
    assert counts(result.stderr, "line_items") == (16, 16, 0)
    assert counts(result.stderr, "accounts") == (6, 6, 0)
    assert counts(result.stderr, "products") == (5, 5, 0)
    for table in ("line_items", "accounts", "products"):
        assert dropped(result.stderr, table) == 5, table
    assert "2 blank and 3 report-footer lines dropped" in result.stderr


def test_report_footer_never_becomes_a_data_row(lib):
    # EXPECTED.md: a footer line must never become a data row.
    book, _, _ = lib(VARIANTS["salesforce_report"])
    names = book.accounts["account_name"].to_list()
    assert len(names) == 6 and not any("Confidential" in n or "Copyright" in n or "Grand" in n for n in names)
    assert sorted(book.products["product_id"]) == ["ANLY-PRO", "CORE-ENT", "CORE-LEG", "CORE-STD", "SEC-STE"]
    assert book.line_items.height == 16


def test_report_values_us_dates_grouped_money_percent_discounts(lib):
    # EXPECTED.md "CSV format choices": 2/15/2023, 54,000.00, 10.00 %, 50.00, Active 1/0.
    book, _, _ = lib(VARIANTS["salesforce_report"])
    assert amounts(book) == REPORT_ARR
    assert column(book, "booked_at")["1"] == d("2023-02-15")
    assert column(book, "booked_at")["6"] == d("2024-03-05")  # 3/5/2024: month first
    assert column(book, "discount")["1"] == pytest.approx(0.10)
    assert column(book, "discount")["13"] == pytest.approx(0.95)
    assert column(book, "discount")["2"] is None
    assert column(book, "list_amount")["12"] == 240000.0  # 2,400.00 × 100.00
    assert column(book, "quantity")["1"] == 50.0
    assert set(book.line_items["currency"]) == {"USD"}  # "Total Price Currency"
    sellable = dict(book.products.select("product_id", "sellable").iter_rows())
    assert sellable["CORE-LEG"] is False and sellable["CORE-STD"] is True  # Active "0" / "1"


def test_report_15_character_ids_are_the_data_loader_records(lib, cli):
    # EXPECTED.md "Cross-check": 0018c00002NpX1b ≡ 0018c00002NpX1bAAF; same accounts, same lines.
    report_book, _, _ = lib(VARIANTS["salesforce_report"])
    loader_book, _, _ = lib(VARIANTS["salesforce_dataloader"])
    assert set(report_book.accounts["account_id"]) == set(loader_book.accounts["account_id"])

    def lines(book: Any) -> list[tuple[Any, ...]]:
        cols = ["account_id", "booked_at", "amount", "stage", "discount", "list_amount", "quantity"]
        return sorted(book.line_items.select(cols).rows(), key=str)

    assert lines(report_book) == lines(loader_book)
    # mixing the two: report lines (15 chars) against Data Loader accounts (18 chars) -> no orphans
    mixed = {**VARIANTS["salesforce_report"], "accounts": SF_DL / "extract_Account.csv", "products": None}
    result = cli("validate", *args_of(mixed), "--format", "csv")
    assert result.exit_code == 0 and frame(result).is_empty(), result.stdout


def test_report_metrics_equal_the_data_loader_book(lib, cli):
    # EXPECTED.md: land dates, cross-sells (L3, L5, L13, L14), upsell L6, pass_through L13 and attach
    # as in the Data Loader fixture: Core Platform -> Analytics 0.5, lift 1.0, cross_sell_attach 0.3333.
    _, _, model = lib(VARIANTS["salesforce_report"])
    assert kinds(model) == {
        "1": "new",
        "2": "new",
        "3": "cross_sell",
        "4": "new",
        "5": "cross_sell",
        "6": "upsell",
        "7": "new",
        "9": "new",
        "10": "new",
        "12": "new",
        "13": "cross_sell",
        "14": "cross_sell",
        "15": "new",
    }
    base = args_of(VARIANTS["salesforce_report"])
    pair = row_where(
        frame(cli("attach", *base, "--all", "--format", "csv")), base_family="Core Platform", target_family="Analytics"
    )
    assert (int(pair["base_accounts"]), int(pair["both_accounts"]), f(pair["attach_rate"])) == (6, 3, 0.5)
    assert f(pair["lift"]) == 1.0 and f(pair["cross_sell_attach"]) == pytest.approx(1 / 3)
    flags = frame(cli("flags", *base, "--format", "csv"))
    assert flags.select("flag", "line_id").rows() == [("pass_through", "13")]


def test_report_xlsx_loads_with_the_profile_alone(cli):
    # EXPECTED.md "The formatted .xlsx": 16 rows used. It adds that without an account ID column
    # account_id "must be mapped to Account Name (explicit config)"; the salesforce profile already
    # lists "Account Name" as the last account_id candidate ("a report without IDs keys on names"),
    # which SPEC §1 asks of a profile ("zero hand work"), so no config is needed.
    result = cli("validate", *args_of(VARIANTS["salesforce_report_xlsx"]), "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert frame(result).is_empty()
    assert counts(result.stderr, "line_items") == (16, 16, 0)


def test_report_xlsx_values_excel_dates_numbers_and_text_percent(lib):
    # EXPECTED.md "The formatted .xlsx": real Excel dates, money as numbers, Discount as text "10.00%";
    # the Total row (Quantity 601, Total Price 599,850) is not a line.
    book, _, model = lib(VARIANTS["salesforce_report_xlsx"])
    # In a workbook, row numbers (and so default line ids) are sheet row - 1: the header sits on
    # sheet row 10 under the title block, so the CSV report's line "1" is line "10" here.
    by_row = {str(int(k) - 9): v for k, v in amounts(book).items()}
    assert by_row == REPORT_ARR
    assert column(book, "booked_at")["10"] == d("2023-02-15")
    assert column(book, "booked_at")["25"] == d("2024-06-14")
    assert column(book, "discount")["10"] == pytest.approx(0.10)
    assert column(book, "discount")["22"] == pytest.approx(0.95)
    assert book.line_items["quantity"].sum() == 601.0  # = the Total row, which is itself not a line
    assert column(book, "account_id")["21"] == "Evergreen Capital"  # CSV report line "12"
    assert stage_counts(book) == {"won": 13, "lost": 1, "open": 2}
    families = dict(book.products.select("product_id", "family").iter_rows())
    assert families["Core Platform - Enterprise"] == families["Core Platform - Standard"] == "Core Platform"
    assert days_to_first_cross_sell(model) == {"Acme Logistics": 217, "Borealis Health": 285, "Evergreen Capital": 203}


def test_report_xlsx_attach_equals_the_csv(cli):
    # EXPECTED.md: every number must equal the Data Loader fixture's (Core Platform -> Analytics 0.5).
    table = frame(cli("attach", *args_of(VARIANTS["salesforce_report_xlsx"]), "--all", "--format", "csv"))
    pair = row_where(table, base_family="Core Platform", target_family="Analytics")
    assert (int(pair["base_accounts"]), int(pair["both_accounts"]), f(pair["attach_rate"])) == (6, 3, 0.5)
    assert (int(pair["co_booked"]), int(pair["cross_sold_after"])) == (1, 2)


def test_report_xlsx_title_block_is_dropped_and_counted(cli):
    # EXPECTED.md "The formatted .xlsx": the title block, the Total row and the two legal lines are
    # dropped and counted. SPEC §1: blank lines and report debris are dropped *and counted*; nothing
    # is silent. The sheet has 30 rows: 9 title/filter rows (3 blank), the header, 16 data rows,
    # Total, a blank, Confidential, Copyright -> 13 lines dropped besides the header.
    result = cli("validate", *args_of(VARIANTS["salesforce_report_xlsx"]), "--format", "csv")
    assert counts(result.stderr, "line_items") == (16, 16, 0)
    assert dropped(result.stderr, "line_items") == 13


# ---------------------------------------------------------------------------------------------
# salesforce_cpq

# EXPECTED.md "Lines": ARR = NetPrice × Quantity / ProrateMultiplier.
CPQ_ARR = {
    "a1X8c00000Pq3Ab": 54000.0,  # S1
    "a1X8c00000Pq3Ac": 30000.0,  # S2
    "a1X8c00000Zr8Kd": 54000.0,  # S3
    "a1X8c00000Zr8Ke": 30000.0,  # S4
    "a1X8c00000Zr8Kf": 36000.0,  # S5
    "a1X8c00000Qc1Mn": 48000.0,  # S6
    "a1X8c00000Qc1Mo": 0.0,  # S7 bundled component
    "a1X8c00000Wd6Tu": 10200.0,  # S8: 255 × 20 / 0.5 (not 5,100)
    "a1X8c00000Mk4Rs": 11400.0,  # S9
    "a1X8c00000Mk4Rt": 8550.0,  # S10
    "a1X8c00000Tb9Gh": 216000.0,  # S11: 4,320 × 100 / 2.0 (not 432,000)
}


def test_cpq_rows_used_and_rejected(cli):
    # EXPECTED.md "Row accounting": 11 rows, 11 used, 0 rejected; accounts 4, products 6, no orphans.
    result = cli("validate", *args_of(VARIANTS["salesforce_cpq"]), "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert frame(result).is_empty()
    assert counts(result.stderr, "line_items") == (11, 11, 0)
    assert counts(result.stderr, "accounts") == (4, 4, 0)
    assert counts(result.stderr, "products") == (6, 6, 0)


def test_cpq_arr_annualised_by_the_prorate_multiplier(lib):
    # EXPECTED.md "Lines" and "Traps".
    book, _, _ = lib(VARIANTS["salesforce_cpq"])
    assert amounts(book, sf15) == CPQ_ARR
    assert book.line_items["stage"].null_count() == 11  # no stage column: every row is a purchase


def test_cpq_inclusive_end_dates_become_exclusive(lib):
    # EXPECTED.md "Lines": exclusive end = SBQQ__EndDate__c + 1 day.
    book, _, _ = lib(VARIANTS["salesforce_cpq"])
    starts, ends = column(book, "start_date", sf15), column(book, "end_date", sf15)
    assert (starts["a1X8c00000Pq3Ab"], ends["a1X8c00000Pq3Ab"]) == (d("2023-03-01"), d("2024-03-01"))  # S1 2024-02-29
    assert ends["a1X8c00000Zr8Kd"] == d("2025-03-01")  # S3 2025-02-28
    assert (starts["a1X8c00000Wd6Tu"], ends["a1X8c00000Wd6Tu"]) == (d("2023-10-01"), d("2024-04-01"))  # S8
    assert ends["a1X8c00000Mk4Rs"] == d("2023-07-01")  # S9 2023-06-30
    assert ends["a1X8c00000Tb9Gh"] == d("2025-09-01")  # S11 2025-08-31
    assert column(book, "booked_at", sf15)["a1X8c00000Tb9Gh"] == d("2023-09-01")


def test_cpq_discounts_and_list_values(lib):
    # EXPECTED.md "Traps": discounts S1, S3 0.10; S5 0.20; S8 0.15; S9, S10 0.05; S11 0.10; list value per
    # year = ListPrice × Quantity (S11 240,000; S7 6,000).
    book, _, _ = lib(VARIANTS["salesforce_cpq"])
    discounts, lists = column(book, "discount", sf15), column(book, "list_amount", sf15)
    expected = {
        "a1X8c00000Pq3Ab": 0.10,
        "a1X8c00000Zr8Kd": 0.10,
        "a1X8c00000Zr8Kf": 0.20,
        "a1X8c00000Wd6Tu": 0.15,
        "a1X8c00000Mk4Rs": 0.05,
        "a1X8c00000Mk4Rt": 0.05,
        "a1X8c00000Tb9Gh": 0.10,
    }
    for line, discount in expected.items():
        assert discounts[line] == pytest.approx(discount), line
    assert discounts["a1X8c00000Pq3Ac"] is None  # S2 has no discount
    assert lists["a1X8c00000Tb9Gh"] == 240000.0 and lists["a1X8c00000Qc1Mo"] == 6000.0


def test_cpq_bundle_component_takes_its_parents_family(lib):
    # EXPECTED.md leaves open "whether the bundled S7 makes Borealis a Security owner". The decision
    # (a bundle component takes its parent's family, and so is never a cross-sell) is xsell's,
    # written in crossell_cli/model.py with_items and the salesforce profile notes, not yet in the
    # README's "Definitions and decisions": S7 (SEC-STR, family Security, required by S6, Core
    # Platform) counts as Core Platform, so Borealis owns no Security at T.
    book, _, model = lib(VARIANTS["salesforce_cpq"])
    s7 = book.line_items.filter(pl.col("line_id").str.starts_with("a1X8c00000Qc1Mo")).row(0, named=True)
    assert s7["bundled"] is True and sf15(s7["parent_line_id"]) == "a1X8c00000Qc1Mn"
    items = model.classified.collect()
    s7_item = items.filter(pl.col("line_id").str.starts_with("a1X8c00000Qc1Mo"))["item"].item()
    assert s7_item == "Core Platform"
    owned = model.ownership.filter(pl.col("account_id").str.starts_with(sf15(BOREALIS_SF))).collect()
    assert sorted(owned["item"]) == ["Analytics", "Core Platform"]


def test_cpq_land_bundles_and_cross_sells(lib):
    # EXPECTED.md "Won lines per account": Acme lands S1 + S2 (C1), S5 Security is a cross-sell 366 days
    # later on the renewal contract, S3/S4 are upsells (bookings). Borealis: S8 Analytics is a co-termed
    # amendment on the land contract C2 -> land bundle, "none under the SPEC rule"; README "Land bundle"
    # settles it the same way ("plus every line on a contract booked that day (even if booked later)").
    _, _, model = lib(VARIANTS["salesforce_cpq"])
    assert kinds(model, sf15) == {
        "a1X8c00000Pq3Ab": "new",  # S1 Acme land bundle (contract C1)
        "a1X8c00000Pq3Ac": "new",  # S2
        "a1X8c00000Zr8Kd": "upsell",  # S3 renewal (C1R) of an owned family
        "a1X8c00000Zr8Ke": "upsell",  # S4 renewal
        "a1X8c00000Zr8Kf": "cross_sell",  # S5 Security on the renewal contract, 366 days
        "a1X8c00000Qc1Mn": "new",  # S6 Borealis land (C2)
        "a1X8c00000Qc1Mo": "new",  # S7 bundled component of S6
        "a1X8c00000Wd6Tu": "new",  # S8 co-termed amendment on the land contract C2
        "a1X8c00000Mk4Rs": "new",  # S9 Dunmore land bundle (C3)
        "a1X8c00000Mk4Rt": "new",  # S10
        "a1X8c00000Tb9Gh": "new",  # S11 Evergreen land, 24-month term
    }
    assert {sf15(a): n for a, n in won_lines_per_account(model).items()} == {
        sf15(ACME_SF): 5,
        sf15(BOREALIS_SF): 3,
        sf15(DUNMORE_SF): 2,
        sf15(EVERGREEN_SF): 1,
    }
    assert {sf15(a): day for a, day in land_dates(model).items()} == {
        sf15(ACME_SF): d("2023-03-01"),
        sf15(BOREALIS_SF): d("2023-04-01"),
        sf15(DUNMORE_SF): d("2022-07-01"),
        sf15(EVERGREEN_SF): d("2023-09-01"),
    }
    assert {sf15(a): n for a, n in days_to_first_cross_sell(model).items()} == {sf15(ACME_SF): 366}


def test_cpq_timing(cli):
    # EXPECTED.md: 4 accounts landed, one cross-sold (Acme, 366 days).
    timing = row_where(frame(cli("timing", *args_of(VARIANTS["salesforce_cpq"]), "--format", "csv")), group="all")
    assert (int(timing["accounts_landed"]), int(timing["accounts_cross_sold"])) == (4, 1)
    assert f(timing["median_days"]) == 366.0


def test_cpq_attach_core_platform_to_analytics(cli, lib):
    # EXPECTED.md "Family attach and ARR": T = 2024-03-01; customers Acme, Borealis, Evergreen;
    # Core Platform -> Analytics base 3, both 2, 0.6667, Wilson [0.2077, 0.9385].
    _, _, model = lib(VARIANTS["salesforce_cpq"])
    assert model_as_of(model) == d("2024-03-01")
    table = frame(cli("attach", *args_of(VARIANTS["salesforce_cpq"]), "--all", "--format", "csv"))
    pair = row_where(table, base_family="Core Platform", target_family="Analytics")
    assert (int(pair["base_accounts"]), int(pair["both_accounts"])) == (3, 2)
    assert f(pair["attach_rate"]) == pytest.approx(2 / 3)
    assert f(pair["ci_low"]) == pytest.approx(0.2077, abs=1e-4)
    assert f(pair["ci_high"]) == pytest.approx(0.9385, abs=1e-4)


def test_cpq_arr_at_the_as_of_date(lib, cli):
    # EXPECTED.md: ARR at T: Acme 120,000; Borealis 58,200; Evergreen 216,000; total 394,200
    # (S1/S2 end exclusive on T; Dunmore ended 2023-07-01).
    _, _, model = lib(VARIANTS["salesforce_cpq"])
    assert {sf15(a): v for a, v in arr_at(model).items()} == {
        sf15(ACME_SF): 120000.0,
        sf15(BOREALIS_SF): 58200.0,
        sf15(EVERGREEN_SF): 216000.0,
    }
    # ARR mode (end dates): the movements of all periods add up to the ARR at T
    table = frame(cli("expansion", *args_of(VARIANTS["salesforce_cpq"]), "--format", "csv"))
    moves = ("new", "reactivation", "cross_sell", "upsell", "contraction", "churn")
    assert sum(f(r[c]) for r in table.to_dicts() for c in moves) == pytest.approx(394200.0)


def test_cpq_inclusive_end_keeps_acme_active_on_its_last_day(lib):
    # EXPECTED.md "Inclusive-end check": --as-of 2024-02-29 -> Acme active through S1 + S2 (ARR 84,000).
    _, _, model = lib(VARIANTS["salesforce_cpq"], as_of="2024-02-29")
    assert model_as_of(model) == d("2024-02-29")
    assert {sf15(a): v for a, v in arr_at(model).items()}[sf15(ACME_SF)] == 84000.0
    owned = model.ownership.filter(pl.col("account_id").str.starts_with(sf15(ACME_SF))).collect()
    assert sorted(owned["item"]) == ["Analytics", "Core Platform"]


# ---------------------------------------------------------------------------------------------
# hubspot_deals

ACME_HS, BOREALIS_HS, COBALT_HS = "18237461501", "18237461502", "18237461507"
DUNMORE_HS, EVERGREEN_HS, FLUVIALE_HS, NORTHWIND_HS = "18237461509", "18237461512", "18299013544", "18299014077"

# EXPECTED.md "Lines": line_id = Record ID, amount = Amount (read as ARR).
DEALS_ARR = {
    "17625318801": 54000.0,
    "17625318802": 30000.0,
    "17625318940": 36000.0,
    "17625318811": 48000.0,
    "17625319377": 10200.0,
    "17625318833": 36000.0,
    "17625319102": 24300.0,
    "17625318852": 11400.0,
    "17625318853": 8550.0,
    "17625319561": 6000.0,
    "17625318877": 216000.0,
    "17625319455": 3000.0,
    "17625319456": 90000.0,
    "17625319688": 9600.0,
    "17625319790": 4800.0,
}


def test_deals_rows_used_and_rejected(cli):
    # EXPECTED.md "Row accounting": 16 rows, 15 used, 1 rejected; companies 7 used.
    result = cli("validate", *args_of(VARIANTS["hubspot_deals"]), "--format", "csv")
    assert result.exit_code == 65  # README: validate exits 65 when a row was rejected
    assert counts(result.stderr, "line_items") == (16, 15, 1)
    assert counts(result.stderr, "accounts") == (7, 7, 0)


def test_deals_rejection_is_the_deal_without_a_primary_company(cli):
    # EXPECTED.md: 17625319502 "Inbound - web checkout" (row 16) has an empty
    # Associated Company IDs (Primary) -> account_id missing.
    result = cli("validate", *args_of(VARIANTS["hubspot_deals"]), "--format", "csv")
    rejected = issues(result).filter(pl.col("severity") == "rejected")
    assert rejected.select("row", "column", "header", "rule").rows() == [
        ("16", "account_id", "Associated Company IDs (Primary)", "missing_value")
    ]


def test_deals_values_datetimes_plain_amounts_and_primary_company(lib):
    # EXPECTED.md "Lines": Close Date '2023-02-15 14:02' -> 2023-02-15; Amount plain; quantity 1;
    # account_id from Associated Company IDs (Primary), never the ';'-joined list.
    book, report, _ = lib(VARIANTS["hubspot_deals"])
    assert amounts(book) == DEALS_ARR
    assert column(book, "booked_at")["17625318801"] == d("2023-02-15")
    assert column(book, "booked_at")["17625318811"] == d("2023-03-31")  # 19:10 stays on its day
    assert column(book, "account_id")["17625319456"] == EVERGREEN_HS  # "18237461512;18299014077"
    assert set(book.line_items["quantity"]) == {1.0}
    assert column(book, "rep")["17625318877"] == "Marcus Oyelaran"
    won = book.line_items.filter(pl.col("stage") == "won")
    assert won["amount"].sum() == 552750.0
    created = dict(book.accounts.select("account_id", "created_at").iter_rows())
    assert created[ACME_HS] == d("2022-11-03")  # companies "Create Date" 2022-11-03 15:22
    assert report.tables["line_items"].rejected == 1


def test_deals_stage_labels(lib):
    # EXPECTED.md "Row accounting": 12 won, 1 lost (17625319102), 2 open (Contract Sent, Appointment Scheduled).
    book, _, _ = lib(VARIANTS["hubspot_deals"])
    assert stage_counts(book) == {"won": 12, "lost": 1, "open": 2}
    stages = column(book, "stage")
    assert stages["17625319102"] == "lost" and stages["17625319561"] == stages["17625319790"] == "open"


def test_deals_internal_stage_values(lib, tmp_path):
    # hubspot.yaml stages: API / internal-value exports write closedwon, closedlost, contractsent...
    internal = {
        "Closed Won": "closedwon",
        "Closed Lost": "closedlost",
        "Contract Sent": "contractsent",
        "Appointment Scheduled": "appointmentscheduled",
    }
    path = derived_csv(
        HS_DEALS / HS_DEALS_FILE,
        tmp_path / HS_DEALS_FILE,
        lambda t: t.with_columns(pl.col("Deal Stage").replace(internal)).rename({"Deal Stage": "dealstage"}),
    )
    book, report, _ = lib({**VARIANTS["hubspot_deals"], "line_items": path})
    assert report.tables["line_items"].rejected == 1  # the same deal without a company, nothing else
    assert stage_counts(book) == {"won": 12, "lost": 1, "open": 2}


def test_deals_land_dates_cross_sells_and_timing(lib, cli):
    # EXPECTED.md "Won lines per account": no contract column, so the land bundle is found by date.
    _, _, model = lib(VARIANTS["hubspot_deals"])
    assert won_lines_per_account(model) == {
        ACME_HS: 3,
        BOREALIS_HS: 2,
        COBALT_HS: 1,
        DUNMORE_HS: 2,
        EVERGREEN_HS: 3,
        FLUVIALE_HS: 1,
    }
    assert land_dates(model) == {
        ACME_HS: d("2023-02-15"),
        BOREALIS_HS: d("2023-03-31"),
        COBALT_HS: d("2023-05-12"),
        DUNMORE_HS: d("2023-06-30"),
        EVERGREEN_HS: d("2023-08-08"),
        FLUVIALE_HS: d("2024-05-02"),
    }
    assert kinds(model) == {
        "17625318801": "new",  # Acme Core, land bundle with Analytics (two deals, same day)
        "17625318802": "new",  # Acme Analytics
        "17625318940": "cross_sell",  # Acme Security, 217 days
        "17625318811": "new",  # Borealis Core
        "17625319377": "cross_sell",  # Borealis Analytics, 285 days
        "17625318833": "new",  # Cobalt Core (Security lost)
        "17625318852": "new",  # Dunmore Core, land bundle with Security (Analytics open)
        "17625318853": "new",  # Dunmore Security
        "17625318877": "new",  # Evergreen Core
        "17625319455": "cross_sell",  # Evergreen Analytics, 203 days
        "17625319456": "cross_sell",  # Evergreen Security, 203 days
        "17625319688": "new",  # Société Fluviale Core (Analytics open)
    }
    assert days_to_first_cross_sell(model) == {ACME_HS: 217, BOREALIS_HS: 285, EVERGREEN_HS: 203}
    # Northwind Advisory (a partner, non-primary on the Evergreen Security deal) is a company, not a customer
    assert NORTHWIND_HS in model.accounts.collect()["account_id"].to_list()
    assert NORTHWIND_HS not in land_dates(model)
    timing = row_where(frame(cli("timing", *args_of(VARIANTS["hubspot_deals"]), "--format", "csv")), group="all")
    assert (int(timing["accounts_landed"]), int(timing["accounts_cross_sold"])) == (6, 3)


def test_deals_attach_and_headline(cli):
    # EXPECTED.md "Family attach": customers 6 (Northwind is not one); Core Platform -> Analytics base 6,
    # both 3, 0.5, lift 1.0, Wilson [0.1876, 0.8124], co_booked 1, cross_sold_after 2, 0.3333;
    # multi-product rate 4/6.
    base = args_of(VARIANTS["hubspot_deals"])
    pair = row_where(
        frame(cli("attach", *base, "--all", "--format", "csv")), base_family="Core Platform", target_family="Analytics"
    )
    assert (int(pair["base_accounts"]), int(pair["both_accounts"]), f(pair["attach_rate"])) == (6, 3, 0.5)
    assert f(pair["lift"]) == 1.0
    assert f(pair["ci_low"]) == pytest.approx(0.1876, abs=1e-4)
    assert f(pair["ci_high"]) == pytest.approx(0.8124, abs=1e-4)
    assert (int(pair["co_booked"]), int(pair["cross_sold_after"])) == (1, 2)
    assert f(pair["cross_sell_attach"]) == pytest.approx(1 / 3)
    kpi = row_where(frame(cli("summary", *base, "--format", "csv")), kpi="multi_product_rate")
    assert f(kpi["value"]) == pytest.approx(4 / 6)


# ---------------------------------------------------------------------------------------------
# hubspot_line_items

# EXPECTED.md "Lines": ARR = hs_arr (not the per-period amount, not annualised by the term).
LINE_ITEMS_ARR = {
    "5206137701": 54000.0,
    "5206137702": 30000.0,
    "5206139015": 36000.0,
    "5206137733": 48000.0,
    "5206141290": 10200.0,
    "5206137760": 36000.0,
    "5206140412": 24300.0,
    "5206137788": 11400.0,
    "5206137789": 8550.0,
    "5206142018": 6000.0,
    "5206137805": 216000.0,
    "5206141877": 3000.0,
    "5206141878": 90000.0,
    "5206142370": 9600.0,
    "5206142566": 4800.0,
}
# EXPECTED.md "Lines": list/yr = hs_pre_discount_amount × periods per year (= catalogue price × quantity).
LINE_ITEMS_LIST = {
    "5206137701": 60000.0,
    "5206137702": 30000.0,
    "5206139015": 45000.0,
    "5206137733": 48000.0,
    "5206141290": 12000.0,
    "5206137760": 36000.0,
    "5206140412": 27000.0,
    "5206137788": 12000.0,
    "5206137789": 9000.0,
    "5206142018": 6000.0,
    "5206137805": 240000.0,
    "5206141877": 60000.0,
    "5206141878": 90000.0,
    "5206142370": 9600.0,
    "5206142566": 4800.0,
}


def test_line_items_alone_is_a_structural_error_naming_account_id(cli, tmp_path):
    # EXPECTED.md "Row accounting": the line-item file alone has no account column and no close date ->
    # a structural error (not row rejections) naming account_id, listing the headers found and pointing
    # at the columns: config key. (Copied alone into a folder, so no deals file sits beside it.)
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(HS_LINES / HS_LINE_ITEMS_FILE, alone)
    result = cli("validate", "--profile", "hubspot", "--line-items", str(alone / HS_LINE_ITEMS_FILE), "--format", "csv")
    assert result.exit_code == 65
    assert "account_id" in result.stderr
    assert "Headers found: hs_object_id, name, hs_product_id" in result.stderr
    assert "Associated Deal IDs" in result.stderr
    # The fix names the deals export to put beside it, or the lookup config key.
    assert "deals export" in result.stderr and "data.line_items.lookup" in result.stderr
    assert "Traceback" not in result.output


def test_line_items_alone_hint_points_at_the_deals_join(cli, tmp_path):
    # EXPECTED.md: the error must point "at the columns: config key / the deals join". The profile
    # knows the fix (lookups: line_items: file deals, when_missing account_id); suggesting account_id
    # = 'amount' would turn ARR figures into account ids.
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(HS_LINES / HS_LINE_ITEMS_FILE, alone)
    result = cli("validate", "--profile", "hubspot", "--line-items", str(alone / HS_LINE_ITEMS_FILE), "--format", "csv")
    assert result.exit_code == 65
    assert "account_id: 'amount'" not in result.stderr
    assert "deals" in result.stderr.lower()


def test_line_items_join_their_deals_automatically_when_the_deals_file_sits_beside_them(cli, lib, tmp_path):
    # hubspot.yaml lookups: a line items file without an account column and a deals export in the same
    # folder are joined on "Associated Deal IDs" = the deal's "Record ID".
    folder = tmp_path / "export"
    folder.mkdir()
    shutil.copy(HS_LINES / HS_LINE_ITEMS_FILE, folder)
    shutil.copy(HS_LINES / HS_DEALS_FILE, folder)
    inputs = {**VARIANTS["hubspot_line_items"], "line_items": folder / HS_LINE_ITEMS_FILE}
    result = cli("validate", *args_of(inputs), "--format", "csv")
    assert result.exit_code == 65
    assert counts(result.stderr, "line_items") == (16, 15, 1)
    rejected = issues(result).filter(pl.col("severity") == "rejected")
    assert rejected.select("row", "column", "rule").rows() == [("16", "account_id", "missing_value")]
    book, _, _ = lib(inputs)
    assert amounts(book) == LINE_ITEMS_ARR
    assert column(book, "booked_at")["5206137805"] == d("2023-08-08")  # the deal's Close Date 13:18
    assert column(book, "account_id")["5206141878"] == EVERGREEN_HS
    assert column(book, "rep")["5206141878"] == "Marcus Oyelaran"  # the deal's owner
    assert stage_counts(book) == {"won": 12, "lost": 1, "open": 2}


def test_line_items_in_the_fixture_folder_need_a_named_lookup(cli):
    # In the fixture folder two files could hold the deals (the deals export and the analyst's
    # line_items_joined_with_deals.csv): xsell refuses to guess and names the config key.
    inputs = {**VARIANTS["hubspot_line_items"], "line_items": HS_LINES / HS_LINE_ITEMS_FILE}
    result = cli("validate", *args_of(inputs), "--format", "csv")
    assert result.exit_code != 0
    assert HS_DEALS_FILE in result.stderr and "line_items_joined_with_deals.csv" in result.stderr
    assert "lookup" in result.stderr
    assert "Traceback" not in result.output


def test_line_items_join_their_deals_with_a_config_lookup(cli):
    # A config can name the join the profile cannot guess here: hubspot_line_items/xsell_lookup.yaml.
    result = cli("validate", "--config", str(HS_LINES / "xsell_lookup.yaml"), "--format", "csv")
    assert result.exit_code == 65
    assert counts(result.stderr, "line_items") == (16, 15, 1)
    assert counts(result.stderr, "accounts") == (7, 7, 0)
    assert counts(result.stderr, "products") == (4, 4, 0)
    rejected = issues(result).filter(pl.col("severity") == "rejected")
    assert rejected.select("row", "column", "rule").rows() == [("16", "account_id", "missing_value")]
    pair = row_where(
        frame(cli("attach", "--config", str(HS_LINES / "xsell_lookup.yaml"), "--all", "--format", "csv")),
        base_family="Core Platform",
        target_family="Analytics",
    )
    assert (int(pair["base_accounts"]), int(pair["both_accounts"]), f(pair["attach_rate"])) == (6, 3, 0.5)


def test_line_items_joined_file_rows_used_and_rejected(cli):
    # EXPECTED.md "Row accounting": line_items_joined_with_deals.csv 16 rows, 15 used, 1 rejected
    # (5206141655, deal 17625319502, empty company); products 4, companies 7.
    result = cli("validate", *args_of(VARIANTS["hubspot_line_items"]), "--format", "csv")
    assert result.exit_code == 65
    assert counts(result.stderr, "line_items") == (16, 15, 1)
    assert counts(result.stderr, "accounts") == (7, 7, 0)
    assert counts(result.stderr, "products") == (4, 4, 0)
    rejected = issues(result).filter(pl.col("severity") == "rejected")
    assert rejected.select("row", "column", "header", "rule").rows() == [
        ("16", "account_id", "Associated Company IDs (Primary)", "missing_value")
    ]


def test_line_items_arr_is_hs_arr_not_the_term_or_the_period_amount(lib):
    # EXPECTED.md "Lines" + "Annualisation traps": 5206137702 monthly 2,500/period -> 30,000;
    # 5206137805 term P24M -> still 216,000 (TCV 432,000 is not ARR). Won total 552,750.
    book, _, _ = lib(VARIANTS["hubspot_line_items"])
    assert amounts(book) == LINE_ITEMS_ARR
    assert book.line_items.filter(pl.col("stage") == "won")["amount"].sum() == 552750.0
    assert set(book.line_items["currency"]) == {"USD"}


def test_line_items_discount_percentage_only_and_list_per_year(lib):
    # EXPECTED.md "Lines": discount = hs_discount_percentage only (10 -> 0.10); the unit-discount lines
    # 5206139015 and 5206137805 have none; list/yr as in the table.
    book, _, _ = lib(VARIANTS["hubspot_line_items"])
    discounts = column(book, "discount")
    assert discounts["5206137701"] == pytest.approx(0.10)
    assert discounts["5206141290"] == pytest.approx(0.15)
    assert discounts["5206141877"] == pytest.approx(0.95)
    assert discounts["5206139015"] is None and discounts["5206137805"] is None  # "discount" = 180 / 240 per unit
    assert column(book, "list_amount") == pytest.approx(LINE_ITEMS_LIST)


def test_line_items_ids_dates_and_families(lib):
    # EXPECTED.md: product ids are HubSpot record ids (text), contract_id = Associated Deal IDs,
    # start_date = hs_recurring_billing_start_date, families from the custom product_family.
    book, _, _ = lib(VARIANTS["hubspot_line_items"])
    assert column(book, "product_id")["5206137805"] == "1523904012"
    assert column(book, "contract_id")["5206137805"] == "17625318877"
    assert column(book, "start_date")["5206141290"] == d("2024-01-10")
    assert column(book, "booked_at")["5206141290"] == d("2024-01-10")  # Close Date 2024-01-10 10:20
    assert column(book, "quantity")["5206137805"] == 100.0
    families = dict(book.products.select("product_id", "family").iter_rows())
    assert families["1523904011"] == families["1523904012"] == "Core Platform"
    assert families["1523904017"] == "Analytics" and families["1523904023"] == "Security"


def test_line_items_annualised_by_billing_frequency(lib, tmp_path):
    # hubspot.yaml notes: without hs_arr, annualise the per-period "Net price" (the line item amount,
    # as a UI-label export names it) by recurringbillingfrequency: monthly × 12, quarterly × 4,
    # annually × 1 — never by the term hs_recurring_billing_period.
    path = derived_csv(
        HS_LINES / "line_items_joined_with_deals.csv",
        tmp_path / "line_items.csv",
        lambda t: t.drop("hs_mrr", "hs_arr", "hs_acv", "hs_tcv").rename({"amount": "Net price"}),
    )
    book, report, _ = lib({**VARIANTS["hubspot_line_items"], "line_items": path})
    assert report.tables["line_items"].rejected == 1
    assert amounts(book) == LINE_ITEMS_ARR  # 2,500 monthly -> 30,000; 12,000 quarterly -> 48,000


def test_line_items_period_amount_config_annualises_amount(lib, tmp_path):
    # hubspot.yaml notes: "in a line-item export keep hs_arr, or set columns: {line_items:
    # {period_amount: amount}}". Config: hubspot_line_items/period_amount.yaml.
    path = derived_csv(
        HS_LINES / "line_items_joined_with_deals.csv",
        tmp_path / "line_items.csv",
        lambda t: t.drop("hs_mrr", "hs_arr", "hs_acv", "hs_tcv"),
    )
    book, _, _ = lib({**VARIANTS["hubspot_line_items"], "line_items": path}, config=HS_LINES / "period_amount.yaml")
    assert amounts(book) == LINE_ITEMS_ARR


def test_line_items_land_dates_cross_sells_and_attach(lib, cli):
    # EXPECTED.md "Won lines per account" (as in hubspot_deals, products now known) and "Family attach":
    # Core Platform -> Analytics base 6, both 3, 0.5, co_booked 1, after 2; Analytics -> Security 0.6667.
    _, _, model = lib(VARIANTS["hubspot_line_items"])
    assert land_dates(model) == {
        ACME_HS: d("2023-02-15"),
        BOREALIS_HS: d("2023-03-31"),
        COBALT_HS: d("2023-05-12"),
        DUNMORE_HS: d("2023-06-30"),
        EVERGREEN_HS: d("2023-08-08"),
        FLUVIALE_HS: d("2024-05-02"),
    }
    cross = {line for line, kind in kinds(model).items() if kind == "cross_sell"}
    assert cross == {"5206139015", "5206141290", "5206141877", "5206141878"}
    assert days_to_first_cross_sell(model) == {ACME_HS: 217, BOREALIS_HS: 285, EVERGREEN_HS: 203}
    table = frame(cli("attach", *args_of(VARIANTS["hubspot_line_items"]), "--all", "--format", "csv"))
    pair = row_where(table, base_family="Core Platform", target_family="Analytics")
    assert (int(pair["base_accounts"]), int(pair["both_accounts"]), f(pair["attach_rate"])) == (6, 3, 0.5)
    assert (int(pair["co_booked"]), int(pair["cross_sold_after"])) == (1, 2)
    other = row_where(table, base_family="Analytics", target_family="Security")
    assert (int(other["base_accounts"]), int(other["both_accounts"])) == (3, 2)


def test_line_items_pass_through_needs_the_same_deal(cli):
    # EXPECTED.md calls 5206141877 (ANLY-PRO at 5 % of list, same day as another family's line, on a
    # separate deal) a pass_through "candidate". README "flags": a deal is the line's contract, or the
    # account's day only "when the export has no contract ids"; these lines have deal ids, so the two
    # separate deals are not one deal and nothing is flagged (SPEC: "same contract (or same day,
    # without contract ids)").
    table = frame(cli("flags", *args_of(VARIANTS["hubspot_line_items"]), "--format", "csv"))
    assert table.filter(pl.col("flag") == "pass_through").is_empty()


# The line items' own record name (OLI Name, CPQ subscription Name, HubSpot line item name) is not
# the customer's name.
NAME_CASES = {
    "salesforce_dataloader": {"profile": "salesforce", "line_items": SF_DL / "extract_OpportunityLineItem.csv"},
    "salesforce_cpq": {"profile": "salesforce", "line_items": SF_CPQ / "extract_SBQQ__Subscription__c.csv"},
    "hubspot_line_items": {"profile": "hubspot", "line_items": HS_LINES / "line_items_joined_with_deals.csv"},
}


@pytest.mark.parametrize("variant", list(NAME_CASES))
def test_line_names_never_become_account_names(lib, variant):
    # README "Column names": account attributes are taken from the line items file only when it has
    # them (Segment, Industry, Region, Customer name); these exports carry no account name at all.
    book, _, _ = lib(NAME_CASES[variant])
    assert book.accounts["account_name"].null_count() == book.accounts.height, book.accounts["account_name"].to_list()


# ---------------------------------------------------------------------------------------------
# stripe_subscriptions (Dashboard export)

ACME_ST, BOREALIS_ST, COBALT_ST = "cus_PmR2sB8vQ1xYzA", "cus_PnT4uD0wS3zAbC", "cus_PoV6wF2yU5bCdE"
DUNMORE_ST, EVERGREEN_ST, FLUVIALE_ST = "cus_PpX8yH4aW7dEfG", "cus_PqZ0aJ6cY9fGhI", "cus_PrB2cL8eA1hIjK"

# EXPECTED.md "Lines": ARR = Amount × Quantity × 12 (month) or × 1 (year); Amount in major units.
SUBS_ARR = {
    "sub_1OgJ2kLkdIwHu7ixAc01Core": 60000.0,
    "sub_1OgJ2mLkdIwHu7ixAc02Anly": 30000.0,
    "sub_1NsQ8rLkdIwHu7ixAc03Secu": 45000.0,
    "sub_1MrT5aLkdIwHu7ixBo01Core": 48000.0,
    "sub_1OWx7cLkdIwHu7ixBo02Anly": 12000.0,
    "sub_1N6zQeLkdIwHu7ixCo01Core": 36000.0,
    "sub_1PTu4gLkdIwHu7ixCo02Secu": 27000.0,
    "sub_1NOh3iLkdIwHu7ixDu01Core": 12000.0,
    "sub_1NOh4kLkdIwHu7ixDu02Secu": 9000.0,
    "sub_1NcR6mLkdIwHu7ixEv01Core": 240000.0,
    "sub_1OoK9oLkdIwHu7ixEv02Secu": 90000.0,
    "sub_1PBq1qLkdIwHu7ixSf01Anly": 4800.0,
    "sub_1PC3sLLkdIwHu7ixSf02Core": 9600.0,
}
# EXPECTED.md "Family attach and ARR": ARR at T per customer (Cobalt ended 2024-02-12).
ARR_AT_T = {ACME_ST: 135000.0, BOREALIS_ST: 60000.0, DUNMORE_ST: 21000.0, EVERGREEN_ST: 330000.0, FLUVIALE_ST: 9600.0}


def test_subscriptions_rows_used_and_rejected(cli):
    # EXPECTED.md "Row accounting": 13 rows, 13 used, 0 rejected; customers 6, products 4, no orphans.
    result = cli("validate", *args_of(VARIANTS["stripe_subscriptions"]), "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert frame(result).is_empty()
    assert counts(result.stderr, "line_items") == (13, 13, 0)
    assert counts(result.stderr, "accounts") == (6, 6, 0)
    assert counts(result.stderr, "products") == (4, 4, 0)


def test_subscriptions_status_to_stage(lib):
    # EXPECTED.md: won 11 (active ×10, canceled ×1), open 1 (trialing), lost 1 (incomplete_expired).
    book, _, _ = lib(VARIANTS["stripe_subscriptions"])
    assert stage_counts(book) == {"won": 11, "open": 1, "lost": 1}
    stages = column(book, "stage")
    assert stages["sub_1N6zQeLkdIwHu7ixCo01Core"] == "won"  # canceled: a purchase that ended
    assert stages["sub_1PTu4gLkdIwHu7ixCo02Secu"] == "open"
    assert stages["sub_1PBq1qLkdIwHu7ixSf01Anly"] == "lost"


def test_subscriptions_utc_datetimes_and_ended_at(lib):
    # EXPECTED.md: booked_at = Start Date (UTC) 'YYYY-MM-DD HH:MM'; Cobalt's end is Ended At (UTC)
    # 2024-02-12 15:30, not Canceled At (UTC) 2024-01-20; customers' created is Unix epoch seconds.
    book, _, _ = lib(VARIANTS["stripe_subscriptions"])
    booked, ends = column(book, "booked_at"), column(book, "end_date")
    assert booked["sub_1OgJ2kLkdIwHu7ixAc01Core"] == d("2023-02-15")
    assert booked["sub_1PC3sLLkdIwHu7ixSf02Core"] == d("2024-05-03")
    assert ends["sub_1N6zQeLkdIwHu7ixCo01Core"] == d("2024-02-12")
    assert ends["sub_1PBq1qLkdIwHu7ixSf01Anly"] == d("2024-05-03")
    assert ends["sub_1OgJ2kLkdIwHu7ixAc01Core"] is None
    assert set(book.line_items["currency"]) == {"USD"}  # "usd"
    created = dict(book.accounts.select("account_id", "created_at").iter_rows())
    assert created[ACME_ST] == d("2023-02-15")  # 1676469480
    assert dict(book.accounts.select("account_id", "segment").iter_rows())[EVERGREEN_ST] == "Enterprise"
    families = dict(book.products.select("product_id", "family").iter_rows())
    assert families["prod_PVc7mQ2nR4sT6u"] == families["prod_PVc8oS4pT6uV8w"] == "Core Platform"  # metadata.family


def test_subscriptions_arr_is_unit_amount_times_quantity_annualised(lib):
    # EXPECTED.md "Lines": ARR = Amount × Quantity × 12 (month) or × 1 (year); Amount must NOT be
    # divided by 100 (major units). Won ARR total 591,600 USD.
    book, _, _ = lib(VARIANTS["stripe_subscriptions"])
    assert amounts(book) == SUBS_ARR
    assert book.line_items.filter(pl.col("stage") == "won")["amount"].sum() == 591600.0


def test_subscriptions_arr_at_the_as_of_date(lib, cli):
    # EXPECTED.md "Family attach and ARR": ARR at T Acme 135,000; Borealis 60,000; Dunmore 21,000;
    # Evergreen 330,000; Société Fluviale 9,600; total 555,600; Cobalt churned in 2024-Q1 (−36,000).
    _, _, model = lib(VARIANTS["stripe_subscriptions"])
    assert arr_at(model) == ARR_AT_T
    table = frame(cli("expansion", *args_of(VARIANTS["stripe_subscriptions"]), "--format", "csv"))
    moves = ("new", "reactivation", "cross_sell", "upsell", "contraction", "churn")
    assert sum(f(r[c]) for r in table.to_dicts() for c in moves) == pytest.approx(555600.0)
    assert f(row_where(table, period="2024-Q1")["churn"]) == -36000.0


def test_subscriptions_as_of_follows_the_readme(lib):
    # EXPECTED.md: T = 2024-06-20 (latest start: the open trial) or 2024-05-03 on won rows, "same
    # ownership". README "As-of date": closed lines only, so the trial never moves T -> 2024-05-03.
    _, _, model = lib(VARIANTS["stripe_subscriptions"])
    assert model_as_of(model) == d("2024-05-03")


def test_subscriptions_land_dates_and_cross_sells(lib, cli):
    # EXPECTED.md "Won lines per account": cross-sells Acme Security (217), Borealis Analytics (285),
    # Evergreen Security (203); Société Fluviale lands 2024-05-03 (the 2024-05-02 attempt expired).
    _, _, model = lib(VARIANTS["stripe_subscriptions"])
    assert won_lines_per_account(model) == {
        ACME_ST: 3,
        BOREALIS_ST: 2,
        COBALT_ST: 1,
        DUNMORE_ST: 2,
        EVERGREEN_ST: 2,
        FLUVIALE_ST: 1,
    }
    assert land_dates(model) == {
        ACME_ST: d("2023-02-15"),
        BOREALIS_ST: d("2023-03-31"),
        COBALT_ST: d("2023-05-12"),
        DUNMORE_ST: d("2023-06-30"),
        EVERGREEN_ST: d("2023-08-08"),
        FLUVIALE_ST: d("2024-05-03"),
    }
    cross = {line for line, kind in kinds(model).items() if kind == "cross_sell"}
    assert cross == {"sub_1NsQ8rLkdIwHu7ixAc03Secu", "sub_1OWx7cLkdIwHu7ixBo02Anly", "sub_1OoK9oLkdIwHu7ixEv02Secu"}
    assert days_to_first_cross_sell(model) == {ACME_ST: 217, BOREALIS_ST: 285, EVERGREEN_ST: 203}
    timing = row_where(frame(cli("timing", *args_of(VARIANTS["stripe_subscriptions"]), "--format", "csv")), group="all")
    assert (int(timing["accounts_landed"]), int(timing["accounts_cross_sold"])) == (6, 3)


def test_subscriptions_attach(cli):
    # EXPECTED.md: customers at T 5 (Cobalt ended); Core Platform -> Analytics base 5, both 2, 0.4,
    # Wilson [0.1176, 0.7693], co_booked 1, cross_sold_after 1, cross_sell_attach 0.2;
    # Core Platform -> Security base 5, both 3, 0.6.
    table = frame(cli("attach", *args_of(VARIANTS["stripe_subscriptions"]), "--all", "--format", "csv"))
    pair = row_where(table, base_family="Core Platform", target_family="Analytics")
    assert (int(pair["base_accounts"]), int(pair["both_accounts"]), f(pair["attach_rate"])) == (5, 2, 0.4)
    assert f(pair["ci_low"]) == pytest.approx(0.1176, abs=1e-4)
    assert f(pair["ci_high"]) == pytest.approx(0.7693, abs=1e-4)
    assert (int(pair["co_booked"]), int(pair["cross_sold_after"])) == (1, 1)
    assert f(pair["cross_sell_attach"]) == pytest.approx(0.2)
    security = row_where(table, base_family="Core Platform", target_family="Security")
    assert (int(security["base_accounts"]), int(security["both_accounts"]), f(security["attach_rate"])) == (5, 3, 0.6)


# ---------------------------------------------------------------------------------------------
# stripe_subscription_items (API objects)

# EXPECTED.md "Row accounting" table: ARR = unit_amount / 100 × quantity × (12 / interval_count for
# month; 1 / interval_count for year).
ITEMS_ARR = {
    "si_PVgA1CoreStd01": 60000.0,
    "si_PVgA2AnlyPro01": 30000.0,
    "si_OguA3SecSte01": 45000.0,
    "si_NbwB1CoreEnt01": 48000.0,  # 600.00 × 20 × 12/3 (not 144,000)
    "si_PLmB2AnlyPro01": 12000.0,
    "si_NsC1CoreStd001": 36000.0,
    "si_OBxD1CoreStd01": 12000.0,
    "si_OBxD2SecSte001": 9000.0,
    "si_OPqE1CoreEnt01": 240000.0,
    "si_PdkE2SecSte001": 90000.0,
    "si_Q0aF1AnlyPro01": 4800.0,
    "si_Q0bF2CoreStd01": 9600.0,
}


def test_items_rows_used_and_rejected(cli):
    # EXPECTED.md "Row accounting": 12 rows, 12 used, 0 rejected; customers 6, products 4.
    result = cli("validate", *args_of(VARIANTS["stripe_subscription_items"]), "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert frame(result).is_empty()
    assert counts(result.stderr, "line_items") == (12, 12, 0)
    assert counts(result.stderr, "accounts") == (6, 6, 0)
    assert counts(result.stderr, "products") == (4, 4, 0)


def test_items_minor_units_and_interval_count(lib):
    # EXPECTED.md: unit_amount 120000 = 1,200.00 USD; month × 3 is quarterly. Won ARR total 591,600.
    book, _, _ = lib(VARIANTS["stripe_subscription_items"])
    assert amounts(book) == ITEMS_ARR
    assert book.line_items.filter(pl.col("stage") == "won")["amount"].sum() == 591600.0
    assert stage_counts(book) == {"won": 11, "lost": 1}  # active ×10, canceled ×1; incomplete_expired


def test_items_epoch_seconds(lib):
    # EXPECTED.md: booked_at = item created (epoch -> UTC date); end = ended_at (exclusive).
    book, _, _ = lib(VARIANTS["stripe_subscription_items"])
    booked, ends = column(book, "booked_at"), column(book, "end_date")
    assert booked["si_PVgA1CoreStd01"] == d("2023-02-15")  # 1676469780
    assert booked["si_OguA3SecSte01"] == d("2023-09-20")  # 1695228060
    assert booked["si_Q0bF2CoreStd01"] == d("2024-05-03")  # 1714740300
    assert ends["si_NsC1CoreStd001"] == d("2024-02-12")  # 1707751800
    assert ends["si_Q0aF1AnlyPro01"] == d("2024-05-03")  # 1714739460
    assert column(book, "contract_id")["si_OguA3SecSte01"] == "sub_1OgJ2kLkdIwHu7ixAcMEmulti"


def test_items_service_starts_when_the_item_is_added(lib, cli):
    # EXPECTED.md: booked_at = the item's created; the Security item was "added 2023-09-20 to the same
    # subscription". A line cannot be in service before it was bought: ARR mode must show Acme's
    # Security as a 45,000 cross-sell in 2023-Q3, not as new ARR in 2023-Q1 (SPEC "expansion",
    # ARR mode: continuing account, family 0 -> >0 = cross_sell).
    book, _, _ = lib(VARIANTS["stripe_subscription_items"])
    assert column(book, "start_date")["si_OguA3SecSte01"] == d("2023-09-20")
    table = frame(cli("expansion", *args_of(VARIANTS["stripe_subscription_items"]), "--format", "csv"))
    assert f(row_where(table, period="2023-Q1")["new"]) == 138000.0  # Acme Core + Analytics, Borealis Core
    assert f(row_where(table, period="2023-Q3")["cross_sell"]) == 45000.0


def test_items_add_on_to_the_land_subscription_is_land_bundle(lib, cli):
    # EXPECTED.md "Trap": the Security item added 2023-09-20 to Acme's land subscription is land bundle
    # under the literal SPEC rule (2 cross-sells), commercially a cross-sell (3); "a test should pin
    # whichever is chosen". README "Land bundle" chooses: every line on a contract booked on the land
    # day is land bundle "(even if booked later)" -> 2 cross-sells (Borealis 285, Evergreen 203 days).
    _, _, model = lib(VARIANTS["stripe_subscription_items"])
    assert kinds(model)["si_OguA3SecSte01"] == "new"
    cross = {line for line, kind in kinds(model).items() if kind == "cross_sell"}
    assert cross == {"si_PLmB2AnlyPro01", "si_PdkE2SecSte001"}
    assert days_to_first_cross_sell(model) == {BOREALIS_ST: 285, EVERGREEN_ST: 203}
    assert land_dates(model)[FLUVIALE_ST] == d("2024-05-03")
    timing = row_where(
        frame(cli("timing", *args_of(VARIANTS["stripe_subscription_items"]), "--format", "csv")), group="all"
    )
    assert (int(timing["accounts_landed"]), int(timing["accounts_cross_sold"])) == (6, 2)


def test_items_attach_and_arr_at_the_as_of_date(lib, cli):
    # EXPECTED.md "Family attach (ARR mode)": T = 2024-05-03; customers 5; Core Platform -> Analytics
    # base 5, both 2, 0.4, co_booked 1, after 1; ARR at T as in stripe_subscriptions, total 555,600.
    _, _, model = lib(VARIANTS["stripe_subscription_items"])
    assert model_as_of(model) == d("2024-05-03")
    assert arr_at(model) == ARR_AT_T
    base = args_of(VARIANTS["stripe_subscription_items"])
    pair = row_where(
        frame(cli("attach", *base, "--all", "--format", "csv")), base_family="Core Platform", target_family="Analytics"
    )
    assert (int(pair["base_accounts"]), int(pair["both_accounts"]), f(pair["attach_rate"])) == (5, 2, 0.4)
    assert (int(pair["co_booked"]), int(pair["cross_sold_after"])) == (1, 1)
    table = frame(cli("expansion", *base, "--format", "csv"))
    moves = ("new", "reactivation", "cross_sell", "upsell", "contraction", "churn")
    assert sum(f(r[c]) for r in table.to_dicts() for c in moves) == pytest.approx(555600.0)
    assert f(row_where(table, period="2024-Q1")["churn"]) == -36000.0  # Cobalt


MULTI = {"profile": "stripe", "line_items": ST_ITEMS / "subscription_items_multicurrency.csv"}


def test_multicurrency_refused_without_fx(cli):
    # EXPECTED.md "subscription_items_multicurrency.csv": three currencies and no fx: table -> refused
    # with a clear message (SPEC §1).
    result = cli("attach", *args_of(MULTI), "--format", "csv")
    assert result.exit_code == 65
    assert result.stdout == ""
    for code in ("JPY", "KWD", "EUR"):
        assert code in result.stderr
    assert "fx:" in result.stderr
    assert "Traceback" not in result.output


def test_multicurrency_minor_units_per_currency(lib):
    # EXPECTED.md table: ARR in its own currency: JPY ÷1 -> ¥3,600,000 (not ¥36,000); KWD ÷1000 ->
    # 1,380.000 KWD (not 13,800); EUR ÷100 -> €6,600. Rates of 1 (stripe_subscription_items/fx_identity.yaml)
    # keep each amount in its own currency.
    book, report, _ = lib(MULTI, config=ST_ITEMS / "fx_identity.yaml")
    assert report.tables["line_items"].used == 3
    assert amounts(book) == {"si_Q1jT1CoreStd01": 3600000.0, "si_Q1kW1SecSte001": 1380.0, "si_Q1eU1AnlyPro01": 6600.0}


def test_multicurrency_converted_with_an_fx_table(lib):
    # SPEC §1: amounts in several currencies are converted with an fx: table
    # (stripe_subscription_items/fx_usd.yaml: JPY 0.0065, KWD 3.25, EUR 1.08 USD).
    book, _, _ = lib(MULTI, config=ST_ITEMS / "fx_usd.yaml")
    converted = amounts(book)
    assert converted["si_Q1jT1CoreStd01"] == pytest.approx(3600000 * 0.0065)  # 23,400 USD
    assert converted["si_Q1kW1SecSte001"] == pytest.approx(1380 * 3.25)  # 4,485 USD
    assert converted["si_Q1eU1AnlyPro01"] == pytest.approx(6600 * 1.08)  # 7,128 USD
    assert set(book.line_items["currency"]) == {"USD"}
    assert column(book, "booked_at") == {
        "si_Q1jT1CoreStd01": d("2024-04-15"),
        "si_Q1kW1SecSte001": d("2024-04-16"),
        "si_Q1eU1AnlyPro01": d("2024-04-18"),
    }


def test_multicurrency_customers_are_orphans(cli):
    # EXPECTED.md: the three customers are not in customers.csv (orphan warnings if loaded with it).
    inputs = {**MULTI, "accounts": ST_ITEMS / "customers.csv"}
    result = cli("validate", *args_of(inputs), "--config", str(ST_ITEMS / "fx_usd.yaml"), "--format", "csv")
    assert result.exit_code == 0, result.stderr
    warnings = frame(result)
    assert sorted(warnings.filter(pl.col("column") == "account_id")["value"]) == [
        "cus_Q0eU3qR7oV9wXy",
        "cus_Q0jT9mN3kR5sTu",
        "cus_Q0kW1oP5mT7uVw",
    ]
    assert set(warnings["severity"]) == {"warning"}


# ---------------------------------------------------------------------------------------------
# hubspot_line_items_internal (issue 13, item 7): internal property names, amount per period

ARCADIA, BRIGHTWATER, CORVID = "31874002101", "31874002102", "31874002107"
DOVETAIL, ELMSTEAD = "31874002111", "31874002115"
HS_INTERNAL_LINES = "hubspot-crm-exports-all-line-items-2025-01-06.csv"

# EXPECTED.md "Lines: ARR worked out by hand": amount (per billing period) × periods per year.
INTERNAL_ARR = {
    "19834001201": 27000.0,  # H1 annually, term P24M: the term never annualises
    "19834001355": 9600.0,  # H3 monthly 800 × 12
    "19834001218": 42000.0,  # H4 monthly 3,500 × 12
    "19834001219": 15960.0,  # H5 monthly 1,330 × 12 (unit discount)
    "19834001402": 9000.0,  # H7 quarterly 2,250 × 4
    "19834001261": 14400.0,  # H8 monthly
    "19834001437": 5760.0,  # H10 (lost)
    "19834001288": 18000.0,  # H11 quarterly
    "19834001289": 12240.0,  # H12 per_six_months 6,120 × 2
    "19834001491": 7680.0,  # H14 (open)
    "19834001330": 10800.0,  # H15 monthly, no term (auto-renew)
    "19834001332": 7200.0,  # H17 annually
    "19834001510": 6000.0,  # H18 (open)
}
# EXPECTED.md "list value/yr" = hs_pre_discount_amount × periods per year.
INTERNAL_LIST = {**INTERNAL_ARR, "19834001201": 30000.0, "19834001219": 16800.0, "19834001289": 14400.0}


@pytest.mark.parametrize("folder", [HS_INTERNAL, HS_INTERNAL_NOCALC], ids=["with_hs_arr", "without_calculated"])
def test_internal_line_items_rows_used_and_left_out(cli, folder):
    # EXPECTED.md "Row accounting": 18 rows, 13 used, 0 rejected, 5 left out with a reason: the
    # one-time charges (rows 2, 6, 9, 16) and the quote's copy of H11 (row 13, no deal).
    result = cli("validate", "--profile", "hubspot", "--data", str(folder), "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert counts(result.stderr, "line_items") == (18, 13, 0)
    assert "5 excluded" in result.stderr
    assert counts(result.stderr, "accounts") == (6, 6, 0)
    assert counts(result.stderr, "products") == (6, 6, 0)
    left_out = issues(result).filter(pl.col("severity") == "excluded").sort(pl.col("row").cast(pl.Int64))
    assert left_out["row"].to_list() == ["2", "6", "9", "13", "16"]
    assert left_out["header"].to_list() == ["recurringbillingfrequency"] * 3 + ["Associated Deal IDs"] + [
        "recurringbillingfrequency"
    ]
    assert all("one-time charge" in m for m in left_out.filter(pl.col("row") != "13")["message"])
    assert "no deal" in left_out.filter(pl.col("row") == "13")["message"][0]
    assert issues(result).filter(pl.col("severity") != "excluded").is_empty()


@pytest.mark.parametrize("folder", [HS_INTERNAL, HS_INTERNAL_NOCALC], ids=["with_hs_arr", "without_calculated"])
def test_internal_line_items_amount_is_per_billing_period_and_annualised(lib, folder):
    # Issue 13 item 7: a monthly line's amount is never its ARR. Won ARR 166,200, not 64,450.
    book, _, _ = lib({"profile": "hubspot", "data": folder})
    assert amounts(book) == INTERNAL_ARR
    won = book.line_items.filter(pl.col("stage") == "won")
    assert won["amount"].sum() == 166200.0
    assert column(book, "list_amount") == pytest.approx(INTERNAL_LIST)
    discounts = column(book, "discount")
    assert discounts["19834001201"] == pytest.approx(0.10) and discounts["19834001289"] == pytest.approx(0.15)
    assert discounts["19834001219"] is None  # "discount" is 2.00 per unit: money, not a fraction


@pytest.mark.parametrize("folder", [HS_INTERNAL, HS_INTERNAL_NOCALC], ids=["with_hs_arr", "without_calculated"])
def test_internal_line_items_join_their_deals_by_internal_names(lib, folder):
    # EXPECTED.md: booked_at = the deal's closedate (date part, UTC), stage from dealstage,
    # account = Associated Company IDs (Primary) (Dovetail's deal also lists Elmstead), rep = owner ID.
    book, _, model = lib({"profile": "hubspot", "data": folder})
    assert stage_counts(book) == {"won": 10, "lost": 1, "open": 2}
    assert column(book, "booked_at")["19834001201"] == d("2024-01-15")
    assert column(book, "start_date")["19834001355"] == d("2024-06-20")
    assert column(book, "account_id")["19834001288"] == DOVETAIL
    assert column(book, "rep")["19834001288"] == "81234501"
    assert column(book, "contract_id")["19834001288"] == "28391740019"
    assert land_dates(model) == {
        ARCADIA: d("2024-01-15"),
        BRIGHTWATER: d("2024-02-09"),
        CORVID: d("2024-03-28"),
        DOVETAIL: d("2024-05-02"),
        ELMSTEAD: d("2024-07-19"),
    }
    assert days_to_first_cross_sell(model) == {ARCADIA: 157, BRIGHTWATER: 209}
    families = dict(book.products.select("product_id", "family").iter_rows())
    owned = {families[p] for p in book.line_items.filter(pl.col("stage") == "won")["product_id"]}
    assert owned == {"Core Platform", "Insights", "Payments"}  # one-time Services lines own nothing


@pytest.mark.parametrize("variant", ["hubspot_line_items_internal", "hubspot_line_items_internal_without_calculated"])
def test_internal_line_items_attach_and_expansion(cli, variant):
    # EXPECTED.md "Family attach" and "Expansion (bookings mode, quarters)".
    base = args_of(VARIANTS[variant])
    table = frame(cli("attach", *base, "--all", "--format", "csv"))
    insights = row_where(table, base_family="Core Platform", target_family="Insights")
    assert (int(insights["base_accounts"]), int(insights["both_accounts"]), f(insights["attach_rate"])) == (5, 2, 0.4)
    assert (int(insights["co_booked"]), int(insights["cross_sold_after"])) == (1, 1)
    payments = row_where(table, base_family="Core Platform", target_family="Payments")
    assert (int(payments["base_accounts"]), int(payments["both_accounts"]), f(payments["attach_rate"])) == (5, 3, 0.6)
    assert table.filter(pl.col("target_family") == "Services").is_empty()
    kpi = row_where(frame(cli("summary", *base, "--format", "csv")), kpi="multi_product_rate")
    assert f(kpi["value"]) == pytest.approx(0.8)
    quarters = frame(cli("expansion", *base, "--format", "csv"))
    got = {r["period"]: (f(r["new"]), f(r["cross_sell"])) for r in quarters.to_dicts()}
    assert got == {
        "2024-Q1": (99360.0, 0.0),
        "2024-Q2": (30240.0, 9600.0),
        "2024-Q3": (18000.0, 9000.0),
        "2024-Q4": (0.0, 0.0),
    }


def test_internal_line_items_without_frequency_or_arr_are_refused(cli, tmp_path):
    # Issue 13 item 7: amount is per billing period; with no recurringbillingfrequency and no hs_arr
    # nothing can annualise it, and taking it as ARR would be silently wrong: a structural error.
    folder = tmp_path / "export"
    folder.mkdir()
    for name in HS_INTERNAL_NOCALC.iterdir():
        shutil.copy(name, folder)
    derived_csv(
        HS_INTERNAL_NOCALC / HS_INTERNAL_LINES,
        folder / HS_INTERNAL_LINES,
        lambda t: t.drop("recurringbillingfrequency"),
    )
    result = cli("validate", "--profile", "hubspot", "--data", str(folder), "--format", "csv")
    assert result.exit_code == 65
    assert "'amount' is the line's value per billing period" in result.stderr
    assert "recurringbillingfrequency" in result.stderr and "hs_arr" in result.stderr
    assert "Traceback" not in result.output


def test_internal_line_items_alone_hint_names_the_deals_export(cli, tmp_path):
    # The line items alone: no company, and the hint never proposes the deal id as the account.
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(HS_INTERNAL / HS_INTERNAL_LINES, alone)
    result = cli("validate", "--profile", "hubspot", "--line-items", str(alone / HS_INTERNAL_LINES))
    assert result.exit_code == 65
    assert "deals export" in result.stderr and "data.line_items.lookup" in result.stderr
    assert "account_id: 'Associated Deal IDs'" not in result.stderr


# ---------------------------------------------------------------------------------------------
# salesforce_objects (issue 13, item 8): Data Loader object exports, joined by the profile

HALCYON, IRONBARK, JUNIPER = "0018d00001HaLcYAAV", "0018d00001IrNbKAAV", "0018d00001JuNpRAAV"
KESTREL, LUMEN, MARLOWE = "0018d00001KeStLAAV", "0018d00001LuMnRAAV", "0018d00001MaRlWAAV"

# EXPECTED.md "Lines": ARR = TotalPrice, by the 15-character form of the line Id.
OBJECTS_ARR = {
    "00k8d00000Ra1Aa": 43200.0,  # S1
    "00k8d00000Ra1Ab": 24000.0,  # S2
    "00k8d00000Rb2Bc": 36000.0,  # S3
    "00k8d00000Rc3Cd": 84000.0,  # S4
    "00k8d00000Rc3Ce": 48000.0,  # S5
    "00k8d00000Rd4Df": 54000.0,  # S6
    "00k8d00000Rd4Dg": 37500.0,  # S7
    "00k8d00000Re5Eh": 12750.0,  # S8 (lost)
    "00k8d00000Rf6Fj": 18000.0,  # S9
    "00k8d00000Rg7Gk": 450.0,  # S10 (pass-through)
    "00k8d00000Rg7Gm": 13500.0,  # S11
    "00k8d00000Rh8Hn": 68400.0,  # S12
    "00k8d00000Rh8Hp": 34200.0,  # S13
    "00k8d00000Rh8Hq": 51300.0,  # S14
    "00k8d00000Rj9Jr": 24000.0,  # S15
    "00k8d00000Rj9Js": 12000.0,  # S16
    "00k8d00000Rj9Jt": 18000.0,  # S17
    "00k8d00000Rk1Ku": 12000.0,  # S18
    "00k8d00000Rk1Kv": 7200.0,  # S19
    "00k8d00000Rm2Lw": 6000.0,  # S20 (open)
    "00k8d00000Rn3Mx": 8640.0,  # S21 (lost)
    "00k8d00000Rn3My": 4320.0,  # S22 (lost)
    "00k8d00000Rn3Mz": 6480.0,  # S23 (lost)
}


def test_objects_rows_used_with_the_profile_alone(cli):
    # EXPECTED.md "Row accounting": 23 rows, 23 used, 0 rejected; accounts 6; products 5; no orphans.
    result = cli("validate", *args_of(VARIANTS["salesforce_objects"]), "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert frame(result).is_empty()
    assert counts(result.stderr, "line_items") == (23, 23, 0)
    assert counts(result.stderr, "accounts") == (6, 6, 0)
    assert counts(result.stderr, "products") == (5, 5, 0)


def test_objects_lines_take_account_date_and_outcome_from_their_opportunity(lib):
    # EXPECTED.md "Lines" and "Opportunities": the opportunity's AccountId, CloseDate, IsWon/IsClosed
    # and OwnerId; contract = OpportunityId; start = ServiceDate where set.
    book, _, _ = lib(VARIANTS["salesforce_objects"])
    assert amounts(book, sf15) == OBJECTS_ARR
    assert book.line_items.filter(pl.col("stage") == "won")["amount"].sum() == 585750.0
    assert stage_counts(book) == {"won": 18, "lost": 4, "open": 1}
    accounts = {k: sf15(v) for k, v in column(book, "account_id", sf15).items()}
    assert accounts["00k8d00000Rg7Gk"] == sf15(JUNIPER)
    assert accounts["00k8d00000Rn3Mx"] == sf15(MARLOWE)
    assert column(book, "booked_at", sf15)["00k8d00000Rb2Bc"] == d("2023-10-02")
    assert column(book, "start_date", sf15)["00k8d00000Rb2Bc"] == d("2023-10-15")  # ServiceDate
    assert column(book, "start_date", sf15)["00k8d00000Rg7Gk"] == d("2024-01-31")  # no ServiceDate
    assert sf15(column(book, "contract_id", sf15)["00k8d00000Rg7Gk"]) == "0068d00000TnG7h"
    assert sf15(column(book, "rep", sf15)["00k8d00000Rg7Gk"]) == "0058d00000AbCdG"  # Priscilla Wan
    assert column(book, "list_amount", sf15)["00k8d00000Rd4Df"] == 60000.0  # below list, no Discount
    assert column(book, "discount", sf15)["00k8d00000Rd4Df"] is None
    assert column(book, "discount", sf15)["00k8d00000Rc3Cd"] == pytest.approx(0.125)


def test_objects_attach_timing_expansion_and_flags(cli, lib):
    # EXPECTED.md "Families owned and attach", "Won lines per account", the pass-through flag.
    base = args_of(VARIANTS["salesforce_objects"])
    table = frame(cli("attach", *base, "--all", "--format", "csv"))
    analytics = row_where(table, base_family="Platform", target_family="Analytics")
    assert (int(analytics["base_accounts"]), int(analytics["both_accounts"]), f(analytics["attach_rate"])) == (
        5,
        3,
        0.6,
    )
    assert (int(analytics["co_booked"]), int(analytics["cross_sold_after"])) == (2, 1)
    security = row_where(table, base_family="Platform", target_family="Security")
    assert (int(security["both_accounts"]), int(security["co_booked"]), int(security["cross_sold_after"])) == (5, 3, 2)
    kpi = row_where(frame(cli("summary", *base, "--format", "csv")), kpi="multi_product_rate")
    assert f(kpi["value"]) == 1.0
    _, _, model = lib(VARIANTS["salesforce_objects"])
    days = {sf15(a): n for a, n in days_to_first_cross_sell(model).items()}
    assert days == {sf15(HALCYON): 202, sf15(JUNIPER): 224}
    years = frame(cli("expansion", *base, "--period", "year", "--format", "csv"))
    got = {r["period"]: (f(r["new"]), f(r["cross_sell"]), f(r["upsell"])) for r in years.to_dicts()}
    assert got == {"2023": (330600.0, 36000.0, 0.0), "2024": (19200.0, 13500.0, 186000.0)}
    flags = frame(cli("flags", *base, "--format", "csv"))
    assert flags.select("flag", "line_id").rows() == [("pass_through", "00k8d00000Rg7Gk")]


def test_objects_opportunity_file_is_the_one_named_after_the_object(cli, tmp_path):
    # A real export folder also holds OpportunityHistory, OpportunityContactRole...: the file whose
    # name is the object wins; nothing is ambiguous.
    folder = tmp_path / "export"
    shutil.copytree(SF_OBJECTS, folder)
    (folder / "OpportunityHistory.csv").write_text(
        '"ID","OPPORTUNITYID","STAGENAME"\n"0088d00000X1","0068d00000TnA1bAAF","Closed Won"\n'
    )
    (folder / "OpportunityContactRole.csv").write_text(
        '"ID","OPPORTUNITYID","CONTACTID"\n"00K8d00000Y1","0068d00000TnA1bAAF","0038d00000Z1"\n'
    )
    result = cli(
        "validate",
        "--profile",
        "salesforce",
        "--data",
        str(folder),
        "--line-items",
        str(folder / "OpportunityLineItem.csv"),
        "--format",
        "csv",
    )
    assert result.exit_code == 0, result.stderr
    assert counts(result.stderr, "line_items") == (23, 23, 0)


def test_objects_line_items_alone_never_suggest_the_opportunity_as_the_account(cli, tmp_path):
    # Issue 13 item 8: the hint suggested columns: {line_items: {account_id: 'OPPORTUNITYID'}}, which
    # would make every opportunity a customer. It names the Opportunity export instead.
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(SF_OBJECTS / "OpportunityLineItem.csv", alone)
    for profile in (["--profile", "salesforce"], []):
        result = cli("validate", *profile, "--line-items", str(alone / "OpportunityLineItem.csv"))
        assert result.exit_code == 65
        assert "no column for account_id" in result.stderr
        assert "account_id: 'OPPORTUNITYID'" not in result.stderr
        assert "closest header is 'OPPORTUNITYID'" not in result.stderr
        assert "Traceback" not in result.output
        if profile:
            assert "Opportunity export" in result.stderr and "OpportunityId" in result.stderr
            assert "do not map it to account_id" in result.stderr


def test_objects_line_whose_opportunity_is_missing_is_rejected_for_that(cli, tmp_path):
    # S1's opportunity is not in Opportunity.csv: the line is rejected because of it (never used with
    # an empty account, and not reported only as "is_won is empty").
    folder = tmp_path / "export"
    shutil.copytree(SF_OBJECTS, folder)
    derived_csv(
        SF_OBJECTS / "OpportunityLineItem.csv",
        folder / "OpportunityLineItem.csv",
        lambda t: t.with_columns(
            pl.when(pl.col("ID") == "00k8d00000Ra1AaAAJ")
            .then(pl.lit("0068d00000ZzZzZAAF"))
            .otherwise(pl.col("OPPORTUNITYID"))
            .alias("OPPORTUNITYID")
        ),
    )
    result = cli("validate", "--profile", "salesforce", "--data", str(folder), "--format", "csv")
    assert result.exit_code == 65
    assert counts(result.stderr, "line_items") == (23, 22, 1)
    unmatched = issues(result).filter(pl.col("rule") == "lookup_unmatched")
    assert unmatched.select("row", "header", "value").rows() == [("1", "OPPORTUNITYID", "0068d00000ZzZzZAAF")]
    assert "is not in the file joined to the line items" in unmatched["message"][0]
