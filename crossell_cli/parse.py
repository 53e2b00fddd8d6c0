"""Text -> typed values, one function per column kind.

Each parser takes a batch (a String ``pl.Series``) and returns a struct Series with
``value`` (the typed value, null when empty or bad) and ``error`` (a rule name when the
text was present but could not be read). They are applied with ``map_batches`` so that
the common case (clean values) costs one vectorised cast, and the slow, forgiving path
(currency symbols, thousands separators, locale dates…) runs only on the values that
failed it. No Python loop touches individual rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl

# Rule names, shared with the load report.
MISSING = "missing_value"
BAD_DATE = "bad_date"
AMBIGUOUS_DATE = "ambiguous_date"
BAD_NUMBER = "bad_number"
DECIMAL_MARK = "wrong_decimal_mark"
BAD_BOOL = "bad_boolean"
BAD_PERIOD = "bad_billing_period"
EXCEL_ID = "excel_mangled_id"
UNKNOWN_STAGE = "unknown_stage"

Parser = Callable[[pl.Series], pl.Series]

_MIN_DATE = dt.date(1900, 1, 1)
_ISO_DATETIME_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f%#z",
    "%Y-%m-%dT%H:%M:%S%.fZ",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M%#z",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
)
# Day-first and month-first can only be told apart by the data; see ``detect_date_formats``.
_LOCALE_DATE_FORMATS = (
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
_TRAILING_TIME = r"[ T]+\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*([AaPp][Mm])?\s*(Z|UTC|GMT|[+-]\d{2}:?\d{2})?$"


def _result(value: pl.Series, error: pl.Series) -> pl.Series:
    return pl.DataFrame({"value": value, "error": error}).to_struct("parsed")


def _nulls(n: int, dtype: pl.DataType | type[pl.DataType]) -> pl.Series:
    return pl.repeat(None, n, dtype=dtype, eager=True)


def per_hundred(value: pl.Expr) -> pl.Expr:
    """value / 100, rounded as IEEE division rounds it.

    Polars divides by a scalar by multiplying with its reciprocal, one ulp off for many
    values (57 / 100 comes out as 0.5700000000000001); a divisor column of the same
    length is divided element by element.
    """
    return value / (value * 0.0 + 100.0)


def _blank(raw: pl.Series) -> pl.Series:
    return raw.is_null() | (raw.str.strip_chars() == "")


def _errors(raw: pl.Series, value: pl.Series, rule: str) -> pl.Series:
    bad = value.is_null() & ~_blank(raw)
    return pl.select(pl.when(bad).then(pl.lit(rule)).otherwise(None).alias("e")).to_series()


def _patch(base: pl.Series, mask: pl.Series, patch: pl.Series) -> pl.Series:
    """``base`` with the positions of ``mask`` replaced by ``patch`` (same length as mask.sum())."""
    idx = mask.arg_true()
    return base.scatter(idx, patch)


# ---------------------------------------------------------------------------------------
# text and ids


def parse_text(raw: pl.Series) -> pl.Series:
    value = raw.str.strip_chars()
    value = pl.select(pl.when(value == "").then(None).otherwise(value).alias("v")).to_series()
    return _result(value, _nulls(len(raw), pl.String))


_SF_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def _salesforce_15(ids: pl.Series) -> pl.Series:
    """18-character Salesforce ids whose checksum is valid -> their 15-character form.

    The last three characters of an 18-character id encode which of the first fifteen
    are upper case (5 bits per 5 characters), so a report's 15-character id and the
    API's 18-character id of one record compare equal after this. Other values pass
    through unchanged.
    """
    candidate = (ids.str.len_chars() == 18) & ids.str.contains(r"^[0-9A-Za-z]{18}$")
    if not candidate.any():
        return ids
    sub = ids.filter(candidate)
    upper = [sub.str.slice(i, 1).str.contains("^[A-Z]$").cast(pl.Int32) for i in range(15)]
    alphabet = pl.Series(list(_SF_ALPHABET))
    ok = pl.repeat(True, len(sub), eager=True)
    for chunk in range(3):
        bits = sum(
            (upper[chunk * 5 + pos] * (1 << pos) for pos in range(5)),
            pl.repeat(0, len(sub), dtype=pl.Int32, eager=True),
        )
        ok = ok & (sub.str.slice(15 + chunk, 1) == alphabet.gather(bits))
    shortened = pl.select(pl.when(ok).then(sub.str.slice(0, 15)).otherwise(sub).alias("id")).to_series()
    return _patch(ids, candidate, shortened)


def parse_id(raw: pl.Series) -> pl.Series:
    """Trim; reject Excel's scientific notation; '17850.0' -> '17850'; Salesforce 18 -> 15."""
    value = raw.str.strip_chars()
    value = pl.select(pl.when(value == "").then(None).otherwise(value).alias("v")).to_series()
    error = _nulls(len(raw), pl.String)
    maybe_sci = value.str.contains("E+", literal=True) | value.str.contains("e+", literal=True)
    if maybe_sci.any():
        mangled = value.str.contains(r"^\d+(\.\d+)?[eE]\+\d+$").fill_null(False)
        if mangled.any():
            error = pl.select(pl.when(mangled).then(pl.lit(EXCEL_ID)).otherwise(error).alias("e")).to_series()
            value = pl.select(pl.when(mangled).then(None).otherwise(value).alias("v")).to_series()
    maybe_float = value.str.ends_with(".0").fill_null(False)
    if maybe_float.any():
        floaty = value.str.contains(r"^\d+\.0+$").fill_null(False)
        value = pl.select(pl.when(floaty).then(value.str.replace(r"\.0+$", "")).otherwise(value).alias("v")).to_series()
    value = _salesforce_15(value)
    return _result(value, error)


