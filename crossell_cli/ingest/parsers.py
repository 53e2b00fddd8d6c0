"""Value parsers as Polars expressions: the text of a cell -> its canonical type, or a rule name.

Each column kind has two parsers over a text column:

- ``fast``: one cheap cast for clean values (``2024-01-15``, ``1200.5``, ``won``); null
  where it cannot tell;
- ``full``: the forgiving parse (currency symbols, thousands separators, locale dates,
  Excel-mangled ids…) returning ``Parsed(value, error, currency)``; ``error`` names the
  rule a non-empty cell breaks (``bad_date``…), null when the cell reads or is empty.
  A full parse is a few steps, each a named scratch column (``Scratch``): one expression
  tree that repeated its inputs grew to 26 000 characters and ran 15× slower.

The loader runs ``fast`` on every cell and ``full`` only on the rows where some cell needs
it (see ``table.py``), so a clean export costs one vectorised cast per cell and no regex.
No Python function ever sees a row, with one exception: an 18-character Salesforce id that
a tool case-folded gets its case back in Python, once per distinct such id
(``_case_restored``; every other row passes it as a null).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

from ..schema import Kind, normalize_stage

# Rule names a parser can give; the rule table (rules.py) says what each means.
MISSING = "missing_value"
BAD_DATE = "bad_date"
DATE_ORDER = "mixed_date_order"  # reads only with day and month the other way round
BAD_NUMBER = "bad_number"
DECIMAL_MARK = "wrong_decimal_mark"
BAD_BOOL = "bad_boolean"
BAD_PERIOD = "bad_billing_period"
EXCEL_ID = "excel_mangled_id"
NOT_AN_ID = "not_an_id"
UNKNOWN_STAGE = "unknown_stage"

MIN_DATE = dt.date(1900, 1, 1)
# Polars reads years past 9999 ('+20128-02-05'); no date anyone booked on, and none Python holds.
MAX_DATE = dt.date(9999, 12, 31)


def _booked(value: pl.Expr) -> pl.Expr:
    """``value`` where it is a day a deal could be booked on (MIN_DATE to MAX_DATE), else null."""
    return pl.when(value.is_between(MIN_DATE, MAX_DATE)).then(value)


_ISO_DATETIME_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f%#z",
    "%Y-%m-%dT%H:%M:%S%.fZ",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    # (PostgreSQL's timestamptz as psql writes it: a space, then +00 or +05:30; or ' UTC')
    "%Y-%m-%d %H:%M:%S%.f%#z",
    "%Y-%m-%d %H:%M:%S%.f UTC",
    "%Y-%m-%d %H:%M:%S%.f GMT",
    "%Y-%m-%dT%H:%M%#z",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
)
# An ISO timestamp written with a space ('2012-03-19 10:42:46'), as most exports write one:
# one of ``_ISO_DATETIME_FORMATS`` (the first that can read such a text), and among a column's
# formats when its sample holds such values, so that the fast lane reads them too (it costs a
# second parse of every cell, not paid by a column of plain dates).
ISO_TIMESTAMP = "%Y-%m-%d %H:%M:%S%.f"
# Day-first and month-first can only be told apart by the data; see ``detect_date_formats``.
LOCALE_DATE_FORMATS = (
    "%m/%d/%Y",
    "%d/%m/%Y",
    "%d.%m.%Y",
    "%Y/%m/%d",
    "%d-%m-%Y",
    "%m-%d-%Y",
    "%d-%b-%Y",
    "%d %b %Y",
    "%b %d, %Y",
    "%B %d, %Y",
    "%d %B %Y",
    "%Y%m%d",
)
# A trailing time of day ("12/1/2010 8:26", "1/15/2024 10:32 AM") is dropped before a
# locale format is applied: the canonical model holds dates.
TRAILING_TIME = r"[ T]+\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*([AaPp][Mm])?\s*(Z|UTC|GMT|[+-]\d{2}(:?\d{2})?)?$"

# Raw stage values (normalised: lower case, letters and digits only) -> outcome.
DEFAULT_STAGES: dict[str, tuple[str, ...]] = {
    "won": ("won", "closed won", "closedwon", "closed/won", "win", "booked", "signed", "true", "yes", "1", "y"),
    "lost": (
        "lost",
        "closed lost",
        "closedlost",
        "closed/lost",
        "loss",
        "dead",
        "disqualified",
        "false",
        "no",
        "0",
        "n",
    ),
    "open": (
        "open",
        "prospecting",
        "engaging",
        "qualification",
        "qualify",
        "qualified",
        "needs analysis",
        "value proposition",
        "id. decision makers",
        "perception analysis",
        "proposal/price quote",
        "negotiation/review",
        "negotiation",
        "proposal",
        "discovery",
        "demo",
        "pipeline",
        "commit",
        "best case",
        "appointmentscheduled",
        "qualifiedtobuy",
        "presentationscheduled",
        "decisionmakerboughtin",
        "contractsent",
    ),
}

TRUE_WORDS = ("true", "t", "yes", "y", "1", "x", "checked", "on", "1.0")
FALSE_WORDS = ("false", "f", "no", "n", "0", "off", "unchecked", "0.0", "-")

# months per billing period; the canonical amount is annual
PERIOD_MONTHS = {
    "month": 1.0,
    "monthly": 1.0,
    "mo": 1.0,
    "m": 1.0,
    "p1m": 1.0,
    "quarter": 3.0,
    "quarterly": 3.0,
    "q": 3.0,
    "p3m": 3.0,
    "halfyear": 6.0,
    "semiannual": 6.0,
    "semiannually": 6.0,
    "p6m": 6.0,
    "year": 12.0,
    "yearly": 12.0,
    "annual": 12.0,
    "annually": 12.0,
    "y": 12.0,
    "p1y": 12.0,
    "p12m": 12.0,
    "week": 12.0 / 52.0,
    "weekly": 12.0 / 52.0,
    "p1w": 12.0 / 52.0,
    "day": 12.0 / 365.0,
    "daily": 12.0 / 365.0,
    "p1d": 12.0 / 365.0,
    "p24m": 24.0,
    "p2y": 24.0,
    "p36m": 36.0,
    "p3y": 36.0,
    # HubSpot's recurringbillingfrequency values
    "persixmonths": 6.0,
    "pertwoyears": 24.0,
    "perthreeyears": 36.0,
    "perfouryears": 48.0,
    "perfiveyears": 60.0,
    "biannually": 6.0,
    "biennial": 24.0,
}

DiscountScale = Literal["auto", "percent", "fraction"]


@dataclass(frozen=True)
class Parsed:
    """The full parse of one column: typed value, rule name (or null), currency marker (money).

    ``steps``: scratch columns to add, in order (each a ``with_columns``), before the three
    expressions can be evaluated.
    """

    value: pl.Expr
    error: pl.Expr
    currency: pl.Expr | None = None
    steps: tuple[tuple[pl.Expr, ...], ...] = ()


class Scratch:
    """Named intermediate columns of one full parse (``prefix`` keeps columns apart)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.steps: list[tuple[pl.Expr, ...]] = []

    def let(self, **named: pl.Expr) -> None:
        self.steps.append(tuple(e.alias(self.prefix + n) for n, e in named.items()))

    def __getitem__(self, name: str) -> pl.Expr:
        return pl.col(self.prefix + name)

    def parsed(self, value: pl.Expr, error: pl.Expr, currency: pl.Expr | None = None) -> Parsed:
        return Parsed(value, error, currency, tuple(self.steps))


