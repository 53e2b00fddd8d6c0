"""The exports -> the canonical book, as lazy frames over one scan of each file.

Per table: read (``read.py``) -> map headers (``headers.py``) -> cell rules (``table.py``).
Then, for line items, the ``line`` stage: defaults, annual amounts, currencies, and the
line rules; and the ``set`` stage (a repeated line_id). Accounts and products are finished
with their own files, or read off the line items when no file was given. The ``check`` stage
adds warnings over the used tables. Nothing is collected here except what must be known
before the plan can be built: the headers, and a sample of each date column to choose its
format.

Every row of every file ends in exactly one place: used, rejected (with a reason), excluded
by the config, or counted as a blank line or a report footer (``Book.counts``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl

from ..config import Settings, SourceOptions
from ..errors import ConfigError, DataError
from ..schema import ACCOUNTS, LINE_ITEMS, PRODUCTS, SCHEMA, TableName, normalize_header
from ..text import FORMAT_CHARACTERS_CLASS
from . import parsers as p
from .headers import (
    GENERIC_HEADERS,
    ColumnSource,
    find_header,
    map_columns,
    require,
    taken_elsewhere,
    unread_line_column_warnings,
)
from .profiles import for_headers
from .read import (
    LOOKUP_HIT,
    ROW,
    RawTable,
    diagnose_csv,
    diagnose_parquet_text,
    diagnose_utf8,
    is_parquet,
    read_raw,
    sheet_names,
)
from .repeats import ROW_HASH, concurrent_at_start, duplicate_rows
from .rules import rules_for, template
from .table import (
    COUNT_SCHEMA,
    ISSUE_SCHEMA,
    Checked,
    TableSource,
    attribute_name,
    check_table,
    empty_issues,
    from_probe,
)

LINE_ITEM_DTYPES: dict[str, pl.DataType] = {
    "line_id": pl.String(),
    "account_id": pl.String(),
    "product_id": pl.String(),
    "booked_at": pl.Date(),
    "amount": pl.Float64(),
    "start_date": pl.Date(),
    "end_date": pl.Date(),
    "list_amount": pl.Float64(),
    "discount": pl.Float64(),
    "quantity": pl.Float64(),
    "contract_id": pl.String(),
    "rep": pl.String(),
    "stage": pl.String(),
    "currency": pl.String(),
    "bundled": pl.Boolean(),
    "parent_line_id": pl.String(),
}
ACCOUNT_DTYPES: dict[str, pl.DataType] = {
    "account_id": pl.String(),
    "account_name": pl.String(),
    "segment": pl.String(),
    "industry": pl.String(),
    "region": pl.String(),
    "owner": pl.String(),
    "created_at": pl.Date(),
}
PRODUCT_DTYPES: dict[str, pl.DataType] = {
    "product_id": pl.String(),
    "product_name": pl.String(),
    "family": pl.String(),
    "list_price": pl.Float64(),
    "sellable": pl.Boolean(),
}
# Account attributes read off the line items when no accounts file is given.
LINE_ATTRIBUTES = tuple(n for n in ACCOUNTS.names if n not in ("account_id", "created_at"))

# Minor units per ISO currency (Stripe's list of zero- and three-decimal currencies).
_ZERO_DECIMAL = (
    "BIF",
    "CLP",
    "DJF",
    "GNF",
    "JPY",
    "KMF",
    "KRW",
    "MGA",
    "PYG",
    "RWF",
    "UGX",
    "VND",
    "VUV",
    "XAF",
    "XOF",
    "XPF",
)
_THREE_DECIMAL = ("BHD", "JOD", "KWD", "OMR", "TND")
# Currencies written with a plain '$': a '$' amount is in the reporting currency when that is
# one of them (currency: CAD), and in US dollars otherwise.
_DOLLAR_SIGN = ("USD", "CAD", "AUD", "NZD", "SGD", "HKD", "MXN", "ARS", "CLP", "COP", "TWD", "XCD")
# Currencies written as symbols (upper-cased), in a currency column or the currency: setting.
_WRITTEN_CURRENCY = {
    "US$": "USD",
    "€": "EUR",
    "£": "GBP",
    "¥": "JPY",
    "C$": "CAD",
    "CA$": "CAD",
    "A$": "AUD",
    "AU$": "AUD",
    "NZ$": "NZD",
    "HK$": "HKD",
    "S$": "SGD",
    "R$": "BRL",
}
# The largest annual value a line may have, in the reporting currency: a thousand trillion.
# Past it a value is no purchase (an id, a phone number or a grand total read as the amount),
# and the exact money sums (micro-units in an Int128) would overflow past 1.7e32.
AMOUNT_LIMIT = 1e15

COUNTS_SCHEMA: dict[str, pl.DataType] = {
    "table": pl.String(),
    "rows": pl.Int64(),
    "used": pl.Int64(),
    "rejected": pl.Int64(),
    "excluded": pl.Int64(),
    "blank_lines": pl.Int64(),
    "footer_lines": pl.Int64(),
    "header_lines": pl.Int64(),
    "open": pl.Int64(),
    # closed line items booked after --as-of: no metric reads past T (filled by the session)
    "after_as_of": pl.Int64(),
}


@dataclass(frozen=True)
class Guard:
    """A fact about the data that can stop the run (amounts in several currencies): a small
    lazy frame collected with the answer, and the check that raises on it."""

    frame: pl.LazyFrame
    check: Callable[[pl.DataFrame], None]


@dataclass(frozen=True)
class Book:
    """The canonical tables as lazy frames over one scan of each file.

    ``line_items``: the used lines, LINE_ITEM_DTYPES plus ``_row`` and, when account or
    product attributes ride on the line export, ``__acct_<name>`` / ``__prod_<name>``.
    ``accounts``: the accounts file's used rows (None when there is none: the model reads
    the accounts off the line items as of T). ``products``: the catalogue (or the products
    seen, each its own family). ``issues``: every rejected, excluded or warned row.
    ``counts``: one row per table (COUNTS_SCHEMA).
    """

    line_items: pl.LazyFrame
    accounts: pl.LazyFrame | None
    products: pl.LazyFrame
    issues: pl.LazyFrame
    counts: pl.LazyFrame
    sources: Mapping[TableName, TableSource]
    present: frozenset[str] = field(default_factory=frozenset)  # canonical line columns the export has
    given: frozenset[str] = field(default_factory=frozenset)  # tables that came from a file
    dateless: bool = False  # a wide "who owns what" export: ownership without dates or amounts
    account_columns: tuple[str, ...] = ()  # columns of the accounts table (for --where)
    guards: tuple[Guard, ...] = ()
    profile: str | None = None
    # Per table read from a file, the clean lane alone (table.py): collect these, and
    # load_probed(book, ...) gives the same book over them in memory.
    probes: Mapping[TableName, pl.LazyFrame] = field(default_factory=dict)
    # What load found in the files before reading any row (``Planned``): load_probed
    # finishes the book over the probes from it, reading no header or sample again.
    planned: Planned | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Planned:
    """What ``load`` learns of the files before reading any row: each table checked (its
    lanes as lazy plans, and its probe), the line items' raw table and the accounts file's
    extra columns, in the order of the config's sources."""

    checked: Mapping[TableName, Checked]
    line_raw: RawTable
    account_extra: tuple[str, ...]


# ---------------------------------------------------------------------------------------
# reading a table


def read_source(source: SourceOptions, settings: Settings) -> RawTable:
    raw = read_raw(
        source.path,
        encoding=source.encoding or settings.encoding,
        delimiter=source.delimiter or settings.delimiter,
        sheet=source.sheet,
    )
    if source.lookup is None:
        return raw
    other = read_raw(source.lookup.path, encoding=settings.encoding, delimiter=settings.delimiter)
    return with_lookup(raw, other, source.lookup.match, source.lookup.key, source.lookup.columns)


