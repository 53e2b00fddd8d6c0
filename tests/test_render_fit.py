"""The table view fits the terminal: which columns stay, how cells are cut, what is named.

Tiny frames through ``render.table_text`` (the text a terminal of ``width`` columns gets),
so each assertion can be checked by eye against the frame.
"""

from __future__ import annotations

import io
import re

import polars as pl
import pytest

from crossell_cli import render
from crossell_cli.render import Output, table_text

REASON = "owns Payroll; 48% of Payroll customers in Mid-Market also own Analytics"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _book() -> pl.DataFrame:
    """Narrowest widths: family 9, expected value 9 ("1,234,567"), attach 6, accounts 8, rank 4."""
    return pl.DataFrame(
        {
            "family": ["Core", "Analytics"],
            "expected_value": [1_234_567.0, 5.0],
            "attach_rate": [0.5, 0.25],
            "accounts": [3, 1200],
            "rank": [1, 2],
        }
    )


VIEW = ("family", "attach_rate", "accounts")


def _lines(text: str) -> list[str]:
    return text.splitlines()


def _flat(text: str) -> str:
    """The text with line breaks and runs of spaces as one space (notes wrap)."""
    return " ".join(text.split())


def _header_and_body(text: str) -> tuple[list[str], list[str]]:
    """The header lines (above the ──── rule) and the body lines (below it, up to a blank line)."""
    lines = _lines(text)
    rule = next(i for i, line in enumerate(lines) if line.startswith("──"))
    start = max(i for i in range(rule) if not lines[i].strip()) + 1
    body: list[str] = []
    for line in lines[rule + 1 :]:
        if not line.strip():
            break
        body.append(line)
    return lines[start:rule], body


def test_the_most_important_columns_that_fit_are_kept_in_priority_order():
    output = Output(_book(), "Book", table_columns=VIEW)
    text = table_text(output, width=30)
    header, body = _header_and_body(text)
    assert header[-1].split() == ["family", "attach", "accounts"]
    assert body[0].split() == ["Core", "50.0%", "3"]
    assert body[1].split() == ["Analytics", "25.0%", "1,200"]
    assert max(len(line) for line in _lines(text)) <= 30
    # then the frame's other columns in frame order, each in its frame place:
    # expected value joins at 38 columns, rank at 44
    _, body = _header_and_body(table_text(output, width=43))
    assert body[0].split() == ["Core", "1,234,567", "50.0%", "3"]
    _, body = _header_and_body(table_text(output, width=44))
    assert body[0].split() == ["Core", "1,234,567", "50.0%", "3", "1"]


def test_the_columns_left_out_are_named_in_one_dim_line():
    output = Output(_book(), "Book", table_columns=VIEW)
    text = table_text(output, width=30)
    assert "not shown: expected value, rank — widen the terminal or use --wide" in _flat(text)
    coloured = table_text(output, width=80, color=True)
    assert "not shown" not in coloured  # everything fits in 80
    dim = table_text(output, width=30, color=True)
    assert re.search(r"\x1b\[2m[^\x1b]*not shown", dim), "the 'not shown' line is dim"


def test_wide_shows_every_column_and_all_of_the_text():
    frame = _book().with_columns(pl.Series("reason", [REASON, "owns Core"]))
    output = Output(frame, "Book", table_columns=("family", "attach_rate"))
    text = table_text(output, width=30, wide=True)
    _, body = _header_and_body(text)
    assert body[0].split()[:5] == ["Core", "1,234,567", "50.0%", "3", "1"]
    assert REASON in body[0]
    assert "not shown" not in text and "…" not in text


def test_a_wide_enough_terminal_shows_everything():
    frame = _book().with_columns(pl.Series("reason", [REASON, "owns Core"]))
    text = table_text(Output(frame, "Book", table_columns=("family", "attach_rate")), width=200)
    assert "not shown" not in text and "…" not in text
    assert REASON in text


def test_long_text_is_cut_with_an_ellipsis_never_inside_a_number():
    frame = pl.DataFrame({"account_id": ["A-1", "A-2"], "score": [0.48, 0.3], "reason": [REASON, "owns Core"]})
    text = table_text(Output(frame, "Whitespace"), width=40)
    _, body = _header_and_body(text)
    assert len(body) == 2  # one line per row: nothing wraps
    assert all(len(line) <= 40 for line in _lines(text))
    assert body[0].endswith("…")
    assert body[0].split()[:3] == ["A-1", "48.0%", "owns"]
    # a cut that would land inside "48%" stops before it instead
    for width in range(14, 40):
        cut = _header_and_body(table_text(Output(frame.select("reason"), "R"), width=width))[1][0].strip()
        assert cut.endswith("…") and len(cut) <= width
        assert REASON.startswith(cut[:-1].rstrip(" ;"))
        shown = cut[:-1]
        assert not re.search(r"\d$", shown) or REASON[len(shown)] in " ;", f"{cut!r} cuts a number"