@dataclass(frozen=True)
class Parser:
    """How one column kind is read: a fast expression for clean text and a full one for the rest."""

    fast: Callable[[pl.Expr], pl.Expr]
    full: Callable[[pl.Expr, Scratch], Parsed]
    dtype: pl.DataType
    # For a Parquet column that already has a usable type: its value, and the rule it breaks.
    typed: Callable[[pl.Expr], Parsed] | None = None


@dataclass(frozen=True)
class Options:
    """The value conventions of one export (from the config and the profile)."""

    decimal_mark: str = "."
    discount_scale: DiscountScale = "auto"
    stages: Mapping[str, str] | None = None  # normalised stage text -> won / lost / open


def _null(dtype: pl.DataType | type[pl.DataType] = pl.String) -> pl.Expr:
    return pl.lit(None, dtype=dtype)


# Invisible characters that are never part of a value: a byte order mark inside the file (two
# exports joined with `cat`) and a zero-width space pasted with a value.
_INVISIBLE = "\ufeff\u200b"


def _trim(text: pl.Expr) -> pl.Expr:
    """A cell's text without the whitespace and invisible characters around it (full parsers)."""
    return text.str.strip_chars().str.strip_chars(_INVISIBLE).str.strip_chars()


def _blank(text: pl.Expr) -> pl.Expr:
    return text.is_null() | (text.str.strip_chars() == "")


def _error_where(text: pl.Expr, value: pl.Expr, rule: str) -> pl.Expr:
    """``rule`` where a non-blank cell gave no value."""
    return pl.when(value.is_null() & ~_blank(text)).then(pl.lit(rule))


def per_hundred(value: pl.Expr) -> pl.Expr:
    """value / 100, rounded as IEEE division rounds it.

    Polars divides by a scalar by multiplying with its reciprocal, one ulp off for many
    values (57 / 100 comes out as 0.5700000000000001); a divisor column of the same
    length is divided element by element.
    """
    return value / (value * 0.0 + 100.0)


# ---------------------------------------------------------------------------------------
# text and ids


def full_text(text: pl.Expr, s: Scratch) -> Parsed:
    s.let(v=_trim(text))
    return s.parsed(pl.when(s["v"] != "").then(s["v"]), _null())