def with_lookup(raw: RawTable, other: RawTable, match: str, key: str, columns: Sequence[str]) -> RawTable:
    """``raw`` with columns of ``other`` added where other[key] == raw[match].

    The added columns keep their headers, so the usual header mapping finds them (a deal's
    close date and company for HubSpot line items). A row without a match, or whose key is on
    rows of ``other`` that disagree, is rejected (``lookup_unmatched``).
    """

    def index(table: RawTable, header: str, what: str) -> int:
        found = find_header([normalize_header(h) for h in table.headers], header)
        if found is None:
            raise ConfigError(
                f"lookup: {table.path.name} has no column '{header}' ({what})",
                hint="headers found: " + ", ".join(table.headers),
            )
        return found

    on_index = index(raw, match, "the column to match")
    key_index = index(other, key, "the lookup key")
    wanted = (
        [index(other, c, "a lookup column") for c in columns]
        if columns
        else [i for i in range(len(other.headers)) if i != key_index]
    )
    start = len(raw.headers)
    taken = [f"c{start + n}" for n in range(len(wanted))]
    # A key on several rows that disagree (two accounts for one deal) matches nothing: the
    # line is rejected rather than given the first row's account.
    lookup = (
        other.frame.select(
            other.text(key_index).str.strip_chars().alias("__lookup_key"),
            *[other.text(i).alias(name) for name, i in zip(taken, wanted, strict=True)],
        )
        .filter(pl.col("__lookup_key") != "")
        .unique(["__lookup_key", *taken], keep="first", maintain_order=True)
        .with_columns((pl.len().over("__lookup_key") == 1).alias(LOOKUP_HIT))
        .unique("__lookup_key", keep="first", maintain_order=True)
    )
    frame = (
        raw.frame.with_columns(raw.text(on_index).str.strip_chars().alias("__lookup_key"))
        .join(lookup, on="__lookup_key", how="left", maintain_order="left")
        .drop("__lookup_key")
        .with_columns(pl.col(LOOKUP_HIT).fill_null(False))
    )
    headers = (*raw.headers, *(other.headers[i] for i in wanted))
    dtypes = (*(raw.dtype(i) for i in range(len(raw.headers))), *(pl.String() for _ in wanted))
    return replace(raw, headers=headers, frame=frame, dtypes=dtypes, lookup_match=raw.headers[on_index])


def _date_formats(
    raw: RawTable, columns: Mapping[str, tuple[int, str]], settings: Settings, profile: Mapping[str, Any]
) -> dict[str, tuple[str, ...]]:
    """The locale formats of each text date column (name -> (index, header)): configured, or
    detected from the first 50 000 values (all of them when those are ambiguous)."""
    configured = tuple(settings.date_formats) + tuple(profile.get("date_formats", ()))
    if configured or not columns:
        return {name: configured for name in columns}
    sample = collect_checked(
        raw, raw.frame.select([raw.text(i).alias(n) for n, (i, _) in columns.items()]).head(50_000)
    )
    found: dict[str, tuple[str, ...]] = {}
    for name, (index, header) in columns.items():
        formats, problem = p.detect_date_formats(sample[name], ())
        if problem:
            full = collect_checked(raw, raw.frame.select(raw.text(index).alias(name)))
            formats, problem = p.detect_date_formats(full[name], ())
        if problem:
            raise DataError(
                f"{raw.path}: column '{header}' has ambiguous dates: {problem}",
                hint="say which it is with date_formats: ['%m/%d/%Y'] (month first) or "
                "['%d/%m/%Y'] (day first) in xsell.yaml",
            )
        found[name] = formats
    return found


def collect_checked(raw: RawTable, frame: pl.LazyFrame) -> pl.DataFrame:
    """Collect a small structural frame of one file, Polars errors turned into messages about it."""
    try:
        return frame.collect(engine="streaming")
    except Exception as exc:
        raise explain(raw.path, raw.delimiter, exc) from None


def explain(path: Path, delimiter: str | None, exc: BaseException) -> DataError:
    """A Polars error while reading ``path`` as a message about the file."""
    text = str(exc)
    if isinstance(exc, pl.exceptions.ComputeError):
        if "utf-8" in text.lower() or "utf8" in text.lower():
            return diagnose_parquet_text(path) if is_parquet(path) else diagnose_utf8(path)
        return diagnose_csv(path, delimiter, text)
    return DataError(f"{path}: could not be read: {text.splitlines()[0] if text else type(exc).__name__}")


def _mapping_for(
    raw: RawTable, table_name: TableName, settings: Settings, profile: Mapping[str, Any]
) -> dict[str, tuple[int, ColumnSource]]:
    table = SCHEMA[table_name]
    profile_cols: Mapping[str, Mapping[str, Sequence[str]]] = profile.get("columns", {})
    mapping = dict(
        map_columns(
            raw.headers,
            table,
            explicit=settings.columns.get(table_name, {}),
            profile_columns=profile_cols.get(table_name, {}),
            path=raw.path,
        )
    )
    if "is_won" in mapping and "stage" in mapping:
        mapping.pop("stage")  # IsWon decides; custom stage names then cannot reject rows
    return mapping


def _require(
    table_name: TableName, mapping: Mapping[str, tuple[int, ColumnSource]], raw: RawTable, profile: Mapping[str, Any]
) -> None:
    table = SCHEMA[table_name]
    # header -> the column it went to, and whether the config sent it there
    taken = {src.header: (name, src.how == "config") for name, (_, src) in mapping.items() if src.header}
    try:
        require(table, mapping, raw.headers, raw.path, taken=taken)
    except DataError as err:
        lookup = profile.get("lookups", {}).get(table_name)
        # (not when the export has the column and the config sent it elsewhere: that is the fix)
        moved = lookup and taken_elsewhere(table, [[lookup.get("when_missing", "")]], taken)
        if lookup and lookup.get("when_missing") in err.message and not moved:
            match = lookup["match"][0]
            key = lookup.get("key", lookup["match"])[0]
            err.hint = (
                f"this export keeps {lookup['when_missing']} in another file: put the {lookup['file']} export "
                f"beside it (xsell joins it on '{match}' = its '{key}'), or name it in xsell.yaml under "
                f"data.{table_name}.lookup"
            )
            if lookup.get("hint"):
                err.hint += f". {lookup['hint']}"
        sheets = sheet_names(raw.path) if raw.source_kind == "xlsx" else []
        if len(sheets) > 1:
            # (a workbook whose first sheet is a summary: the table is on another one)
            listing = ", ".join(f"'{n}'" for n in sheets)
            err.hint = (
                f"if the table is on another sheet of this workbook ({listing}), name it: sheet: under data: in "
                f"xsell.yaml; otherwise {err.hint}"
            )
        raise
    if table_name == "line_items" and "period_amount" in mapping and not {"amount", "billing_period"} & set(mapping):
        # A value per billing period with nothing saying how often it bills: taking it as
        # annual would be silently wrong (a monthly price as ARR), so the file is refused.
        header = mapping["period_amount"][1].header
        raise DataError(
            f"{raw.path}: '{header}' is the line's value per billing period, and the file says neither how often "
            f"it bills nor the annual value, so it cannot be annualised. Headers found: {', '.join(raw.headers)}",
            hint="export the billing frequency (HubSpot: recurringbillingfrequency) or the annual value "
            "(HubSpot: hs_arr) with the lines, or say which column holds it in xsell.yaml: "
            "columns: {line_items: {billing_period: 'Your Header'}}",
        )


def missing_columns(
    headers: Sequence[str], table_name: TableName, settings: Settings, profile: Mapping[str, Any]
) -> set[str]:
    """Canonical columns of ``table_name`` that ``headers`` cannot fill (mapping as load does)."""
    table = SCHEMA[table_name]
    profile_cols: Mapping[str, Mapping[str, Sequence[str]]] = for_headers(profile, table_name, headers).get(
        "columns", {}
    )
    mapping = map_columns(
        headers,
        table,
        explicit=settings.columns.get(table_name, {}),
        profile_columns=profile_cols.get(table_name, {}),
        path=Path("."),
    )
    return {c.name for c in table.columns if c.name not in mapping}


