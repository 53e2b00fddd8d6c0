"""The canonical tables and columns, declared once (SPEC §1).

Every export is mapped onto these names. A column's ``kind`` says how its text is
parsed (see ``parse.py``); ``synonyms`` are the headers that exports really use,
matched after ``normalize_header`` (case, spaces and punctuation ignored).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["id", "text", "date", "money", "number", "fraction", "bool", "stage", "period"]
TableName = Literal["line_items", "accounts", "products"]
TABLES: tuple[TableName, ...] = ("line_items", "accounts", "products")


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    help: str
    synonyms: tuple[str, ...] = ()
    required: bool = False
    # The canonical name is tried before the synonyms, except where a synonym spelling it
    # ranks it among them: a CRM's 'Amount' is the deal's, and its line's 'Total Price' or
    # ARR comes first.
    name_first: bool = True


@dataclass(frozen=True)
class Table:
    name: TableName
    columns: tuple[Column, ...]
    # Alternatives where one of several columns must be present, e.g. the line's value
    # may come as an ARR amount, a per-period amount or a unit price.
    one_of: tuple[tuple[str, ...], ...] = field(default=())

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


_ACCOUNT_ID = (
    "Account ID",
    "AccountId",
    "Account.Id",
    "Opportunity: Account ID",
    "Opportunity.AccountId",
    "SBQQ__Account__c",
    "Customer ID",
    "CustomerID",
    "Customer Id",
    "Company ID",
    "Associated Company IDs (Primary)",
    "Associated Company ID",
    "client_id",
    "org_id",
    "organization_id",
    "Account Number",
    "AccountNumber",
    "customer_number",
    "cust_id",
    "Customer",
    "Company",
    "Account",
    "Account Name",
    "Client",
)

LINE_ITEMS = Table(
    name="line_items",
    columns=(
        Column("account_id", "id", "the buying account", _ACCOUNT_ID, required=True),
        Column(
            "product_id",
            "id",
            "the product sold on this line",
            (
                "Product ID",
                "ProductId",
                "Product2Id",
                "Product2.Id",
                "SBQQ__Product__c",
                "hs_product_id",
                "price.product",
                "Product Code",
                "ProductCode",
                "SKU",
                "StockCode",
                "Stock Code",
                "item_id",
                "plan_id",
                "Product",
                "Product Name",
                "Plan",
                "plan_tier",
                "Item",
                "Service",
            ),
            required=True,
        ),
        Column(
            "booked_at",
            "date",
            "close/booking date (CRM) or subscription start (billing)",
            (
                "Close Date",
                "CloseDate",
                "Opportunity.CloseDate",
                "closedate",
                "Booking Date",
                "Booked Date",
                "booked_on",
                "Order Date",
                "InvoiceDate",
                "Invoice Date",
                "Won Date",
                "Date Won",
                "Signed Date",
                "Contract Date",
                "Transaction Date",
                "Purchase Date",
                "Sale Date",
                "Created (UTC)",
                "Date",
            ),
        ),
        Column(
            "amount",
            "money",
            "annualised recurring value (ARR) of the line",
            (
                "ARR",
                "arr_amount",
                "Annual Recurring Revenue",
                "hs_arr",
                "Annual Value",
                "ACV",
                "Total Price",
                "TotalPrice",
                "Line Total",
                "Net Amount",
                "Net Total",
                "Amount",
                "Sales",
                "close_value",
                "Revenue",
                "Value",
                "price_usd",
                "Total",
            ),
            name_first=False,
        ),
        Column(
            "period_amount",
            "money",
            "value of the line per billing period (annualised with billing_period)",
            ("Period Amount", "Recurring Amount"),
        ),
        Column(
            "unit_price",
            "money",
            "price per unit (amount = unit_price × quantity)",
            ("UnitPrice", "Unit Price", "Sales Price", "SalesPrice", "Net Price", "unit_amount"),
        ),
        Column(
            "start_date",
            "date",
            "service start; defaults to booked_at",
            (
                "Start Date",
                "ServiceDate",
                "Service Date",
                "SBQQ__StartDate__c",
                "Start (UTC)",
                "service_start",
                "subscription_start",
                "Term Start",
                "Effective Date",
            ),
        ),
        Column(
            "end_date",
            "date",
            "service end, exclusive; empty = still active",
            (
                "End Date",
                "SBQQ__EndDate__c",
                "Ended At (UTC)",
                "Ended At",
                "service_end",
                "subscription_end",
                "Term End",
                "Churn Date",
                "Cancel Date",
                "Cancellation Date",
                "Termination Date",
                "Expiration Date",
            ),
        ),
        Column(
            "list_amount",
            "money",
            "list value before discount",
            ("List Amount", "List Total", "List Value", "Gross Amount"),
        ),
        Column(
            "period_list_amount",
            "money",
            "list value per billing period (annualised with billing_period into list_amount)",
            ("Period List Amount",),
        ),
        Column(
            "list_price",
            "money",
            "list price per unit on the line (list_amount = × quantity)",
            ("ListPrice", "List Price", "SBQQ__ListPrice__c"),
        ),
        Column(
            "discount",
            "fraction",
            "0–1 fraction (a value > 1 is read as a percentage)",
            (
                "Discount",
                "Discount %",
                "Discount Percent",
                "discount_pct",
                "discount_rate",
                "hs_discount_percentage",
                "SBQQ__Discount__c",
            ),
        ),
        Column(
            "quantity",
            "number",
            "seats/units, default 1",
            ("Quantity", "Qty", "Seats", "Units", "Licenses", "SBQQ__Quantity__c"),
        ),
        Column(
            "contract_id",
            "id",
            "opportunity / contract / subscription the line was booked on",
            (
                "Contract ID",
                "ContractId",
                "SBQQ__Contract__c",
                "Opportunity ID",
                "OpportunityId",
                "Opportunity.Id",
                "Deal ID",
                "Order ID",
                "InvoiceNo",
                "Invoice No",
                "Invoice ID",
                "Invoice Number",
                "Subscription ID",
                "Quote ID",
            ),
        ),
        Column(
            "rep",
            "text",
            "owner of the deal",
            (
                "Sales Rep",
                "Opportunity Owner",
                "Opportunity.Owner.Name",
                "Opportunity.OwnerId",
                "Deal Owner",
                "sales_agent",
                "Account Executive",
                "Salesperson",
                "Owner Name",
                "Owner",
                "OwnerId",
                "hubspot_owner_id",
            ),
        ),
        Column(
            "stage",
            "stage",
            "won / lost / open (mapped by the stages: config)",
            (
                "Stage",
                "StageName",
                "Opportunity.StageName",
                "Deal Stage",
                "dealstage",
                "deal_stage",
                "Status",
                "Outcome",
            ),
        ),
        Column(
            "line_id",
            "id",
            "unique line key; default the 1-based data row number",
            (
                "Line ID",
                "Line Item ID",
                "LineItemId",
                "OpportunityLineItemId",
                "Row ID",
                "order_item_id",
                "subscription_item_id",
                "Id",
                "Record ID",
            ),
        ),
        Column(
            "currency",
            "text",
            "ISO currency code of amount",
            ("Currency", "CurrencyIsoCode", "currency_code", "hs_line_item_currency_code"),
        ),
        Column(
            "billing_period",
            "period",
            "billing period of period_amount/unit_price (P1M, year…)",
            (
                # not hs_recurring_billing_period: that is HubSpot's *term* (P12M), not how often it bills
                "recurringbillingfrequency",
                "Billing Period",
                "Billing Frequency",
                "Interval",
                "price.recurring.interval",
            ),
        ),
        Column(
            "billing_interval_count",
            "number",
            "billing periods per invoice (Stripe interval_count: month × 3 = quarterly)",
            ("interval_count", "price.recurring.interval_count", "Interval Count"),
        ),
        Column(
            "unit_price_minor",
            "money",
            "price per unit in the currency's minor unit (cents), like Stripe's unit_amount",
            ("unit_amount_minor",),
        ),
        Column(
            "term_multiplier",
            "number",
            "years the unit price covers (CPQ prorate multiplier): amount = price × quantity ÷ it",
            ("Prorate Multiplier", "SBQQ__ProrateMultiplier__c"),
        ),
        Column(
            "is_won",
            "bool",
            "true when the deal was won (Salesforce IsWon); with is_closed it decides the stage",
            ("IsWon", "Opportunity.IsWon"),
        ),
        Column(
            "is_closed",
            "bool",
            "true when the deal is closed (Salesforce IsClosed): closed and not won = lost",
            ("IsClosed", "Opportunity.IsClosed"),
        ),
        Column(
            "bundled",
            "bool",
            "true when the line is a bundle component (never a cross-sell)",
            ("SBQQ__Bundled__c", "Is Bundled", "Bundle Component"),
        ),
        Column(
            "parent_line_id",
            "id",
            "the line a bundle component belongs to",
            ("SBQQ__RequiredById__c", "Required By", "Parent Line ID"),
        ),
    ),
    one_of=(
        ("booked_at", "start_date"),
        ("amount", "period_amount", "unit_price", "unit_price_minor"),
    ),
)

ACCOUNTS = Table(
    name="accounts",
    columns=(
        Column(
            "account_id",
            "id",
            "the account key",
            ("Id", "hs_object_id", "Record ID", *_ACCOUNT_ID),
            required=True,
        ),
        Column(
            "account_name",
            "text",
            "display name",
            ("Account Name", "Company name", "Customer Name", "Name", "Customer", "Company", "Account"),
        ),
        Column(
            "segment",
            "text",
            "segment, used by whitespace evidence and --where",
            ("Segment", "Customer Segment", "Market Segment", "Account Segment", "Company Size"),
        ),
        Column("industry", "text", "industry", ("Industry", "Sector", "Vertical")),
        Column(
            "region",
            "text",
            "region",
            (
                "Region",
                "Territory",
                "Geo",
                "Sales Region",
                "BillingCountry",
                "Billing Country",
                "Country",
                "office_location",
            ),
        ),
        Column(
            "owner",
            "text",
            "account owner",
            ("Account Owner", "Owner", "OwnerId", "Company owner", "hubspot_owner_id", "CSM"),
        ),
        Column(
            "created_at",
            "date",
            "account creation date",
            ("CreatedDate", "Created Date", "Create Date", "createdate", "signup_date", "Customer Since"),
        ),
    ),
)

PRODUCTS = Table(
    name="products",
    columns=(
        Column(
            "product_id",
            "id",
            "the product key",
            ("Id", "Product2Id", *LINE_ITEMS.column("product_id").synonyms),
            required=True,
        ),
        Column(
            "product_name",
            "text",
            "display name",
            ("Product Name", "Name", "Description", "Title", "Product"),
        ),
        Column(
            "family",
            "text",
            "product line; tiers of one product share a family",
            ("Family", "Product Family", "Series", "Product Line", "Category"),
        ),
        Column(
            "list_price",
            "money",
            "annual list price per unit",
            (
                "List Price",
                "ListPrice",
                "sales_price",
                "Standard Price",
                "Price",
                "UnitPrice",
                "Unit Price",
                "unit_amount",
                "MSRP",
            ),
        ),
        Column(
            "sellable",
            "bool",
            "default true; unsellable products are never whitespace",
            ("IsActive", "Active", "Is Active", "For Sale", "Available"),
        ),
    ),
)

SCHEMA: dict[TableName, Table] = {t.name: t for t in (LINE_ITEMS, ACCOUNTS, PRODUCTS)}

_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def normalize_stage(value: str) -> str:
    """A stage value as the stage map keys it: lower case, letters and digits only ('Closed
    Won' -> 'closedwon'), as headers are matched."""
    return normalize_header(value)


def normalize_header(header: str) -> str:
    """'Opportunity: Account ID' -> 'opportunityaccountid' (case, spaces, punctuation ignored)."""
    return _NON_ALNUM.sub("", header.lower())


def header_suffix(header: str) -> str | None:
    """'Opportunity: Account ID' -> 'accountid'; 'Opportunity.CloseDate' -> 'closedate'.

    Object-qualified headers (Salesforce reports and API exports) name the field after
    the last ':' or '.', and that field name alone is worth matching.
    """
    parts = re.split(r"[:.]", header)
    if len(parts) < 2:
        return None
    tail = normalize_header(parts[-1])
    return tail or None
