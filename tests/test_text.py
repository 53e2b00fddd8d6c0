"""fmt: pl.format's template and null rule, built from concat_str."""

from __future__ import annotations

import polars as pl
import pytest

from crossell_cli.text import FORMAT_CHARACTERS, FORMAT_CHARACTERS_CLASS, fmt, shown_controls


def test_fmt_fills_placeholders_in_order_and_casts():
    frame = pl.DataFrame({"a": ["x", None], "n": [3, 4], "d": [None, None]}, schema_overrides={"d": pl.Date})
    out = frame.select(
        fmt("{} → {}!", "a", pl.col("n")).alias("both"),
        fmt("{}", "n").alias("bare"),
        fmt("no placeholders").alias("lit"),
        fmt("on {}", "d").alias("date"),
    )
    assert out["both"].to_list() == ["x → 3!", None]  # any null input → null, as pl.format
    assert out["bare"].to_list() == ["3", "4"]
    assert out["lit"].to_list() == ["no placeholders", "no placeholders"]
    assert out["date"].to_list() == [None, None]


def test_fmt_matches_pl_format_in_memory():
    frame = pl.DataFrame({"a": ["p", "q", None], "b": [1.5, None, 2.0]})
    ours = frame.select(fmt("{}-{} end", "a", "b"))
    theirs = frame.select(pl.format("{}-{} end", "a", "b"))
    assert ours.to_series().to_list() == theirs.to_series().to_list()


def test_fmt_counts_placeholders():
    with pytest.raises(ValueError, match="2 placeholders, got 1"):
        fmt("{} {}", "a")


@pytest.mark.parametrize("char", list(FORMAT_CHARACTERS))
def test_every_invisible_character_is_shown_by_its_code_and_folded_out_of_a_family(char):
    # (the bidi isolates U+2066-U+2069 were quoted raw and split a family)
    assert shown_controls(f"a{char}b") == f"a\\u{ord(char):04x}b"
    folded = pl.select(pl.lit(f"Core{char}").str.replace_all(FORMAT_CHARACTERS_CLASS, "")).item()
    assert folded == "Core"


def test_the_invisible_characters_include_the_bidi_isolates_and_marks():
    assert {"\u2066", "\u2067", "\u2068", "\u2069", "\u061c", "\u180e", "\u200b", "\ufeff"} <= set(FORMAT_CHARACTERS)