def _check(
    raw: RawTable,
    table_name: TableName,
    mapping: dict[str, tuple[int, ColumnSource]],
    settings: Settings,
    profile: Mapping[str, Any],
    options: p.Options,
    extra_text: Mapping[str, int] | None = None,
) -> Checked:
    table = SCHEMA[table_name]
    dates = {
        n: (i, src.header or n)
        for n, (i, src) in mapping.items()
        # (every date column read as text: a Parquet column of 20240115 integers too, as in a CSV)
        if table.column(n).kind == "date" and not raw.dtype(i).is_temporal()
    }
    normalized = [normalize_header(h) for h in raw.headers]
    # A profile's rules hold where their column is (a one-time line of a line-items export);
    # the config's own rules must name a column the file has (a typo is an error).
    from_profile = tuple(
        rule
        for rule in profile.get("exclude", ())
        if rule.table == table_name and (find_header(normalized, rule.column) is not None or rule.column in mapping)
    )
    checked = check_table(
        raw,
        table,
        mapping,
        options=options,
        date_formats=_date_formats(raw, dates, settings, profile),
        exclude=(*settings.exclude, *from_profile),
        extra_text=extra_text,
    )
    used = {i for i, _ in mapping.values()} | set((extra_text or {}).values())
    ignored = tuple(h for i, h in enumerate(raw.headers) if i not in used)
    return replace(checked, source=replace(checked.source, ignored_headers=ignored))


# ---------------------------------------------------------------------------------------
# the whole book


def load(settings: Settings, profile: Mapping[str, Any] | None = None) -> Book:
    """The book as lazy frames; raises for what stops a run before any row is read
    (a missing file or column, an unreadable header, ambiguous dates, a bad config key)."""
    profile = profile or {}
    if settings.sources["line_items"].wide is not None:
        return _load_wide(settings, profile, _options(settings, profile))
    planned = _plan(settings, profile)
    return _finish(settings, profile, planned, dict(planned.checked), None)


def load_probed(
    book: Book,
    settings: Settings,
    profile: Mapping[str, Any] | None,
    probed: Mapping[TableName, pl.DataFrame],
    *,
    list_values: bool = True,
) -> Book | None:
    """The same book as ``load``'s ``book`` over ``probed``, its collected ``Book.probes``, in
    memory: nothing is read again (the headers, mappings and date formats ``load`` found are
    reused). None when a table has a row that is not clean and no problem lane to read it
    again (use ``book``); a table with one keeps its clean rows and reads only the others.
    ``list_values``: False when the probe left out the list value's inputs (``unread_line_columns``):
    list_amount is then not read, and its default from the catalogue is not looked up."""
    if book.planned is None:
        return None
    checked: dict[TableName, Checked] = {}
    for table_name, table in book.planned.checked.items():
        clean = from_probe(table, probed[table_name])
        if clean is None:
            return None
        checked[table_name] = clean
    return _finish(settings, profile or {}, book.planned, checked, probed, list_values=list_values)


def _options(settings: Settings, profile: Mapping[str, Any]) -> p.Options:
    return p.Options(
        decimal_mark=settings.decimal_mark,
        discount_scale=settings.discount_scale
        if settings.discount_scale != "auto"
        else profile.get("discount_scale", "auto"),
        stages=p.stage_map(profile.get("stages", {}), settings.stages),
    )


def _plan(settings: Settings, profile: Mapping[str, Any]) -> Planned:
    """Every table's headers mapped and its rows' checks planned (``Planned``)."""
    options = _options(settings, profile)
    checked: dict[TableName, Checked] = {}
    account_attrs: dict[str, int] = {}
    product_attrs: dict[str, int] = {}
    account_extra: dict[str, int] = {}
    for table_name, source in settings.sources.items():
        raw = read_source(source, settings)
        file_profile = for_headers(profile, table_name, raw.headers)
        mapping = _mapping_for(raw, table_name, settings, file_profile)
        _require(table_name, mapping, raw, file_profile)
        if table_name == "line_items":
            line_raw = raw
        extra_text: dict[str, int] = {}
        if table_name == "accounts":
            # Every other column of the accounts file can be filtered on (--where plan=Pro).
            used_idx = {i for i, _ in mapping.values()}
            for i, header in enumerate(raw.headers):
                name = attribute_name(header)
                if i not in used_idx and name and name not in ACCOUNTS.names and name not in account_extra:
                    account_extra[name] = i
            extra_text = dict(account_extra)
        if table_name == "line_items":
            # Account and product attributes often ride on the line items export (segment,
            # industry, product family…); they are used when no such table is given. Only
            # specific headers count: on a line export "Name" is the deal's or line's name,
            # and the profile's account headers describe a companies export.
            line_idx = {i for i, _ in mapping.values()}
            if "accounts" not in settings.sources:
                attrs = map_columns(
                    raw.headers,
                    ACCOUNTS,
                    explicit=settings.columns.get("accounts", {}),
                    profile_columns={},
                    path=raw.path,
                    only=list(LINE_ATTRIBUTES),
                    skip_synonyms=GENERIC_HEADERS,
                )
                account_attrs = {n: i for n, (i, _) in attrs.items() if i not in line_idx}
            if "products" not in settings.sources:
                attrs = map_columns(
                    raw.headers,
                    PRODUCTS,
                    explicit=settings.columns.get("products", {}),
                    profile_columns={},
                    path=raw.path,
                    only=["product_name", "family"],
                    skip_synonyms=GENERIC_HEADERS,
                )
                product_attrs = {n: i for n, (i, _) in attrs.items() if i not in line_idx}
            extra_text = {f"__acct_{n}": i for n, i in account_attrs.items()}
            extra_text.update({f"__prod_{n}": i for n, i in product_attrs.items()})
        checked[table_name] = _check(raw, table_name, mapping, settings, file_profile, options, extra_text)
    return Planned(checked, line_raw, tuple(account_extra))


def _finish(
    settings: Settings,
    profile: Mapping[str, Any],
    planned: Planned,
    checked: dict[TableName, Checked],
    probed: Mapping[TableName, pl.DataFrame] | None,
    *,
    list_values: bool = True,
) -> Book:
    """The book from the checked tables (``planned``'s, or those over the probes); without
    ``list_values``, no catalogue default for list_amount (see ``load_probed``)."""
    lines_checked = checked["line_items"]
    # Read into memory, a key column that rises from row to row holds no repeat: the set
    # stage (first row of each key wins) has nothing to do, and its hashing is skipped.
    lines, late_issues, late_counts, guards = _finish_line_items(
        lines_checked, settings, profile, unique_ids=_rises(probed, "line_items", "line_id")
    )
    products = _finish_products(checked.get("products"), lines, settings)
    # (a key that rises from row to row holds no repeat: no dedupe, nothing to count)
    unique = {table for table, key in _KEYS.items() if _rises(probed, table, key)}
    accounts = _finish_accounts(checked.get("accounts"), planned.account_extra, unique_ids="accounts" in unique)
    # (A join of every line with the catalogue: a fifth of the facts' time on the 300 k-account
    # book, kept even when nothing reads the list value, because Polars cannot know the
    # catalogue's keys are unique and drop it.)
    lines = _with_catalogue_list(lines, products, list_values and "products" in settings.sources)
    mapped = {src.canonical for src in lines_checked.source.mapping}
    present = frozenset(mapped | ({"stage"} if "is_won" in mapped else set()))
    probe = (probed or {}).get("line_items")
    hashed = probe.select(ROW, ROW_HASH) if probe is not None and ROW_HASH in probe.columns else None
    warnings = _warnings(
        lines,
        accounts,
        products if "products" in settings.sources else None,
        checked,
        planned.line_raw,
        hashed=hashed,
        aliases=settings.product_aliases,
    )
    issues = pl.union([*(c.issues for c in checked.values()), late_issues, warnings], how="vertical")
    counts = _counts(checked, late_counts, lines, aliases=settings.product_aliases, unique=unique)
    account_columns = (
        tuple(ACCOUNT_DTYPES) + planned.account_extra if "accounts" in settings.sources else tuple(ACCOUNT_DTYPES)
    )
    return Book(
        line_items=lines,
        accounts=accounts,
        products=products,
        issues=issues,
        counts=counts,
        sources={t: c.source for t, c in checked.items()},
        present=present,
        given=frozenset(settings.sources),
        account_columns=account_columns,
        guards=guards,
        profile=profile.get("name"),
        probes={t: c.probe for t, c in checked.items() if c.probe is not None and probed is None},
        planned=planned if probed is None else None,
    )


