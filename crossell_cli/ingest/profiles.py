"""Built-in export profiles: YAML files shipped in ``crossell_cli/profiles/``.

A profile is data, not code: header names a system writes, its stage values, date
formats and value conventions. ``xsell profiles`` lists them; a user can copy one,
edit it and pass its path to ``--profile``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from ..config import _bool, _choice, _section, _stages, _str, _str_list, _unknown
from ..errors import ConfigError, InputMissingError
from ..schema import SCHEMA, TABLES


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


def _profile_lookups(value: Any, path: str) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict):
        raise ConfigError(f"profile key '{path}' must be a mapping of table -> lookup")
    out: dict[str, dict[str, Any]] = {}
    keys: dict[str, Any] = {"file": _str, "match": _str, "key": _str, "columns": _str_list, "when_missing": _str}
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


_PROFILE_KEYS = {
    "name": _str,
    "description": _str,
    "columns": _profile_columns,
    "stages": _stages,
    "date_formats": _profile_date_formats,
    "lookups": _profile_lookups,
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
    return values