def test_numbers_are_never_cut_and_every_row_is_one_line():
    frame = _book().with_columns(pl.Series("reason", [REASON, "owns Core"]))
    expected = {"1,234,567", "5", "50.0%", "25.0%", "3", "1,200", "1", "2", "48%"}
    for width in range(10, 90):
        text = table_text(Output(frame, "Book", table_columns=("family", "reason", "expected_value")), width=width)
        _, body = _header_and_body(text)
        assert len(body) == 2, f"width {width}: a row took more than one line"
        for line in body:
            for token in re.findall(r"[\d][\d,.%]*", line):
                assert token.rstrip(",.") in expected, f"width {width}: {token!r} is a cut number in {line!r}"
        assert max(len(line) for line in _lines(text)) <= max(width, 9), f"width {width}"


def test_headers_wrap_between_words_never_inside_one():
    frame = pl.DataFrame({"period": ["2024-Q1"], "reactivation": [3.0], "cross_sell_share": [0.5]})
    text = table_text(Output(frame, "Expansion"), width=40)
    header, _ = _header_and_body(text)
    words = " ".join(header).split()
    assert "reactivation" in words
    assert {"cross-sell", "share"} <= set(words)


def test_the_interval_columns_show_as_one_cell_and_go_together():
    frame = pl.DataFrame(
        {"base_family": ["Core"], "attach_rate": [0.5], "ci_low": [0.4], "ci_high": [0.6], "lift": [1.25]}
    )
    wide = table_text(Output(frame, "Attach"), width=80)
    assert _header_and_body(wide)[1][0].split() == ["Core", "50.0%", "40.0–60.0%", "1.25×"]
    narrow = table_text(Output(frame, "Attach"), width=16)
    assert "40.0" not in narrow and "not shown: 95% ci, lift" in _flat(narrow)


def test_a_header_line_is_printed_once_above_the_table():
    frame = pl.DataFrame(
        {
            "account_id": ["A-000042", "A-000042"],
            "account_name": ["Lumen Motors", "Lumen Motors"],
            "family": ["Analytics", "Payroll"],
            "score": [0.48, 0.2],
        }
    )
    header = "A-000042 · Lumen Motors · Mid-Market · owns Core, Success Plan"
    output = Output(frame, "Whitespace for A-000042", header=header, header_columns=("account_id", "account_name"))
    for wide in (False, True):
        text = table_text(output, width=80, wide=wide)
        lines = _lines(text)
        assert lines[0] == "Whitespace for A-000042"
        assert lines[1] == header
        assert text.count("A-000042") == 2 and text.count("Lumen") == 1
        assert _header_and_body(text)[0] == ["family     score"]
        assert "not shown" not in text
    assert b"Lumen Motors" in render._write_bytes(output, "csv")


def test_product_level_headers_say_product():
    frame = pl.DataFrame({"family": ["CORE-ENT"], "land_family": ["CRM"], "base_family": ["CRM"], "score": [0.5]})
    header, _ = _header_and_body(table_text(Output(frame, "Whitespace", level="product"), width=80))
    assert header == ["product   land product  base  score"]
    family, _ = _header_and_body(table_text(Output(frame, "Whitespace"), width=80))
    assert family == ["family    land family  base  score"]


def test_money_is_whole_units_unless_every_value_is_small():
    frame = pl.DataFrame(
        {
            "key": ["a", "b", "c"],
            "amount": [24_238.076923, 1_084.0, 87.8],
            "list_amount": [12.5, 80.25, 3.0],
            "start_arr": [7.0, 12.0, 99.0],
        }
    )
    _, body = _header_and_body(table_text(Output(frame, "Money"), width=80))
    assert [line.split()[1:] for line in body] == [
        ["24,238", "12.50", "7"],
        ["1,084", "80.25", "12"],
        ["88", "3.00", "99"],
    ]


def test_every_rate_like_column_is_a_percentage():
    frame = pl.DataFrame({"family": ["Analytics"], "mean_score": [0.260647982266798], "share_flagged": [0.2]})
    _, body = _header_and_body(table_text(Output(frame, "By family"), width=80))
    assert body[0].split() == ["Analytics", "26.1%", "20.0%"]


