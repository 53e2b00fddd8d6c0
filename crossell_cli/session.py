"""One run: resolve settings (CLI > config file > profile > default), load, build the model.

The command line hands raw option values in; metrics get frames out. Nothing here
prints or exits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .config import Settings, find_config, read_config, resolve_settings
from .errors import DataError, UsageError
from .load import Book, LoadReport, load_book
from .model import Model, build_model
from .profiles import load_profile


@dataclass(frozen=True)
class Session:
    settings: Settings
    profile: Mapping[str, Any]
    config_path: Path | None

    @property
    def inputs(self) -> list[Path]:
        paths = [s.path for s in self.settings.sources.values()]
        return paths + ([self.config_path] if self.config_path else [])


def open_session(cli: Mapping[str, Any], *, config: Path | None, cwd: Path | None = None) -> Session:
    config_path = find_config(config, cwd)
    file_values = read_config(config_path) if config_path else {}
    profile_name = cli.get("profile") or file_values.get("profile")
    profile = load_profile(profile_name) if profile_name else {}
    settings = resolve_settings(
        file_values=file_values,
        config_dir=config_path.parent if config_path else None,
        cli=cli,
        profile_values=profile,
    )
    settings = _with_profile_lookups(settings, profile)
    return Session(settings=settings, profile=profile, config_path=config_path)


def _with_profile_lookups(settings: Settings, profile: Mapping[str, Any]) -> Settings:
    """Apply a profile's lookups: HubSpot line items carry no company or close date, their deals
    do; when the line items file lacks the column and a deals file sits beside it, join them."""
    lookups: Mapping[str, Mapping[str, Any]] = profile.get("lookups", {})
    if not lookups:
        return settings
    from .config import Lookup
    from .load import missing_columns
    from .read import read_raw

    sources = dict(settings.sources)
    for table, spec in lookups.items():
        source = sources.get(table)  # type: ignore[call-overload]
        if source is None or source.lookup is not None:
            continue
        raw = read_raw(source.path, encoding=source.encoding or settings.encoding)
        if spec.get("when_missing") not in missing_columns(raw.headers, table, settings, profile):
            continue
        pattern = normalize_file_word(spec["file"])
        candidates = [
            p
            for p in sorted(source.path.parent.iterdir())
            if p != source.path and p.is_file() and pattern in normalize_file_word(p.stem)
        ]
        if len(candidates) > 1:
            listing = ", ".join(p.name for p in candidates)
            raise UsageError(
                f"{source.path.name} needs {spec['when_missing']} from another file, and several could hold it "
                f"({listing})",
                hint=f"name the file in xsell.yaml: data: {{{table}: {{path: ..., lookup: {{path: ..., "
                f"match: '{spec['match']}', key: '{spec.get('key', spec['match'])}'}}}}}}",
            )
        if len(candidates) == 1:
            lookup = Lookup(
                path=candidates[0],
                match=spec["match"],
                key=spec.get("key", spec["match"]),
                columns=tuple(spec.get("columns", ())),
            )
            sources[table] = replace(source, lookup=lookup)  # type: ignore[index]
    return replace(settings, sources=sources)


def normalize_file_word(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", text.lower())


def load(session: Session) -> tuple[Book, LoadReport]:
    return load_book(session.settings, session.profile)


def model(session: Session, book: Book, *, apply_where: bool = True) -> Model | None:
    """The model at T; ``apply_where=False`` keeps the whole book (evidence for whitespace)."""
    settings = session.settings
    return build_model(book, as_of=settings.as_of, level=settings.level, where=settings.where if apply_where else ())


def account_line(report: LoadReport) -> str:
    """'line_items: 120 431 rows, 120 427 used, 4 rejected — see 'xsell validate'' (SPEC §1)."""

    def n(value: int) -> str:
        return f"{value:,}".replace(",", " ")

    parts = []
    for load in report.tables.values():
        text = f"{load.table}: {n(load.rows)} rows, {n(load.used)} used, {n(load.rejected)} rejected"
        if load.excluded:
            text += f", {n(load.excluded)} excluded by the config"
        dropped = []
        if load.header_lines:
            dropped.append(f"{n(load.header_lines)} report-title")
        if load.blank_lines:
            dropped.append(f"{n(load.blank_lines)} blank")
        if load.footer_lines:
            dropped.append(f"{n(load.footer_lines)} report-footer")
        if dropped:
            listed = dropped[0] if len(dropped) == 1 else ", ".join(dropped[:-1]) + " and " + dropped[-1]
            text += f" ({listed} lines dropped)"
        parts.append(text)
    line = "; ".join(parts)
    if report.rejected:
        line += " — see 'xsell validate'"
    return line


def strict_failure(report: LoadReport) -> DataError:
    return DataError(
        f"{report.rejected:,} row(s) rejected and --strict is on",
        hint="run 'xsell validate' to list them with the reason and the fix",
    )