def normalize_id(text: str) -> str:
    """The same normalisation for one id typed on the command line (--account)."""
    return parse_id(pl.Series([text])).struct.field("value")[0] or text.strip()


# ---------------------------------------------------------------------------------------
# numbers and money

_MONEY = (
    r"^\s*(?<neg1>\()?\s*(?<cur1>[A-Za-z]{3}|[$€£¥])?\s*(?<sign>[-+])?\s*(?<cur3>[$€£¥])?\s*"
    r"(?<num>[0-9][0-9.,' \u00a0]*?)\s*(?<trail>-)?\s*(?<cur2>[A-Za-z]{3}|[$€£¥])?\s*(?<neg2>\))?\s*$"
)
_GROUPED = {
    ".": r"^(\d{1,3}([,' \u00a0]\d{3})+|\d+)(\.\d+)?$",
    ",": r"^(\d{1,3}([.' \u00a0]\d{3})+|\d+)(,\d+)?$",
}
SYMBOL_CURRENCY = {"€": "EUR", "£": "GBP", "¥": "JPY", "$": "$"}


@dataclass(frozen=True)
class NumberFormat:
    decimal_mark: str = "."


def _parse_number_slow(raw: pl.Series, fmt: NumberFormat) -> tuple[pl.Series, pl.Series, pl.Series]:
    """Forgiving parse: '$1,200.50', 'USD 1,200.50', '1.200,50 €', '(1,200.00)', '25%'.

    Returns (value, currency marker or null, error rule or null).
    """
    text = raw.str.strip_chars()
    percent = text.str.ends_with("%").fill_null(False)
    text = pl.select(pl.when(percent).then(text.str.strip_chars_end("%")).otherwise(text).alias("t")).to_series()
    parts = text.str.extract_groups(_MONEY).struct.unnest()
    num = parts["num"].str.strip_chars()
    grouped_ok = num.str.contains(_GROUPED[fmt.decimal_mark]).fill_null(False)
    other_mark = "," if fmt.decimal_mark == "." else "."
    other_ok = num.str.contains(_GROUPED[other_mark]).fill_null(False)
    if fmt.decimal_mark == ".":
        digits = num.str.replace_all(r"[,' \u00a0]", "")
    else:
        digits = num.str.replace_all(r"[.' \u00a0]", "").str.replace(",", ".", literal=True)
    magnitude = digits.cast(pl.Float64, strict=False)
    negative = (
        (parts["neg1"].is_not_null() & parts["neg2"].is_not_null())
        | (parts["sign"] == "-").fill_null(False)
        | parts["trail"].is_not_null()
    )
    value = pl.select(
        pl.when(~grouped_ok).then(None).when(negative).then(-magnitude).otherwise(magnitude).alias("v")
    ).to_series()
    value = pl.select(pl.when(percent).then(per_hundred(pl.lit(value))).otherwise(value).alias("v")).to_series()
    currency = pl.select(pl.coalesce(parts["cur1"], parts["cur3"], parts["cur2"]).alias("c")).to_series()
    currency = currency.replace(SYMBOL_CURRENCY).str.to_uppercase()
    unbalanced = parts["neg1"].is_not_null() != parts["neg2"].is_not_null()
    bad = value.is_null() | unbalanced
    rule = pl.select(
        pl.when(~bad)
        .then(None)
        .when(~grouped_ok & other_ok)
        .then(pl.lit(DECIMAL_MARK))
        .otherwise(pl.lit(BAD_NUMBER))
        .alias("e")
    ).to_series()
    value = pl.select(pl.when(bad).then(None).otherwise(value).alias("v")).to_series()
    return value, currency, rule