def fast_text(text: pl.Expr) -> pl.Expr:
    # (an invisible character around a name or a family makes it another one: 'Analytics\u200b')
    value = text.str.strip_chars().str.strip_chars(_INVISIBLE)
    return pl.when(value != "").then(value)


_SF_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def salesforce_15(ids: pl.Expr, s: Scratch) -> pl.Expr:
    """18-character Salesforce ids whose checksum is valid -> their 15-character form.

    The last three characters of an 18-character id encode which of the first fifteen
    are upper case (5 bits per 5 characters), so a report's 15-character id and the
    API's 18-character id of one record compare equal after this. That suffix is there so
    that an id survives case-insensitive tools: an 18-character id a tool upper- or
    lower-cased (001DN00000ABCDEIAV) gets its case back from the suffix, when the suffix
    marks only letters and the id has Salesforce's reserved 0 as its sixth character. Other
    values pass through unchanged.
    """
    alphabet = {i: ch for i, ch in enumerate(_SF_ALPHABET)}
    head = ids.str.slice(0, 15)
    ok = pl.lit(True)
    for chunk in range(3):
        bits = pl.sum_horizontal(
            [
                ids.str.slice(chunk * 5 + pos, 1).is_between(pl.lit("A"), pl.lit("Z")).cast(pl.Int32) * (1 << pos)
                for pos in range(5)
            ]
        )
        ok = ok & (ids.str.slice(15 + chunk, 1) == lookup(bits, alphabet, pl.String()))
    candidate = (ids.str.len_bytes() == 18) & ids.str.contains(r"^[0-9A-Za-z]{18}$")
    s.let(sf_candidate=candidate, sf_ok=ok)
    folded = (head == head.str.to_uppercase()) | (head == head.str.to_lowercase())
    # The folded ids alone (null elsewhere: nearly always every row) go through Python, once
    # per distinct id; per character in Polars, it cost every 18-character id 2 µs.
    rare = pl.when(s["sf_candidate"] & ~s["sf_ok"] & folded & (ids.str.slice(5, 1) == "0")).then(ids)
    s.let(sf_case=rare.map_batches(_case_restored, return_dtype=pl.String(), is_elementwise=True))
    return (
        pl.when(s["sf_candidate"] & s["sf_ok"])
        .then(head)
        .when(s["sf_case"].is_not_null())
        .then(s["sf_case"])
        .otherwise(ids)
    )


