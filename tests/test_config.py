"""Config: YAML -> validated values -> Settings, with CLI > file > profile > default."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from crossell_cli.config import find_config, parse_window, read_config, resolve_settings, validate_config
from crossell_cli.errors import ConfigError, InputMissingError, UsageError


def test_every_key_of_the_example_config_is_valid():
    example = Path(__file__).resolve().parent.parent / "config.example.yaml"
    values = validate_config(yaml.safe_load(example.read_text()))
    assert values["min_base"] == 10


def test_unknown_key_names_the_dotted_path_and_suggests():
    with pytest.raises(ConfigError) as err:
        validate_config({"data": {"line_itmes": "x.csv"}})
    assert "data.line_itmes" in err.value.message
    assert err.value.hint and "line_items" in err.value.hint


def test_wrong_type_names_the_path():
    with pytest.raises(ConfigError) as err:
        validate_config({"min_base": "ten"})
    assert "'min_base'" in err.value.message and "whole number" in err.value.message
    with pytest.raises(ConfigError):
        validate_config({"fiscal_year_start_month": 13})


def test_yaml_yes_no_become_booleans_and_the_message_says_so(tmp_path):
    path = tmp_path / "xsell.yaml"
    path.write_text("stages:\n  won: [yes]\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        read_config(path)
    assert "stages.won[0]" in err.value.message
    assert err.value.hint and "quote" in err.value.hint
    path.write_text("product_aliases:\n  no: None Product\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        read_config(path)
    assert "boolean" in err.value.message


def test_invalid_yaml_gives_line_and_column(tmp_path):
    path = tmp_path / "xsell.yaml"
    path.write_text("min_base: [1, 2\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        read_config(path)
    assert "line" in err.value.message


def test_config_lookup_order(tmp_path, monkeypatch):
    env_file = tmp_path / "env.yaml"
    env_file.write_text("min_base: 3\n")
    monkeypatch.setenv("XSELL_CONFIG", str(env_file))
    assert find_config(None, tmp_path) == env_file
    local = tmp_path / "xsell.yaml"
    local.write_text("min_base: 4\n")
    assert find_config(None, tmp_path) == local
    explicit = tmp_path / "other.yaml"
    explicit.write_text("{}\n")
    assert find_config(explicit, tmp_path) == explicit
    with pytest.raises(InputMissingError):
        find_config(tmp_path / "missing.yaml", tmp_path)


def test_precedence_cli_over_file_over_profile(tmp_path):
    (tmp_path / "line_items.csv").write_text("account_id,product_id,booked_at,amount\n")
    file_values = validate_config({"min_base": 5, "level": "product", "data": {"dir": "."}})
    settings = resolve_settings(
        file_values=file_values,
        config_dir=tmp_path,
        cli={"min_base": 7},
        profile_values={"date_formats": ("%d.%m.%Y",)},
    )
    assert settings.min_base == 7  # CLI
    assert settings.level == "product"  # file
    assert settings.date_formats == ("%d.%m.%Y",)  # profile
    assert settings.period == "quarter"  # default
    assert settings.sources["line_items"].path == tmp_path / "line_items.csv"  # relative to the config


def test_windows_and_dates():
    assert parse_window("365d", what="x") == 365
    assert parse_window("26w", what="x") == 182
    assert parse_window("1y", what="x") == 365
    with pytest.raises(UsageError):
        parse_window("soon", what="x")
    assert validate_config({"as_of": dt.date(2024, 1, 1)})["as_of"] == dt.date(2024, 1, 1)
    assert validate_config({"as_of": "2024-01-01"})["as_of"] == dt.date(2024, 1, 1)