def number_parser(fmt: NumberFormat, *, with_currency: bool = False) -> Parser:
    def parse(raw: pl.Series) -> pl.Series:
        fast = raw.str.strip_chars().cast(pl.Float64, strict=False)
        # A plain cast accepts 'inf'/'nan', which no export means as money.
        fast = pl.select(pl.when(fast.is_finite()).then(fast).otherwise(None).alias("v")).to_series()
        if fmt.decimal_mark == ",":
            # '1.5' is one and a half to a cast but fifteen hundred… to nobody; '1.500' is
            # ambiguous, so with a decimal comma every value with a '.' takes the slow path.
            fast = pl.select(
                pl.when(raw.str.contains(".", literal=True)).then(None).otherwise(fast).alias("v")
            ).to_series()
        slow_mask = fast.is_null() & ~_blank(raw)
        error = _nulls(len(raw), pl.String)
        currency = _nulls(len(raw), pl.String)
        if slow_mask.any():
            value, cur, rule = _parse_number_slow(raw.filter(slow_mask), fmt)
            fast = _patch(fast, slow_mask, value)
            error = _patch(error, slow_mask, rule)
            currency = _patch(currency, slow_mask, cur)
        frame = {"value": fast, "error": error}
        if with_currency:
            frame["currency"] = currency
        return pl.DataFrame(frame).to_struct("parsed")

    return parse


def fraction_parser(fmt: NumberFormat, scale: str) -> Parser:
    """Discounts: '25%' -> 0.25; 25 -> 0.25 (scale auto: a value > 1 is a percentage)."""
    numbers = number_parser(fmt)

    def parse(raw: pl.Series) -> pl.Series:
        parsed = numbers(raw).struct.unnest()
        value = parsed["value"]
        had_percent = raw.str.strip_chars().str.ends_with("%").fill_null(False)
        if scale == "percent":
            value = pl.select(
                pl.when(had_percent).then(value).otherwise(per_hundred(pl.lit(value))).alias("v")
            ).to_series()
        elif scale == "auto":
            value = pl.select(
                pl.when(~had_percent & (value > 1)).then(per_hundred(pl.lit(value))).otherwise(value).alias("v")
            ).to_series()
        return _result(value, parsed["error"])

    return parse


# ---------------------------------------------------------------------------------------
# dates


def _try_formats(text: pl.Series, formats: Sequence[str]) -> pl.Series:
    """Parse with each format in turn, each only on what is still unparsed."""
    out = _nulls(len(text), pl.Date)
    todo = text.is_not_null()
    for fmt in formats:
        if not todo.any():
            break
        sub = text.filter(todo)
        if "%H" in fmt:
            parsed = sub.str.to_datetime(fmt, strict=False).dt.date()
        else:
            parsed = sub.str.to_date(fmt, strict=False)
        out = _patch(out, todo, pl.select(pl.coalesce(out.filter(todo), parsed).alias("d")).to_series())
        todo = out.is_null() & text.is_not_null()
    return out


