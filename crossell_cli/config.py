"""Configuration: YAML file -> validated dict -> one frozen ``Settings``.

Precedence is resolved here and nowhere else: command-line flag > config file >
profile > built-in default. The file is read with ``yaml.safe_load`` only. Unknown
keys and wrong types are errors that name the dotted key path and suggest a fix.
"""

from __future__ import annotations

import codecs
import datetime as dt
import difflib
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .errors import ConfigError, InputMissingError, UsageError
from .schema import SCHEMA, TABLES, TableName, normalize_stage

Level = Literal["family", "product"]
Period = Literal["month", "quarter", "year"]
Mode = Literal["auto", "bookings", "arr"]

DEFAULT_CONFIG_NAME = "xsell.yaml"
CONFIG_ENV = "XSELL_CONFIG"


@dataclass(frozen=True)
class Lookup:
    """Columns to add to a table from another file, matched on a key (e.g. deal -> account)."""

    path: Path
    match: str  # header in the table's own file (YAML would read a key named "on" as true)
    key: str  # header in the lookup file
    columns: tuple[str, ...] = ()  # headers to bring over; empty = all


@dataclass(frozen=True)
class Wide:
    """A wide "who owns what" export: one row per account, one yes/no column per product
    (or one multi-select column); see ingest/wide.py."""

    account: str  # header of the account id column
    columns: Mapping[str, str] = field(default_factory=dict)  # header -> product (family) name
    select: str | None = None  # header of a multi-select column
    separator: str = ";"
    no_values: tuple[str, ...] = ()


def wide_spec(value: Mapping[str, Any]) -> Wide:
    columns = value.get("columns", {})
    return Wide(
        account=str(value["account"]),
        columns=dict(columns) if isinstance(columns, dict) else {},
        select=str(value["select"]) if value.get("select") else None,
        separator=str(value.get("separator", ";")),
        no_values=tuple(str(v) for v in value.get("no_values", ()) or ()),
    )


@dataclass(frozen=True)
class SourceOptions:
    """Where one table comes from and how to read it."""

    path: Path
    sheet: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    lookup: Lookup | None = None
    wide: Wide | None = None  # one row per account, one yes/no column per product


@dataclass(frozen=True)
class ExcludeRule:
    """Rows a user leaves out on purpose (cancellations, internal accounts, postage lines)."""

    column: str  # a header of the file, or a canonical column name
    reason: str
    table: TableName = "line_items"
    equals: tuple[str, ...] = ()
    starts_with: str | None = None
    matches: str | None = None
    empty: bool = False
    source: str = "config"  # who asked: "config", or a profile (whose rules apply only where their column is)


@dataclass(frozen=True)
class Thresholds:
    pass_through_discount: float = 0.9
    forced_bundle_share: float = 0.95
    early_churn_days: int = 180
    premature_days: int = 90


@dataclass(frozen=True)
class Settings:
    """Everything that shapes a result, after precedence is applied."""

    sources: Mapping[TableName, SourceOptions]
    profile: str | None = None
    columns: Mapping[TableName, Mapping[str, str]] = field(default_factory=dict)
    encoding: str | None = None
    delimiter: str | None = None
    decimal_mark: str = "."
    date_formats: tuple[str, ...] = ()
    discount_scale: Literal["auto", "percent", "fraction"] = "auto"
    amount_units: Literal["major", "minor"] = "major"
    end_date_inclusive: bool = False
    stages: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    product_aliases: Mapping[str, str] = field(default_factory=dict)
    families: Mapping[str, str] = field(default_factory=dict)
    currency: str | None = None
    fx: Mapping[str, float] = field(default_factory=dict)
    level: Level = "family"
    min_base: int = 10
    as_of: dt.date | None = None
    window_days: int = 365
    period: Period = "quarter"
    fiscal_year_start_month: int = 1
    mode: Mode = "auto"
    thresholds: Thresholds = field(default_factory=Thresholds)
    where: tuple[tuple[str, str], ...] = ()
    strict: bool = False
    exclude: tuple[ExcludeRule, ...] = ()


