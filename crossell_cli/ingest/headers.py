"""Header mapping: an export's headers -> the canonical columns of SCHEMA.

Order of precedence, per canonical column: the config's ``columns:`` (always wins), the
profile's candidates (which replace the built-in synonyms for that column), the canonical
name itself, the built-in synonyms; a header's field name after 'Object.' or 'Object: '
last. ``amount`` ranks its name among its synonyms, after the line-level ones (ARR, Total
Price): a CRM report's 'Amount' is the whole deal's, repeated on each of its lines.
A header the config or the profile gives to one column is not also guessed for another
(Stripe's "Amount" is a unit price, not also an ARR amount).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, DataError
from ..schema import Table, header_suffix, normalize_header

# Headers that mean the row's own record on a line export, so they never name its account
# or product: "Name" is the opportunity's or line item's name there.
GENERIC_HEADERS = ("Name", "Id", "Record ID", "hs_object_id", "Description", "Title", "Owner", "OwnerId", "Product")


@dataclass(frozen=True)
class ColumnSource:
    canonical: str
    header: str | None
    how: str  # config / profile / name / synonym / derived / default / wide


Mapping_ = dict[str, tuple[int, ColumnSource]]


def map_columns(
    headers: Sequence[str],
    table: Table,
    *,
    explicit: Mapping[str, str],
    profile_columns: Mapping[str, Sequence[str]],
    path: Path,
    only: Sequence[str] | None = None,
    skip_synonyms: Sequence[str] = (),
) -> Mapping_:
    """Canonical column -> (header index, how it was matched); see the module docstring.

    ``skip_synonyms`` leaves out generic synonyms ("Name") where they mean something else.
    """
    normalized = [normalize_header(h) for h in headers]
    suffixes = [header_suffix(h) for h in headers]
    found: Mapping_ = {}
    skipped = {normalize_header(s) for s in skip_synonyms}
    by_config: set[int] = set()
    claimed: set[int] = set()
    _one_key_per_header(table, explicit)
    for col in table.columns:
        if only is not None and col.name not in only:
            continue
        if col.name in explicit:
            index = find_header(normalized, explicit[col.name])
            if index is not None:
                by_config.add(index)
    for col in table.columns:
        if (only is None or col.name in only) and col.name not in explicit and col.name in profile_columns:
            match = _match([(c, "profile") for c in profile_columns[col.name]], normalized, suffixes, avoid=by_config)
            if match is not None:
                claimed.add(match[0])
    claimed |= by_config
    for col in table.columns:
        if only is not None and col.name not in only:
            continue
        if col.name in explicit:
            wanted = explicit[col.name]
            index = find_header(normalized, wanted)
            if index is None:
                close = difflib.get_close_matches(wanted, list(headers), n=1, cutoff=0.5)
                raise ConfigError(
                    f"config columns.{table.name}.{col.name} names the header '{wanted}', "
                    f"which {path.name} does not have",
                    hint=(f"did you mean '{close[0]}'? " if close else "") + "headers found: " + ", ".join(headers),
                )
            found[col.name] = (index, ColumnSource(col.name, headers[index], "config"))
            continue
        if col.name in profile_columns:
            # The profile's headers replace the generic synonyms (a system's "Amount" may be a
            # monthly price), but xsell's own canonical name is never ambiguous.
            listed = profile_columns[col.name]
            candidates: list[tuple[str, str]] = [(c, "profile") for c in listed]
            if listed:
                candidates.append((col.name, "name"))
        else:
            canonical = normalize_header(col.name)
            candidates = [(col.name, "name")] if col.name_first else []
            candidates += [
                (s, "name" if normalize_header(s) == canonical else "synonym")
                for s in col.synonyms
                if normalize_header(s) not in skipped
            ]
        match = _match(candidates, normalized, suffixes)
        if match is not None and match[0] in (by_config if match[1] == "profile" else claimed):
            match = _match(candidates, normalized, suffixes, avoid=by_config if match[1] == "profile" else claimed)
        if match is not None:
            index, how = match
            found[col.name] = (index, ColumnSource(col.name, headers[index], how))
    for name, (index, _source) in found.items():
        dupes = [i for i, n in enumerate(normalized) if n == normalized[index]]
        if len(dupes) > 1:
            cols = " and ".join(str(i + 1) for i in dupes)
            written = {headers[i] for i in dupes}
            # Headers that match ignoring case and spaces ('amount', 'Amount') are named as
            # written, so that each can be found in the file.
            said = (
                f"the header '{headers[index]}' appears in columns {cols}"
                if len(written) == 1
                else "the headers " + " and ".join(f"'{headers[i]}' (column {i + 1})" for i in dupes) + " are one name"
            )
            raise DataError(
                f"{path}: {said}, so the {name} column is ambiguous",
                hint=f"rename one of them in the file, or map {name} to another header with "
                f"columns.{table.name}.{name} in xsell.yaml",
            )
    return found


def _one_key_per_header(table: Table, explicit: Mapping[str, str]) -> None:
    """account_id and product_id mapped to one header ('Customer') make every customer a
    product of its own: a config mistake, never a reading of the data. (Other IDs may share
    one: line_id and contract_id both 'Opportunity ID' in a one-line-per-deal export.)"""
    seen: dict[str, str] = {}
    for col in table.columns:
        if col.name not in ("account_id", "product_id") or col.name not in explicit:
            continue
        header = normalize_header(explicit[col.name])
        if header in seen:
            raise ConfigError(
                f"config columns.{table.name} maps both {seen[header]} and {col.name} to the header "
                f"'{explicit[col.name]}'",
                hint="an account and a product are different records: map each to its own header",
            )
        seen[header] = col.name


def find_header(normalized: Sequence[str], wanted: str) -> int | None:
    target = normalize_header(wanted)
    return next((i for i, n in enumerate(normalized) if n == target), None)


def _match(
    candidates: Sequence[tuple[str, str]],
    normalized: Sequence[str],
    suffixes: Sequence[str | None],
    avoid: set[int] | None = None,
) -> tuple[int, str] | None:
    avoid = avoid or set()
    for candidate, how in candidates:
        target = normalize_header(candidate)
        for i, name in enumerate(normalized):
            if name == target and i not in avoid:
                return i, how
    for candidate, how in candidates:
        target = normalize_header(candidate)
        for i, suffix in enumerate(suffixes):
            if suffix == target and i not in avoid:
                return i, how
    return None


def _key_of(normalized: str) -> str | None:
    """The record a key header names ('opportunityid' -> 'opportunity'), or None when the header
    is not a key ('amount'). The 'c' of a Salesforce custom field ('account__c') counts as a key."""
    for suffix in ("ids", "id", "c", "key"):
        if normalized.endswith(suffix) and len(normalized) > len(suffix):
            return normalized[: -len(suffix)]
    return None


def _other_record(wanted: str, header: str) -> bool:
    """True when both are keys of different records: 'opportunityid' is close to 'accountid'
    letter by letter, but mapping one to the other changes the grain of the table (every
    opportunity a customer), so it is never a suggestion."""
    a, b = _key_of(wanted), _key_of(header)
    if a is None or b is None:
        return False
    return difflib.SequenceMatcher(None, a, b).ratio() < 0.75


def missing_column_error(
    table: Table,
    names: Sequence[str],
    headers: Sequence[str],
    path: Path,
    *,
    taken: Collection[str] | Mapping[str, tuple[str, bool]] = (),
) -> DataError:
    """One required column (or one of a group: ``names``) that no header fills."""
    return missing_columns_error(table, [names], headers, path, taken=taken)


def missing_columns_error(
    table: Table,
    groups: Sequence[Sequence[str]],
    headers: Sequence[str],
    path: Path,
    *,
    taken: Collection[str] | Mapping[str, tuple[str, bool]] = (),
) -> DataError:
    """Every required column no header fills, in one message: each group is one column, or
    one of several alternatives ("amount (or unit_price)"). The fix maps each to the closest
    header found, when one is close. ``taken``: headers already mapped to another column, never
    suggested (OpportunityId is the deal, not the account); nor is a key of another record.
    When ``taken`` says where each went, a header that names a missing column but went
    elsewhere is pointed out ('Customer ID' mapped to product_id by the config)."""
    used = {normalize_header(h) for h in taken}
    pool = {normalize_header(h): h for h in headers if normalize_header(h) not in used}
    wanted = [names[0] + (f" (or {', '.join(names[1:])})" if len(names) > 1 else "") for names in groups]
    closest: dict[str, str] = {}
    for names in groups:
        for name in names:
            col = table.column(name)
            guesses: list[str] = []
            for synonym in (name, *col.synonyms):
                target = normalize_header(synonym)
                close = difflib.get_close_matches(target, list(pool), n=3, cutoff=0.75)
                if not close and col.kind != "id" and len(target) >= 3:
                    # (a value with its unit or currency after it: 'ARR (USD)', 'Amount EUR')
                    close = [h for h in pool if h.startswith(target)][:1]
                guesses += [g for g in close if not (col.kind == "id" and _other_record(target, g))][:1]
            if guesses and names[0] not in closest:
                closest[names[0]] = pool[guesses[0]]
    went = taken_elsewhere(table, groups, taken) if isinstance(taken, Mapping) else []
    mapping = ", ".join(f"{names[0]}: '{closest.get(names[0], 'Your Header')}'" for names in groups)
    many = len(groups) > 1
    hint = f"map {'them' if many else 'it'} in xsell.yaml: columns: {{{table.name}: {{{mapping}}}}}"
    moved = [(header, other) for _, header, other, by_config in went if by_config]
    if moved:
        header, other = moved[0]
        hint = f"correct columns.{table.name}.{other} in xsell.yaml (it took '{header}'), or " + hint
    if closest:
        near = ", ".join(f"'{header}'" + (f" for {name}" if many else "") for name, header in closest.items())
        hint = f"the closest header{'s are' if len(closest) > 1 else ' is'} {near}; " + hint
    listed = wanted[0] if not many else ", ".join(wanted[:-1]) + " and " + wanted[-1]
    return DataError(
        f"{path}: no column for {listed} (the {table.name} table needs {'them' if many else 'it'}). "
        f"Headers found: {', '.join(headers) or '(none)'}"
        + "".join(
            f"; the header '{header}' would be {name}, but "
            + (f"the config maps it to {other}" if by_config else f"it was taken for {other}")
            for name, header, other, by_config in went
        ),
        hint=hint,
    )


def taken_elsewhere(
    table: Table, groups: Sequence[Sequence[str]], taken: Mapping[str, tuple[str, bool]]
) -> list[tuple[str, str, str, bool]]:
    """(missing column, header, the column that took it, by the config) for each missing column
    whose own header another column took."""
    found = []
    for names in groups:
        for name in names:
            targets = {normalize_header(s) for s in (name, *table.column(name).synonyms)}
            for header, (other, by_config) in taken.items():
                if normalize_header(header) in targets:
                    found.append((name, header, other, by_config))
    return found


def require(
    table: Table,
    mapping: Mapping[str, object],
    headers: Sequence[str],
    path: Path,
    *,
    taken: Collection[str] | Mapping[str, tuple[str, bool]] = (),
) -> None:
    """Every required column (and one of each one_of group) is mapped, or one DataError names
    them all."""
    missing = [[c.name] for c in table.columns if c.required and c.name not in mapping]
    missing += [list(group) for group in table.one_of if not any(n in mapping for n in group)]
    if missing:
        raise missing_columns_error(table, missing, headers, path, taken=taken)


def unread_line_column_warnings(mapping: Sequence[ColumnSource], unread: Sequence[str]) -> tuple[str, ...]:
    """Line-item headers xsell does not read whose names say they may hold what a missing
    column would have said (found by a red-team pass):

    - a line export without a booked_at column takes each line's booking date from its start
      date (a billing export's subscription start). A close date under a name xsell does not
      know ('Close Dt') would leave every booking date a service start, with no word of it,
      and the cross-sells and T would follow;
    - without a stage column every line is a purchase (SPEC §1). A won / lost column under a
      name xsell does not know ('Opp Status') would count every lost deal as bought.
    """
    mapped = {column.canonical: column.header for column in mapping}
    words = {header: set(_header_words(header)) for header in unread}
    warnings: list[str] = []
    start = mapped.get("start_date")
    # (a billing export's other columns are no date: mrr_amount, is_trial, churn_flag)
    dated = [h for h, w in words.items() if _DATE_WORDS & w]
    if "booked_at" not in mapped and start is not None and dated:
        warnings.append(
            f"warning: line_items has no booked_at column, so each line's booking date is its start date "
            f"('{start}'); not read: {_quoted(dated)}. If that is the close date, map it in xsell.yaml "
            f"(columns: line_items: booked_at: '{dated[0]}')"
        )
    # (a billing export's 'Subscription Status' says active or canceled: no deal word)
    staged = [h for h, w in words.items() if _STAGE_WORDS & w or ("status" in w and _DEAL_WORDS & w)]
    if "stage" not in mapped and "is_won" not in mapped and staged:
        warnings.append(
            f"warning: line_items has no stage column, so every line counts as won; not read: {_quoted(staged)}. "
            f"If that says won, lost or open, map it in xsell.yaml (columns: line_items: stage: '{staged[0]}')"
        )
    return tuple(warnings)


def _quoted(headers: Sequence[str]) -> str:
    return ", ".join(f"'{header}'" for header in headers)


# Words of a header that say it holds a deal's outcome ('Opp Status', 'Deal Outcome', 'IsWon').
_STAGE_WORDS = frozenset({"stage", "outcome", "won", "lost"})
_DEAL_WORDS = frozenset({"opp", "opportunity", "deal", "sale", "sales"})
# Words of a header that say it holds a date ('Close Dt', 'CreatedAt', 'signed_on').
_DATE_WORDS = frozenset(
    {"date", "dt", "close", "closed", "booked", "booking", "created", "signed", "won", "day", "time"}
)


def _header_words(header: str) -> list[str]:
    """'Close Dt' -> ['close', 'dt']; 'CloseDate' -> ['close', 'date']; 'won_at' -> ['won', 'at']."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", header)
    return [word for word in re.split(r"[^0-9a-z]+", spaced.lower()) if word]
