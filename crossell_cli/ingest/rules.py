"""The rule table: every check an input row goes through, one record per rule.

A rule names what it checks (``name``), where (``tables``, ``column``), what a broken rule
does to the row (``severity``: ``rejected`` rows are not used; a ``warning`` row is used and
listed by ``xsell validate``; an ``excluded`` row is left out on purpose by the config), the
check itself as a Polars expression that is true on the rows breaking it, and the message
and fix ``xsell validate`` prints. ``column`` is a canonical column, ``kind:<kind>`` for
every mapped column of that kind, ``required`` for each required column (and the first
mapped column of each group of alternatives, such as amount / period_amount / unit_price),
or ``(row)`` for the row as a whole.

Rules run in stages, all inside one lazy plan over one scan (``table.py``):

- ``cell``: the cells of one row as parsed (``parse_error`` reads the rule name a parser
  gave, see parsers.py), plus missing values and ragged rows;
- ``line``: a line item's derived values (annual amount, currency), on the rows the cell
  rules kept; the first rule a row breaks is the one reported;
- ``set``: rules over the kept rows as a set (a repeated line_id);
- ``check``: warnings over the used tables (orphans, odd values, repeated keys).

Adding a rule is one record here (its check reads columns the stage provides) and one
parametrised case in tests/test_rules.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import polars as pl

from ..schema import TableName
from ..text import CONTROL_ESCAPES
from . import parsers as p

Severity = Literal["rejected", "warning", "excluded"]
Stage = Literal["cell", "line", "set", "check"]

LINES: tuple[TableName, ...] = ("line_items",)
DIMENSIONS: tuple[TableName, ...] = ("accounts", "products")
ALL: tuple[TableName, ...] = ("line_items", "accounts", "products")

# Columns every stage provides for a mapped canonical column ``c``: ``c`` (typed value),
# ``__e_c`` (the rule name its parser gave, or null) and ``__t_c`` (the cell's text).


def error_of(column: str) -> str:
    return f"__e_{column}"


def text_of(column: str) -> str:
    return f"__t_{column}"


# Columns the cell stage adds for its rules: ``__needs`` (the row is a won or lost line, or
# a row of a table without stages: it must be complete), ``__missing_<c>`` (true when the
# row lacks every column of the group ``c`` leads) and ``__ragged`` (text beyond the header).
NEEDS = "__needs"
RAGGED = "__ragged"
HEADER_ROW = "__header_row"  # every mapped cell repeats its header: a second export's header row
LOOKUP = "__lookup_hit"  # true where the row found its record in a joined file (always true without one)
LOOKUP_VALUE = "__lookup_value"  # the text the row was matched on
# Columns the check stage adds for its rules: ``__duplicate_of`` (the earlier used row this
# row repeats cell for cell, or null) and ``__concurrent`` (won lines of the same account and
# product active when this line starts, itself included; null when the book has no end dates).
DUPLICATE_OF = "__duplicate_of"
CONCURRENT = "__concurrent"


def missing_of(column: str) -> str:
    return f"__missing_{column}"


@dataclass(frozen=True)
class Rule:
    name: str
    tables: tuple[TableName, ...]
    column: str
    severity: Severity
    stage: Stage
    check: Callable[[str], pl.Expr]  # column -> true where the row breaks the rule
    message: str  # '{v}' is the cell's value, '{c}' the column, '{t}' the table
    fix: str = ""
    # Only for columns that are (True) or are not (False) required; None: every column.
    required: bool | None = None
    # check stage: the column whose value the issue shows as '{v}' (default: ``column``).
    shows: str | None = None

    @property
    def text(self) -> str:
        """The message as ``xsell validate`` prints it."""
        whole = f"{self.message}; {self.fix}" if self.fix else self.message
        if self.severity == "warning" and self.stage == "cell":
            whole += " (this cell is ignored; the row is used)"
        return whole


def parse_error(rule: str) -> Callable[[str], pl.Expr]:
    return lambda column: pl.col(error_of(column)) == rule


def _missing(column: str) -> pl.Expr:
    return pl.col(missing_of(column))


def _ragged(_column: str) -> pl.Expr:
    return pl.col(RAGGED).is_not_null()


_DATE = ("'{v}' is not a date", "write dates as YYYY-MM-DD, or list the file's format in date_formats: in xsell.yaml")
_DATE_ORDER = (
    "'{v}' reads as a date only with day and month the other way round from the column's other dates",
    "the export mixes two date orders: correct the cell, or export the dates as YYYY-MM-DD",
)
_NUMBER = ("'{v}' is not a number", "amounts may look like 1200.50, $1,200.50, USD 1,200.50 or (1,200.00)")
_COUNT = ("'{v}' is not a number", "write {c} as a plain number, such as 3 or 2.5")
_MARK = ("'{v}' uses the other decimal mark", "set decimal_mark: ',' (or '.') in xsell.yaml to match the export")
_BOOL = ("'{v}' is not a yes/no value", "use true/false, yes/no, 1/0 or x")
_PERIOD = ("'{v}' is not a billing period", "use month, quarter, year or an ISO 8601 duration such as P1M or P12M")
_EXCEL = (
    "'{v}' is an ID that Excel turned into scientific notation; the real ID is lost",
    "export again without opening the file in Excel, or format the column as Text",
)


_NOT_ID = (
    "'{v}' is a spreadsheet error or a null marker, not an ID",
    "fix the formula or lookup that wrote it in the export (a cell left empty is read as no value)",
)


def _cell_rules(tables: tuple[TableName, ...], severity: Severity, required: bool | None) -> tuple[Rule, ...]:
    """The parse rules, at one severity, for the columns of ``tables`` (``required`` as in Rule)."""
    kinds: tuple[tuple[str, str, tuple[str, str]], ...] = (
        (p.BAD_DATE, "kind:date", _DATE),
        (p.DATE_ORDER, "kind:date", _DATE_ORDER),
        (p.BAD_NUMBER, "kind:money", _NUMBER),
        (p.BAD_NUMBER, "kind:number", _COUNT),
        (p.BAD_NUMBER, "kind:fraction", _NUMBER),
        (p.DECIMAL_MARK, "kind:money", _MARK),
        (p.DECIMAL_MARK, "kind:number", _MARK),
        (p.DECIMAL_MARK, "kind:fraction", _MARK),
        (p.BAD_BOOL, "kind:bool", _BOOL),
        (p.BAD_PERIOD, "kind:period", _PERIOD),
        (p.EXCEL_ID, "kind:id", _EXCEL),
        (p.NOT_AN_ID, "kind:id", _NOT_ID),
    )
    return tuple(
        Rule(name, tables, column, severity, "cell", parse_error(name), what, fix, required)
        for name, column, (what, fix) in kinds
    )


RULES: tuple[Rule, ...] = (
    # -- cell: a line item with any bad cell is rejected -----------------------------------
    *_cell_rules(LINES, "rejected", None),
    Rule(
        p.UNKNOWN_STAGE,
        LINES,
        "stage",
        "rejected",
        "cell",
        parse_error(p.UNKNOWN_STAGE),
        "stage '{v}' is not mapped to won, lost or open",
        "add it under stages: won/lost/open in xsell.yaml",
    ),
    Rule(
        p.MISSING,
        LINES,
        "stage",
        "rejected",
        "cell",
        _missing,
        "stage is empty, so the line is neither won nor lost; fill it in or drop the row (won, lost or open)",
    ),
    Rule(
        p.MISSING,
        LINES,
        "is_won",
        "rejected",
        "cell",
        _missing,
        "{c} is empty (every won or lost line needs it)",
        "fill it in or drop the row",
    ),
    # A required column (or every column of a one_of group) empty on a won or lost line:
    # open pipeline rows often lack an account, a date or an amount, and no metric uses them.
    Rule(
        p.MISSING,
        LINES,
        "required",
        "rejected",
        "cell",
        _missing,
        "{c} is empty (every won or lost line needs it)",
        "fill it in or drop the row",
    ),
    # A line whose record in the joined file (its deal, its opportunity) is not there: it has
    # no account, date or outcome, and guessing them would be silent.
    Rule(
        "lookup_unmatched",
        LINES,
        "(lookup)",
        "rejected",
        "cell",
        lambda _c: ~pl.col(LOOKUP),
        "{c} '{v}' is not in the file joined to the line items, or is there on rows that disagree, so the "
        "line has no account, date or outcome",
        "export every deal or opportunity the line items refer to, once, or drop the row",
    ),
    Rule(
        "repeated_header",
        ALL,
        "(row)",
        "rejected",
        "cell",
        lambda _c: pl.col(HEADER_ROW),
        "the row repeats the header row (two exports joined into one file?), so it is not data",
        "remove the repeated header rows, or export the data again as one file",
    ),
    Rule(
        "ragged_row",
        ALL,
        "(row)",
        "rejected",
        "cell",
        _ragged,
        "the row has more values than the header ('{v}' is extra)",
        "a value probably contains an unquoted delimiter, or a lone carriage return (\\r, an old Mac line "
        "ending) joined two lines; quote the value, or save the file again with Windows or Unix line endings",
    ),
    # -- cell: an account or product is only rejected for its key --------------------------
    # A bad optional cell (sellable "maybe") is ignored with a warning, so the row's lines
    # keep their family and name instead of turning into orphans.
    *_cell_rules(DIMENSIONS, "rejected", True),
    *_cell_rules(DIMENSIONS, "warning", False),
    Rule(
        p.MISSING,
        DIMENSIONS,
        "required",
        "rejected",
        "cell",
        _missing,
        "{c} is empty (every row of the {t} table needs one)",
        "fill it in or drop the row",
        required=True,
    ),
    # -- line: derived values of a line item (first broken rule wins) ----------------------
    Rule(
        "bad_currency_amount",
        LINES,
        "billing_period",
        "rejected",
        "line",
        lambda _c: pl.col("__period_needs"),
        "'{v}' needs a billing period to be annualised",
        "map billing_period, or give the annual amount",
    ),
    Rule(
        p.MISSING,
        LINES,
        "amount",  # reported on the value column the export has (amount, period_amount, unit_price…)
        "rejected",
        "line",
        lambda _c: pl.col("__amount_missing"),
        "{c} is empty (every won or lost line needs it)",
        "fill it in or drop the row",
    ),
    Rule(
        "no_fx_rate",
        LINES,
        "currency",
        "rejected",
        "line",
        lambda _c: pl.col("__no_fx_rate"),
        "no fx rate for currency '{v}'",
        "add it to fx: in xsell.yaml (units of the reporting currency per 1 unit)",
    ),
    Rule(
        "currency_conflict",
        LINES,
        "currency",
        "rejected",
        "line",
        lambda _c: pl.col("__currency_conflict"),
        "the currency column says '{v}', but the amount is written in another currency",
        "make them agree: correct the symbol or code in the amount, or the currency",
    ),
    Rule(
        "amount_too_large",
        LINES,
        "amount",  # reported on the value column the export has
        "rejected",
        "line",
        lambda _c: pl.col("__amount_too_large"),
        "{c} {v} is 10^15 or more in the reporting currency, too large for one line's annual value",
        "check that the column mapped to the amount holds amounts (not ids or totals), and amount_units: minor",
    ),
    Rule(
        "list_amount_too_large",
        LINES,
        "list_amount",
        "warning",
        "line",
        lambda _c: pl.col("__list_too_large"),
        "{c} {v} is 10^15 or more in the reporting currency, too large for one line's list value; "
        "the line is used without a list value",
        "check the column mapped to the list value",
    ),
    # -- set: the kept rows as a set -------------------------------------------------------
    Rule(
        "duplicate_line_id",
        LINES,
        "line_id",
        "rejected",
        "set",
        lambda _c: pl.col("line_id").is_not_null() & ~pl.col("line_id").is_first_distinct(),
        "line_id '{v}' already appeared on an earlier row; this copy is not counted",
        "remove the duplicate, or map line_id to a column that is unique",
    ),
    # -- check: warnings over the used tables ----------------------------------------------
    Rule(
        "orphan_account",
        LINES,
        "account_id",
        "warning",
        "check",
        lambda _c: pl.col("__orphan_account"),
        "account '{v}' is not in the accounts table; it is used without name or segment",
    ),
    Rule(
        "orphan_product",
        LINES,
        "product_id",
        "warning",
        "check",
        lambda _c: pl.col("__orphan_product"),
        "product '{v}' is not in the products table; it is its own family with no list price",
    ),
    Rule(
        "negative_amount",
        LINES,
        "amount",
        "warning",
        "check",
        lambda _c: pl.col("amount") < 0,
        "amount {v} is negative (a credit or refund?); it is counted as is",
    ),
    Rule(
        "nonpositive_quantity",
        LINES,
        "quantity",
        "warning",
        "check",
        lambda _c: pl.col("quantity") <= 0,
        "quantity {v} is zero or negative (a return or a credit?); the line is counted as is, and so is "
        "a list value worked out as the catalogue's list price × quantity",
    ),
    Rule(
        "end_before_start",
        LINES,
        "end_date",
        "warning",
        "check",
        lambda _c: pl.col("end_date") < pl.col("start_date"),
        "end_date {v} is before start_date; the line is never active",
    ),
    # A closed line booked after today is usually a typo (2204 for 2024); the default as-of
    # date is the last closed line's, so every metric would be measured on that day. Every
    # command warns with the count; validate names the rows.
    Rule(
        "booked_after_today",
        LINES,
        "booked_at",
        "warning",
        "check",
        lambda _c: (
            (pl.col("stage").is_null() | pl.col("stage").is_in(["won", "lost"]))
            & (pl.col("booked_at") > dt.date.today())
        ),
        "booked_at {v} is after today on a closed line (a typo?); the default as-of date is the last closed "
        "line's date, so it moves there: correct the date, or pass --as-of",
    ),
    Rule(
        "discount_out_of_range",
        LINES,
        "discount",
        "warning",
        "check",
        lambda _c: (pl.col("discount") < 0) | (pl.col("discount") > 1),
        "discount {v} is outside 0–1 after reading percentages; check the column",
    ),
    # An exact copy of an earlier used row (every cell the same, unmapped columns included).
    # It is used as it is: a shop's export may hold two identical lines that were two
    # purchases, and xsell cannot tell; the analyst can, and the warning says where.
    Rule(
        "duplicate_row",
        LINES,
        "(row)",
        "warning",
        "check",
        lambda _c: pl.col(DUPLICATE_OF).is_not_null(),
        "every cell repeats row {v}; both rows are used (counted twice); "
        "if the export repeated the line, remove the copy",
        shows=DUPLICATE_OF,
    ),
    # A won line that starts while other won lines of the same product are active for the
    # account (books with end dates only: in a bookings export a repeat order is not held
    # twice). ARR adds them up: right for added seats, wrong when the later line replaces
    # the earlier one (a renewal or plan change exported without ending the old line).
    Rule(
        "overlapping_lines",
        LINES,
        "start_date",
        "warning",
        "check",
        lambda _c: pl.col(CONCURRENT) >= 2,
        "{v} lines of this product are active at once for this account from this line's start; "
        "ARR adds them up (right for added seats; if this line replaces an earlier one, that one "
        "should end here)",
        shows=CONCURRENT,
    ),
    Rule(
        # A repeat of a key is not used (its attributes would contradict the first row's):
        # rejected, like a repeated line_id, so that the row account adds up.
        "duplicate_account",
        ("accounts",),
        "account_id",
        "rejected",
        "check",
        lambda _c: pl.col("account_id").is_not_null() & ~pl.col("account_id").is_first_distinct(),
        "account '{v}' appears again; this copy is not used (the first row is)",
        "keep one row per account in the export",
    ),
    Rule(
        "duplicate_product",
        ("products",),
        "product_id",
        "rejected",
        "check",
        lambda _c: pl.col("product_id").is_not_null() & ~pl.col("product_id").is_first_distinct(),
        "product '{v}' appears again; this copy is not used (the first row is)",
        "keep one row per product in the catalogue (product_aliases may map two ids onto one)",
    ),
    # A family written another way on other rows, but for case or an invisible character
    # (``book.with_family_spelling``): the rows are used, as one family spelt the most common way.
    Rule(
        "family_spelling",
        ("products",),
        "family",
        "warning",
        "check",
        lambda _c: pl.col("__family_as").is_not_null() & (pl.col("family") != pl.col("__family_as")),
        "family '{v}' differs from another row's only by case or an invisible character; both are counted as "
        "one family, spelt as most rows spell it",
        "write the family the same way on every row",
    ),
)


EXCLUDED = "excluded_by_config"  # rows an exclude: rule of the config leaves out (severity excluded)


def rules_for(table: TableName, stage: Stage) -> tuple[Rule, ...]:
    return tuple(r for r in RULES if table in r.tables and r.stage == stage)


def template(text: str, *, value: pl.Expr, column: pl.Expr, table: str) -> pl.Expr:
    """A rule's text with '{v}', '{c}' and '{t}' filled from expressions (an empty value is '')."""
    pieces: list[pl.Expr] = []
    for part in _split(text):
        if part == "{v}":
            shown = value.fill_null("")
            for char, escaped in CONTROL_ESCAPES:
                shown = shown.str.replace_all(char, escaped, literal=True)
            pieces.append(shown)
        elif part == "{c}":
            pieces.append(column)
        elif part == "{t}":
            pieces.append(pl.lit(table))
        elif part:
            pieces.append(pl.lit(part))
    return pl.concat_str(pieces)


def _split(text: str) -> list[str]:
    import re

    return re.split(r"(\{[vct]\})", text)


def fix_for(name: str) -> str:
    """How to fix a broken rule, by name ('' when the rule has no fix: a warning)."""
    return next((r.fix for r in RULES if r.name == name and r.fix), "")
