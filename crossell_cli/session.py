"""One run: resolve settings (CLI > config file > profile > default), load, build the model.

The command line hands raw option values in; metrics get frames out. Nothing here
prints or exits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import Settings, find_config, read_config, resolve_settings
from .errors import DataError
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
    return Session(settings=settings, profile=profile, config_path=config_path)


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
        dropped = []
        if load.blank_lines:
            dropped.append(f"{n(load.blank_lines)} blank")
        if load.footer_lines:
            dropped.append(f"{n(load.footer_lines)} report-footer")
        if dropped:
            text += f" ({' and '.join(dropped)} lines dropped)"
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
