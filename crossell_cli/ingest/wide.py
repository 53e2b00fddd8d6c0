"""Wide "who owns what" exports -> line items without dates.

Some exports have one row per account and one yes/no column per product (a telco's
PhoneService, InternetService, StreamingTV…), or one multi-select column
("CRM;Analytics;Payroll"). Each owned cell becomes a line item of that account; there are no
dates or amounts, so the book is marked dateless: attach, whitespace and the multi-product
rate work, and the commands that need dates say so.

A cell owns its product unless it says no: empty, no / false / 0 / none, or a phrase that
starts with "no " ("No internet service"). A plain yes names the column's product; any other
value names a tier of it ("Fiber optic" -> product "Internet (Fiber optic)", family
"Internet").
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from ..config import Wide
from ..errors import ConfigError
from ..schema import normalize_header
from ..text import fmt
from .read import ROW, RawTable

# Wide exports have no dates: their lines are dated this day and the book is marked dateless.
NO_DATE = dt.date(1970, 1, 1)
_NO = ("", "no", "n", "false", "f", "0", "none", "null", "nan", "-", "unchecked", "off")
_YES = ("yes", "y", "true", "t", "1", "x", "checked", "on")


def _index(raw: RawTable, header: str, key: str) -> int:
    normalized = [normalize_header(h) for h in raw.headers]
    target = normalize_header(header)
    for i, name in enumerate(normalized):
        if name == target:
            return i
    raise ConfigError(
        f"config key '{key}': {raw.path.name} has no column '{header}'",
        hint="headers found: " + ", ".join(raw.headers),
    )


def owned_lines(raw: RawTable, wide: Wide) -> pl.LazyFrame:
    """One row per owned (wide row, product): _row, account_text, product_id, family."""
    account = pl.col(raw.column(_index(raw, wide.account, "data.line_items.wide.account")))
    no = [*_NO, *(v.strip().lower() for v in wide.no_values)]
    parts: list[pl.LazyFrame] = []
    for header, family in wide.columns.items():
        cell = pl.col(raw.column(_index(raw, header, f"data.line_items.wide.columns.{header}"))).fill_null("")
        text = cell.str.strip_chars()
        lower = text.str.to_lowercase()
        owned = ~lower.is_in(no) & ~lower.str.starts_with("no ")
        product = pl.when(lower.is_in(list(_YES))).then(pl.lit(family)).otherwise(fmt(f"{family} ({{}})", text))
        parts.append(
            raw.frame.filter(owned).select(
                pl.col(ROW), account.alias("account_text"), product.alias("product_id"), pl.lit(family).alias("family")
            )
        )
    if wide.select is not None:
        column = pl.col(raw.column(_index(raw, wide.select, "data.line_items.wide.select"))).fill_null("")
        parts.append(
            raw.frame.select(pl.col(ROW), account.alias("account_text"), column.str.split(wide.separator).alias("v"))
            .explode("v")
            .with_columns(pl.col("v").str.strip_chars())
            .filter(~pl.col("v").str.to_lowercase().is_in(no))
            .select(ROW, "account_text", pl.col("v").alias("product_id"), pl.col("v").alias("family"))
        )
    if not parts:
        raise ConfigError(
            "config key 'data.line_items.wide' names no product columns",
            hint="list them under columns: {Header: Product} or name a multi-select column with select:",
        )
    return pl.concat(parts, how="vertical").unique(maintain_order=True)