def unread_column_warnings(book: Book) -> tuple[str, ...]:
    """What the line items' unread headers may have held (``unread_line_column_warnings``): said
    by every command that reads the book, and by ``xsell validate``."""
    source = book.sources.get("line_items")
    if book.dateless or source is None:
        return ()
    return unread_line_column_warnings(source.mapping, source.ignored_headers)


# Line columns that decide no row of the book: they only make its list values (list_amount,
# from a list amount, a period list amount, a list price or a discount) and its reps.
LIST_VALUE_INPUTS = ("list_amount", "period_list_amount", "list_price", "discount", "__cur_list_amount")


def reads_list_values(columns: Sequence[str]) -> bool:
    """Whether a command that reads only these line columns needs the list value (for itself
    or for the discount off it), and so the catalogue's list price behind it."""
    return bool({"list_amount", "discount"} & set(columns))


def unread_line_columns(columns: Sequence[str]) -> tuple[str, ...]:
    """The line columns a command that reads only ``columns`` of the lines can leave out of
    the probe: the list value's inputs unless it reads list values or discounts, and the rep
    unless it reads reps. Every cell is still checked (a row with a bad one is still read
    again and named), only its value is not kept: on the 1 M-account book, a third of a GB
    the probe and the facts read from it no longer hold."""
    unread: list[str] = []
    if not reads_list_values(columns):
        unread += LIST_VALUE_INPUTS
    if "rep" not in columns:
        unread.append("rep")
    return tuple(unread)


def _rises(probed: Mapping[TableName, pl.DataFrame] | None, table: TableName, column: str) -> bool:
    """True when the probed ``table`` has ``column``, with no empty value and each value above the last."""
    frame = (probed or {}).get(table)
    if frame is None or column not in frame.columns or frame.height < 2:
        return False
    values = frame[column]
    return values.null_count() == 0 and bool((values.slice(1) > values.slice(0, frame.height - 1)).all())


def _late_issue(
    frame: pl.LazyFrame, rule_name: str, column: str, value: pl.Expr, header: str | None, file: str
) -> pl.LazyFrame:
    rule = next(r for r in (*rules_for("line_items", "line"), *rules_for("line_items", "set")) if r.name == rule_name)
    whole = f"{rule.message}; {rule.fix}" if rule.fix else rule.message
    return frame.select(
        pl.lit("line_items").alias("table"),
        pl.lit(file).alias("file"),
        pl.col(ROW).cast(pl.Int64).alias("row"),
        pl.lit(column).alias("column"),
        pl.lit(header, dtype=pl.String).alias("header"),
        value.cast(pl.String).alias("value"),
        pl.lit(rule.name).alias("rule"),
        pl.lit(rule.severity).alias("severity"),
        template(whole, value=value.cast(pl.String), column=pl.lit(column), table="line_items").alias("message"),
    )