def _case_restored(ids: pl.Series) -> pl.Series:
    """Case-folded 18-character Salesforce ids (nulls elsewhere) -> the 15-character id with the
    case its suffix records; null where the suffix marks a character that is not a letter."""
    present = ids.drop_nulls()
    if present.is_empty():
        return ids.cast(pl.String())
    restored: dict[str, str | None] = {}
    for value in present.unique().to_list():
        bits = [_SF_ALPHABET.find(ch) for ch in value[15:].upper()]
        chars: list[str] = []
        for pos, ch in enumerate(value[:15]):
            upper = bits[pos // 5] >= 0 and bits[pos // 5] >> (pos % 5) & 1
            if bits[pos // 5] < 0 or (upper and not ch.isalpha()):
                chars = []
                break
            chars.append(ch.upper() if upper else ch.lower())
        restored[value] = "".join(chars) or None
    return ids.replace_strict(restored, default=None, return_dtype=pl.String())


# What a failed spreadsheet formula (a VLOOKUP's #N/A) or a database export of a null writes
# where an id should be: never an id, and read as one it merges unrelated lines into one
# customer or product. Compared in upper case.
NOT_ID_MARKERS = (
    *("#N/A", "#REF!", "#VALUE!", "#NAME?", "#DIV/0!", "#NULL!", "#NUM!", "#SPILL!", "#CALC!", "#GETTING_DATA"),
    *("#FIELD!", "#BLOCKED!", "#CONNECT!", "#BUSY!", "#UNKNOWN!", "#ERROR!", "NULL", "NONE", "NAN", "N/A"),
)


# The markers that are words ('NULL', 'n/a'), for ``fast_id``'s one expression; the spreadsheet
# errors all start with '#', which it catches as a first character.
_MARKER_WORDS = rf"|^(?i:{'|'.join(re.escape(m.lower()) for m in NOT_ID_MARKERS if not m.startswith('#'))})$"


def full_id(text: pl.Expr, s: Scratch) -> Parsed:
    """Trim; reject Excel's scientific notation and spreadsheet errors or null markers ('#N/A',
    'NULL'); '17850.0' -> '17850'; Salesforce 18 -> 15."""
    s.let(v=_trim(text))
    s.let(v=pl.when(s["v"] != "").then(s["v"]))
    s.let(
        mangled=s["v"].str.contains(r"^\d+([.,]\d+)?[eE]\+\d+$").fill_null(False),
        marker=s["v"].str.to_uppercase().is_in(NOT_ID_MARKERS).fill_null(False),
    )
    s.let(v=pl.when(~s["mangled"] & ~s["marker"]).then(s["v"]))
    s.let(v=pl.when(s["v"].str.contains(r"^\d+\.0+$")).then(s["v"].str.replace(r"\.0+$", "")).otherwise(s["v"]))
    error = pl.when(s["mangled"]).then(pl.lit(EXCEL_ID)).when(s["marker"]).then(pl.lit(NOT_AN_ID))
    return s.parsed(salesforce_15(s["v"], s), error)


def fast_id(text: pl.Expr) -> pl.Expr:
    """Plain ids; padded ones, anything that may be Excel-mangled, a float id, a spreadsheet
    error or null marker ('#…', 'NULL', 'None', 'NaN', 'N/A') or an 18-character Salesforce id is
    left to ``full_id`` (one regular expression either way: the same cost on 10 M lines)."""
    padded = r"^[\s\x{feff}\x{200b}#]|[\s\x{feff}\x{200b}]$"  # (whitespace, an invisible character; '#…')
    suspect = text.str.contains(padded + r"|[eE]\+|\.0+$" + _MARKER_WORDS) | (text.str.len_bytes() == 18)
    return pl.when((text != "") & ~suspect).then(text)


def normalize_id(text: str) -> str:
    """The same normalisation for one id typed on the command line (--account)."""
    value = run_full(full_id, [text])[0][0]
    return value if isinstance(value, str) else text.strip()


# ---------------------------------------------------------------------------------------
# numbers and money

_MONEY = (
    r"^\s*(?<neg1>\()?\s*(?<cur1>[A-Za-z]{3}|[$€£¥])?\s*(?<sign>[-+])?\s*(?<cur3>[$€£¥])?\s*"
    r"(?<num>[0-9][0-9.,' \u00a0\u202f\u2009]*?)\s*(?<trail>-)?\s*(?<cur2>[A-Za-z]{3}|[$€£¥])?\s*(?<neg2>\))?\s*$"
)
_GROUPED = {
    ".": r"^(\d{1,3}([,' \u00a0\u202f\u2009]\d{3})+|\d+)(\.\d+)?$",
    ",": r"^(\d{1,3}([.' \u00a0\u202f\u2009]\d{3})+|\d+)(,\d+)?$",
}
SYMBOL_CURRENCY = {"€": "EUR", "£": "GBP", "¥": "JPY", "$": "$"}


def _currency_code(written: pl.Expr) -> pl.Expr:
    """A currency as written in a money cell -> its code ('€' -> EUR, 'usd' -> USD; '$' stays)."""
    return lookup(written, SYMBOL_CURRENCY, pl.String(), default=written).str.to_uppercase()


def fast_number(text: pl.Expr, decimal_mark: str) -> pl.Expr:
    value = text.cast(pl.Float64, strict=False)
    ok = value.is_finite()
    if decimal_mark == ",":
        # '1.5' is one and a half to a cast but fifteen hundred… to nobody; '1.500' is
        # ambiguous, so with a decimal comma every value with a '.' takes the full parse.
        ok = ok & ~text.str.contains(".", literal=True)
    return pl.when(ok).then(value)


def full_number(text: pl.Expr, decimal_mark: str, s: Scratch, *, percent: bool = False) -> Parsed:
    """Forgiving parse: '$1,200.50', 'USD 1,200.50', '1.200,50 €', '(1,200.00)', '1200-'; and
    '25%' where a percent means something (``percent``: a discount), else a bad number."""
    s.let(t=_trim(text))
    s.let(quick=fast_number(s["t"], decimal_mark), percent=s["t"].str.ends_with("%").fill_null(False))
    s.let(body=pl.when(s["percent"]).then(s["t"].str.strip_chars_end("%")).otherwise(s["t"]))
    s.let(parts=s["body"].str.extract_groups(_MONEY))
    parts = s["parts"].struct
    s.let(
        num=parts.field("num").str.strip_chars(),
        neg1=parts.field("neg1").is_not_null(),
        neg2=parts.field("neg2").is_not_null(),
        minus=(parts.field("sign") == "-").fill_null(False) | parts.field("trail").is_not_null(),
        currency=_currency_code(pl.coalesce(parts.field("cur1"), parts.field("cur3"), parts.field("cur2"))),
    )
    other_mark = "," if decimal_mark == "." else "."
    if decimal_mark == ".":
        digits = s["num"].str.replace_all(r"[,' \u00a0\u202f\u2009]", "")
    else:
        digits = s["num"].str.replace_all(r"[.' \u00a0\u202f\u2009]", "").str.replace(",", ".", literal=True)
    s.let(
        grouped=s["num"].str.contains(_GROUPED[decimal_mark]).fill_null(False),
        other=s["num"].str.contains(_GROUPED[other_mark]).fill_null(False),
        magnitude=digits.cast(pl.Float64, strict=False),
        negative=(s["neg1"] & s["neg2"]) | s["minus"],
    )
    s.let(slow=pl.when(~s["grouped"]).then(None).when(s["negative"]).then(-s["magnitude"]).otherwise(s["magnitude"]))
    s.let(slow=pl.when(s["percent"]).then(per_hundred(s["slow"]) if percent else None).otherwise(s["slow"]))
    s.let(
        bad=s["slow"].is_null() | (s["neg1"] != s["neg2"]),
        needed=s["quick"].is_null() & ~_blank(text),
    )
    rule = (
        pl.when(~s["bad"])
        .then(None)
        .when(~s["grouped"] & s["other"])
        .then(pl.lit(DECIMAL_MARK))
        .otherwise(pl.lit(BAD_NUMBER))
    )
    value = pl.when(s["quick"].is_not_null()).then(s["quick"]).when(s["needed"] & ~s["bad"]).then(s["slow"])
    return s.parsed(
        value.cast(pl.Float64),
        pl.when(s["needed"]).then(rule),
        pl.when(s["needed"]).then(s["currency"]),
    )


def typed_number(column: pl.Expr) -> Parsed:
    """A numeric Parquet column: finite values as Float64; inf and NaN are bad numbers."""
    value = column.cast(pl.Float64)
    return Parsed(pl.when(value.is_finite()).then(value), pl.when(~value.is_finite()).then(pl.lit(BAD_NUMBER)))


def _scaled(value: pl.Expr, had_percent: pl.Expr, scale: DiscountScale) -> pl.Expr:
    """A discount as a 0–1 fraction: '25%' and (scale auto) 25 -> 0.25."""
    if scale == "percent":
        return pl.when(had_percent).then(value).otherwise(per_hundred(value))
    if scale == "auto":
        return pl.when(~had_percent & (value > 1)).then(per_hundred(value)).otherwise(value)
    return value


def full_fraction(text: pl.Expr, decimal_mark: str, scale: DiscountScale, s: Scratch) -> Parsed:
    parsed = full_number(text, decimal_mark, s, percent=True)
    return s.parsed(_scaled(parsed.value, s["percent"], scale), parsed.error)


def fast_fraction(text: pl.Expr, decimal_mark: str, scale: DiscountScale) -> pl.Expr:
    """A plain number (a '25%' takes the full parser): scaled as ``full_fraction`` does."""
    return _scaled(fast_number(text, decimal_mark), pl.lit(False), scale)


# ---------------------------------------------------------------------------------------
# dates


def _first_date(text: pl.Expr, formats: Sequence[str]) -> pl.Expr:
    """The first of ``formats`` that reads ``text`` (a datetime format gives its date)."""
    attempts = [
        text.str.to_datetime(f, strict=False).dt.date() if "%H" in f else text.str.to_date(f, strict=False)
        for f in formats
    ]
    return pl.coalesce(attempts) if attempts else _null(pl.Date)


def _epoch(text: pl.Expr) -> pl.Expr:
    """Unix timestamps (Stripe and HubSpot APIs): 9–10 digits are seconds, 12–13 milliseconds."""
    digits = text.str.contains(r"^\d{9,10}$|^\d{12,13}$").fill_null(False)
    number = text.cast(pl.Int64, strict=False)
    seconds = pl.when(number > 10**11).then(number // 1000).otherwise(number)
    return pl.when(digits).then(pl.from_epoch(seconds, time_unit="s").dt.date())


def fast_date(text: pl.Expr, formats: Sequence[str] = ()) -> pl.Expr:
    """ISO dates; ISO timestamps when the column's sample showed them (``ISO_TIMESTAMP`` among
    its ``formats``); with a detected locale format, that one too (a whole column of 1/15/2024)."""
    # The parse must be an expression Polars can share (no when/then inside it): ``_booked``
    # reads the value twice, and Polars does not share a subexpression built on a when/then,
    # so an empty-cell guard here (``when(text != "")``) had every date parsed twice (the
    # three date columns of the 1 M-account book: 2.4 -> 1.0-1.4 CPU s without it).
    if formats:
        value = text.str.to_date("%Y-%m-%d", strict=False)
    else:
        # A column of ISO dates, as its sample showed: nearly every cell reads, and Polars'
        # cache of parsed texts costs more than the parse (0.125 -> 0.07 CPU s per 3 M cells).
        value = text.str.to_date("%Y-%m-%d", strict=False, cache=False)
    if ISO_TIMESTAMP in formats:
        value = pl.coalesce(text.str.to_datetime(ISO_TIMESTAMP, strict=False).dt.date(), value)
    locale_formats = _locale(formats)
    if locale_formats:
        # (a configured format with a time reads the whole text; the others the day before it)
        day = text if "%H" in locale_formats[0] else text.str.replace(TRAILING_TIME, "")
        value = pl.coalesce(value, _first_date(day, locale_formats[:1]))
    return _booked(value)


def _locale(formats: Sequence[str]) -> list[str]:
    return [f for f in formats if f != ISO_TIMESTAMP]


def full_date(text: pl.Expr, formats: Sequence[str], s: Scratch) -> Parsed:
    """ISO dates and datetimes always, Unix timestamps; then the locale formats chosen for this column."""
    locale_formats = _locale(formats)
    s.let(t=_trim(text))
    s.let(
        iso=s["t"].str.to_date("%Y-%m-%d", strict=False),
        epoch=_epoch(s["t"]),
        day=s["t"].str.replace(TRAILING_TIME, ""),
    )
    # An ISO timestamp is on the day it was written: '2024-12-31T20:00:00-05:00' was booked on
    # the 31st in its own zone (Polars would give the UTC day, the 1st), as a Parquet column
    # in that zone says.
    s.let(
        datetime=pl.when(_first_date(s["t"], _ISO_DATETIME_FORMATS).is_not_null()).then(
            s["day"].str.to_date("%Y-%m-%d", strict=False)
        )
    )
    # (a configured format with a time reads the whole text; the others the day before it)
    timed = [f for f in locale_formats if "%H" in f]
    untimed = [f for f in locale_formats if "%H" not in f]
    s.let(
        d=pl.coalesce(s["iso"], s["epoch"], s["datetime"], _first_date(s["t"], timed), _first_date(s["day"], untimed))
    )
    # '1/5/24' read with %Y is the year 24: not a date anyone booked a deal on.
    s.let(d=_booked(s["d"]))
    error = _error_where(text, s["d"], BAD_DATE)
    # A column of 1/15/2024 with one 15/1/2024: the export mixes two orders, not a typo.
    mirrors = [m for f in locale_formats if (m := _MIRROR.get(f)) is not None and m not in locale_formats]
    if mirrors:
        flipped = _booked(_first_date(s["day"], mirrors)).is_not_null()
        error = pl.when(flipped & s["d"].is_null()).then(pl.lit(DATE_ORDER)).otherwise(error)
    return s.parsed(s["d"], error)


_MIRROR = {"%m/%d/%Y": "%d/%m/%Y", "%d/%m/%Y": "%m/%d/%Y", "%m-%d-%Y": "%d-%m-%Y", "%d-%m-%Y": "%m-%d-%Y"}


def typed_date(column: pl.Expr, dtype: pl.DataType) -> Parsed:
    """A Parquet Date or Datetime column; a date before 1900 (or after 9999) is a bad date, as in text."""
    value = column.dt.date() if isinstance(dtype, pl.Datetime) else column
    booked = _booked(value)
    return Parsed(booked, pl.when(value.is_not_null() & booked.is_null()).then(pl.lit(BAD_DATE)))


def detect_date_formats(sample: pl.Series, configured: Sequence[str]) -> tuple[tuple[str, ...], str | None]:
    """Choose the formats of one column from a sample of its values.

    Returns (formats, problem). Configured formats are used as given. Otherwise
    ``ISO_TIMESTAMP`` comes first when a value of the sample is one, then every locale
    candidate is tried on the values that are not ISO; a candidate is kept if it reads
    at least one of them. When both month-first and day-first read every value and
    disagree on some, the column is ambiguous (e.g. only dates up to the 12th) and the
    problem names the formats to choose from.
    """
    if configured:
        return tuple(configured), None
    frame = (
        sample.cast(pl.String).str.strip_chars().to_frame("t").filter(pl.col("t").is_not_null() & (pl.col("t") != ""))
    )
    # Only the values that are not plain ISO dates are tried further: a text that reads as
    # %Y-%m-%d holds no time, so no timestamp or locale format reads it, and a format that
    # fails on a text is tried again by chrono's slow path (3 ms per 1 000 values and format:
    # on a column of ISO dates that was nearly all of the detection's 0.06 CPU s).
    rest = frame.filter(pl.col("t").str.to_date("%Y-%m-%d", strict=False).is_null())
    stamped = rest.select(pl.col("t").str.to_datetime(ISO_TIMESTAMP, strict=False).is_not_null().any()).item()
    stamp = (ISO_TIMESTAMP,) if stamped else ()
    formats, problem = _locale_formats(rest)
    return stamp + formats, problem


def _locale_formats(rest: pl.DataFrame) -> tuple[tuple[str, ...], str | None]:
    """``detect_date_formats``' locale formats of the sample's non-empty, stripped values (t)
    that are not plain ISO dates."""
    non_iso = rest.filter(_first_date(pl.col("t"), _ISO_DATETIME_FORMATS).is_null()).select(
        pl.col("t").str.replace(TRAILING_TIME, "").alias("d")
    )
    if non_iso.is_empty():
        return (), None
    parsed = non_iso.select([_booked(_first_date(pl.col("d"), [f])).alias(f) for f in LOCALE_DATE_FORMATS])
    scores = {f: parsed[f].is_not_null().sum() for f in LOCALE_DATE_FORMATS}
    best = max(scores.values())
    if best == 0:
        return (), None
    for a, b in (("%m/%d/%Y", "%d/%m/%Y"), ("%m-%d-%Y", "%d-%m-%Y")):
        differ = (parsed[a] != parsed[b]).fill_null(False)
        if scores[a] == scores[b] == best and differ.any():
            # (the example is a value both read, as different days: '12/03/2023', not the
            # '17/06/2022' that only one of them reads)
            return (), f"dates like '{non_iso['d'].filter(differ)[0]}' read both as {a} and as {b}"
    ranked = sorted((f for f in LOCALE_DATE_FORMATS if scores[f]), key=lambda f: -scores[f])
    # Keep the winner and any format that does not contradict it (not its mirror image).
    mirror = _MIRROR
    chosen = [ranked[0]]
    for fmt in ranked[1:]:
        if mirror.get(fmt) not in chosen and mirror.get(chosen[0]) != fmt:
            chosen.append(fmt)
    return tuple(chosen), None


# ---------------------------------------------------------------------------------------
# booleans, billing periods, stages


def lookup(text: pl.Expr, mapping: Mapping[Any, Any], dtype: pl.DataType, default: pl.Expr | None = None) -> pl.Expr:
    """``mapping[text]``; ``default`` (null) for a value that is not a key. One ``is_in`` test
    per distinct mapped value: a few here (won / lost / open, true / false, period lengths,
    currency symbols, letters).

    Not ``replace`` / ``replace_strict``: the streaming engine runs them on the whole column
    at once, so a probe that used one held every cell of the file's text in memory (10 M
    lines: 3.3 GB peak instead of 1.7, and a fifth slower)."""
    keys: dict[Any, list[Any]] = {}
    for key, value in mapping.items():
        keys.setdefault(value, []).append(key)
    found = default if default is not None else pl.lit(None, dtype=dtype)
    for value, texts in reversed(keys.items()):
        found = pl.when(text.is_in(texts)).then(pl.lit(value, dtype=dtype)).otherwise(found)
    # (named after its input, as replace's result is)
    name = text.meta.output_name(raise_if_undetermined=False)
    return found.alias(name) if name is not None else found


def full_bool(text: pl.Expr, s: Scratch) -> Parsed:
    s.let(word=_trim(text).str.to_lowercase())
    s.let(b=pl.when(s["word"].is_in(TRUE_WORDS)).then(True).when(s["word"].is_in(FALSE_WORDS)).then(False))
    return s.parsed(s["b"], _error_where(text, s["b"], BAD_BOOL))


_EXACT_BOOL: dict[str, bool] = {w: True for w in TRUE_WORDS} | {w: False for w in FALSE_WORDS}
_EXACT_BOOL |= {w.upper(): v for w, v in _EXACT_BOOL.items()} | {w.title(): v for w, v in _EXACT_BOOL.items()}


def fast_bool(text: pl.Expr) -> pl.Expr:
    return lookup(text, _EXACT_BOOL, pl.Boolean())


def full_period(text: pl.Expr, s: Scratch) -> Parsed:
    """Billing period -> months per period ('P12M' -> 12, 'month' -> 1)."""
    s.let(key=_trim(text).str.to_lowercase().str.replace_all(r"[^0-9a-z]", ""))
    s.let(generic=s["key"].str.extract_groups(r"^p(?<n>\d+)(?<u>[dwmy])$"))
    unit_months = lookup(
        s["generic"].struct.field("u"), {"d": 12.0 / 365.0, "w": 12.0 / 52.0, "m": 1.0, "y": 12.0}, pl.Float64()
    )
    iso = s["generic"].struct.field("n").cast(pl.Float64, strict=False) * unit_months
    named = lookup(s["key"], PERIOD_MONTHS, pl.Float64())
    s.let(months=pl.coalesce(named, iso))
    return s.parsed(s["months"], _error_where(text, s["months"], BAD_PERIOD))


def fast_period(text: pl.Expr) -> pl.Expr:
    return lookup(text, PERIOD_MONTHS, pl.Float64())


def stage_map(*layers: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Stage text -> won / lost / open: the defaults, then each layer on top.

    The keys are the normalised texts (what ``full_stage`` looks up), and every spelling the
    layers list as written and in lower, upper and title case ('Won', 'Closed Won', 'CLOSED
    WON': what ``fast_stage`` looks up, so that an export's usual spellings need no full
    parse). A spelling maps to the outcome of its normalised text, so both agree by
    construction; a normalised key never has upper case or spaces, so the spellings never
    change what the full parse finds."""
    mapping: dict[str, str] = {}
    spellings: list[str] = []
    for layer in (DEFAULT_STAGES, *layers):
        for outcome, values in layer.items():
            for value in values:
                mapping[normalize_stage(value)] = outcome
                spellings.append(value)
    spelled = {
        variant: mapping[normalize_stage(value)]
        for value in spellings
        for variant in (value, value.lower(), value.upper(), value.title(), value.capitalize())
    }
    return {**spelled, **mapping}


def full_stage(text: pl.Expr, mapping: Mapping[str, str], s: Scratch) -> Parsed:
    """Raw stage text -> 'won' / 'lost' / 'open' via the normalised stage map."""
    key = text.str.to_lowercase().str.replace_all(r"[^0-9a-z]", "")
    s.let(stage=lookup(key, mapping, pl.String()))
    return s.parsed(s["stage"], _error_where(text, s["stage"], UNKNOWN_STAGE))


def fast_stage(text: pl.Expr, mapping: Mapping[str, str]) -> pl.Expr:
    """Exact matches of the stage map's keys (normalised texts and the listed spellings: 'Won',
    'Closed Won'); padded or otherwise written stages take ``full_stage``."""
    return lookup(text, mapping, pl.String())


# ---------------------------------------------------------------------------------------
# one parser per column kind

KIND_DTYPE: dict[str, pl.DataType] = {
    "id": pl.String(),
    "text": pl.String(),
    "stage": pl.String(),
    "date": pl.Date(),
    "money": pl.Float64(),
    "number": pl.Float64(),
    "fraction": pl.Float64(),
    "period": pl.Float64(),
    "bool": pl.Boolean(),
}


def parser_for(kind: Kind, options: Options, date_formats: Sequence[str] = ()) -> Parser:
    mark, scale = options.decimal_mark, options.discount_scale
    dtype = KIND_DTYPE[kind]
    if kind == "id":
        return Parser(fast_id, full_id, dtype)
    if kind == "text":
        return Parser(fast_text, full_text, dtype)
    if kind == "date":
        return Parser(
            lambda e: fast_date(e, date_formats),
            lambda e, s: full_date(e, date_formats, s),
            dtype,
        )
    if kind in ("money", "number"):
        return Parser(lambda e: fast_number(e, mark), lambda e, s: full_number(e, mark, s), dtype, typed_number)
    if kind == "fraction":

        def typed_fraction(column: pl.Expr) -> Parsed:
            parsed = typed_number(column)
            return Parsed(_scaled(parsed.value, pl.lit(False), scale), parsed.error)

        return Parser(
            lambda e: fast_fraction(e, mark, scale),
            lambda e, s: full_fraction(e, mark, scale, s),
            dtype,
            typed_fraction,
        )
    if kind == "bool":
        return Parser(fast_bool, full_bool, dtype, lambda c: Parsed(c, _null()))
    if kind == "period":
        return Parser(fast_period, full_period, dtype)
    if kind == "stage":
        stages = dict(options.stages or stage_map())
        return Parser(lambda e: fast_stage(e, stages), lambda e, s: full_stage(e, stages, s), dtype)
    raise AssertionError(kind)  # pragma: no cover - Kind is a closed Literal


def typed_path(parser: Parser, kind: Kind, dtype: pl.DataType) -> Callable[[pl.Expr], Parsed] | None:
    """How a Parquet column of ``dtype`` is read without text, for a column of ``kind`` (None: as text)."""
    if kind == "date" and isinstance(dtype, pl.Date | pl.Datetime):
        return lambda column: typed_date(column, dtype)
    if kind in ("money", "number", "fraction") and dtype.is_numeric():
        return parser.typed
    if kind == "bool" and dtype == pl.Boolean:
        return parser.typed
    return None


def evaluate(expression: pl.Expr, values: Sequence[Any]) -> list[Any]:
    """``expression`` over ``pl.col("t")`` = ``values`` (text): for tests and one-off values."""
    return pl.DataFrame({"t": pl.Series(values, dtype=pl.String)}).select(expression.alias("r"))["r"].to_list()


def run_full(
    full: Callable[[pl.Expr, Scratch], Parsed], values: Sequence[Any]
) -> tuple[list[Any], list[Any], list[Any] | None]:
    """A full parser over ``values`` (text): (values, errors, currencies or None)."""
    scratch = Scratch("__s_")
    parsed = full(pl.col("t"), scratch)
    frame = pl.DataFrame({"t": pl.Series(values, dtype=pl.String)}).lazy()
    for step in parsed.steps:
        frame = frame.with_columns(step)
    out = frame.select(
        parsed.value.alias("value"),
        parsed.error.alias("error"),
        (parsed.currency if parsed.currency is not None else _null()).alias("currency"),
    ).collect()
    currency = out["currency"].to_list() if parsed.currency is not None else None
    return out["value"].to_list(), out["error"].to_list(), currency