# ---------------------------------------------------------------------------------------
# The file format: every key, its type check and its meaning (config.example.yaml mirrors it)

Check = Callable[[Any, str], Any]


def _fail(path: str, expected: str, value: Any) -> ConfigError:
    shown = repr(value)
    hint = None
    if isinstance(value, bool):
        hint = (
            "YAML reads unquoted yes/no/on/off/true/false as booleans; "
            f"quote the value (e.g. '{str(value).lower()}') if you meant text"
        )
    return ConfigError(f"config key '{path}' must be {expected}, got {shown}", hint=hint)


def _str(value: Any, path: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise _fail(path, "text", value)


def _bool(value: Any, path: str) -> bool:
    if isinstance(value, bool):
        return value
    raise _fail(path, "true or false", value)


def _int(lo: int | None = None, hi: int | None = None) -> Check:
    def check(value: Any, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(path, "a whole number", value)
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise _fail(path, _range("a whole number", lo, hi), value)
        return int(value)

    return check


def _float(lo: float | None = None, hi: float | None = None) -> Check:
    def check(value: Any, path: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(path, "a number", value)
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise _fail(path, _range("a number", lo, hi), value)
        return float(value)

    return check


def _range(what: str, lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f"{what} between {lo:g} and {hi:g}"
    if lo is not None:
        return f"{what} of at least {lo:g}"
    return f"{what} of at most {hi:g}"


def _choice(*options: str) -> Check:
    def check(value: Any, path: str) -> str:
        if value not in options:
            raise _fail(path, "one of " + ", ".join(repr(o) for o in options), value)
        return str(value)

    return check


def _str_list(value: Any, path: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list):
        raise _fail(path, "a list of text values", value)
    return tuple(_str(v, f"{path}[{i}]") for i, v in enumerate(value))


def _str_map(value: Any, path: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _fail(path, "a mapping of text to text", value)
    out: dict[str, str] = {}
    for k, v in value.items():
        out[_key(k, path)] = _str(v, f"{path}.{k}")
    return out


def _float_map(value: Any, path: str) -> dict[str, float]:
    if not isinstance(value, dict):
        raise _fail(path, "a mapping of currency code to rate", value)
    rates = {_key(k, path).upper(): (_float(lo=0.0)(v, f"{path}.{k}"), k, v) for k, v in value.items()}
    for rate, k, v in rates.values():
        # a rate of 0 would turn that currency's revenue into 0 without a word; inf and NaN into nonsense
        if not 0.0 < rate < math.inf:
            raise _fail(f"{path}.{k}", "a rate above 0 (units of the reporting currency per unit)", v)
    return {code: rate for code, (rate, _, _) in rates.items()}


def _date(value: Any, path: str) -> dt.date:
    try:
        if isinstance(value, dt.datetime):
            return check_date(value.date(), what=f"config key '{path}'")
        if isinstance(value, dt.date):
            return check_date(value, what=f"config key '{path}'")
        if isinstance(value, str):
            return parse_iso_date(value, what=f"config key '{path}'")
    except UsageError as err:
        raise ConfigError(err.message, hint=err.hint) from None
    raise _fail(path, "a date (YYYY-MM-DD)", value)


def _window(value: Any, path: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 < value <= MAX_WINDOW_DAYS:
            raise _fail(path, f"a number of days between 1 and {MAX_WINDOW_DAYS:,}", value)
        return value
    if isinstance(value, str):
        try:
            return parse_window(value, what=f"config key '{path}'")
        except UsageError as err:
            raise ConfigError(err.message, hint=err.hint) from None
    raise _fail(path, "a duration like 365d, 26w, 12m or 1y", value)


def _key(k: Any, path: str) -> str:
    if isinstance(k, bool):
        raise ConfigError(
            f"config '{path}' has a key that YAML read as the boolean {k}",
            hint="YAML reads unquoted yes/no/on/off/true/false as booleans; quote the key (e.g. 'yes': ...)",
        )
    if not isinstance(k, (str, int, float)):
        raise ConfigError(f"config '{path}' has a key {k!r} that is not text")
    return str(k)


def _source(value: Any, path: str) -> dict[str, Any]:
    if isinstance(value, str):
        return {"path": value}
    if not isinstance(value, dict):
        raise _fail(path, "a file path or a mapping with path/sheet/encoding/delimiter", value)
    return _section(value, path, _SOURCE_KEYS)


def _lookup(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(path, "a mapping with path, match, key and columns", value)
    out = _section(value, path, {"path": _str, "match": _str, "key": _str, "columns": _str_list})
    for required in ("path", "match"):
        if required not in out:
            raise ConfigError(f"config key '{path}.{required}' is missing", hint="a lookup needs path and match")
    return out


def _wide(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(path, "a mapping with account and columns (or select)", value)
    keys: dict[str, Check] = {
        "account": _str,
        "columns": _str_map,
        "select": _str,
        "separator": _str,
        "no_values": _str_list,
    }
    out = _section(value, path, keys)
    if "account" not in out:
        raise ConfigError(f"config key '{path}.account' is missing", hint="name the account id column")
    if not out.get("columns") and not out.get("select"):
        raise ConfigError(f"config key '{path}' needs columns (header: product) or select (a multi-select column)")
    return out


_SOURCE_KEYS: dict[str, Check] = {
    "path": _str,
    "sheet": _str,
    "encoding": lambda v, p: _encoding(v, p),
    "delimiter": lambda v, p: _delimiter(v, p),
    "lookup": _lookup,
    "wide": _wide,
}


def _data(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(path, "a mapping", value)
    keys: dict[str, Check] = {"dir": _str, **{t: _source for t in TABLES}}
    return _section(value, path, keys)


def _columns(value: Any, path: str) -> dict[str, dict[str, str]]:
    if not isinstance(value, dict):
        raise _fail(path, "a mapping of table -> {canonical column: header}", value)
    out: dict[str, dict[str, str]] = {}
    for table, mapping in value.items():
        table = _key(table, path)
        if table not in SCHEMA:
            raise _unknown(f"{path}.{table}", table, TABLES)
        cols = _str_map(mapping, f"{path}.{table}")
        known = SCHEMA[table].names
        for name in cols:
            if name not in known:
                raise _unknown(f"{path}.{table}.{name}", name, known)
        out[table] = cols
    return out


def _exclude(value: Any, path: str) -> tuple[ExcludeRule, ...]:
    if not isinstance(value, list):
        raise _fail(path, "a list of rules: column, reason, one of equals/in/starts_with/matches/empty", value)
    rules = []
    keys: dict[str, Check] = {
        "table": _choice(*TABLES),
        "column": _str,
        "reason": _str,
        "equals": _str,
        "in": _str_list,
        "starts_with": _str,
        "matches": _str,
        "empty": _bool,
    }
    for i, item in enumerate(value):
        where = f"{path}[{i}]"
        if not isinstance(item, dict):
            raise _fail(where, "a mapping", item)
        rule = _section(item, where, keys)
        if "column" not in rule or "reason" not in rule:
            raise ConfigError(f"config key '{where}' needs a column and a reason")
        tests = [k for k in ("equals", "in", "starts_with", "matches", "empty") if k in rule]
        if len(tests) != 1:
            raise ConfigError(
                f"config key '{where}' needs exactly one of equals, in, starts_with, matches or empty",
                hint="e.g. {column: InvoiceNo, starts_with: C, reason: cancelled invoice}",
            )
        if "matches" in rule:
            try:
                re.compile(rule["matches"])
            except re.error as exc:
                raise ConfigError(f"config key '{where}.matches' is not a regular expression: {exc}") from None
        equals = (rule["equals"],) if "equals" in rule else tuple(rule.get("in", ()))
        rules.append(
            ExcludeRule(
                column=rule["column"],
                reason=rule["reason"],
                table=rule.get("table", "line_items"),
                equals=equals,
                starts_with=rule.get("starts_with"),
                matches=rule.get("matches"),
                empty=bool(rule.get("empty", False)),
            )
        )
    return tuple(rules)


def _stages(value: Any, path: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, dict):
        raise _fail(path, "a mapping with won/lost/open lists", value)
    stages = _section(value, path, {"won": _str_list, "lost": _str_list, "open": _str_list})
    seen: dict[str, tuple[str, str]] = {}  # normalised value -> (outcome, value as written)
    for outcome, values in stages.items():
        for text in values:
            first = seen.setdefault(normalize_stage(text), (outcome, text))
            if first[0] != outcome:
                same = f"'{text}'" if first[1] == text else f"'{first[1]}' and '{text}' (the same stage to xsell)"
                raise ConfigError(
                    f"config key '{path}': {same} listed under both {first[0]} and {outcome}",
                    hint="a stage has one outcome: keep it under won, lost or open only",
                )
    return stages


_TOP_KEYS: dict[str, Check] = {
    "data": _data,
    "profile": _str,
    "columns": _columns,
    "encoding": lambda v, p: _encoding(v, p),
    "delimiter": lambda v, p: _delimiter(v, p),
    "decimal_mark": _choice(".", ","),
    "date_formats": lambda v, p: _date_formats(v, p),
    "discount_scale": _choice("auto", "percent", "fraction"),
    "amount_units": _choice("major", "minor"),
    "end_date_inclusive": _bool,
    "stages": _stages,
    "product_aliases": _str_map,
    "families": _str_map,
    "currency": _str,
    "fx": _float_map,
    "level": _choice("family", "product"),
    "min_base": _int(lo=1),
    "as_of": _date,
    "window": _window,
    "period": _choice("month", "quarter", "year"),
    "fiscal_year_start_month": _int(lo=1, hi=12),
    "mode": _choice("auto", "bookings", "arr"),
    "pass_through_discount": _float(lo=0.0, hi=1.0),
    "forced_bundle_share": _float(lo=0.0, hi=1.0),
    "early_churn_days": _int(lo=1),
    "premature_days": _int(lo=0),
    "strict": _bool,
    "exclude": _exclude,
}


def _unknown(path: str, key: str, known: tuple[str, ...] | list[str]) -> ConfigError:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'?" if close else "known keys: " + ", ".join(sorted(known))
    return ConfigError(f"unknown config key '{path}'", hint=hint)


def _section(value: dict[Any, Any], path: str, keys: dict[str, Check]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for raw_key, item in value.items():
        key = _key(raw_key, path or "<top level>")
        dotted = f"{path}.{key}" if path else key
        if key not in keys:
            raise _unknown(dotted, key, list(keys))
        if item is None:
            continue  # an empty key means "use the default"
        out[key] = keys[key](item, dotted)
    return out


def validate_config(raw: Any, *, source: str = "config") -> dict[str, Any]:
    """Check a parsed YAML document; return a dict of typed values (missing keys absent)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of keys, got {raw!r}")
    return _section(raw, "", _TOP_KEYS)


# ---------------------------------------------------------------------------------------
# Reading the file


def find_config(explicit: Path | None, cwd: Path | None = None) -> Path | None:
    """--config FILE, else ./xsell.yaml, else $XSELL_CONFIG (SPEC §3)."""
    if explicit is not None:
        if not explicit.is_file():
            raise InputMissingError(f"config file not found: {explicit}")
        return explicit
    local = (cwd or Path.cwd()) / DEFAULT_CONFIG_NAME
    if local.is_file():
        return local
    env = os.environ.get(CONFIG_ENV)
    if env:
        env_path = Path(env)
        if not env_path.is_file():
            raise InputMissingError(f"${CONFIG_ENV} points to {env}, which is not a file")
        return env_path
    return None


def read_config(path: Path) -> dict[str, Any]:
    import yaml

    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise InputMissingError(f"cannot read config file {path}: {exc.strerror}") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: invalid YAML{where}: {problem}") from exc
    except ValueError as exc:  # YAML reads 2024-13-01 as a date and the date is impossible
        raise ConfigError(_impossible_date(path, text, exc), hint="dates are YYYY-MM-DD") from exc
    return validate_config(raw, source=str(path))


def _impossible_date(path: Path, text: str, exc: ValueError) -> str:
    """Point at the line YAML read as an impossible date (safe_load does not say where)."""
    pattern = re.compile(r"^\s*-?\s*([\w.-]+)\s*:\s*['\"]?(\d{4}-\d{1,2}-\d{1,2})['\"]?\s*(#.*)?$")
    for number, line in enumerate(text.splitlines(), start=1):
        match = pattern.match(line)
        if not match:
            continue
        try:
            dt.date.fromisoformat(match.group(2))
        except ValueError:
            return f"{path}: line {number}: config key '{match.group(1)}': '{match.group(2)}' is not a real date"
    return f"{path}: a value could not be read: {exc}"


# ---------------------------------------------------------------------------------------
# Values shared with the command line


def check_encoding(name: str) -> str:
    """The codec's canonical name, or UsageError for an unknown or non-text codec."""
    try:
        info = codecs.lookup(name)
    except LookupError:
        raise UsageError(
            f"unknown encoding '{name}'",
            hint="use a Python codec name such as utf-8, cp1252, latin-1, utf-16-le or utf-16",
        ) from None
    # base64, rot13, zlib… are codecs but not text encodings.
    if not getattr(info, "_is_text_encoding", True):
        raise UsageError(f"'{name}' is not a text encoding", hint="use e.g. utf-8, cp1252, latin-1 or utf-16")
    return info.name


def _encoding(value: Any, path: str) -> str:
    name = _str(value, path)
    try:
        check_encoding(name)
    except UsageError as err:
        raise ConfigError(f"config key '{path}': {err.message}", hint=err.hint) from None
    return name


def _delimiter(value: Any, path: str) -> str:
    name = _str(value, path)
    text = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}.get(name.lower(), name)
    if len(text) != 1:
        raise ConfigError(f"config key '{path}' must be one character (or tab, comma, semicolon, pipe), got {name!r}")
    return text


def _date_formats(value: Any, path: str) -> tuple[str, ...]:
    formats = _str_list(value, path)
    for i, fmt in enumerate(formats):
        problem = date_format_problem(fmt)
        if problem:
            raise ConfigError(
                f"config key '{path}[{i}]': '{fmt}' is not a usable date format ({problem})",
                hint="use strptime codes such as '%d/%m/%Y', '%m/%d/%Y' or '%d.%m.%Y %H:%M'",
            )
    return formats


def date_format_problem(fmt: str) -> str | None:
    """Why ``fmt`` cannot read dates, or None. A date format must name a year, month and day."""
    if not any(code in fmt for code in ("%Y", "%y")):
        return "no year (%Y or %y)"
    if not any(code in fmt for code in ("%m", "%b", "%B")):
        return "no month (%m, %b or %B)"
    if "%d" not in fmt and "%e" not in fmt:
        return "no day (%d)"
    sample = dt.datetime(2024, 3, 9, 14, 5, 6)
    try:
        text = sample.strftime(fmt)
        parsed = dt.datetime.strptime(text, fmt)
    except ValueError as exc:
        return str(exc)
    if parsed.date() != sample.date():
        return "it does not read back the date it writes"
    import warnings

    import polars as pl  # only when a config lists formats: Polars is the parser that must accept it

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if any(code in fmt for code in ("%H", "%I", "%M", "%S")):
                pl.Series([text]).str.to_datetime(fmt, strict=True)
            else:
                pl.Series([text]).str.to_date(fmt, strict=True)
    except Exception as exc:  # any refusal means the format is unusable
        return str(exc).splitlines()[0]
    if caught:  # e.g. Polars' ChronoFormatWarning about %f
        return str(caught[0].message).splitlines()[0]
    return None


# The dates and durations an option may give: a century either way of any date in range
# stays a date Python can hold (an as-of of 0001-01-01 or a window of 9999y crashed with
# "date value out of range" inside the metrics).
FIRST_DATE, LAST_DATE = dt.date(1000, 1, 1), dt.date(8999, 12, 31)
MAX_WINDOW_DAYS = 36_525  # 100 years


def parse_iso_date(text: str, *, what: str) -> dt.date:
    try:
        when = dt.date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{what}: '{text}' is not a date; write it as YYYY-MM-DD") from None
    return check_date(when, what=what)


def check_date(when: dt.date, *, what: str) -> dt.date:
    if not FIRST_DATE <= when <= LAST_DATE:
        raise UsageError(
            f"{what}: {when.isoformat()} is outside the years {FIRST_DATE.year}-{LAST_DATE.year}",
            hint="give a date in the years the export covers, as YYYY-MM-DD",
        )
    return when


_WINDOW = re.compile(r"^\s*(\d+)\s*([dwmy]?)\s*$", re.IGNORECASE)
_WINDOW_DAYS = {"": 1, "d": 1, "w": 7, "m": 30, "y": 365}


def parse_window(text: str, *, what: str) -> int:
    """'365d' -> 365, '26w' -> 182, '12m' -> 360, '1y' -> 365 (days)."""
    match = _WINDOW.match(text)
    if not match:
        raise UsageError(f"{what}: '{text}' is not a duration; write e.g. 365d, 26w, 12m or 1y")
    if int(match.group(1)) == 0:
        raise UsageError(f"{what}: '{text}' is no time at all; give at least one day, e.g. 1d, 90d or 1y")
    return check_window(int(match.group(1)) * _WINDOW_DAYS[match.group(2).lower()], text=text, what=what)


def check_window(days: int, *, text: str, what: str) -> int:
    if days > MAX_WINDOW_DAYS:
        raise UsageError(f"{what}: '{text}' is longer than 100 years; write e.g. 365d, 26w, 12m or 1y")
    return days


def parse_where(items: list[str]) -> tuple[tuple[str, str], ...]:
    out = []
    for item in items:
        col, sep, value = item.partition("=")
        if not sep or not col.strip():
            raise UsageError(f"--where '{item}' must look like column=value (e.g. segment=SMB)")
        out.append((col.strip(), value.strip()))
    return tuple(out)


# ---------------------------------------------------------------------------------------
# Precedence, in one place

# File names that hold each table, most specific first. A name matches a file whose
# normalised stem is that name, or (second pass) contains it: vendor exports are named like
# hubspot-crm-exports-line-items-2024-07-01.csv or extract_OpportunityLineItem.csv.
_TABLE_FILE_NAMES: dict[TableName, tuple[str, ...]] = {
    "line_items": (
        "line_items",
        "lineitems",
        "line_item",
        "opportunitylineitem",
        "opportunity_products",
        "subscription_items",
        "subscriptionitems",
        "subscription_item",
        "subscriptions",
        "subscription",
        "order_items",
        "orderitems",
        "opportunities",
        "opportunity",
        "pipeline",
        "deals",
        "orders",
        "invoices",
        "transactions",
        "bookings",
        "sales",
    ),
    "accounts": ("accounts", "account", "customers", "customer", "companies", "company"),
    "products": ("products", "product", "catalog", "catalogue", "plans"),
}
_DATA_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq", ".xlsx")
_PACKED = (".gz", ".zip", ".bz2", ".xz", ".zst", ".7z")
# Files a data folder may hold that are never one of the three tables.
_NOT_TABLES = ("planted", "readme", "sources", "expected")


def _stem(path: Path) -> str:
    return re.sub(r"[^0-9a-z]+", "_", path.stem.lower()).strip("_")


def find_table_files(folder: Path) -> dict[TableName, Path]:
    """The accounts / products / line_items files of a data folder."""
    if not folder.is_dir():
        raise InputMissingError(f"data folder not found: {folder}")
    files = [
        p
        for p in sorted(folder.iterdir())
        if p.is_file() and p.suffix.lower() in _DATA_SUFFIXES and not _stem(p).startswith(_NOT_TABLES)
    ]
    found: dict[TableName, Path] = {}
    for exact in (True, False):
        for table, names in _TABLE_FILE_NAMES.items():
            if table in found:
                continue
            taken = set(found.values())
            for name in names:
                matches = [p for p in files if p not in taken and (_stem(p) == name if exact else name in _stem(p))]
                if len(matches) > 1:
                    listing = ", ".join(p.name for p in matches)
                    raise UsageError(
                        f"{folder}: several files could be the {table} table ({listing})",
                        hint=f"pass --{table.replace('_', '-')} PATH to choose one",
                    )
                if matches:
                    found[table] = matches[0]
                    break
    if "line_items" not in found and len(files) - len(found) == 1:
        # A folder with one unrecognised file (online_retail_2011.csv): that is the export.
        found["line_items"] = next(p for p in files if p not in found.values())
    if "line_items" not in found:
        # (an export left compressed, line_items.csv.gz: said by name, not "no data files")
        packed = [
            p.name
            for p in sorted(folder.iterdir())
            if p.is_file() and p.suffix.lower() in _PACKED and Path(p.stem).suffix.lower() in _DATA_SUFFIXES
        ]
        listing = ", ".join([p.name for p in files] + [f"{name} (compressed)" for name in packed]) or "no data files"
        hint = "name the file line_items.csv, or pass --line-items PATH, or set data.line_items in xsell.yaml"
        if packed:
            hint = f"decompress {packed[0]} first (gunzip, or 7-Zip on Windows) into {folder}, then run again"
        raise InputMissingError(
            f"{folder}: no line_items file (looked for line_items.csv/.parquet/.xlsx; found {listing})", hint=hint
        )
    return found


def resolve_settings(
    *,
    file_values: Mapping[str, Any],
    config_dir: Path | None,
    cli: Mapping[str, Any],
    profile_values: Mapping[str, Any] | None = None,
) -> Settings:
    """Combine command-line values (None = not given), the config file and a profile.

    ``cli`` keys: data, line_items, accounts, products, profile, as_of, where, level,
    min_base, window, period, mode, strict, encoding, and threshold names.
    """
    profile_values = profile_values or {}

    def pick(key: str, default: Any) -> Any:
        for layer in (cli, file_values, profile_values):
            if layer.get(key) is not None:
                return layer[key]
        return default

    if cli.get("encoding"):
        check_encoding(cli["encoding"])
    sources = _resolve_sources(file_values.get("data", {}), config_dir, cli)

    columns: dict[TableName, dict[str, str]] = {}
    for layer in (file_values.get("columns", {}),):
        for table, mapping in layer.items():
            columns.setdefault(table, {}).update(mapping)

    stages: dict[str, tuple[str, ...]] = {}
    for layer in (profile_values.get("stages", {}), file_values.get("stages", {})):
        # A value the config lists takes the outcome it gives, whatever the profile said.
        listed = {normalize_stage(v) for values in layer.values() for v in values}
        stages = {o: tuple(v for v in values if normalize_stage(v) not in listed) for o, values in stages.items()}
        for outcome, values in layer.items():
            stages[outcome] = tuple(dict.fromkeys([*stages.get(outcome, ()), *values]))

    date_formats = tuple(dict.fromkeys([*file_values.get("date_formats", ()), *profile_values.get("date_formats", ())]))

    thresholds = Thresholds(
        pass_through_discount=pick("pass_through_discount", Thresholds.pass_through_discount),
        forced_bundle_share=pick("forced_bundle_share", Thresholds.forced_bundle_share),
        early_churn_days=pick("early_churn_days", Thresholds.early_churn_days),
        premature_days=pick("premature_days", Thresholds.premature_days),
    )
    window = cli.get("window")
    window_days = parse_window(window, what="--window") if isinstance(window, str) else file_values.get("window", 365)
    as_of = cli.get("as_of")
    if isinstance(as_of, str):
        as_of = parse_iso_date(as_of, what="--as-of")
    elif as_of is None:
        as_of = file_values.get("as_of")
    currency, fx = pick("currency", None), dict(file_values.get("fx", {}))
    own = fx.get(currency.upper()) if isinstance(currency, str) else None
    if own is not None and own != 1.0:
        # Lines tagged with the reporting currency would be scaled, blank ones not.
        raise ConfigError(
            f"config key 'fx.{currency.upper()}' is {own:g}, but {currency.upper()} is the reporting currency "
            f"(currency: {currency}), worth 1 of itself",
            hint="give each rate in units of the reporting currency, and leave the reporting currency out of fx:",
        )

    return Settings(
        sources=sources,
        profile=pick("profile", None),
        columns=columns,
        encoding=pick("encoding", None),
        delimiter=pick("delimiter", None),
        decimal_mark=pick("decimal_mark", "."),
        date_formats=date_formats,
        discount_scale=pick("discount_scale", "auto"),
        amount_units=pick("amount_units", "major"),
        end_date_inclusive=pick("end_date_inclusive", False),
        stages=stages,
        product_aliases=dict(file_values.get("product_aliases", {})),
        families=dict(file_values.get("families", {})),
        currency=currency,
        fx=fx,
        level=pick("level", "family"),
        min_base=pick("min_base", 10),
        as_of=as_of,
        window_days=window_days,
        period=pick("period", "quarter"),
        fiscal_year_start_month=pick("fiscal_year_start_month", 1),
        mode=pick("mode", "auto"),
        thresholds=thresholds,
        where=parse_where(list(cli.get("where") or ())),
        strict=bool(pick("strict", False)),
        exclude=tuple(file_values.get("exclude", ())),
    )


def _resolve_sources(
    data: Mapping[str, Any], config_dir: Path | None, cli: Mapping[str, Any]
) -> dict[TableName, SourceOptions]:
    base = config_dir or Path.cwd()

    def rel(p: str) -> Path:
        path = Path(p).expanduser()
        return path if path.is_absolute() else base / path

    sources: dict[TableName, SourceOptions] = {}
    # 1. the config's data section (only when the command line does not replace it)
    if cli.get("data") is None:
        if data.get("dir"):
            folder = rel(data["dir"])
            if not folder.is_dir():
                raise InputMissingError(f"config key 'data.dir': folder not found: {folder}")
            for table, path in find_table_files(folder).items():
                sources[table] = SourceOptions(path=path)
        for table in TABLES:
            entry = data.get(table)
            if entry:
                path = rel(entry["path"])
                if cli.get(table) is None and not path.exists():
                    raise InputMissingError(
                        f"config key 'data.{table}': file not found: {path}",
                        hint="paths in the config are relative to the config file's folder",
                    )
                lookup = None
                if entry.get("lookup"):
                    spec = entry["lookup"]
                    lookup_path = rel(spec["path"])
                    if not lookup_path.exists():
                        raise InputMissingError(f"config key 'data.{table}.lookup.path': file not found: {lookup_path}")
                    lookup = Lookup(
                        path=lookup_path,
                        match=spec["match"],
                        key=spec.get("key", spec["match"]),
                        columns=tuple(spec.get("columns", ())),
                    )
                wide = wide_spec(entry["wide"]) if entry.get("wide") else None
                sources[table] = SourceOptions(
                    path=path,
                    sheet=entry.get("sheet"),
                    encoding=entry.get("encoding"),
                    delimiter=entry.get("delimiter"),
                    lookup=lookup,
                    wide=wide,
                )
    # 2. the command line wins: a --data folder replaces the config's files
    else:
        folder = Path(cli["data"])
        if folder.is_file():
            raise UsageError(
                f"--data {folder}: expects a folder, and this is a file",
                hint=f"for one file use --line-items {folder}",
            )
        sources = {t: SourceOptions(path=p) for t, p in find_table_files(folder).items()}
    for table in TABLES:
        if cli.get(table) is not None:
            sources[table] = SourceOptions(path=Path(cli[table]))
    if "line_items" not in sources:
        raise InputMissingError(
            "no input: tell xsell where the line items are",
            hint="pass --data DIR (a folder with line_items.csv), --line-items FILE, or set "
            "data: in xsell.yaml (see config.example.yaml)",
        )
    return sources