def _finish_line_items(
    checked: Checked, settings: Settings, profile: Mapping[str, Any], *, unique_ids: bool = False
) -> tuple[pl.LazyFrame, pl.LazyFrame, pl.LazyFrame, tuple[Guard, ...]]:
    """The line stage (defaults, annual amounts, currencies, line rules) and the set stage
    (repeated line ids; ``unique_ids``: known to hold none): (used lines, their issues, a
    one-row count, guards)."""
    source = checked.source
    file = str(source.path)
    headers = {src.canonical: src.header for src in source.mapping}
    lines = checked.kept
    names = lines.collect_schema().names()
    # Every canonical column exists from here on (empty when the export has none).
    lines = lines.with_columns(
        pl.lit(None, dtype=t).alias(c)
        for c in (*LINE_ITEMS.names,)
        if c not in names
        for t in (p.KIND_DTYPE[LINE_ITEMS.column(c).kind],)
    )
    # A line without an id is known by its data row number; in a file with a line_id column,
    # as 'row 7', which no id given in the file is checked against (a real id '7' stays).
    has_ids = "line_id" in headers
    unnamed = (pl.lit("row ") if has_ids else pl.lit("")) + pl.col(ROW).cast(pl.String)
    lines = lines.with_columns(
        pl.coalesce("booked_at", "start_date").alias("booked_at"),
        pl.coalesce("start_date", "booked_at").alias("start_date"),
        pl.col("quantity").fill_null(1.0),
        pl.coalesce(pl.col("line_id"), unnamed).alias("line_id"),
        *([pl.col("line_id").is_not_null().alias("__named")] if has_ids and not unique_ids else []),
    )
    if settings.end_date_inclusive or bool(profile.get("end_date_inclusive", False)):
        lines = lines.with_columns(pl.col("end_date") + pl.duration(days=1))
    # Currency of each line: an explicit column, else a code or symbol written in the amount.
    # ('$' is the reporting currency when that is a dollar, else USD; a when, not replace(),
    # which the streaming engine does not stream.)
    markers = [f"__cur_{c}" for c in ("amount", "period_amount", "unit_price") if f"__cur_{c}" in names]
    reporting = reporting_code(settings.currency)
    dollar_is = reporting if reporting in _DOLLAR_SIGN else "USD"
    dollar = [pl.when(pl.col(m) == "$").then(pl.lit(dollar_is)).otherwise(pl.col(m)) for m in markers]
    # (a column of 'US$' or '€' is USD or EUR; a '$' alone, like one written in the amount)
    written_as = {**_WRITTEN_CURRENCY, "$": dollar_is}
    upper = pl.col("currency").str.strip_chars().str.to_uppercase()
    given = p.lookup(upper, written_as, pl.String(), default=upper)
    conflict = pl.lit(False)
    if "currency" in headers and markers:
        # A currency column and an amount written in another ('€50' on a USD row): which is
        # right cannot be told. A '$' agrees with any dollar.
        written = pl.coalesce(*(pl.col(m) for m in markers))
        conflict = (written != given) & ~((written == "$") & given.is_in(_DOLLAR_SIGN))
    lines = lines.with_columns(
        conflict.fill_null(False).alias("__currency_conflict"),
        pl.col("currency").alias("__given_currency"),
        pl.coalesce(given, *dollar).alias("currency"),
    )
    minor = (
        pl.when(pl.col("currency").is_in(_ZERO_DECIMAL))
        .then(1.0)
        .when(pl.col("currency").is_in(_THREE_DECIMAL))
        .then(1000.0)
        .otherwise(100.0)
    )
    # Stripe's unit_amount is in the currency's minor unit (4900 = 49.00 USD, 4900 = ¥4,900).
    if "unit_price_minor" in headers:
        lines = lines.with_columns(pl.coalesce("unit_price", pl.col("unit_price_minor") / minor).alias("unit_price"))
    # Annual value: the ARR amount, else a per-period amount or unit price annualised by the
    # billing period (× interval count: Stripe's "month" × 3 is quarterly) and divided by the
    # number of years a term price covers (CPQ's prorate multiplier).
    months = pl.col("billing_period") * pl.col("billing_interval_count").fill_null(1.0)
    per_year = (12.0 / months) if "billing_period" in headers else pl.lit(1.0)
    term = pl.when(pl.col("term_multiplier") > 0).then(pl.col("term_multiplier")).otherwise(1.0)
    period_needs = pl.lit(False)
    if "period_amount" in headers:
        period_needs = pl.col("amount").is_null() & pl.col("period_amount").is_not_null() & months.is_null()
    lines = lines.with_columns(
        period_needs.alias("__period_needs"),
        pl.coalesce(
            pl.col("amount"),
            pl.col("period_amount") * (12.0 / months),
            pl.col("unit_price") * pl.col("quantity") * per_year / term,
        ).alias("amount"),
    )
    listed = pl.coalesce(
        pl.col("list_amount"),
        pl.col("period_list_amount") * (12.0 / months),
        pl.col("list_price") * pl.col("quantity") * per_year,
    )
    # With only a net amount and a discount, the list value is implied: net / (1 - discount).
    implied = pl.when(pl.col("discount").is_between(0, 1, closed="left")).then(
        pl.col("amount") / (1 - pl.col("discount"))
    )
    lines = lines.with_columns(listed.alias("list_amount")).with_columns(
        pl.coalesce(pl.col("list_amount"), implied).alias("list_amount")
    )
    units = settings.amount_units if settings.amount_units != "major" else profile.get("amount_units", "major")
    if units == "minor":
        lines = lines.with_columns(pl.col("amount") / minor, pl.col("list_amount") / minor)

    value_col = next(c for c in ("amount", "period_amount", "unit_price", "unit_price_minor") if c in headers)
    list_col = next((c for c in ("list_amount", "period_list_amount", "list_price") if c in headers), "list_amount")
    needs_amount = pl.col("amount").is_null()
    if "stage" in headers:  # (with IsWon the stage column is dropped: every line needs an amount)
        needs_amount = needs_amount & (pl.col("stage").is_null() | pl.col("stage").is_in(["won", "lost"]))
    fx = _fx_rate(settings)
    no_rate = (pl.col("currency").is_not_null() & fx.is_null()) if settings.fx else pl.lit(False)
    # A value past AMOUNT_LIMIT in the reporting currency is no line's annual value (an id or
    # a total read as the amount); sums of such values would also overflow the exact sums.
    # A list value past it is ignored (the row keeps its amount): list values are read only by
    # the commands that use them, and a row is used or rejected alike by every command.
    rate = pl.coalesce(fx, pl.lit(1.0)) if settings.fx else pl.lit(1.0)  # (rates are above 0)
    lines = lines.with_columns(
        (needs_amount & ~pl.col("__period_needs")).alias("__amount_missing"),
        (no_rate & ~pl.col("__period_needs") & ~needs_amount).alias("__no_fx_rate"),
        ((pl.col("list_amount").abs() * rate) >= AMOUNT_LIMIT).fill_null(False).alias("__list_too_large"),
    ).with_columns(
        (
            ((pl.col("amount").abs() * rate) >= AMOUNT_LIMIT).fill_null(False)
            & ~pl.col("__period_needs")
            & ~pl.col("__amount_missing")
            & ~pl.col("__no_fx_rate")
        ).alias("__amount_too_large"),
    )
    lines = lines.cache()
    broken = (
        pl.col("__period_needs") | pl.col("__amount_missing") | pl.col("__no_fx_rate") | pl.col("__amount_too_large")
    )
    conflicting = pl.col("__currency_conflict") & ~broken  # (a row is reported under its first rule)
    broken = broken | pl.col("__currency_conflict")
    late = [
        _late_issue(
            lines.filter(pl.col("__period_needs")),
            "bad_currency_amount",
            "billing_period",
            pl.col("period_amount"),
            headers.get("billing_period"),
            file,
        ),
        _late_issue(
            lines.filter(pl.col("__amount_missing")),
            "missing_value",
            value_col,
            pl.col(value_col),
            headers.get(value_col),
            file,
        ),
        _late_issue(
            lines.filter(pl.col("__no_fx_rate")),
            "no_fx_rate",
            "currency",
            pl.col("currency"),
            headers.get("currency"),
            file,
        ),
        _late_issue(
            lines.filter(pl.col("__amount_too_large")),
            "amount_too_large",
            value_col,
            pl.col("amount"),
            headers.get(value_col),
            file,
        ),
        _late_issue(
            lines.filter(conflicting),
            "currency_conflict",
            "currency",
            pl.col("__given_currency"),
            headers.get("currency"),
            file,
        ),
        _late_issue(
            lines.filter(pl.col("__list_too_large") & ~broken),
            "list_amount_too_large",
            list_col,
            pl.col("list_amount"),
            headers.get(list_col),
            file,
        ),
    ]
    rejected = lines.select(broken.sum().cast(pl.Int64).alias("late"))
    lines = lines.filter(~broken).with_columns(
        pl.when(~pl.col("__list_too_large")).then(pl.col("list_amount")).alias("list_amount")
    )
    guards: tuple[Guard, ...] = ()
    if settings.fx:
        target = (settings.currency or "").upper() or None
        lines = lines.with_columns(
            pl.col("amount") * rate,
            pl.col("list_amount") * rate,
            pl.lit(target, dtype=pl.String).alias("currency"),
        )
    else:
        # (open pipeline lines are summed by no metric: their currency cannot mislead one)
        closed = lines.filter(pl.col("stage").is_null() | (pl.col("stage") != "open"))
        guards = (Guard(closed.group_by("currency").agg(pl.len()), _one_currency(source.path, settings.currency)),)
    if settings.product_aliases:
        lines = lines.with_columns(pl.col("product_id").replace(dict(settings.product_aliases)))

    keep = [*LINE_ITEM_DTYPES, ROW, *(n for n in names if n.startswith(("__acct_", "__prod_")))]
    keep += ["__named"] if has_ids and not unique_ids else []
    lines = lines.select([pl.col(c).cast(LINE_ITEM_DTYPES[c]) if c in LINE_ITEM_DTYPES else pl.col(c) for c in keep])
    if has_ids and not unique_ids:
        # The set stage: a line_id seen on an earlier kept row is a duplicate (first row wins);
        # a line named by its row number ('row 7') is never one, nor makes one.
        first = pl.when(pl.col("__named")).then(pl.col(ROW)).min().over("line_id")
        dup = pl.col("__named") & (pl.col(ROW) != first)
        lines = lines.with_columns(dup.alias("__dup")).cache()
        late.append(
            _late_issue(
                lines.filter(pl.col("__dup")),
                "duplicate_line_id",
                "line_id",
                pl.col("line_id"),
                headers.get("line_id"),
                file,
            )
        )
        rejected = rejected.join(lines.select(pl.col("__dup").sum().cast(pl.Int64).alias("dup")), how="cross").select(
            (pl.col("late") + pl.col("dup")).alias("late")
        )
        lines = lines.filter(~pl.col("__dup")).drop("__dup", "__named")
    return lines, pl.union(late, how="vertical"), rejected, guards


def _fx_rate(settings: Settings) -> pl.Expr:
    target = reporting_code(settings.currency) or (settings.currency or "").upper()
    rates = {k.upper(): v for k, v in settings.fx.items()}
    if target:
        rates.setdefault(target, 1.0)
    return pl.col("currency").replace_strict(rates, default=None, return_dtype=pl.Float64)


def reporting_code(currency: str | None) -> str:
    """The configured reporting currency as a code ('eur', ' EUR', '€' -> EUR; '$', 'US$' ->
    USD); '' when none is set or it is no three-letter code (then nothing is compared with it)."""
    code = (currency or "").strip().upper()
    code = {"$": "USD", **_WRITTEN_CURRENCY}.get(code, code)
    return code if len(code) == 3 and code.isascii() and code.isalpha() else ""


def _lines(n: int) -> str:
    return f"{n:,} line" + ("" if n == 1 else "s")


