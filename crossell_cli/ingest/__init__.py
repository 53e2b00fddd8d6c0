"""Ingest: export files -> the canonical book, as lazy frames, with every row accounted for.

read.py      a file -> its cells, numbered rows (CSV, Parquet with a typed fast path, XLSX)
headers.py   an export's headers -> canonical columns (synonyms, profiles, the config); unread ones named
profiles.py  the built-in export profiles (Salesforce, HubSpot, Stripe)
parsers.py   cell text -> typed values, as Polars expressions
rules.py     the rule table: every check a row goes through, with its message and fix
table.py     one table through the parsers and the cell rules: (kept rows, issues, counts)
book.py      the tables together: line stage, set stage, warnings, counts -> Book
wide.py      a wide "who owns what" export -> dateless line items
"""

from .book import (
    ACCOUNT_DTYPES,
    COUNTS_SCHEMA,
    LINE_ITEM_DTYPES,
    PRODUCT_DTYPES,
    Book,
    Guard,
    accounts_from_lines,
    explain,
    load,
    load_probed,
    missing_columns,
    reads_list_values,
    unread_column_warnings,
    unread_line_columns,
    with_profile_lookups,
)
from .parsers import normalize_id
from .profiles import available as available_profiles
from .profiles import load_profile
from .read import parquet_text_error
from .repeats import ROW_HASH
from .table import ISSUE_SCHEMA, TableSource

__all__ = [
    "ACCOUNT_DTYPES",
    "COUNTS_SCHEMA",
    "ISSUE_SCHEMA",
    "LINE_ITEM_DTYPES",
    "PRODUCT_DTYPES",
    "ROW_HASH",
    "Book",
    "Guard",
    "TableSource",
    "accounts_from_lines",
    "available_profiles",
    "explain",
    "load",
    "load_probed",
    "load_profile",
    "missing_columns",
    "normalize_id",
    "parquet_text_error",
    "reads_list_values",
    "unread_column_warnings",
    "unread_line_columns",
    "with_profile_lookups",
]
