"""Built-in export profiles: YAML files shipped in ``crossell_cli/profiles/``.

A profile is data, not code: header names a system writes, its stage values, date
formats and value conventions. ``xsell profiles`` lists them; a user can copy one,
edit it and pass its path to ``--profile``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

from ..config import ExcludeRule, _bool, _choice, _section, _stages, _str, _str_list, _unknown
from ..errors import ConfigError, InputMissingError
from ..schema import SCHEMA, TABLES, TableName, normalize_header


def _profile_columns(value: Any, path: str) -> dict[str, dict[str, tuple[str, ...]]]:
    if not isinstance(value, dict):
        raise ConfigError(f"profile key '{path}' must be a mapping of table -> columns")
    out: dict[str, dict[str, tuple[str, ...]]] = {}
    for table, mapping in value.items():
        if table not in SCHEMA:
            raise _unknown(f"{path}.{table}", str(table), TABLES)
        if not isinstance(mapping, dict):
            raise ConfigError(f"profile key '{path}.{table}' must be a mapping")
        known = SCHEMA[table].names
        cols: dict[str, tuple[str, ...]] = {}
        for name, headers in mapping.items():
            if name not in known:
                raise _unknown(f"{path}.{table}.{name}", str(name), known)
            cols[name] = () if headers is None else _str_list(headers, f"{path}.{table}.{name}")
        out[table] = cols
    return out


def _alternatives(value: Any, path: str) -> tuple[str, ...]:
    """One header, or a list of the names it takes in different exports (label / internal)."""
    return _str_list(value, path)


def _column_alternatives(value: Any, path: str) -> tuple[tuple[str, ...], ...]:
    if not isinstance(value, list):
        raise ConfigError(f"profile key '{path}' must be a list of headers (each a name or a list of names)")
    return tuple(_alternatives(v, f"{path}[{i}]") for i, v in enumerate(value))


def _profile_lookups(value: Any, path: str) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict):
        raise ConfigError(f"profile key '{path}' must be a mapping of table -> lookup")
    out: dict[str, dict[str, Any]] = {}
    keys: dict[str, Any] = {
        "file": _str,
        "match": _alternatives,
        "key": _alternatives,
        "columns": _column_alternatives,
        "when_missing": _str,
        "hint": _str,
    }
    for table, spec in value.items():
        if table not in SCHEMA:
            raise _unknown(f"{path}.{table}", str(table), TABLES)
        if not isinstance(spec, dict):
            raise ConfigError(f"profile key '{path}.{table}' must be a mapping")
        out[table] = _section(spec, f"{path}.{table}", keys)
    return out


def _profile_date_formats(value: Any, path: str) -> tuple[str, ...]:
    from ..config import date_format_problem

    formats = _str_list(value, path)
    for fmt in formats:
        problem = date_format_problem(fmt)
        if problem:
            raise ConfigError(f"profile key '{path}': '{fmt}' is not a usable date format ({problem})")
    return formats


def _profile_variants(value: Any, path: str) -> tuple[dict[str, Any], ...]:
    """Column maps and exclusions that hold only for one kind of export of the system, told
    by its headers (a HubSpot line-items export, whose "amount" is per billing period, vs a
    deals export, whose "Amount" is the deal's value)."""
    from ..config import _exclude

    if not isinstance(value, list):
        raise ConfigError(f"profile key '{path}' must be a list of variants")
    keys: dict[str, Any] = {
        "name": _str,
        "table": _choice(*TABLES),
        "when_headers": _str_list,
        "columns": _profile_columns,
        "exclude": _exclude,
    }
    out: list[dict[str, Any]] = []
    for i, item in enumerate(value):
        where = f"{path}[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"profile key '{where}' must be a mapping")
        variant = _section(item, where, keys)
        if "when_headers" not in variant or "table" not in variant:
            raise ConfigError(f"profile key '{where}' needs a table and when_headers")
        variant["exclude"] = tuple(
            replace(rule, table=variant["table"], source=f"{{profile}} profile ({variant.get('name', 'variant')})")
            for rule in variant.get("exclude", ())
        )
        out.append(variant)
    return tuple(out)


_PROFILE_KEYS = {
    "name": _str,
    "description": _str,
    "columns": _profile_columns,
    "stages": _stages,
    "date_formats": _profile_date_formats,
    "lookups": _profile_lookups,
    "variants": _profile_variants,
    "discount_scale": _choice("auto", "percent", "fraction"),
    "amount_units": _choice("major", "minor"),
    "end_date_inclusive": _bool,
    "notes": _str,
}


def _builtin_dir() -> Path:
    return Path(str(resources.files("crossell_cli") / "profiles"))


def available() -> dict[str, Path]:
    folder = _builtin_dir()
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}


def load_profile(name_or_path: str) -> dict[str, Any]:
    import yaml

    builtin = available()
    path = builtin.get(name_or_path.lower())
    if path is None:
        candidate = Path(name_or_path).expanduser()
        if candidate.suffix in (".yaml", ".yml"):
            if not candidate.is_file():
                raise InputMissingError(f"profile file not found: {candidate}")
            path = candidate
    if path is None:
        names = ", ".join(builtin) or "none installed"
        raise ConfigError(
            f"unknown profile '{name_or_path}'",
            hint=f"built-in profiles: {names} (or pass the path of a profile .yaml file)",
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"profile {path}: invalid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"profile {path}: the top level must be a mapping")
    values = _section(raw, "", _PROFILE_KEYS)
    values.setdefault("name", path.stem)
    values["variants"] = tuple(
        {**v, "exclude": tuple(replace(r, source=r.source.format(profile=values["name"])) for r in v["exclude"])}
        for v in values.get("variants", ())
    )
    return values


def for_headers(profile: Mapping[str, Any], table: TableName, headers: Sequence[str]) -> dict[str, Any]:
    """The profile as it applies to one file: the column maps of every variant of ``table``
    whose ``when_headers`` the file has (any one of them) replace the profile's own, and
    the variants' exclusions are listed under ``exclude``."""
    present = {normalize_header(h) for h in headers}
    columns = {t: dict(c) for t, c in profile.get("columns", {}).items()}
    exclude: list[ExcludeRule] = []
    applied: list[str] = []
    for variant in profile.get("variants", ()):
        if variant["table"] != table or not present & {normalize_header(h) for h in variant["when_headers"]}:
            continue
        for name, listed in variant.get("columns", {}).items():
            columns.setdefault(name, {}).update(listed)
        exclude.extend(variant["exclude"])
        applied.append(variant.get("name", "variant"))
    return {**profile, "columns": columns, "exclude": tuple(exclude), "applied": tuple(applied)}