def test_fractional_days_keep_one_decimal():
    frame = pl.DataFrame({"group": ["all", "b"], "median_days": [20.5, 175.0], "p75_days": [271.25, 1461.0]})
    _, body = _header_and_body(table_text(Output(frame, "Timing"), width=80))
    assert body[0].split() == ["all", "20.5", "271.2"]
    assert body[1].split() == ["b", "175", "1,461"]


def test_no_colour_codes_without_a_terminal_or_with_no_color(monkeypatch):
    output = Output(_book(), "Book", notes=("a note",), table_columns=("family", "attach_rate"))
    assert "\x1b" not in table_text(output, width=30)
    out = io.StringIO()
    monkeypatch.setenv("COLUMNS", "30")
    monkeypatch.setenv("NO_COLOR", "1")
    render.emit(output, fmt=None, path=None, inputs=[], stdout=out, stdout_is_tty=True)
    plain = out.getvalue()
    assert "\x1b" not in plain
    assert max(len(line) for line in plain.splitlines()) <= 30
    monkeypatch.delenv("NO_COLOR")
    out = io.StringIO()
    render.emit(output, fmt=None, path=None, inputs=[], stdout=out, stdout_is_tty=True)
    coloured = out.getvalue()
    assert "\x1b[" in coloured
    assert ANSI.sub("", coloured) == plain


def test_emit_passes_wide_through(monkeypatch):
    monkeypatch.setenv("COLUMNS", "30")
    monkeypatch.setenv("NO_COLOR", "1")
    out = io.StringIO()
    output = Output(_book(), "Book", table_columns=("family", "attach_rate"))
    render.emit(output, fmt=None, path=None, inputs=[], stdout=out, stdout_is_tty=True, wide=True)
    _, body = _header_and_body(out.getvalue())
    assert body[0].split() == ["Core", "1,234,567", "50.0%", "3", "1"]


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl"])
def test_machine_formats_ignore_the_view(fmt):
    """header, level and table_columns are for people: the machine formats carry the frame as is."""
    frame = pl.DataFrame({"family": ["Core"], "mean_score": [0.25], "amount": [87.8]})
    plain = render._write_bytes(Output(frame, "t"), fmt)
    dressed = render._write_bytes(
        Output(frame, "t", header="A-1 · Acme", header_columns=("family",), level="product", table_columns=("amount",)),
        fmt,
    )
    assert plain == dressed
    assert b"family" in plain and b"0.25" in plain and b"87.8" in plain


def test_a_result_without_columns_prints_its_title_and_why():
    output = Output(pl.DataFrame(), "Expansion", notes=("nothing to measure",))
    assert table_text(output) == "Expansion\n\n(no rows)\nnothing to measure\n"


def test_the_left_out_columns_take_one_line():
    from crossell_cli.render import _not_shown

    names = ["premature churn", "other churn", "p25 days", "p75 days", "p90 days"]
    assert _not_shown(names[:2], 80) == "not shown: premature churn, other churn — widen the terminal or use --wide"
    assert _not_shown(names, 90) == "not shown: premature churn, other churn, p25 days, p75 days, p90 days — use --wide"
    assert _not_shown(names, 80) == "not shown: premature churn, other churn, p25 days and 2 more — use --wide"
    assert _not_shown(names, 65) == "not shown: premature churn, other churn and 3 more — use --wide"
    assert _not_shown(names, 20).startswith("not shown: premature churn, other churn, p25")  # wraps: no room


def test_text_cut_with_every_column_shown_says_where_the_rest_is():
    frame = pl.DataFrame({"family": ["Analytics"], "score": [0.482], "reason": ["owns Payroll; " + "word " * 30]})
    output = render.Output(frame, "Whitespace for A-1", kinds={"score": "rate"})
    lines = render.table_text(output, width=80).splitlines()
    assert lines[-1] == "text cut to fit: reason — widen the terminal or use --wide"
    assert "text cut" not in render.table_text(output, width=80, wide=True)


def test_an_invisible_character_in_a_cell_is_shown_by_its_code():
    # A terminal showed '7\u200b0' as 70 in a validate table's value column, beside a message
    # saying '7\u200b0' is not a number. (A CSV keeps the raw text: test_mistakes.py.)
    frame = pl.DataFrame({"value": ["7\u200b0", "A\u2066-1\u2069"], "rule": ["bad_number", "not_an_id"]})
    text = table_text(Output(frame, "Rejects", table_columns=("value", "rule")), width=80)
    assert "7\\u200b0" in text and "A\\u2066-1\\u2069" in text
    assert "\u200b" not in text and "\u2066" not in text