def _one_currency(path: Path, reporting: str | None) -> Callable[[pl.DataFrame], None]:
    """Without fx: the closed lines' amounts must be in one currency, and in the reporting one
    when it is given (currency: EUR over amounts written '$100' would call dollars euros)."""

    def check(counts: pl.DataFrame) -> None:
        known = counts.filter(pl.col("currency").is_not_null())
        target = reporting_code(reporting)
        if known.height == 1 and target and known["currency"][0] != target:
            written, n = known["currency"][0], known["len"][0]
            blank = int(counts.filter(pl.col("currency").is_null())["len"].sum())
            if blank:  # the unmarked lines are in the reporting currency: only a rate mends it
                raise DataError(
                    f"{path}: {_lines(n)} written in {written} and {_lines(blank)} without a currency, read "
                    f"as {target} (currency: {reporting}); adding them up would be wrong",
                    hint=f"give the rate with fx: {{{written}: <value of 1 {written} in {target}>}} in xsell.yaml",
                )
            raise DataError(
                f"{path}: amounts are written in {written} ({_lines(n)}), but the reporting "
                f"currency is {target} (currency: {reporting}); adding them up as {target} would be wrong",
                hint=f"set currency: {written} in xsell.yaml, or give the rate with fx: {{{written}: <value of "
                f"1 {written} in {target}>}}",
            )
        if known.height <= 1:
            return
        ordered = counts.sort(["len", "currency"], descending=[True, False], nulls_last=True)
        listing = ", ".join(f"{c or 'none given'}: {_lines(n)}" for c, n in ordered.iter_rows())
        raise DataError(
            f"{path}: amounts are in several currencies ({listing}); adding them up would be wrong",
            hint="add an fx: table to xsell.yaml giving each currency's value in the reporting "
            "currency, e.g. currency: USD and fx: {EUR: 1.08, GBP: 1.27}",
        )

    return check


def _finish_products(checked: Checked | None, lines: pl.LazyFrame, settings: Settings) -> pl.LazyFrame:
    if checked is None:
        # No catalogue: every product seen is its own family unless the export named one.
        extra = {c.removeprefix("__prod_"): c for c in lines.collect_schema().names() if c.startswith("__prod_")}
        aggs = [pl.col(col).sort_by(ROW).drop_nulls().last().alias(name) for name, col in extra.items()]
        products = lines.group_by("product_id").agg(aggs) if aggs else lines.select("product_id").unique()
        names = products.collect_schema().names()
        products = products.with_columns(
            pl.lit(None, dtype=t).alias(n) for n, t in PRODUCT_DTYPES.items() if n not in names
        )
    else:
        products = checked.kept
        names = products.collect_schema().names()
        products = products.with_columns(
            pl.lit(None, dtype=t).alias(n) for n, t in PRODUCT_DTYPES.items() if n not in names
        )
        if settings.product_aliases:
            products = products.with_columns(pl.col("product_id").replace(dict(settings.product_aliases)))
        products = products.filter(pl.col(ROW) == pl.col(ROW).min().over("product_id"))
    products = with_family_spelling(products)
    products = products.with_columns(
        pl.coalesce(FAMILY_AS, "family", "product_id").alias("family"),
        pl.col("sellable").fill_null(True),
    ).drop(FAMILY_AS)
    if settings.families:
        families = dict(settings.families)
        products = products.with_columns(
            pl.col("product_id").replace_strict(families, default=pl.col("family")).alias("family")
        )
        config_only = pl.LazyFrame(
            {"product_id": list(families), "family": list(families.values())},
            schema={"product_id": pl.String, "family": pl.String},
        ).join(products.select("product_id"), on="product_id", how="anti")
        products = pl.concat(
            [
                products.select(list(PRODUCT_DTYPES)),
                config_only.with_columns(
                    pl.col("product_id").alias("product_name"),
                    pl.lit(None, dtype=pl.Float64).alias("list_price"),
                    pl.lit(True).alias("sellable"),
                ).select(list(PRODUCT_DTYPES)),
            ],
            how="vertical_relaxed",
        )
    return products.select([pl.col(n).cast(t) for n, t in PRODUCT_DTYPES.items()]).sort("product_id")


# A family name as the products write it most (FAMILY_AS), for names that differ only by case
# or an invisible character ('Core', 'core', 'Core\u200e'): one family, not two (a tier upgrade
# from one to the other would count as a cross-sell). Product ids are never folded: a
# product's own id standing in for its family keeps its case (Salesforce ids are case-sensitive).
FAMILY_AS = "__family_as"


def with_family_spelling(products: pl.LazyFrame) -> pl.LazyFrame:
    """``products`` with FAMILY_AS: the spelling most products with a family that reads the same
    (case and invisible characters aside) give it, the first in sort order on a tie."""
    key = pl.col("family").str.replace_all(FORMAT_CHARACTERS_CLASS, "").str.to_lowercase().alias("__family_key")
    spellings = (
        products.filter(pl.col("family").is_not_null())
        .group_by(key, "family")
        .agg(pl.col("product_id").n_unique().alias("__n"))
        .group_by("__family_key")
        .agg(pl.col("family").sort_by("__n", "family", descending=[True, False]).first().alias(FAMILY_AS))
    )
    return products.with_columns(key).join(spellings, on="__family_key", how="left").drop("__family_key")


def _finish_accounts(
    checked: Checked | None, extras: Sequence[str], *, unique_ids: bool = False
) -> pl.LazyFrame | None:
    """The accounts file's rows, the first row of each account_id (None without a file;
    ``unique_ids``: no account_id repeats)."""
    if checked is None:
        return None
    accounts = checked.kept
    names = accounts.collect_schema().names()
    accounts = accounts.with_columns(
        pl.lit(None, dtype=t).alias(n) for n, t in ACCOUNT_DTYPES.items() if n not in names
    )
    if not unique_ids:
        accounts = accounts.filter(pl.col(ROW) == pl.col(ROW).min().over("account_id"))
    return accounts.select([*ACCOUNT_DTYPES, *extras]).sort("account_id")


def accounts_from_lines(lines: pl.LazyFrame, *, as_of: pl.Expr | None = None) -> pl.LazyFrame:
    """Accounts read off line items: each attribute from the account's latest line that has it
    (by booked_at, then file order), among the lines booked on or before ``as_of`` when it is
    given (a line without a booking date counts as known): an attribute that a line dated after
    T sets was not known at T, so it must not shape an answer as of T (issue 11). An account
    whose every line is later than T is still listed, with empty attributes."""
    extra = {c.removeprefix("__acct_"): c for c in lines.collect_schema().names() if c.startswith("__acct_")}
    known = pl.lit(True)
    if as_of is not None and extra:
        # T may be an aggregate over the whole book (the latest closed date): a column first,
        # so that each group compares with the book's T, not its own.
        lines = lines.with_columns(as_of.alias("__as_of"))
        known = pl.col("booked_at").is_null() | (pl.col("booked_at") <= pl.col("__as_of"))
    latest = [
        pl.when(known).then(pl.col(col)).sort_by("booked_at", ROW, nulls_last=False).drop_nulls().last().alias(name)
        for name, col in extra.items()
    ]
    accounts = (lines.group_by("account_id").agg(latest) if latest else lines.select("account_id").unique()).filter(
        pl.col("account_id").is_not_null()
    )
    names = accounts.collect_schema().names()
    accounts = accounts.with_columns(
        pl.lit(None, dtype=t).alias(n) for n, t in ACCOUNT_DTYPES.items() if n not in names
    )
    return accounts.select(list(ACCOUNT_DTYPES)).sort("account_id")


def _with_catalogue_list(lines: pl.LazyFrame, products: pl.LazyFrame, catalogue: bool) -> pl.LazyFrame:
    """list_amount defaults to the catalogue list_price × quantity (SPEC §1)."""
    if not catalogue:
        return lines
    priced = products.filter(pl.col("list_price").is_not_null()).select(
        "product_id", pl.col("list_price").alias("__lp")
    )
    return (
        lines.join(priced, on="product_id", how="left", maintain_order="left")
        .with_columns(pl.coalesce("list_amount", pl.col("__lp") * pl.col("quantity")).alias("list_amount"))
        .drop("__lp")
    )


