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


@pytest.mark.parametrize(
    ("won", "lost", "said"),
    [
        (["Closed"], ["Closed"], "'Closed'"),
        (["Closed Won"], ["closed-won"], "'Closed Won' and 'closed-won' (the same stage to xsell)"),
    ],
)
def test_a_stage_listed_under_two_outcomes_is_a_config_error(won, lost, said):
    """stages: {won: [Closed], lost: [Closed]} was accepted, and the rows were silently read
    as lost (whichever outcome came last)."""
    with pytest.raises(ConfigError) as err:
        validate_config({"stages": {"won": won, "lost": lost}})
    assert (err.value.message, err.value.hint) == (
        f"config key 'stages': {said} listed under both won and lost",
        "a stage has one outcome: keep it under won, lost or open only",
    )


def test_the_config_gives_a_stage_its_outcome_over_the_profile(tmp_path):
    """A profile lists Closed Lost as lost; a config that lists it as won wins (before, the
    profile's lost came after and won)."""
    from crossell_cli.ingest.parsers import stage_map

    (tmp_path / "line_items.csv").write_text("account_id,product_id,booked_at,amount\n")
    settings = resolve_settings(
        file_values=validate_config({"stages": {"won": ["Closed Lost"]}, "data": {"dir": "."}}),
        config_dir=tmp_path,
        cli={},
        profile_values={"stages": {"won": ("Closed Won",), "lost": ("Closed Lost", "closedlost")}},
    )
    assert settings.stages == {"won": ("Closed Won", "Closed Lost"), "lost": ()}  # closedlost is Closed Lost
    assert stage_map(settings.stages)["closedlost"] == stage_map(settings.stages)["Closed Lost"] == "won"


def test_windows_and_dates():
    assert parse_window("365d", what="x") == 365
    assert parse_window("26w", what="x") == 182
    assert parse_window("1y", what="x") == 365
    with pytest.raises(UsageError):
        parse_window("soon", what="x")
    assert validate_config({"as_of": dt.date(2024, 1, 1)})["as_of"] == dt.date(2024, 1, 1)
    assert validate_config({"as_of": "2024-01-01"})["as_of"] == dt.date(2024, 1, 1)


@pytest.mark.parametrize("rate", [0, 0.0, float("nan"), float("inf")])
def test_an_fx_rate_must_be_above_zero(rate):
    """fx: {GBP: 0} was accepted, and every GBP amount became 0 without a word (validate gave
    no warning either). A negative rate was already refused."""
    with pytest.raises(ConfigError) as err:
        validate_config({"currency": "USD", "fx": {"GBP": rate}})
    assert err.value.message == (
        f"config key 'fx.GBP' must be a rate above 0 (units of the reporting currency per unit), got {rate}"
    )
    assert validate_config({"currency": "USD", "fx": {"gbp": 1.25}})["fx"] == {"GBP": 1.25}


def test_an_fx_rate_for_the_reporting_currency_other_than_1_is_a_config_error(tmp_path):
    """currency: USD with fx: {USD: 5} scaled the lines tagged USD (and '$100') by 5 and left
    the lines with a blank currency as they were: new revenue came out 1100 for 3 × 100."""
    (tmp_path / "line_items.csv").write_text("account_id,product_id,booked_at,amount\n")

    def resolved(values: dict[str, object]) -> object:
        return resolve_settings(
            file_values=validate_config({**values, "data": {"dir": "."}}),
            config_dir=tmp_path,
            cli={},
            profile_values={},
        )

    with pytest.raises(ConfigError) as err:
        resolved({"currency": "usd", "fx": {"USD": 5, "EUR": 1.1}})
    assert (err.value.message, err.value.hint) == (
        "config key 'fx.USD' is 5, but USD is the reporting currency (currency: usd), worth 1 of itself",
        "give each rate in units of the reporting currency, and leave the reporting currency out of fx:",
    )
    assert resolved({"currency": "USD", "fx": {"USD": 1, "EUR": 1.1}}).fx == {"USD": 1.0, "EUR": 1.1}


def test_dates_and_windows_past_what_a_date_can_hold_are_usage_errors(cli):
    """--as-of 0001-01-01, --cutoff 9999-12-31 or --window 9999y ended in 'Internal error:
    OverflowError: date value out of range … a bug in xsell' (exit 70): T minus a horizon, or a
    cutoff plus one, is no date Python can hold. Dates are kept to the years 1000-8999 and
    durations to 100 years, so a century either way of any date stays a date."""
    assert parse_window("100y", what="--window") == 36_500
    with pytest.raises(UsageError) as err:
        parse_window("101y", what="--window")
    assert err.value.message == "--window: '101y' is longer than 100 years; write e.g. 365d, 26w, 12m or 1y"
    with pytest.raises(ConfigError):
        validate_config({"as_of": dt.date(1, 1, 1)})
    with pytest.raises(ConfigError):
        validate_config({"window": 10**6})
    sample = str(Path(__file__).resolve().parent.parent / "sample_data")
    for args, said in [
        (
            ["retention", "--window", "9999y"],
            "Error: --window: '9999y' is longer than 100 years; write e.g. 365d, 26w, 12m or 1y\n",
        ),
        (
            ["backtest", "--horizon", "9999y"],
            "Error: --horizon: '9999y' is longer than 100 years; write e.g. 365d, 26w, 12m or 1y\n",
        ),
        (
            ["backtest", "--cutoff", "9999-12-31"],
            "Error: --cutoff: 9999-12-31 is outside the years 1000-8999\n"
            "  fix: give a date in the years the export covers, as YYYY-MM-DD\n",
        ),
        (
            ["whitespace", "--as-of", "0001-01-01"],
            "Error: --as-of: 0001-01-01 is outside the years 1000-8999\n"
            "  fix: give a date in the years the export covers, as YYYY-MM-DD\n",
        ),
    ]:
        got = cli(*args, "--data", sample)
        assert (got.exit_code, got.stdout, got.stderr) == (2, "", said), args
