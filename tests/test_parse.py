"""Value parsers: what an export writes -> the canonical type, or a rule name."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from crossell_cli.ingest import parsers as parse


def run(full, values):
    """A full parser over text values: (values, errors)."""
    got, errors, _currency = parse.run_full(full, values)
    return got, errors


def number(mark):
    return lambda e, s: parse.full_number(e, mark, s)


def fraction(mark, scale):
    return lambda e, s: parse.full_fraction(e, mark, scale, s)


def dates(formats):
    return lambda e, s: parse.full_date(e, formats, s)


def stages(mapping):
    return lambda e, s: parse.full_stage(e, mapping, s)


@pytest.mark.parametrize(
    ("text", "value", "currency"),
    [
        ("1200.50", 1200.5, None),
        ("$1,200.50", 1200.5, "USD"),
        ("USD 1,200.50", 1200.5, "USD"),
        ("1,200.50 EUR", 1200.5, "EUR"),
        ("(1,200.00)", -1200.0, None),
        ("-3.5", -3.5, None),
        ("€ 5", 5.0, "EUR"),
        ("£12", 12.0, "GBP"),
        ("1 200.50", 1200.5, None),
        ("1'200.50", 1200.5, None),
        ("1\u00a0200.50", 1200.5, None),  # a no-break space, as Excel's French locale wrote it
        ("1\u202f200.50", 1200.5, None),  # a narrow no-break space, as it writes it since Windows 10
        ("1\u2009200.50", 1200.5, None),  # a thin space (SI)
        ("1200-", -1200.0, None),
        ("1e3", 1000.0, None),
        ("  42  ", 42.0, None),
    ],
)
def test_money_strings(text, value, currency):
    values, errors, currencies = parse.run_full(number("."), [text])
    assert values[0] == pytest.approx(value)
    assert errors[0] is None
    assert currencies is not None
    assert (currencies[0] if currencies[0] != "$" else "USD") == currency


def test_money_with_a_decimal_comma():
    values, errors = run(number(","), ["1.200,50 €", "1,5", "1200", "1 200,50", "1.5", "1\u202f200,50 €"])
    assert values[:4] + values[5:] == [1200.5, 1.5, 1200.0, 1200.5, 1200.5]
    # '1.5' under a decimal comma is not fifteen and not one and a half: it is refused.
    assert values[4] is None and errors[4] == parse.DECIMAL_MARK


def test_money_errors_name_the_rule():
    values, errors = run(number("."), ["abc", "1.200,50", "", None, "inf", "(5"])
    assert values == [None] * 6
    assert errors == [parse.BAD_NUMBER, parse.DECIMAL_MARK, None, None, parse.BAD_NUMBER, parse.BAD_NUMBER]


def test_discounts_fractions_and_percentages():
    auto = fraction(".", "auto")
    assert run(auto, ["0.25", "25", "25%", "1", "0"])[0] == [0.25, 0.25, 0.25, 1.0, 0.0]
    percent = fraction(".", "percent")
    assert run(percent, ["0.5", "25", "25%"])[0] == [0.005, 0.25, 0.25]


def test_a_percent_is_not_an_amount_or_a_quantity():
    # '0.5%' in an amount column was read as 0.005 of a currency; only a discount is a percent.
    values, errors = run(number("."), ["0.5%", "25%", "$1,200.50"])
    assert values == [None, None, 1200.5]
    assert errors == [parse.BAD_NUMBER, parse.BAD_NUMBER, None]
    assert run(fraction(".", "auto"), ["25%"])[0] == [0.25]


def test_dates_iso_datetimes_and_locale():
    parser = dates(("%m/%d/%Y",))
    values, errors = run(
        parser,
        [
            "2024-01-15",
            "1/15/2024",
            "12/1/2010 8:26",
            "2024-01-15 10:32:00",
            "2024-01-15T10:32:00Z",
            "2024-01-15T10:32:00.000+05:00",
            "2024-02-30",
            "x",
            "",
            "1/5/24",
        ],
    )
    jan15 = dt.date(2024, 1, 15)
    assert values[:6] == [jan15, jan15, dt.date(2010, 12, 1), jan15, jan15, jan15]
    assert values[6:] == [None, None, None, None]
    assert errors[6:] == [parse.BAD_DATE, parse.BAD_DATE, None, parse.BAD_DATE]


def test_a_timestamp_with_an_offset_is_on_the_day_it_was_written():
    # New York's 20:00 on New Year's Eve is 01:00 UTC the next day: the deal closed on the 31st
    # where it was booked (and a Parquet column in that zone gives the 31st too).
    values, errors = run(
        dates(()),
        [
            "2024-12-31T20:00:00-05:00",
            "2024-01-15T01:00:00+05:00",
            "2024-01-15T01:00+0530",
            "2024-03-10T23:30:00.5Z",
            "2024-06-30T20:00:00+05",  # an offset of whole hours
        ],
    )
    jan15, days = dt.date(2024, 1, 15), [dt.date(2024, 12, 31), dt.date(2024, 3, 10), dt.date(2024, 6, 30)]
    assert values == [days[0], jan15, jan15, days[1], days[2]]
    assert errors == [None] * 5


def test_postgres_timestamptz_text_is_on_the_day_it_was_written():
    # psql writes timestamptz with a space and a short offset ('+00'), or a zone name: every
    # row of such an export was rejected, and the date_formats fix the message offered is
    # refused by the config check (it takes no %z).
    values, errors = run(
        dates(()),
        [
            "2024-01-15 12:00:00+00",
            "2024-02-01 09:30:00+05:30",
            "2024-12-31 20:00:00.123-05",
            "2024-03-10 10:00:00 UTC",
            "2024-02-30 10:00:00+00",
            "2024-01-15 12:00:00 XYZ",
        ],
    )
    assert values == [
        dt.date(2024, 1, 15),
        dt.date(2024, 2, 1),
        dt.date(2024, 12, 31),
        dt.date(2024, 3, 10),
        None,
        None,
    ]
    assert errors == [None, None, None, None, parse.BAD_DATE, parse.BAD_DATE]


def test_date_format_detection():
    assert parse.detect_date_formats(pl.Series(["1/15/2024", "2/3/2024"]), ()) == (("%m/%d/%Y",), None)
    assert parse.detect_date_formats(pl.Series(["15/1/2024", "2/3/2024"]), ())[0][0] == "%d/%m/%Y"
    formats, problem = parse.detect_date_formats(pl.Series(["1/5/2024", "2/3/2024"]), ())
    assert formats == () and problem and "%m/%d/%Y" in problem
    assert parse.detect_date_formats(pl.Series(["2024-01-01"]), ()) == ((), None)
    assert parse.detect_date_formats(pl.Series(["15.01.2024"]), ())[0][0] == "%d.%m.%Y"
    assert parse.detect_date_formats(pl.Series(["x"]), ("%d.%m.%Y",)) == (("%d.%m.%Y",), None)


def _sf18(id15: str) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
    suffix = ""
    for chunk in range(3):
        bits = sum(1 << pos for pos in range(5) if id15[chunk * 5 + pos].isupper())
        suffix += alphabet[bits]
    return id15 + suffix


def test_ids():
    id15 = "0015g00000AbCdE"
    values, errors = run(parse.full_id, [_sf18(id15), id15, " 00123 ", "1.23E+11", "17850.0", "", "ACME-18-CHARACTERS"])
    # 18-character Salesforce ids with a valid checksum equal their 15-character form
    assert values[0] == id15 and values[1] == id15
    assert values[2] == "00123"  # leading zeros kept: ids are text
    assert values[3] is None and errors[3] == parse.EXCEL_ID
    assert values[4] == "17850"  # float-formatted ids (pandas, Excel) read as the integer id
    assert values[5] is None and errors[5] is None
    assert values[6] == "ACME-18-CHARACTERS"
    # an 18-character value whose checksum does not match is left alone
    wrong = id15 + "ZZZ"
    assert run(parse.full_id, [wrong])[0] == [wrong]
    # 1,23E+11: Excel's notation with a decimal comma loses the id as well
    assert run(parse.full_id, ["1,23E+11", "4,5e+11", "1,5"]) == (
        [None, None, "1,5"],
        [parse.EXCEL_ID, parse.EXCEL_ID, None],
    )


def test_a_case_folded_18_character_salesforce_id_gets_its_case_back():
    """The 18-character form exists to survive case-insensitive tools: 001DN00000ABCDEIAV
    (upper-cased) and its lower-cased copy are 001Dn00000AbCdE. Before, they stayed three
    customers. An 18-character value that cannot be a folded Salesforce id is left alone."""
    id15 = "001Dn00000AbCdE"
    id18 = _sf18(id15)
    assert id18 == "001Dn00000AbCdEIAV"
    others = ["ORDERNUMBERABCDEFG", "123456789012345678", "ABCDE0FGHIJKLMNO99"]
    values, errors = run(parse.full_id, [id18.upper(), id18.lower(), id18, *others])
    assert values == [id15, id15, id15, *others] and errors == [None] * 6


def test_booleans_and_periods():
    assert run(parse.full_bool, ["Yes", "no", "X", "", "TRUE", "0", "maybe"]) == (
        [True, False, True, None, True, False, None],
        [None, None, None, None, None, None, parse.BAD_BOOL],
    )
    months, errors = run(parse.full_period, ["P12M", "monthly", "P3M", "year", "annually", "P1Y", "zz"])
    assert months == [12.0, 1.0, 3.0, 12.0, 12.0, 12.0, None]
    assert errors[-1] == parse.BAD_PERIOD


def test_stages():
    mapping = {"closedwon": "won", "closedlost": "lost", "prospecting": "open"}
    assert run(stages(mapping), ["Closed Won", "closed-lost", "Prospecting", "Pending"]) == (
        ["won", "lost", "open", None],
        [None, None, None, parse.UNKNOWN_STAGE],
    )


# ---------------------------------------------------------------------------------------
# the loader's fast paths agree with the full parsers

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_NUMBERISH = st.text(alphabet="0123456789.,-+ eE$%()€inf", max_size=12)
_DATEISH = st.one_of(
    st.dates(min_value=dt.date(1, 1, 1)).map(lambda d: d.isoformat()),
    # timestamps as exports write them: a space or a 'T', seconds, fractions, a zone
    st.tuples(
        st.datetimes(min_value=dt.datetime(1, 1, 1)),
        st.sampled_from([" ", "T"]),
        st.sampled_from(["seconds", "milliseconds", "microseconds", "minutes"]),
        st.sampled_from(["", "Z", "+02:00"]),
    ).map(lambda t: t[0].isoformat(sep=t[1], timespec=t[2]) + t[3]),
    st.text(alphabet="0123456789-/ T:.Z", max_size=20),
)
_IDISH = st.text(alphabet="0123456789AaBbZz.eE+- \t", max_size=20)
_WORDS = st.one_of(
    st.sampled_from([*parse.TRUE_WORDS, *parse.FALSE_WORDS, "TRUE", "No", "month", "P12M", "Year", "won", " won "]),
    st.sampled_from([v for values in parse.DEFAULT_STAGES.values() for v in values]).flatmap(
        lambda v: st.sampled_from([v, v.title(), v.upper(), v.capitalize(), f" {v}", v.replace(" ", "  ")])
    ),
    st.text(max_size=8),
)


def _agree(fast, full, values):
    """Where the fast expression gives a value, the full parser gives the same value and no error."""
    series = pl.Series("t", values, dtype=pl.String)
    quick = pl.DataFrame({"t": series}).select(fast(pl.col("t")).alias("v"))["v"]
    slow_values, slow_errors, _ = parse.run_full(full, values)
    for text, q, s, err in zip(values, quick, slow_values, slow_errors, strict=True):
        if q is None:
            continue
        assert err is None, (text, q, err)
        assert s == pytest.approx(q) if isinstance(q, float) else s == q, (text, q, s)


@settings(max_examples=300, deadline=None)
@given(st.lists(_NUMBERISH, min_size=1, max_size=20), st.sampled_from([".", ","]))
def test_fast_numbers_agree_with_the_full_parser(values, mark):
    _agree(lambda e: parse.fast_number(e, mark), number(mark), values)
    for scale in ("auto", "fraction", "percent"):
        _agree(lambda e, sc=scale: parse.fast_fraction(e, mark, sc), fraction(mark, scale), values)


@settings(max_examples=300, deadline=None)
@given(st.lists(_DATEISH, min_size=1, max_size=20))
def test_fast_dates_agree_with_the_full_parser(values):
    _agree(parse.fast_date, dates(()), values)
    for formats in (("%m/%d/%Y",), (parse.ISO_TIMESTAMP,), (parse.ISO_TIMESTAMP, "%d/%m/%Y")):
        _agree(lambda e, f=formats: parse.fast_date(e, f), dates(formats), values)


_LOCALE_DATEISH = st.tuples(
    st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31)),
    st.sampled_from(["%m/%d/%Y", "%d/%m/%Y", "%d.%m.%Y", "%Y/%m/%d", "%m-%d-%Y", "%Y-%m-%d"]),
    st.sampled_from(["", " 10:42", " 10:42:46", "T08:00:00Z", " "]),
).map(lambda t: t[0].strftime(t[1]) + t[2])


def _detect_reference(values):
    """``detect_date_formats`` as first written: every format tried on every value."""
    frame = pl.Series(values, dtype=pl.String).str.strip_chars().to_frame("t")
    frame = frame.filter(pl.col("t").is_not_null() & (pl.col("t") != ""))
    stamped = frame.select(pl.col("t").str.to_datetime(parse.ISO_TIMESTAMP, strict=False).is_not_null().any()).item()
    non_iso = frame.filter(
        pl.col("t").str.to_date("%Y-%m-%d", strict=False).is_null()
        & parse._first_date(pl.col("t"), parse._ISO_DATETIME_FORMATS).is_null()
    )
    formats, problem = parse._locale_formats(non_iso)
    return ((parse.ISO_TIMESTAMP,) if stamped else ()) + formats, problem


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_DATEISH, _LOCALE_DATEISH), min_size=1, max_size=30))
def test_date_detection_tries_the_slow_formats_only_on_what_is_not_an_iso_date(values):
    """Detection skips the timestamp and locale formats for the plain ISO dates (each failed
    format costs chrono's slow path): the formats it finds are the same as trying all."""
    assert parse.detect_date_formats(pl.Series(values, dtype=pl.String), ()) == _detect_reference(values)


def test_a_timestamp_column_is_read_by_the_fast_lane():
    """A column of timestamps ('2012-03-19 10:42:46', Maven Fuzzy Factory's created_at) is read
    by the fast parse once its sample shows them: its rows no longer all take the full parsers.
    A column of plain dates does not pay for the second parse."""
    stamps = ["2012-03-19 10:42:46", "2012-03-20 08:01:00.25", " 2012-03-21 09:00:00 ", "3/22/2012 10:00"]
    formats, problem = parse.detect_date_formats(pl.Series(stamps), ())
    assert (formats, problem) == ((parse.ISO_TIMESTAMP, "%m/%d/%Y"), None)
    assert parse.detect_date_formats(pl.Series(["2012-03-19", "2012-03-20"]), ()) == ((), None)
    got = pl.DataFrame({"t": stamps}).select(parse.fast_date(pl.col("t"), formats))["t"].to_list()
    # padded text stays with the full parse, which reads it
    assert got == [dt.date(2012, 3, 19), dt.date(2012, 3, 20), None, dt.date(2012, 3, 22)]
    assert parse.run_full(lambda e, s: parse.full_date(e, formats, s), stamps)[0] == [
        dt.date(2012, 3, 19),
        dt.date(2012, 3, 20),
        dt.date(2012, 3, 21),
        dt.date(2012, 3, 22),
    ]
    assert pl.DataFrame({"t": stamps}).select(parse.fast_date(pl.col("t")))["t"].null_count() == 4


@settings(max_examples=300, deadline=None)
@given(st.lists(_IDISH, min_size=1, max_size=20))
def test_fast_ids_and_text_agree_with_the_full_parser(values):
    _agree(parse.fast_id, parse.full_id, values)
    _agree(parse.fast_text, parse.full_text, values)


@settings(max_examples=300, deadline=None)
@given(st.lists(_WORDS, min_size=1, max_size=20))
def test_fast_words_agree_with_the_full_parser(values):
    mapping = {"won": "won", "closedwon": "won", "lost": "lost", "open": "open"}
    _agree(parse.fast_bool, parse.full_bool, values)
    _agree(parse.fast_period, parse.full_period, values)
    _agree(lambda e: parse.fast_stage(e, mapping), stages(mapping), values)
    # the stage map with its spellings, and with a layer that moves a default stage elsewhere
    for layers in ((), ({"open": ("Won", "closed-won")}, {"lost": ("Signed",)})):
        full_map = parse.stage_map(*layers)
        _agree(lambda e, m=full_map: parse.fast_stage(e, m), stages(full_map), values)


def test_the_usual_spellings_of_a_stage_take_the_fast_lane():
    """'Won', 'Closed Won' and 'Lost' (Salesforce, HubSpot, the Kaggle CRM export) were read only
    by the full parse, so every row of such an export took the problem lane."""
    texts = ["Won", "Closed Won", "CLOSED LOST", "Prospecting", "won", " Won", "Closed  Won", "Signed"]
    layered = parse.stage_map({"lost": ("Signed",)})
    fast = pl.DataFrame({"t": texts}).select(parse.fast_stage(pl.col("t"), layered))["t"].to_list()
    assert fast == ["won", "won", "lost", "open", "won", None, None, "lost"]  # padded: full parse
    assert parse.run_full(lambda e, s: parse.full_stage(e, layered, s), texts)[0] == [
        "won",
        "won",
        "lost",
        "open",
        "won",
        "won",
        "won",
        "lost",
    ]


def test_percentages_divide_exactly():
    # Polars multiplies by 1/100 when dividing by a scalar: 57 * 0.01 = 0.5700000000000001.
    values, _ = run(fraction(".", "auto"), ["57", "57%", "0.57"])
    assert values == [0.57, 0.57, 0.57]
    quick = pl.DataFrame({"t": ["57", "29"]}).select(parse.fast_fraction(pl.col("t"), ".", "auto"))["t"]
    assert quick.to_list() == [0.57, 0.29]


def test_a_typed_date_outside_1900_to_9999_is_a_bad_date():
    """A Parquet date column is held to the same range as text (a year past 9999 made the
    conversion to Python fail later: 'year 20128 is out of range')."""
    days = pl.Series("d", [19_723, 6_600_000, -30_000, None], dtype=pl.Int32).cast(pl.Date)
    parsed = parse.typed_date(pl.col("d"), pl.Date())
    got = pl.DataFrame({"d": days}).select(parsed.value.alias("v"), parsed.error.alias("e"))
    assert got["v"].to_list() == [dt.date(2024, 1, 1), None, None, None]
    assert got["e"].to_list() == [None, "bad_date", "bad_date", None]


_WORDS = st.sampled_from(["won", "Won", "lost", "open", "", " won", "€", "$", "x"])


@settings(max_examples=200, deadline=None)
@given(
    mapping=st.dictionaries(_WORDS, st.sampled_from(["won", "lost", "open"]), max_size=6),
    texts=st.lists(st.one_of(st.none(), _WORDS), max_size=12),
)
def test_lookup_is_replace_strict_and_replace(mapping: dict[str, str], texts: list[str | None]) -> None:
    """``lookup`` (is_in tests, which stream) gives what replace_strict(default=None) gives, and
    with a default what replace() gives: nulls stay null, texts not in the map take the default."""
    frame = pl.DataFrame({"t": texts}, schema={"t": pl.String})
    text = pl.col("t")
    got = frame.select(
        parse.lookup(text, mapping, pl.String()).alias("strict"),
        parse.lookup(text, mapping, pl.String(), default=text).alias("kept"),
    )
    want = frame.select(
        text.replace_strict(mapping, default=None, return_dtype=pl.String).alias("strict"),
        text.replace(mapping).alias("kept"),
    )
    assert got.to_dict(as_series=False) == want.to_dict(as_series=False)
    assert frame.select(parse.lookup(text, mapping, pl.String())).columns == ["t"]