# ---------------------------------------------------------------------------------------
# warnings and counts


def _warnings(
    lines: pl.LazyFrame,
    accounts: pl.LazyFrame | None,
    products: pl.LazyFrame | None,
    checked: Mapping[TableName, Checked],
    raw_lines: RawTable,
    *,
    hashed: pl.DataFrame | None = None,
    aliases: Mapping[str, str] | None = None,
) -> pl.LazyFrame:
    """The check stage: rows that are used but deserve a look (warnings), and the repeats of an
    account or product key, which are not used (rejected; ``_counts`` counts them). ``hashed``: every line row's
    hash, read with the probe (see ``duplicate_rows``). ``aliases``: the config's
    product_aliases, applied to the catalogue before its repeats are looked for (an alias
    onto a product the catalogue also lists makes two rows of one product)."""
    parts: list[pl.LazyFrame] = []
    file = str(checked["line_items"].source.path)
    frame = lines
    orphan_account = pl.lit(False)
    orphan_product = pl.lit(False)
    if accounts is not None:
        known = accounts.select("account_id").unique().with_columns(pl.lit(True).alias("__known_account"))
        frame = frame.join(known, on="account_id", how="left")
        orphan_account = pl.col("account_id").is_not_null() & pl.col("__known_account").is_null()
    if products is not None:
        known = products.select("product_id").unique().with_columns(pl.lit(True).alias("__known_product"))
        frame = frame.join(known, on="product_id", how="left")
        orphan_product = pl.col("product_id").is_not_null() & pl.col("__known_product").is_null()
    frame = frame.with_columns(orphan_account.alias("__orphan_account"), orphan_product.alias("__orphan_product"))
    frame = frame.with_columns(pl.col(ROW).cast(pl.Int64))
    frame = frame.join(duplicate_rows(raw_lines, hashed), on=ROW, how="left")
    frame = frame.join(concurrent_at_start(lines), on=ROW, how="left")
    # (the header each warning's column was read from, as rejected rows name theirs)
    headers = {m.canonical: m.header for m in checked["line_items"].source.mapping}
    for rule in rules_for("line_items", "check"):
        parts.append(
            _warning_rows(
                frame.filter(rule.check(rule.column).fill_null(False)),
                rule.name,
                rule.column,
                rule.message,
                "line_items",
                file,
                shows=rule.shows,
                header=headers.get(rule.column),
            )
        )
    for table in _KEYS:
        if table not in checked:
            continue
        rows = _keyed_rows(checked[table], table, aliases).sort(ROW)
        path = str(checked[table].source.path)
        names = rows.collect_schema().names()
        for rule in rules_for(table, "check"):
            if rule.column not in names:
                continue  # (a catalogue without families has no spelling of one to check)
            header = next((m.header for m in checked[table].source.mapping if m.canonical == rule.column), None)
            check = rule.check(rule.column).fill_null(False)
            whole = f"{rule.message}; {rule.fix}" if rule.fix else rule.message
            parts.append(
                _warning_rows(
                    rows.filter(check),
                    rule.name,
                    rule.column,
                    whole,
                    table,
                    path,
                    header=header,
                    severity=rule.severity,
                )
            )
    return pl.union(parts, how="vertical") if parts else empty_issues()


# The accounts' and the products' keys: a repeat of one is rejected (duplicate_account,
# duplicate_product), its first row used.
_KEYS: dict[TableName, str] = {"accounts": "account_id", "products": "product_id"}


def _keyed_rows(checked: Checked, table: TableName, aliases: Mapping[str, str] | None) -> pl.LazyFrame:
    """A table's kept rows as the check stage reads them: the catalogue with the config's
    product_aliases applied (an alias onto a product it also lists makes two rows of one)."""
    kept = checked.kept
    if table == "products" and aliases:
        kept = kept.with_columns(pl.col(_KEYS[table]).replace(dict(aliases)))
    if table == "products" and "family" in kept.collect_schema().names():
        kept = with_family_spelling(kept)
    return kept


def _warning_rows(
    frame: pl.LazyFrame,
    rule: str,
    column: str,
    message: str,
    table: str,
    file: str,
    *,
    shows: str | None = None,
    header: str | None = None,
    severity: str = "warning",
) -> pl.LazyFrame:
    value = pl.col(shows or column).cast(pl.String)
    return frame.select(
        pl.lit(table).alias("table"),
        pl.lit(file).alias("file"),
        pl.col(ROW).cast(pl.Int64).alias("row"),
        pl.lit(column).alias("column"),
        pl.lit(header, dtype=pl.String).alias("header"),
        value.alias("value"),
        pl.lit(rule).alias("rule"),
        pl.lit(severity).alias("severity"),
        template(message, value=value, column=pl.lit(column), table=table).alias("message"),
    )


def _counts(
    checked: Mapping[TableName, Checked],
    late: pl.LazyFrame,
    lines: pl.LazyFrame,
    *,
    aliases: Mapping[str, str] | None = None,
    unique: Collection[TableName] = (),
) -> pl.LazyFrame:
    """One row per table: rows (data rows: not blank, not a footer), used, rejected, excluded,
    blank and footer lines, open (loaded line items with an open stage: no metric uses
    them) and after_as_of (0 here: the session counts the closed lines booked after --as-of,
    which it leaves out, once T is known). They add up: used + open + after_as_of + rejected +
    excluded = rows."""
    parts = []
    for table, c in checked.items():
        counts = c.counts
        if table == "line_items":
            open_rows = lines.select((pl.col("stage") == "open").sum().cast(pl.Int64).alias("open"))
            counts = counts.join(late, how="cross").with_columns(pl.col("rejected") + pl.col("late")).drop("late")
            counts = counts.join(open_rows, how="cross")
        else:
            # The rows the check stage rejects (the repeats of a key), by its own rules.
            rejecting = [
                r.check(_KEYS[table]).fill_null(False) for r in rules_for(table, "check") if r.severity == "rejected"
            ]
            if rejecting and (table not in unique or (table == "products" and aliases)):
                late_rejects = _keyed_rows(c, table, aliases).select(
                    pl.any_horizontal(rejecting).sum().cast(pl.Int64).alias("late")
                )
                counts = counts.join(late_rejects, how="cross").with_columns(pl.col("rejected") + pl.col("late"))
                counts = counts.drop("late")
            counts = counts.with_columns(pl.lit(0, dtype=pl.Int64).alias("open"))
        rows = pl.col("records") - pl.col("blank") - pl.col("footer")
        parts.append(
            counts.select(
                pl.lit(table).alias("table"),
                rows.alias("rows"),
                (rows - pl.col("rejected") - pl.col("excluded") - pl.col("open")).alias("used"),
                "rejected",
                "excluded",
                pl.col("blank").alias("blank_lines"),
                pl.col("footer").alias("footer_lines"),
                pl.lit(c.source.header_lines, dtype=pl.Int64).alias("header_lines"),
                "open",
                pl.lit(0, dtype=pl.Int64).alias("after_as_of"),
            )
        )
    return pl.concat(parts, how="vertical")


# ---------------------------------------------------------------------------------------
# wide exports


