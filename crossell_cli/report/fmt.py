"""Numbers for people: percent, thousands separators, whole currency units, days.

The report is read by a CRO, not parsed by a machine, so every number is formatted
here once and the HTML page and chart labels agree. Missing values read as an en dash,
never as 0 or "nan". The workbook keeps raw numbers and uses Excel formats instead.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Literal

from ..render import DAYS_COLUMNS, MONEY_COLUMNS, RATE_COLUMNS

Kind = Literal["rate", "money", "days", "count", "ratio", "date", "text", "number"]

MISSING = "–"
MINUS = "−"  # a real minus sign: a hyphen is too short to see next to a number

# The column names the metrics use (SPEC §2), grouped by how a person reads them: the same
# names as the terminal and file outputs (render.py), so a column reads alike everywhere.
_RATE, _MONEY, _DAYS = RATE_COLUMNS, MONEY_COLUMNS, DAYS_COLUMNS
_COUNT = re.compile(
    r"(_accounts$|^accounts$|^accounts_|^co_booked$|^cross_sold_after$|^before$|^rows$|^used$|^rejected$|"
    r"^excluded$|^open$|^at_risk$|^events$|^censored$|^non_owners$|^cross_sells$|^flagged$|"
    r"^premature_cross_sells$|^rank$|^findings$)"
)
_DATE = re.compile(r"(_at$|^period_start$|_date$)")


def column_kind(name: str) -> Kind:
    """How a metric column reads: by its name, which SPEC §2 fixes for every metric."""
    if _RATE.search(name):
        return "rate"
    if _MONEY.search(name):
        return "money"
    if _DAYS.search(name):
        return "days"
    if _COUNT.search(name):
        return "count"
    if name == "lift":
        return "ratio"
    if _DATE.search(name):
        return "date"
    return "text"


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def _signed(text: str, value: float) -> str:
    return f"{MINUS}{text}" if value < 0 else text


def percent(value: float | None, digits: int = 1) -> str:
    """0.3502 -> '35.0%'."""
    if value is None or _is_missing(value):
        return MISSING
    return _signed(f"{abs(value) * 100:,.{digits}f}%", value)


def money(value: float | None) -> str:
    """Whole currency units with thousands separators: -130528.4 -> '−130,528'."""
    if value is None or _is_missing(value):
        return MISSING
    rounded = round(value)
    return _signed(f"{abs(rounded):,.0f}", rounded)


def count(value: float | None) -> str:
    """3666 -> '3,666'."""
    if value is None or _is_missing(value):
        return MISSING
    return _signed(f"{abs(round(value)):,.0f}", value)


def days(value: float | None, unit: bool = True) -> str:
    """271.25 -> '271 days' (a person thinks in whole days)."""
    if value is None or _is_missing(value):
        return MISSING
    whole = round(value)
    text = count(whole)
    if not unit:
        return text
    return f"{text} day" if whole == 1 else f"{text} days"


def ratio(value: float | None) -> str:
    """Lift 1.533 -> '1.53×'."""
    if value is None or _is_missing(value):
        return MISSING
    return _signed(f"{abs(value):,.2f}×", value)


def compact_money(value: float) -> str:
    """Axis ticks: 0, 500k, 1.5M, 20M, 1.2B (whole units, no trailing .0)."""
    size = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if size >= limit:
            scaled = f"{size / limit:.1f}".rstrip("0").rstrip(".")
            return _signed(f"{scaled}{suffix}", value)
    return _signed(f"{size:,.0f}", value)


def cell(value: object, kind: Kind) -> str:
    """One table cell, formatted for its column's kind."""
    if value is None or _is_missing(value):
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int | float):
        number = float(value)
        if kind == "rate":
            return percent(number)
        if kind == "money":
            return money(number)
        if kind == "days":
            return days(number, unit=False)
        if kind == "count":
            return count(number)
        if kind == "ratio":
            return ratio(number)
        if isinstance(value, int):
            return count(number)
        return f"{number:,.2f}"
    return str(value)