def _epoch(text: pl.Series) -> pl.Series:
    """Unix timestamps (Stripe and HubSpot APIs): 9–10 digits are seconds, 12–13 milliseconds."""
    digits = text.str.contains(r"^\d{9,10}$|^\d{12,13}$").fill_null(False)
    out = _nulls(len(text), pl.Date)
    if not digits.any():
        return out
    number = text.filter(digits).cast(pl.Int64)
    seconds = pl.select(pl.when(number > 10**11).then(number // 1000).otherwise(number).alias("s")).to_series()
    return _patch(out, digits, pl.from_epoch(seconds, time_unit="s").dt.date())


def date_parser(locale_formats: Sequence[str]) -> Parser:
    """ISO dates and datetimes always; then the locale formats chosen for this column."""

    def parse(raw: pl.Series) -> pl.Series:
        text = raw.str.strip_chars()
        value = text.str.to_date("%Y-%m-%d", strict=False)
        slow_mask = value.is_null() & ~_blank(raw)
        if slow_mask.any():
            sub = text.filter(slow_mask)
            parsed = _epoch(sub)
            rest = parsed.is_null()
            if rest.any():
                parsed = _patch(parsed, rest, _try_formats(sub.filter(rest), _ISO_DATETIME_FORMATS))
            if locale_formats:
                rest = parsed.is_null()
                date_only = sub.filter(rest).str.replace(_TRAILING_TIME, "")
                parsed = _patch(parsed, rest, _try_formats(date_only, locale_formats))
            value = _patch(value, slow_mask, parsed)
        # '1/5/24' read with %Y is the year 24: not a date anyone booked a deal on.
        value = pl.select(pl.when(value < _MIN_DATE).then(None).otherwise(value).alias("d")).to_series()
        return _result(value, _errors(raw, value, BAD_DATE))

    return parse


def detect_date_formats(sample: pl.Series, configured: Sequence[str]) -> tuple[tuple[str, ...], str | None]:
    """Choose the locale formats for one column from a sample of its values.

    Returns (formats, problem). Configured formats are used as given. Otherwise every
    candidate is tried on the values that are not ISO; a candidate is kept if it reads
    at least one of them. When both month-first and day-first read every value and
    disagree on some, the column is ambiguous (e.g. only dates up to the 12th) and the
    problem names the formats to choose from.
    """
    if configured:
        return tuple(configured), None
    text = sample.drop_nulls().str.strip_chars()
    text = text.filter(text != "")
    non_iso = text.filter(text.str.to_date("%Y-%m-%d", strict=False).is_null())
    non_iso = non_iso.filter(_try_formats(non_iso, _ISO_DATETIME_FORMATS).is_null())
    if non_iso.is_empty():
        return (), None
    date_only = non_iso.str.replace(_TRAILING_TIME, "")
    scores = {}
    parsed_by = {}
    for fmt in _LOCALE_DATE_FORMATS:
        parsed = _try_formats(date_only, [fmt])
        parsed = pl.select(pl.when(parsed < _MIN_DATE).then(None).otherwise(parsed).alias("d")).to_series()
        scores[fmt] = int(parsed.is_not_null().sum())
        parsed_by[fmt] = parsed
    best = max(scores.values())
    if best == 0:
        return (), None
    for a, b in (("%m/%d/%Y", "%d/%m/%Y"), ("%m-%d-%Y", "%d-%m-%Y")):
        if scores[a] == scores[b] == best:
            differ = (parsed_by[a] != parsed_by[b]).fill_null(False).any()
            if differ:
                return (), f"dates like '{date_only[0]}' read both as {a} and as {b}"
    ranked = sorted((f for f in _LOCALE_DATE_FORMATS if scores[f]), key=lambda f: -scores[f])
    # Keep the winner and any format that does not contradict it (not its mirror image).
    mirror = {"%m/%d/%Y": "%d/%m/%Y", "%d/%m/%Y": "%m/%d/%Y", "%m-%d-%Y": "%d-%m-%Y", "%d-%m-%Y": "%m-%d-%Y"}
    chosen = [ranked[0]]
    for fmt in ranked[1:]:
        if mirror.get(fmt) not in chosen and mirror.get(chosen[0]) != fmt:
            chosen.append(fmt)
    return tuple(chosen), None


# ---------------------------------------------------------------------------------------
# booleans, billing periods

TRUE_WORDS = ("true", "t", "yes", "y", "1", "x", "checked", "on", "1.0")
FALSE_WORDS = ("false", "f", "no", "n", "0", "off", "unchecked", "0.0", "-")


def parse_bool(raw: pl.Series) -> pl.Series:
    text = raw.str.strip_chars().str.to_lowercase()
    value = pl.select(
        pl.when(text.is_in(TRUE_WORDS)).then(True).when(text.is_in(FALSE_WORDS)).then(False).otherwise(None).alias("b")
    ).to_series()
    return _result(value, _errors(raw, value, BAD_BOOL))


# months per billing period; the canonical amount is annual
_PERIOD_MONTHS = {
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


def parse_period(raw: pl.Series) -> pl.Series:
    """Billing period -> months per period ('P12M' -> 12, 'month' -> 1)."""
    text = raw.str.strip_chars().str.to_lowercase().str.replace_all(r"[^0-9a-z]", "")
    generic = text.str.extract_groups(r"^p(?<n>\d+)(?<u>[dwmy])$").struct.unnest()
    unit_months = generic["u"].replace_strict(
        {"d": 12.0 / 365.0, "w": 12.0 / 52.0, "m": 1.0, "y": 12.0}, default=None, return_dtype=pl.Float64
    )
    iso = generic["n"].cast(pl.Float64, strict=False) * unit_months
    named = text.replace_strict(_PERIOD_MONTHS, default=None, return_dtype=pl.Float64)
    value = pl.select(pl.coalesce(named, iso).alias("p")).to_series()
    return _result(value, _errors(raw, value, BAD_PERIOD))


def stage_parser(mapping: dict[str, str]) -> Parser:
    """Raw stage text -> 'won' / 'lost' / 'open' via the normalised stage map."""

    def parse(raw: pl.Series) -> pl.Series:
        key = raw.str.to_lowercase().str.replace_all(r"[^0-9a-z]", "")
        value = key.replace_strict(mapping, default=None, return_dtype=pl.String)
        return _result(value, _errors(raw, value, UNKNOWN_STAGE))

    return parse


# ---------------------------------------------------------------------------------------
# fast paths, as expressions
#
# The loader puts these in its lazy plan, so clean values are typed by native, parallel
# Polars kernels without a Python call. Each returns the typed value, or null where the
# fast path cannot tell; the loader sends those cells (and only those) through the full
# parser above, which also names the rule a bad value breaks.


def fast_text(text: pl.Expr) -> pl.Expr:
    value = text.str.strip_chars()
    return pl.when(value != "").then(value)


def fast_id(text: pl.Expr) -> pl.Expr:
    """Plain ids; padded ones, anything that may be Excel-mangled, a float id or an
    18-character Salesforce id is left to ``parse_id``."""
    suspect = text.str.contains(r"^\s|\s$|[eE]\+|\.0+$") | (text.str.len_bytes() == 18)
    return pl.when((text != "") & ~suspect).then(text)


def fast_date(text: pl.Expr) -> pl.Expr:
    value = text.str.to_date("%Y-%m-%d", strict=False)
    return pl.when(value >= _MIN_DATE).then(value)


def fast_number(text: pl.Expr, fmt: NumberFormat) -> pl.Expr:
    value = text.cast(pl.Float64, strict=False)
    ok = value.is_finite()
    if fmt.decimal_mark == ",":
        ok = ok & ~text.str.contains(".", literal=True)
    return pl.when(ok).then(value)


def fast_fraction(text: pl.Expr, fmt: NumberFormat, scale: str) -> pl.Expr:
    """A plain number (a '25%' takes the full parser): scaled as ``fraction_parser`` does."""
    value = fast_number(text, fmt)
    if scale == "percent":
        return per_hundred(value)
    if scale == "auto":
        return pl.when(value > 1).then(per_hundred(value)).otherwise(value)
    return value


def fast_bool(text: pl.Expr) -> pl.Expr:
    return text.replace_strict(_EXACT_BOOL, default=None, return_dtype=pl.Boolean)


_EXACT_BOOL = {w: True for w in TRUE_WORDS} | {w: False for w in FALSE_WORDS}
_EXACT_BOOL |= {w.upper(): v for w, v in _EXACT_BOOL.items()} | {w.title(): v for w, v in _EXACT_BOOL.items()}


def fast_period(text: pl.Expr) -> pl.Expr:
    return text.replace_strict(_PERIOD_MONTHS, default=None, return_dtype=pl.Float64)


def fast_stage(text: pl.Expr, mapping: dict[str, str]) -> pl.Expr:
    """Exact matches of the normalised stage keys; 'Closed Won' and friends take ``stage_parser``
    (which the loader runs once per distinct value, so a million rows cost a few calls)."""
    return text.replace_strict(mapping, default=None, return_dtype=pl.String)