def _load_wide(settings: Settings, profile: Mapping[str, Any], options: p.Options) -> Book:
    """A wide export: its rows are the accounts, its owned cells the line items (no dates)."""
    from .wide import NO_DATE, owned_lines

    source = settings.sources["line_items"]
    wide = source.wide
    assert wide is not None
    raw = read_source(source, settings)
    mapping = dict(
        map_columns(
            raw.headers,
            ACCOUNTS,
            explicit={**settings.columns.get("accounts", {}), "account_id": wide.account},
            profile_columns={},
            path=raw.path,
        )
    )
    used_idx = {i for i, _ in mapping.values()} | {
        i for i, h in enumerate(raw.headers) if h in wide.columns or h == wide.select
    }
    extra: dict[str, int] = {}
    for i, header in enumerate(raw.headers):
        name = attribute_name(header)
        if i not in used_idx and name and name not in ACCOUNTS.names and name not in extra:
            extra[name] = i
    checked = _check(raw, "accounts", mapping, settings, profile, options, extra)
    accounts = checked.kept
    lines = (
        owned_lines(raw, wide)
        .join(accounts.select(ROW, "account_id"), on=ROW, how="inner")
        .select(
            pl.concat_str([pl.col(ROW).cast(pl.String), pl.lit(":"), pl.col("product_id")]).alias("line_id"),
            "account_id",
            "product_id",
            pl.lit(NO_DATE).alias("booked_at"),
            pl.lit(None, dtype=pl.Float64).alias("amount"),
            pl.lit(NO_DATE).alias("start_date"),
            pl.lit(None, dtype=pl.Date).alias("end_date"),
            pl.lit(None, dtype=pl.Float64).alias("list_amount"),
            pl.lit(None, dtype=pl.Float64).alias("discount"),
            pl.lit(1.0).alias("quantity"),
            pl.lit(None, dtype=pl.String).alias("contract_id"),
            pl.lit(None, dtype=pl.String).alias("rep"),
            pl.lit(None, dtype=pl.String).alias("stage"),
            pl.lit(None, dtype=pl.String).alias("currency"),
            pl.lit(None, dtype=pl.Boolean).alias("bundled"),
            pl.lit(None, dtype=pl.String).alias("parent_line_id"),
            pl.col(ROW),
            pl.col("family").alias("__prod_family"),
        )
    )
    if "products" in settings.sources:
        catalogue = settings.sources["products"]
        praw = read_source(catalogue, settings)
        pmapping = _mapping_for(praw, "products", settings, profile)
        _require("products", pmapping, praw, profile)
        products = _finish_products(_check(praw, "products", pmapping, settings, profile, options), lines, settings)
    else:
        products = _finish_products(None, lines, settings)
    lines = lines.drop("__prod_family")
    wide_source = replace(
        checked.source,
        table="line_items",
        mapping=tuple(
            [ColumnSource("account_id", wide.account, "config")]
            + [ColumnSource("product_id", h, "wide") for h in wide.columns]
            + ([ColumnSource("product_id", wide.select, "wide")] if wide.select else [])
        ),
        ignored_headers=(),
    )
    issues = checked.issues.with_columns(pl.lit("line_items").alias("table"))
    counts = checked.counts.select(
        pl.lit("line_items").alias("table"),
        (pl.col("records") - pl.col("blank") - pl.col("footer")).alias("rows"),
        (pl.col("records") - pl.col("blank") - pl.col("footer") - pl.col("rejected")).alias("used"),
        "rejected",
        pl.lit(0, dtype=pl.Int64).alias("excluded"),
        pl.col("blank").alias("blank_lines"),
        pl.col("footer").alias("footer_lines"),
        pl.lit(raw.header_lines, dtype=pl.Int64).alias("header_lines"),
        pl.lit(0, dtype=pl.Int64).alias("open"),
        pl.lit(0, dtype=pl.Int64).alias("after_as_of"),
    )
    accounts_table = (
        accounts.with_columns(
            pl.lit(None, dtype=t).alias(n)
            for n, t in ACCOUNT_DTYPES.items()
            if n not in accounts.collect_schema().names()
        )
        .select([*ACCOUNT_DTYPES, *extra])
        .sort("account_id")
    )
    return Book(
        line_items=lines,
        accounts=accounts_table,
        products=products,
        issues=issues,
        counts=counts,
        sources={"line_items": wide_source},
        present=frozenset({"account_id", "product_id"}),
        given=frozenset(settings.sources) | {"accounts"},
        dateless=True,
        account_columns=tuple(ACCOUNT_DTYPES) + tuple(extra),
        profile=profile.get("name"),
    )


__all__ = [
    "ACCOUNT_DTYPES",
    "COUNTS_SCHEMA",
    "COUNT_SCHEMA",
    "ISSUE_SCHEMA",
    "LINE_ITEM_DTYPES",
    "PRODUCT_DTYPES",
    "Book",
    "Guard",
    "accounts_from_lines",
    "explain",
    "load",
    "missing_columns",
]


def with_profile_lookups(settings: Settings, profile: Mapping[str, Any]) -> Settings:
    """Apply a profile's lookups: HubSpot line items carry no company or close date, their deals
    do; Salesforce opportunity products carry no account, close date or outcome, their
    opportunities do. When the file lacks the column and the other export sits beside it,
    join them.

    The other export is the file whose name is the lookup's ``file`` (``Opportunity.csv``,
    ``extract_Opportunity.csv``), else the one file whose name contains it (an export folder
    also holds ``OpportunityHistory.csv``: a name that only contains it never wins over one
    that is it). Its key and columns may go by several names (a label export's ``Record ID``,
    an internal-name export's ``hs_object_id``): the first the file has is used.
    """
    import re

    from ..config import Lookup
    from ..errors import UsageError

    lookups: Mapping[str, Mapping[str, Any]] = profile.get("lookups", {})
    if not lookups:
        return settings

    def word(text: str) -> str:
        return re.sub(r"[^0-9a-z]+", "_", text.lower()).strip("_")

    sources = dict(settings.sources)
    for table, spec in lookups.items():
        source = sources.get(table)  # type: ignore[call-overload]
        if source is None or source.lookup is not None:
            continue
        raw = read_raw(source.path, encoding=source.encoding or settings.encoding)
        if spec.get("when_missing") not in missing_columns(raw.headers, table, settings, profile):  # type: ignore[arg-type]
            continue
        normalized = [normalize_header(h) for h in raw.headers]
        match = next((m for m in spec["match"] if find_header(normalized, m) is not None), None)
        if match is None:
            continue  # the file cannot be joined: the missing column is reported as such
        pattern = word(spec["file"])
        others = [path for path in sorted(source.path.parent.iterdir()) if path != source.path and path.is_file()]
        named = [path for path in others if word(path.stem) in (pattern, pattern + "s", "extract_" + pattern)]
        candidates = named or [path for path in others if pattern in word(path.stem)]
        key_hint = spec.get("key", spec["match"])[0]
        if len(candidates) > 1:
            listing = ", ".join(path.name for path in candidates)
            raise UsageError(
                f"{source.path.name} needs {spec['when_missing']} from another file, and several could hold it "
                f"({listing})",
                hint=f"name the file in xsell.yaml: data: {{{table}: {{path: ..., lookup: {{path: ..., "
                f"match: '{match}', key: '{key_hint}'}}}}}}",
            )
        if len(candidates) == 1:
            other = read_raw(candidates[0], encoding=settings.encoding)
            key = _first_header(other.headers, spec.get("key", spec["match"]))
            if key is None:
                raise DataError(
                    f"{candidates[0]}: no column {' or '.join(repr(k) for k in spec.get('key', spec['match']))} "
                    f"to join {source.path.name} on",
                    hint="headers found: " + ", ".join(other.headers),
                )
            columns = tuple(
                c for c in (_first_header(other.headers, names) for names in spec.get("columns", ())) if c is not None
            )
            lookup = Lookup(path=candidates[0], match=match, key=key, columns=columns)
            sources[table] = replace(source, lookup=lookup)  # type: ignore[index]
    return replace(settings, sources=sources)


def _first_header(headers: Sequence[str], names: Sequence[str]) -> str | None:
    """The header of ``headers`` that is the first of ``names`` found (None when none is)."""
    normalized = [normalize_header(h) for h in headers]
    index = next((i for n in names if (i := find_header(normalized, n)) is not None), None)
    return None if index is None else headers[index]
