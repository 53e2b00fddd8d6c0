"""Loading: header mapping, typed casts, rejected rows with reasons, defaults."""

from __future__ import annotations

import codecs
import datetime as dt

import polars as pl
import pytest

from crossell_cli.commands.session import account_line
from crossell_cli.config import resolve_settings, validate_config
from crossell_cli.errors import ConfigError, DataError, InputMissingError

from .helpers import load_with_report as load_book


def load(tmp_path, files: dict[str, str | bytes], **config):
    for name, content in files.items():
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    values = validate_config({"data": {"dir": "."}, **config})
    settings = resolve_settings(file_values=values, config_dir=tmp_path, cli={})
    return load_book(settings)


def test_headers_matched_by_synonym_case_space_and_punctuation(tmp_path):
    book, report = load(
        tmp_path,
        {
            "line_items.csv": "Opportunity: Account ID,PRODUCT_CODE,Close Date,Total Price\n001,P-1,2024-01-05,$1,200.00\n"
        },
    )
    # "$1,200.00" is unquoted so it spans two fields: the row is ragged and rejected, not mis-read.
    assert report.rejected == 1
    book, report = load(
        tmp_path,
        {
            "line_items.csv": 'Opportunity: Account ID,PRODUCT_CODE,Close Date,Total Price\n001,P-1,2024-01-05,"$1,200.00"\n'
        },
    )
    assert report.rejected == 0
    row = book.line_items.row(0, named=True)
    assert row["account_id"] == "001"  # leading zeros kept
    assert row["product_id"] == "P-1"
    assert row["booked_at"] == dt.date(2024, 1, 5)
    assert row["start_date"] == dt.date(2024, 1, 5)  # defaults to booked_at
    assert row["amount"] == 1200.0
    assert row["quantity"] == 1.0
    assert row["line_id"] == "1"  # the data row number
    how = {m.canonical: (m.header, m.how) for m in report.tables["line_items"].mapping}
    assert how["account_id"] == ("Opportunity: Account ID", "synonym")


@pytest.mark.parametrize(
    ("header", "line_value"),
    [("Total Price", 500.0), ("Annual Recurring Revenue", 1200.0), ("ARR", 1200.0), ("Line Total", 500.0)],
)
def test_a_line_level_amount_beats_the_deal_level_amount(tmp_path, header, line_value):
    # A Salesforce "Opportunities with Products" report repeats the opportunity's Amount (3600)
    # on every line, beside the line's own Total Price: the line's value is the amount. (The
    # header 'Amount' used to win because it spells the canonical name.)
    book, report = load(
        tmp_path,
        {"line_items.csv": f"Account ID,Product,Close Date,Amount,{header}\nA,P,2024-01-05,3600,{line_value}\n"},
    )
    assert book.line_items["amount"].to_list() == [line_value]
    how = {m.canonical: (m.header, m.how) for m in report.tables["line_items"].mapping}
    assert how["amount"] == (header, "synonym")


def test_the_canonical_amount_header_alone_is_matched_by_name(tmp_path):
    book, report = load(
        tmp_path, {"line_items.csv": "account_id,product_id,booked_at,amount,Revenue\nA,P,2024-01-05,7,9\n"}
    )
    assert book.line_items["amount"].to_list() == [7.0]  # 'amount' ranks before the synonyms after 'Amount'
    how = {m.canonical: (m.header, m.how) for m in report.tables["line_items"].mapping}
    assert how["amount"] == ("amount", "name")


def test_a_byte_order_mark_inside_the_file_is_not_part_of_a_value(tmp_path):
    # Two exports joined with `cat`: the second one's BOM starts a row, in the middle of the
    # file. It made a third account '\ufeffA-001' (attach 0.5 where it is 1.0).
    book, report = load(
        tmp_path,
        {
            "line_items.csv": "account_id,product_id,booked_at,amount\n"
            "A-001,CORE,2024-01-15,1200\nA-002,CORE,2024-02-10,900\n"
            "\ufeffA-001,ANALYTICS,2024-03-01,500\n\ufeff 2024-04-01,x,2024-04-01,7\n"
            "A-003,\u200bCORE,\ufeff2024-05-01,\ufeff300\n"
        },
    )
    assert report.rejected == 0
    assert book.line_items["account_id"].to_list() == ["A-001", "A-002", "A-001", "2024-04-01", "A-003"]
    assert book.line_items["product_id"].to_list() == ["CORE", "CORE", "ANALYTICS", "x", "CORE"]
    assert book.line_items["booked_at"][-1] == dt.date(2024, 5, 1)
    assert book.line_items["amount"][-1] == 300.0
    # a text cell too: 'Analytics\u200b' was a family of its own beside 'Analytics'
    book, _ = load(
        tmp_path,
        {"products.csv": "product_id,family\nP1,Analytics\nP2,Analytics\u200b\nP3,\ufeffCore\n"},
    )
    assert book.products["family"].to_list() == ["Analytics", "Analytics", "Core"]


def test_a_blank_line_id_is_not_a_duplicate_of_an_id_that_spells_its_row(tmp_path):
    # The blank id of data row 2 defaulted to '2', the id of row 1: a genuine cross-sell was
    # rejected as a duplicate, quoting a value the file does not have.
    book, report = load(
        tmp_path,
        {
            "line_items.csv": "line_id,account_id,product_id,booked_at,amount\n"
            "2,A-001,CORE,2024-01-15,100\n,A-001,AN,2024-03-15,100\n2,A-002,CORE,2024-01-15,100\n"
        },
    )
    assert report.rejected == 1  # the second '2' only
    assert book.line_items["line_id"].to_list() == ["2", "row 2"]
    assert book.line_items["product_id"].to_list() == ["CORE", "AN"]
    # an id written 'row 2' is not a repeat of the name the blank row was given
    book, report = load(
        tmp_path,
        {
            "line_items.csv": "line_id,account_id,product_id,booked_at,amount\n1,a,p,2024-01-15,1\n,a,q,2024-03-15,2\nrow 2,b,p,2024-01-15,3\n"
        },
    )
    assert (report.rejected, book.line_items["amount"].to_list()) == (0, [1.0, 2.0, 3.0])


def test_config_columns_win_over_synonyms(tmp_path):
    book, _report = load(
        tmp_path,
        {"line_items.csv": "Customer ID,Acct,Product,Date,Amount\nC1,X9,P,2024-01-01,10\n"},
        columns={"line_items": {"account_id": "Acct"}},
    )
    assert book.line_items["account_id"].to_list() == ["X9"]
    with pytest.raises(ConfigError) as err:
        load(tmp_path, {"line_items.csv": "a,b\n"}, columns={"line_items": {"account_id": "Acount"}})
    assert "Acount" in err.value.message


def test_missing_required_column_lists_headers_and_suggests(tmp_path):
    with pytest.raises(DataError) as err:
        load(tmp_path, {"line_items.csv": "Acount Id,Product,Date,Amount\n"})
    message = err.value.message
    assert "account_id" in message and "Acount Id" in message
    assert err.value.hint and "'Acount Id'" in err.value.hint and "columns:" in err.value.hint


def test_bad_rows_rejected_with_row_column_value_rule(tmp_path):
    text = (
        "account_id,product_id,booked_at,amount,stage\n"
        "a,p,2024-01-01,100,won\n"
        "b,p,2024-13-01,100,won\n"  # row 2: bad date
        "c,p,2024-01-01,ten,won\n"  # row 3: bad number
        ",p,2024-01-01,100,won\n"  # row 4: missing account
        "d,p,2024-01-01,100,Pending\n"  # row 5: unknown stage
        ",,,,open\n"  # row 6: open rows need nothing
        "e,p,2024-01-01,100,won,extra\n"  # row 7: ragged
    )
    _book, report = load(tmp_path, {"line_items.csv": text})
    table = report.tables["line_items"]
    # used + open + rejected = rows: the open row is loaded, but no metric uses it
    assert (table.rows, table.used, table.open, table.rejected) == (7, 1, 1, 5)
    rejects = report.rejects.select("row", "column", "value", "rule").rows()
    assert rejects == [
        (2, "booked_at", "2024-13-01", "bad_date"),
        (3, "amount", "ten", "bad_number"),
        (4, "account_id", "", "missing_value"),
        (5, "stage", "Pending", "unknown_stage"),
        (7, "(row)", "extra", "ragged_row"),
    ]
    assert report.rejects["message"].null_count() == 0
    assert all("file" not in m or True for m in report.rejects["message"])
    assert "see 'xsell validate'" in account_line(report.counts)


def test_a_repeated_header_row_is_rejected_as_such(tmp_path):
    # Two exports joined with `cat`: the second header is rejected once, as what it is (it was
    # 'booked_at is not a date' and 'amount is not a number'); in an accounts file of ids and
    # text, where every cell reads, it was an account named 'Account ID'.
    header = "Account ID,Product,Close Date,Amount"
    book, report = load(
        tmp_path,
        {
            "line_items.csv": f"{header}\na,p,2024-01-01,5\n\ufeff{header}\nb,p,2024-01-02,6\n",
            "accounts.csv": "Account ID,Segment\na,SMB\nAccount ID,Segment\nb,SMB\n",
        },
    )
    rejects = report.rejects.select("table", "row", "column", "rule").rows()
    assert rejects == [("accounts", 2, "(row)", "repeated_header"), ("line_items", 2, "(row)", "repeated_header")]
    assert report.rejects["message"][0] == (
        "the row repeats the header row (two exports joined into one file?), so it is not data; "
        "remove the repeated header rows, or export the data again as one file"
    )
    assert book.line_items["account_id"].to_list() == ["a", "b"]
    assert book.accounts["account_id"].to_list() == ["a", "b"]


def test_a_repeated_header_with_its_columns_in_another_order_is_one_too(tmp_path):
    # A second export with the columns in another order: three cell errors before ('amount' is
    # not a number, 'booked_at' not a date, stage 'stage' unknown), one reason now.
    _book, report = load(
        tmp_path,
        {
            "line_items.csv": "line_id,account_id,product_id,booked_at,amount,stage\n"
            "L1,A-001,CORE,2024-01-15,1200,won\n"
            "account_id,line_id,product_id,booked_at,amount,stage\n"
            "L3,A-002,CORE,2024-02-10,900,won\n",
            "accounts.csv": "account_id,segment\nA-001,SMB\nsegment,account_id\nA-002,SMB\n",
        },
    )
    rejects = report.rejects.select("table", "row", "column", "rule").rows()
    assert rejects == [("accounts", 2, "(row)", "repeated_header"), ("line_items", 2, "(row)", "repeated_header")]


def test_a_bad_quantity_is_told_how_to_write_a_quantity_not_an_amount(tmp_path):
    _book, report = load(
        tmp_path, {"line_items.csv": "account_id,product_id,booked_at,amount,quantity\na,p,2024-01-01,5,three\n"}
    )
    assert report.rejects.select("column", "rule", "message").rows() == [
        ("quantity", "bad_number", "'three' is not a number; write quantity as a plain number, such as 3 or 2.5")
    ]


def test_a_workbook_is_read_from_its_first_visible_sheet(tmp_path):
    # A hidden 'Notes' sheet first: it was read, and the export failed for want of columns.
    from openpyxl import Workbook

    book = Workbook()
    notes = book.active
    notes.title = "Notes"
    notes.append(["hidden notes"])
    notes.sheet_state = "hidden"
    data = book.create_sheet("Data")
    data.append(["account_id", "product_id", "booked_at", "amount"])
    data.append(["a", "p", "2024-01-05", 5])
    book.save(tmp_path / "line_items.xlsx")
    values = validate_config({"data": {"dir": "."}})
    frames, report = load_book(resolve_settings(file_values=values, config_dir=tmp_path, cli={}))
    assert frames.line_items["account_id"].to_list() == ["a"]
    assert report.rejected == 0


def test_a_quantity_of_zero_or_less_is_a_warning_on_a_used_line(cli, tmp_path):
    path = tmp_path / "line_items.csv"
    path.write_text(
        "account_id,product_id,booked_at,amount,quantity\na,p,2024-01-01,5,-2\nb,p,2024-01-01,5,0\nc,p,2024-01-01,5,3\n"
    )
    result = cli("validate", "--line-items", str(path))
    assert result.exit_code == 0
    rows = [line.split(",")[2:7] for line in result.stdout.splitlines()[1:]]
    assert rows == [
        ["1", "quantity", "quantity", "'-2.0", "nonpositive_quantity"],
        ["2", "quantity", "quantity", "0.0", "nonpositive_quantity"],
    ]
    assert "line_items: 3 rows, 3 used, 0 rejected, 2 warnings" in result.stderr


def test_a_parquet_duration_column_is_read_as_text_and_named_when_it_is_no_date(tmp_path):
    # It was "could not be read: casting from Duration('μs') to String not supported", for the
    # whole file, naming no column.
    frame = pl.DataFrame(
        {
            "account_id": ["a", "b"],
            "product_id": ["p", "p"],
            "booked_at": [dt.date(2024, 1, 1)] * 2,
            "amount": [5.0, 6.0],
            "start_date": [dt.timedelta(days=1, hours=2), None],
            "note": [dt.timedelta(minutes=5), None],
        }
    )
    frame.write_parquet(tmp_path / "line_items.parquet")
    values = validate_config({"data": {"dir": "."}})
    book, report = load_book(resolve_settings(file_values=values, config_dir=tmp_path, cli={}))
    assert report.rejects.select("row", "column", "value", "rule").rows() == [(1, "start_date", "P1DT2H", "bad_date")]
    assert book.line_items["account_id"].to_list() == ["b"]


def test_a_catalogue_or_accounts_footer_is_dropped_and_a_whole_record_kept(tmp_path):
    # A footer in the key column is a whole row of an ids-and-text table: 'Grand Totals (2
    # records)' became a product (and a whitespace recommendation), 'Total' an account.
    book, report = load(
        tmp_path,
        {
            "line_items.csv": "account_id,product_id,booked_at,amount\nA-001,P1,2024-01-01,5\nA-003,P2,2024-01-01,5\n",
            "products.csv": 'product_id,product_name,family\nP1,Core,Core\nP2,Analytics,Analytics\n"Grand Totals (2 records)",,\n',
            "accounts.csv": "account_name,account_id,segment\nAcme,A-001,SMB\nTotal Wine & More,A-003,SMB\nTotal,,\n",
        },
    )
    assert book.products["product_id"].to_list() == ["P1", "P2"]
    assert book.accounts["account_id"].to_list() == ["A-001", "A-003"]
    assert (report.tables["products"].footer_lines, report.tables["accounts"].footer_lines) == (1, 1)
    assert report.rejected == 0


def test_blank_lines_and_salesforce_footer_are_dropped_and_counted(tmp_path):
    text = (
        "Account ID,Product,Close Date,Amount\n"
        'a,p,1/15/2024,"$1,000.00"\n'
        "\n"
        'b,p,1/16/2024,"$2,000.00"\n'
        '"Grand Totals (2 records)",,,"$3,000.00"\n'
        '""\n'
        '"Confidential Information - Do Not Distribute"\n'
        '"Copyright © 2000-2025 salesforce.com, inc. All rights reserved."\n'
    )
    book, report = load(tmp_path, {"line_items.csv": text})
    table = report.tables["line_items"]
    assert (table.rows, table.used, table.rejected) == (2, 2, 0)
    assert table.blank_lines == 2
    assert table.footer_lines == 3
    assert book.line_items["amount"].to_list() == [1000.0, 2000.0]
    assert "2 blank and 3 report-footer lines dropped" in account_line(report.counts)


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff")],
)
def test_encodings_with_and_without_bom(tmp_path, encoding, bom):
    text = "account_id,product_id,booked_at,amount\nZürich AG,Größe,2024-01-01,5\n"
    book, _report = load(tmp_path, {"line_items.csv": bom + text.encode(encoding)})
    assert book.line_items["account_id"].to_list() == ["Zürich AG"]
    assert book.line_items["product_id"].to_list() == ["Größe"]


def test_invalid_utf8_names_file_line_and_suggests_encoding(tmp_path):
    text = "account_id,product_id,booked_at,amount\nok,p,2024-01-01,5\nZ\xfcrich,p,2024-01-01,5\n"
    with pytest.raises(DataError) as err:
        load(tmp_path, {"line_items.csv": text.encode("latin-1")})
    assert "line_items.csv" in err.value.message and "line 3" in err.value.message
    assert err.value.hint and "--encoding" in err.value.hint
    book, _ = load(tmp_path, {"line_items.csv": text.encode("latin-1")}, encoding="latin-1")
    assert book.line_items["account_id"].to_list() == ["ok", "Zürich"]


def _zipped(names: dict[str, bytes]) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in names.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "kind", "fix"),
    [
        (
            __import__("gzip").compress(b"account_id,product_id,booked_at,amount\n"),
            "a gzip-compressed file",
            "decompress it first (gunzip, or 7-Zip on Windows) and give the file inside",
        ),
        (
            _zipped({"[Content_Types].xml": b"<x/>", "xl/workbook.xml": b"<x/>"}),
            "an Excel workbook (.xlsx)",
            "give it an .xlsx name (xsell reads workbooks), or export the sheet as CSV (UTF-8)",
        ),
        (
            _zipped({"line_items.csv": b"a,b\n"}),
            "a zip archive",
            "unzip it first and give the file inside",
        ),
        (b"PAR1\x15\x04\x15\x00\x00\x00PAR1", "a Parquet file", "give it a .parquet name (xsell reads Parquet)"),
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100),
            "an old binary Excel workbook (.xls)",
            "save it as .xlsx or CSV (UTF-8) from Excel",
        ),
    ],
)
def test_a_file_that_is_not_text_says_what_it_is(tmp_path, content, kind, fix):
    # Each was reported as "not valid UTF-8" or "UTF-16 without a byte-order mark", and the
    # suggested --encoding only gave another encoding error.
    with pytest.raises(DataError) as err:
        load(tmp_path, {"line_items.csv": content})
    assert err.value.message == f"{tmp_path / 'line_items.csv'}: the file is {kind}, not a CSV text file"
    assert err.value.hint == fix


@pytest.mark.parametrize(
    ("encoding", "written"), [("utf-16-le", "utf-16-be"), ("cp1252", "utf-8-sig"), ("utf-8", "utf-16-le")]
)
def test_a_byte_order_mark_says_how_its_file_is_written_whatever_the_encoding_given(tmp_path, encoding, written):
    # The whole file, decoded as --encoding said, was printed back as its "headers found"; and
    # a folder of a UTF-8 export with its mark beside a cp1252 one could not be read at all.
    text = "account_id,product_id,booked_at,amount\nSociété,p,2024-01-01,5\n"
    bom = {"utf-16-be": codecs.BOM_UTF16_BE, "utf-16-le": codecs.BOM_UTF16_LE, "utf-8-sig": b""}[written]
    files = {
        "line_items.csv": bom + text.encode(written),
        "accounts.csv": "account_id,segment\nSociété,SMB\n".encode("cp1252"),
    }
    book, report = (
        load(tmp_path, files, encoding=encoding)
        if encoding == "cp1252"
        else load(tmp_path, {"line_items.csv": files["line_items.csv"]}, encoding=encoding)
    )
    assert book.line_items["account_id"].to_list() == ["Société"]
    assert report.rejected == 0


@pytest.mark.parametrize("bom", [codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF8])
def test_a_file_of_a_byte_order_mark_alone_is_empty(tmp_path, bom):
    # A UTF-16 one said "Headers found: (none)".
    with pytest.raises(DataError) as err:
        load(tmp_path, {"line_items.csv": bom + b"\n"})
    assert err.value.message == f"{tmp_path / 'line_items.csv'}: the file is empty (no header row)"


def test_delimiter_and_decimal_comma(tmp_path):
    text = "Kunde;Produkt;Datum;Betrag\nK1;P1;15.01.2024;1.200,50\n"
    book, report = load(
        tmp_path,
        {"line_items.csv": text},
        decimal_mark=",",
        columns={
            "line_items": {
                "account_id": "Kunde",
                "product_id": "Produkt",
                "booked_at": "Datum",
                "amount": "Betrag",
            }
        },
    )
    assert report.rejected == 0
    assert book.line_items.select("booked_at", "amount").row(0) == (dt.date(2024, 1, 15), 1200.5)


@pytest.mark.parametrize(
    ("first", "sep", "eol"),
    [
        ("sep=;", ";", "\n"),
        ('"sep=;"', ";", "\r\n"),
        ("sep=\t", "\t", "\n"),
        ("sep=,", ",", "\r\n"),
        ("sep=;;;;", ";", "\n"),  # (padded with empty cells to the table's width)
        ('"sep=;";;;', ";", "\r\n"),
    ],
)
def test_an_excel_separator_line_names_the_delimiter_and_is_no_row(tmp_path, first, sep, eol):
    """Excel writes (and reads) "sep=;" above the header for a locale whose list separator is
    not a comma. It was read as the header ("Headers found: sep=, column_2")."""
    rows = [
        "account_id,product_id,booked_at,amount",
        "A1,P1,2024-01-05,100",
        "A1,P2,2024-03-05,abc",
        "A2,P1,2024-02-01,70",
    ]
    text = eol.join([first, *(row.replace(",", sep) for row in rows)]) + eol
    book, report = load(tmp_path, {"line_items.csv": text})
    assert book.line_items.sort("account_id", "product_id").select("account_id", "product_id", "amount").rows() == [
        ("A1", "P1", 100.0),
        ("A2", "P1", 70.0),
    ]
    # the rows are numbered as without the line: the bad amount is data row 2
    assert report.rejected == 1
    assert report.rejects.select("row", "column", "value", "rule").rows() == [(2, "amount", "abc", "bad_number")]
    assert report.tables["line_items"].rows == 3 and report.tables["line_items"].header_lines == 0


def test_ambiguous_dates_are_an_error_with_a_fix(tmp_path):
    with pytest.raises(DataError) as err:
        load(tmp_path, {"line_items.csv": "account_id,product_id,booked_at,amount\na,p,01/02/2024,5\n"})
    assert err.value.hint and "date_formats" in err.value.hint


def test_defaults_list_amount_from_catalogue_and_discount(tmp_path):
    book, _ = load(
        tmp_path,
        {
            "line_items.csv": "account_id,product_id,booked_at,amount,quantity,discount\n"
            "a,p,2024-01-01,90,2,\nb,q,2024-01-01,75,1,25\n",
            "products.csv": "product_id,family,list_price\np,F,50\nq,G,\n",
        },
    )
    lines = book.line_items.sort("account_id")
    assert lines["list_amount"].to_list() == [100.0, 100.0]  # 50 × 2; 75 / (1 − 0.25)
    assert lines["discount"].to_list() == [None, 0.25]


def test_unit_price_times_quantity_and_annualised_period_amounts(tmp_path):
    book, _ = load(
        tmp_path,
        {
            "line_items.csv": "CustomerID,StockCode,InvoiceDate,Quantity,UnitPrice\n17850.0,X,2010-12-01 08:26:00,6,2.55\n"
        },
    )
    row = book.line_items.row(0, named=True)
    assert row["account_id"] == "17850"
    assert row["amount"] == pytest.approx(15.3)
    book, _ = load(
        tmp_path,
        {
            "line_items.csv": "account_id,product_id,booked_at,period_amount,billing_period\na,p,2024-01-01,100,monthly\n"
        },
    )
    assert book.line_items["amount"].to_list() == [1200.0]


def test_several_currencies_refused_unless_fx(tmp_path):
    files = {
        "line_items.csv": 'account_id,product_id,booked_at,amount\na,p,2024-01-01,"USD 100"\nb,p,2024-01-01,"EUR 100"\n'
    }
    with pytest.raises(DataError) as err:
        load(tmp_path, files)
    assert "several currencies" in err.value.message and err.value.hint and "fx:" in err.value.hint
    book, _ = load(tmp_path, files, currency="USD", fx={"EUR": 1.1})
    assert sorted(book.line_items["amount"].to_list()) == [100.0, pytest.approx(110.0)]


def test_a_currency_column_written_as_a_symbol_is_its_code(tmp_path):
    # 'US$' and '€' in a currency column were currencies of their own beside USD and EUR
    # ("amounts are in several currencies (USD: 2 lines, US$: 1 line, ...)").
    files = {
        "line_items.csv": "account_id,product_id,booked_at,amount,currency\n"
        "a,p,2024-01-01,100,USD\nb,p,2024-01-01,100, usd \nc,p,2024-01-01,100,US$\nd,p,2024-01-01,100,$\n"
        "e,p,2024-01-01,$100,US$\n"
    }
    book, report = load(tmp_path, files)
    assert report.rejected == 0
    assert book.line_items["currency"].to_list() == ["USD"] * 5
    book, _ = load(
        tmp_path, {"line_items.csv": "account_id,product_id,booked_at,amount,currency\na,p,2024-01-01,100,€\n"}
    )
    assert book.line_items["currency"].to_list() == ["EUR"]


DOLLARS = 'account_id,product_id,booked_at,amount\na,p,2024-01-01,"$100"\nb,p,2024-01-01,"$50"\nc,p,2024-01-01,7\n'


@pytest.mark.parametrize("reporting", ["EUR", "gbp"])
def test_amounts_written_in_another_currency_than_the_reporting_one_are_refused(tmp_path, reporting):
    """currency: EUR over amounts written '$100' summed dollars as euros, without a word."""
    every = DOLLARS.rsplit("c,p", 1)[0]  # (every amount written in dollars)
    with pytest.raises(DataError) as err:
        load(tmp_path, {"line_items.csv": every}, currency=reporting)
    target = reporting.upper()
    assert (err.value.message, err.value.hint) == (
        f"{tmp_path / 'line_items.csv'}: amounts are written in USD (2 lines), but the reporting currency is "
        f"{target} (currency: {reporting}); adding them up as {target} would be wrong",
        f"set currency: USD in xsell.yaml, or give the rate with fx: {{USD: <value of 1 USD in {target}>}}",
    )
    book, _ = load(tmp_path, {"line_items.csv": DOLLARS}, currency=reporting, fx={"USD": 0.5})
    assert sorted(book.line_items["amount"].to_list()) == [7.0, 25.0, 50.0]


def test_unmarked_lines_beside_another_currency_ask_for_a_rate(tmp_path):
    """Two plain amounts and one '€50' with currency: USD: setting currency: EUR (the advice
    given) would count the plain dollars as euros; only a rate mends it. An open line's
    currency refuses nothing: no metric sums it."""
    files = {"line_items.csv": "account_id,product_id,booked_at,amount\na,p,2024-01-01,100\nb,p,2024-01-01,60\n"}
    files["line_items.csv"] += "c,p,2024-01-01,€50\n"
    with pytest.raises(DataError) as err:
        load(tmp_path, files, currency="USD")
    assert (err.value.message, err.value.hint) == (
        f"{tmp_path / 'line_items.csv'}: 1 line written in EUR and 2 lines without a currency, read as USD "
        "(currency: USD); adding them up would be wrong",
        "give the rate with fx: {EUR: <value of 1 EUR in USD>} in xsell.yaml",
    )
    opened = {"line_items.csv": "account_id,product_id,booked_at,amount,stage\na,p,2024-01-01,100,won\n"}
    opened["line_items.csv"] += "c,p,2024-01-01,€50,open\nd,p,2024-01-01,£5,open\n"
    book, _ = load(tmp_path, opened, currency="USD")
    assert book.line_items.height == 3


@pytest.mark.parametrize("reporting", [None, "USD", "usd", " USD ", "$", "US$", "CAD", "AUD", "euro"])
def test_a_dollar_sign_is_the_reporting_dollar(tmp_path, reporting):
    config = {"currency": reporting} if reporting else {}
    book, _ = load(tmp_path, {"line_items.csv": DOLLARS}, **config)
    assert sorted(book.line_items["amount"].to_list()) == [7.0, 50.0, 100.0]


def test_duplicate_line_ids_keep_the_first(tmp_path):
    book, report = load(
        tmp_path,
        {
            "line_items.csv": "line_id,account_id,product_id,booked_at,amount\nL1,a,p,2024-01-01,5\nL1,a,p,2024-01-01,5\n"
        },
    )
    assert book.line_items.height == 1
    assert report.rejects.select("row", "rule").rows() == [(2, "duplicate_line_id")]
    assert report.tables["line_items"].rejected == 1


def test_accounts_and_products_come_from_line_item_columns_when_no_tables(tmp_path):
    book, _ = load(
        tmp_path,
        {
            "line_items.csv": "Customer ID,Customer,Segment,Product,Product Family,Order Date,Sales\n"
            "1,Acme,SMB,Gold,Suite,2024-01-01,5\n1,Acme,Enterprise,Silver,Suite,2024-02-01,5\n"
        },
    )
    assert book.accounts.select("account_id", "account_name", "segment").rows() == [("1", "Acme", "Enterprise")]
    assert book.products.select("product_id", "family").sort("product_id").rows() == [
        ("Gold", "Suite"),
        ("Silver", "Suite"),
    ]


def test_empty_and_missing_files(tmp_path):
    with pytest.raises(DataError) as err:
        load(tmp_path, {"line_items.csv": ""})
    assert "empty" in err.value.message
    with pytest.raises(InputMissingError):
        settings = resolve_settings(file_values={}, config_dir=tmp_path, cli={"line_items": tmp_path / "nope.csv"})
        load_book(settings)


def test_header_only_file_loads_zero_rows(tmp_path):
    book, report = load(tmp_path, {"line_items.csv": "account_id,product_id,booked_at,amount\n"})
    assert book.line_items.height == 0
    assert report.tables["line_items"].rows == 0


def test_parquet_and_xlsx_inputs(tmp_path):
    frame = pl.DataFrame(
        {"Account ID": ["007"], "Product": ["P"], "Close Date": [dt.date(2024, 1, 2)], "Amount": [12.5]}
    )
    frame.write_parquet(tmp_path / "line_items.parquet")
    book, _ = load(tmp_path, {})
    assert book.line_items.select("account_id", "booked_at", "amount").row(0) == (
        "007",
        dt.date(2024, 1, 2),
        12.5,
    )
    (tmp_path / "line_items.parquet").unlink()
    frame.write_excel(tmp_path / "line_items.xlsx")
    book, _ = load(tmp_path, {})
    assert book.line_items.select("account_id", "booked_at", "amount").row(0) == (
        "007",
        dt.date(2024, 1, 2),
        12.5,
    )


@pytest.mark.parametrize(
    ("headers", "closest"),
    [
        # A key of another record is never proposed for account_id (issue 13 item 8): mapping the
        # opportunity, contract or price-book entry to the account changes the grain of the book.
        (["OpportunityId", "Product2Id", "Close Date", "Amount"], None),
        (["ContractId", "Product2Id", "Close Date", "Amount"], None),
        (["PricebookEntryId", "Product2Id", "Close Date", "Amount"], None),
        (["Opportunity ID", "Product2Id", "Close Date", "Amount"], None),
        # A misspelt account header still is.
        (["Acount Idd", "Product2Id", "Close Date", "Amount"], "Acount Idd"),
        (["Accout ID", "Product2Id", "Close Date", "Amount"], "Accout ID"),
    ],
)
def test_missing_account_hint_never_proposes_a_key_of_another_record(tmp_path, headers, closest):
    rows = ",".join(headers) + "\n" + ",".join(["x1", "p1", "2024-01-01", "100"]) + "\n"
    with pytest.raises(DataError) as info:
        load(tmp_path, {"line_items.csv": rows})
    assert "no column for account_id" in info.value.message
    if closest is None:
        assert "closest header" not in (info.value.hint or "")
    else:
        assert f"the closest header is '{closest}'" in (info.value.hint or "")


def test_a_per_period_amount_with_nothing_to_annualise_it_is_refused(tmp_path):
    # Issue 13 item 7: a value per billing period is never taken as annual silently.
    with pytest.raises(DataError) as info:
        load(
            tmp_path,
            {"line_items.csv": "account_id,product_id,booked_at,period_amount\na,p,2024-01-01,100\n"},
        )
    assert "'period_amount' is the line's value per billing period" in info.value.message
    assert "billing_period" in (info.value.hint or "")


def test_a_per_period_list_amount_is_annualised_with_the_billing_period(tmp_path):
    book, _ = load(
        tmp_path,
        {
            "line_items.csv": "account_id,product_id,booked_at,period_amount,period_list_amount,billing_period\n"
            "a,p,2024-01-01,90,100,quarterly\n"
        },
    )
    line = book.line_items.row(0, named=True)
    assert (line["amount"], line["list_amount"]) == (360.0, 400.0)


def test_a_sheet_the_workbook_lacks_is_a_config_error_naming_its_sheets(tmp_path):
    """sheet: Nope was exit 65 with "cannot read the workbook (no matching sheet found …)" and
    the fix "open it in Excel and save it again": a config mistake, not a broken file."""
    from .conftest import invoke

    frame = pl.DataFrame({"Account ID": ["007"], "Product": ["P"], "Close Date": ["2024-01-02"], "Amount": ["12.5"]})
    frame.write_excel(tmp_path / "book.xlsx", worksheet="Line Items")
    (tmp_path / "xsell.yaml").write_text("data:\n  line_items: {path: book.xlsx, sheet: Nope}\n")
    result = invoke(["validate", "-c", str(tmp_path / "xsell.yaml")], env={"XSELL_CONFIG": ""}, cwd=tmp_path)
    assert (result.exit_code, result.stdout, result.stderr) == (
        78,
        "",
        f"Error: {tmp_path / 'book.xlsx'}: no sheet 'Nope' in the workbook (its sheets: 'Line Items')\n"
        "  fix: set sheet: under data: in xsell.yaml to one of them (names are case-sensitive)\n",
    )
    (tmp_path / "xsell.yaml").write_text("data:\n  line_items: {path: book.xlsx, sheet: Line Items}\n")
    assert (
        invoke(["validate", "-c", str(tmp_path / "xsell.yaml")], env={"XSELL_CONFIG": ""}, cwd=tmp_path).exit_code == 0
    )


def test_a_lookup_key_on_rows_that_disagree_rejects_its_lines(tmp_path):
    """orders.csv gave order O1 to U1 and to U9: the first row won, U9 vanished, and swapping
    the rows swapped the answer, without a word. The lines of O1 are now rejected; a key
    repeated on identical rows is one record."""
    from .conftest import invoke

    (tmp_path / "order_items.csv").write_text(
        "order_item_id,order_id,product_id,price_usd,created_at\n"
        "1,O1,P1,10,2024-01-01\n2,O1,P2,20,2024-01-01\n3,O2,P1,10,2024-02-01\n4,O3,P1,10,2024-02-01\n"
    )
    (tmp_path / "orders.csv").write_text("order_id,user_id\nO1,U1\nO2,U2\nO1,U9\nO3,U3\nO3,U3\n")
    (tmp_path / "xsell.yaml").write_text(
        "data:\n  line_items:\n    path: order_items.csv\n"
        "    lookup: {path: orders.csv, match: order_id, columns: [user_id]}\n"
        "columns:\n  line_items: {account_id: user_id, booked_at: created_at, amount: price_usd, "
        "contract_id: order_id, line_id: order_item_id}\n"
    )
    result = invoke(
        ["validate", "-c", str(tmp_path / "xsell.yaml"), "-f", "csv"], env={"XSELL_CONFIG": ""}, cwd=tmp_path
    )
    assert result.exit_code == 65
    rows = pl.read_csv(result.stdout.encode()).select("row", "column", "value", "rule").rows()
    assert rows == [(1, "(lookup)", "O1", "lookup_unmatched"), (2, "(lookup)", "O1", "lookup_unmatched")]
    assert "4 line items: 2 used, 2 rejected" in result.stderr


def test_an_alias_onto_a_listed_product_rejects_the_repeat(tmp_path):
    """product_aliases {GTXPro: GTX Pro} over a catalogue listing both took the first row's
    family for GTX Pro (OldFam), and the GTX family vanished, without a word. The repeat is
    a rejected row (it is not used), and counted so."""
    book, report = load(
        tmp_path,
        {
            "line_items.csv": "account_id,product_id,booked_at,amount\na,GTX Pro,2024-01-01,10\nb,GTXPro,2024-01-01,10\n",
            "products.csv": "product_id,family\nGTXPro,OldFam\nGTX Pro,GTX\n",
        },
        product_aliases={"GTXPro": "GTX Pro"},
    )
    rejected = report.rejects.filter(pl.col("table") == "products").select("row", "value", "rule").rows()
    assert rejected == [(2, "GTX Pro", "duplicate_product")]
    assert report.warnings.filter(pl.col("table") == "products").height == 0
    assert (report.tables["products"].used, report.tables["products"].rejected) == (1, 1)
    assert book.products.select("product_id", "family").rows() == [("GTX Pro", "OldFam")]


@pytest.mark.parametrize("writer", ["openpyxl", "xlsxwriter"])
def test_xlsx_rows_keep_the_sheet_numbering_under_empty_rows(tmp_path, writer):
    """The Excel reader starts at the first row with a value, so a workbook with empty (or only
    formatted) rows above its header numbered its rows from there: the bad date on sheet row 10
    was reported as row 2, sending the reader to the wrong row. Spreadsheet row = row + 1."""
    from .conftest import invoke

    path = tmp_path / "book.xlsx"
    rows = [  # (sheet row, cells from column B)
        (5, ["Won opportunities, FY24"]),
        (8, ["Account ID", "Product", "Close Date", "Amount"]),
        (9, ["A1", "P", "2024-01-02", "10"]),
        (10, ["A1", "Q", "2024-13-02", "20"]),
    ]
    if writer == "openpyxl":  # inline strings, and styled empty cells above the range
        import openpyxl
        from openpyxl.styles import Font

        workbook = openpyxl.Workbook()
        workbook.create_sheet("Notes", 0)["A1"] = "read me"
        sheet = workbook.create_sheet("Lines", 1)
        sheet["A1"].font = Font(bold=True)
        sheet["C3"] = ""
        for number, cells in rows:
            for column, value in enumerate(cells, start=2):
                sheet.cell(row=number, column=column, value=value)
        workbook.save(path)
    else:  # shared strings, as Excel writes them
        import xlsxwriter

        with xlsxwriter.Workbook(path) as workbook:
            workbook.add_worksheet("Notes").write(0, 0, "read me")
            sheet = workbook.add_worksheet("Lines")
            sheet.write_blank(1, 0, None, workbook.add_format({"bold": True}))
            for number, cells in rows:
                for column, value in enumerate(cells, start=1):
                    sheet.write_string(number - 1, column, value)
    (tmp_path / "xsell.yaml").write_text("data:\n  line_items: {path: book.xlsx, sheet: Lines}\n")
    result = invoke(["validate", "-c", str(tmp_path / "xsell.yaml")], env={"XSELL_CONFIG": ""}, cwd=tmp_path)
    assert result.exit_code == 65
    assert result.stdout.splitlines()[1:] == [
        f"line_items,{path},9,booked_at,Close Date,2024-13-02,bad_date,rejected,"
        "\"'2024-13-02' is not a date; write dates as YYYY-MM-DD, or list the file's format in date_formats: "
        'in xsell.yaml"',
    ]


def test_a_missing_column_whose_header_the_config_sent_elsewhere_says_so(tmp_path):
    """columns: {product_id: Customer ID} left account_id without a header, and the message
    listed 'Customer ID' among the headers found without saying where it went."""
    from .conftest import invoke

    (tmp_path / "line_items.csv").write_text("Customer ID,Item,Date,Amount\na1,CRM,2024-01-10,100\n")
    (tmp_path / "xsell.yaml").write_text("columns:\n  line_items:\n    product_id: Customer ID\n")
    result = invoke(["attach", "--line-items", "line_items.csv"], env={"XSELL_CONFIG": ""}, cwd=tmp_path)
    assert (result.exit_code, result.stdout, result.stderr) == (
        65,
        "",
        "Error: line_items.csv: no column for account_id (the line_items table needs it). Headers found: "
        "Customer ID, Item, Date, Amount; the header 'Customer ID' would be account_id, but the config maps it "
        "to product_id\n"
        "  fix: correct columns.line_items.product_id in xsell.yaml (it took 'Customer ID'), or map it in "
        "xsell.yaml: columns: {line_items: {account_id: 'Your Header'}}\n",
    )
    # A profile that would send the reader to another export for account_id says the same.
    (tmp_path / "line_items.csv").write_text(
        "OpportunityId,AccountId,Product2Id,CloseDate,TotalPrice,StageName\nO1,a1,p1,2024-01-10,100,Closed Won\n"
    )
    (tmp_path / "xsell.yaml").write_text("columns:\n  line_items:\n    product_id: AccountId\n")
    args = ["validate", "--line-items", "line_items.csv", "--profile", "salesforce"]
    result = invoke(args, env={"XSELL_CONFIG": ""}, cwd=tmp_path)
    assert result.exit_code == 65
    assert result.stderr.splitlines()[1] == (
        "  fix: correct columns.line_items.product_id in xsell.yaml (it took 'AccountId'), or map it in "
        "xsell.yaml: columns: {line_items: {account_id: 'Your Header'}}"
    )


def test_two_ids_mapped_to_one_header_are_a_config_error(tmp_path):
    """account_id and product_id both 'Customer' ran, every customer a product of its own."""
    from .conftest import invoke

    (tmp_path / "line_items.csv").write_text("Customer,Product,Date,Amount\na1,CRM,2024-01-10,100\n")
    (tmp_path / "xsell.yaml").write_text(
        "columns:\n  line_items:\n    account_id: Customer\n    product_id: customer\n"
    )
    result = invoke(["attach", "--line-items", "line_items.csv"], env={"XSELL_CONFIG": ""}, cwd=tmp_path)
    assert (result.exit_code, result.stdout, result.stderr) == (
        78,
        "",
        "Error: config columns.line_items maps both account_id and product_id to the header 'customer'\n"
        "  fix: an account and a product are different records: map each to its own header\n",
    )
    # A line and its deal may share one: an export of one line per opportunity.
    (tmp_path / "line_items.csv").write_text(
        "Opportunity ID,Customer,Product,Close Date,Amount\nO1,a1,CRM,2024-01-10,100\n"
    )
    (tmp_path / "xsell.yaml").write_text(
        "columns:\n  line_items:\n    line_id: Opportunity ID\n    contract_id: Opportunity ID\n"
    )
    result = invoke(["validate", "--line-items", "line_items.csv"], env={"XSELL_CONFIG": ""}, cwd=tmp_path)
    assert (result.exit_code, result.stderr.splitlines()[-1]) == (0, "1 line items: 1 used, 0 rejected")


@pytest.mark.parametrize("refs", [True, False])
def test_xlsx_rows_count_an_empty_shared_string_as_the_start_of_the_sheet(tmp_path, refs):
    """The reader starts its range at a cell holding an empty shared string (Excel writes them
    for pasted ="" formulas), so the rows are numbered from there, not from the first text.
    A cell's r attribute is optional: without it, the row's own number tells."""
    import re
    import zipfile

    import xlsxwriter

    from .conftest import invoke

    path = tmp_path / "book.xlsx"
    with xlsxwriter.Workbook(path) as workbook:
        sheet = workbook.add_worksheet("Lines")
        sheet.write_string(1, 0, "")  # A2: an empty shared string
        for row, cells in (
            (4, ["Account ID", "Product", "Close Date", "Amount"]),
            (5, ["A1", "P", "2024-01-02", "10"]),
            (6, ["A1", "Q", "2024-13-02", "20"]),
        ):
            for column, value in enumerate(cells):
                sheet.write_string(row, column, value)
    if not refs:
        with zipfile.ZipFile(path) as book:
            parts = {name: book.read(name) for name in book.namelist()}
        xml = parts["xl/worksheets/sheet1.xml"].decode()
        parts["xl/worksheets/sheet1.xml"] = re.sub(r'<c r="[A-Z]+[0-9]+"', "<c", xml).encode()
        with zipfile.ZipFile(path, "w") as book:
            for name, data in parts.items():
                book.writestr(name, data)
    (tmp_path / "xsell.yaml").write_text("data:\n  line_items: {path: book.xlsx}\n")
    result = invoke(["validate", "-c", str(tmp_path / "xsell.yaml")], env={"XSELL_CONFIG": ""}, cwd=tmp_path)
    assert result.exit_code == 65
    assert [line.split(",")[2] for line in result.stdout.splitlines()[1:]] == ["6"]  # sheet row 7


def test_a_configured_format_with_a_time_reads_dates_with_times(tmp_path):
    """date_formats: ['%m/%d/%Y %H:%M'] rejected every '1/15/2024 10:00': the time was cut off
    before the configured formats were tried, so the format with a time never matched."""
    files = {"line_items.csv": "account_id,product_id,booked_at,amount\na,p,1/15/2024 10:00,1\nb,p,2/15/2024 09:30,2\n"}
    book, report = load(tmp_path, files, date_formats=["%m/%d/%Y %H:%M"])
    assert report.tables["line_items"].rejected == 0
    assert book.line_items.sort("amount")["booked_at"].to_list() == [dt.date(2024, 1, 15), dt.date(2024, 2, 15)]


def test_a_formula_without_a_saved_value_is_refused_naming_its_cells(tmp_path):
    """A workbook written by a program (openpyxl here) and never saved by Excel holds formulas
    without values: the reader took each for an empty cell, so an amount was "empty" and an
    end date silently gone. Saved with their values, the same formulas read as numbers; a
    formula above the header or in a column without one is never read, and never refused."""
    import re
    import zipfile

    import openpyxl

    from .conftest import invoke

    def run(path):
        return invoke(["validate", "--line-items", str(path)], env={"XSELL_CONFIG": ""}, cwd=tmp_path)

    fix = (
        "  fix: open the workbook in Excel or LibreOffice and save it (formulas then keep their values), "
        "or export the sheet as CSV (UTF-8)\n"
    )
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(['="Won lines, as of "&TEXT(TODAY(),"yyyy-mm-dd")'])  # a title block: never read
    sheet.append(["account_id", "product_id", "booked_at", "amount", "note"])
    sheet.append(["A-1", "CORE", "2024-01-01", 100, "x", None, "=1+1"])  # (G: no header, dropped)
    sheet.append(["A-2", "CORE", "2024-01-02", "=50*2", '=""'])
    sheet.append(["A-3", "ADDON", "2024-01-03", '=IF(A5<>"",70,0)', "y"])
    path = tmp_path / "line_items.xlsx"
    book.save(path)
    result = invoke(["attach", "--line-items", str(path)], env={"XSELL_CONFIG": ""}, cwd=tmp_path)
    assert (result.exit_code, result.stdout) == (65, "")
    assert result.stderr == (
        f"Error: {path}: 3 cells hold formulas whose saved values were never computed (the workbook asks to be "
        "recalculated when opened: a program wrote it), which xsell cannot compute: D4 (=50*2), "
        'E4 (=""), D5 (=IF(A5<>"",70,0))\n' + fix
    )
    # What Excel saves: each formula with its value (one a shared formula, one an empty text
    # result, which Excel writes as t="str" with an empty <v>), and no recalculation asked for.
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    workbook = parts["xl/workbook.xml"].decode()
    assert 'fullCalcOnLoad="1"' in workbook
    parts["xl/workbook.xml"] = workbook.replace(' fullCalcOnLoad="1"', "").encode()
    xml = parts["xl/worksheets/sheet1.xml"].decode()
    xml = re.sub(r"<f>50\*2</f><v\s*/>", '<f t="shared" ref="D4" si="0">50*2</f><v>100</v>', xml)
    xml = re.sub(r'<c r="E4"><f>""</f><v\s*/>', '<c r="E4" t="str"><f>""</f><v></v>', xml)
    xml = re.sub(r"<f>IF\(.*?\)</f><v\s*/>", '<f>IF(A5&lt;&gt;"",70,0)</f><v>70</v>', xml)

    def write(name, sheet_xml):
        target = tmp_path / name
        with zipfile.ZipFile(target, "w") as archive:
            for part, data in parts.items():
                archive.writestr(part, sheet_xml.encode() if part == "xl/worksheets/sheet1.xml" else data)
        return target

    result = run(write("saved.xlsx", xml))
    assert (result.exit_code, result.stderr.splitlines()[-1]) == (0, "3 line items: 3 used, 0 rejected")
    # Saved by Excel, but one formula's value lost (an amount no program computed):
    unsaved = write("unsaved.xlsx", xml.replace("<v>70</v>", "<v/>"))
    result = run(unsaved)
    assert (result.exit_code, result.stdout) == (65, "")
    assert result.stderr == (
        f"Error: {unsaved}: 1 cell holds a formula without a saved value, which xsell cannot compute: "
        'D5 (=IF(A5<>"",70,0))\n' + fix
    )


def test_a_formula_saved_by_xlsxwriter_is_not_read_as_its_placeholder_zero(tmp_path):
    """XlsxWriter saves 0 beside each formula and asks Excel to recalculate on opening: the
    amount read as 0, with nothing said."""
    import xlsxwriter

    from .conftest import invoke

    path = tmp_path / "line_items.xlsx"
    with xlsxwriter.Workbook(path) as workbook:
        sheet = workbook.add_worksheet()
        sheet.write_row(0, 0, ["account_id", "product_id", "booked_at", "amount"])
        sheet.write_row(1, 0, ["A-1", "CORE", "2024-01-01"])
        sheet.write_formula(1, 3, "=25*2")
    result = invoke(["validate", "--line-items", str(path)], env={"XSELL_CONFIG": ""}, cwd=tmp_path)
    assert (result.exit_code, result.stdout) == (65, "")
    assert result.stderr.startswith(
        f"Error: {path}: 1 cell holds a formula whose saved value was never computed (the workbook asks to be "
        "recalculated when opened: a program wrote it), which xsell cannot compute: D2 (=25*2)\n"
    )


def test_a_line_of_a_customer_named_like_a_footer_is_rejected_not_dropped(tmp_path):
    # 'Total Wine & More' and 'Subtotal Labs' after the last good line look like a report's
    # trailer by their first cell, but they carry an account and a product: lines with a bad
    # amount, each rejected with its reason (before, both were dropped as footer lines, unnamed).
    text = (
        "account_name,account_id,product_id,booked_at,amount,stage\n"
        "Acme Corp,A-001,CORE,2024-01-15,1200,won\n"
        "Beta LLC,A-002,CORE,2024-02-10,900,won\n"
        "Total Wine & More,A-003,CORE,2024-03-01,,won\n"
        "Subtotal Labs Inc,A-004,CORE,2024-03-02,1.2.3,won\n"
        '"Grand Totals (4 records)",,,,"2,100"\n'
    )
    _book, report = load(tmp_path, {"line_items.csv": text})
    table = report.tables["line_items"]
    assert (table.rows, table.used, table.rejected, table.footer_lines) == (4, 2, 2, 1)
    issues = report.rejects.sort("row")
    assert issues.select("row", "column", "value", "rule").rows() == [
        (3, "amount", "", "missing_value"),
        (4, "amount", "1.2.3", "bad_number"),
    ]


def test_families_that_differ_only_by_case_or_an_invisible_character_are_one(tmp_path):
    # 'Core', 'core' and 'Core' + U+200E were three families: a tier upgrade from one to another
    # counted as a cross-sell. They are one, spelt as most products spell it (first in sort
    # order on a tie: 'Core' before 'core'), and validate says where the other spellings are.
    lines = (
        "line_id,account_id,product_id,booked_at,amount,stage\n"
        "L1,A-001,CORE-PRO,2024-01-15,1200,won\n"
        "L2,A-001,CORE-ENT,2024-06-01,3000,won\n"
    )
    products = (
        "product_id,family\n"
        "CORE-PRO,Core\n"
        "CORE-ENT,core\n"
        "CORE-MAX,Core\u200e\n"
        "ANALYTICS,analytics\n"
        "AN-2,analytics\n"
        "AN-3,Analytics\n"
    )
    book, report = load(tmp_path, {"line_items.csv": lines, "products.csv": products})
    families = dict(book.products.select("product_id", "family").iter_rows())
    assert families == {
        "AN-2": "analytics",
        "AN-3": "analytics",
        "ANALYTICS": "analytics",
        "CORE-ENT": "Core",
        "CORE-MAX": "Core",
        "CORE-PRO": "Core",
    }
    spelt = report.warnings.filter(pl.col("rule") == "family_spelling").sort("row")
    assert spelt.select("table", "row", "column", "value").rows() == [
        ("products", 2, "family", "core"),
        ("products", 3, "family", "Core\u200e"),
        ("products", 6, "family", "Analytics"),
    ]
    assert report.tables["products"].used == 6


def test_product_ids_standing_in_for_families_keep_their_case(tmp_path):
    # Without a family, a product is its own family, and ids are case-sensitive (Salesforce's).
    lines = (
        "line_id,account_id,product_id,booked_at,amount,stage\n"
        "L1,A-001,abc,2024-01-15,1200,won\n"
        "L2,A-001,ABC,2024-06-01,3000,won\n"
    )
    book, report = load(tmp_path, {"line_items.csv": lines})
    assert sorted(book.products["family"].to_list()) == ["ABC", "abc"]
    assert report.warnings.filter(pl.col("rule") == "family_spelling").is_empty()


def test_a_parquet_column_of_lists_read_as_an_id_is_refused_by_name(tmp_path):
    # It was used as JSON text: '["CORE","ANALYTICS"]' became one product, and whitespace
    # recommended '["CORE"]' to a customer who owns CORE.
    frame = pl.DataFrame(
        {
            "account_id": ["A-001", "A-002"],
            "product_id": [["CORE"], ["CORE", "ANALYTICS"]],
            "booked_at": [dt.date(2024, 1, 1)] * 2,
            "amount": [5.0, 6.0],
        }
    )
    frame.write_parquet(tmp_path / "line_items.parquet")
    values = validate_config({"data": {"dir": "."}})
    with pytest.raises(DataError) as caught:
        load_book(resolve_settings(file_values=values, config_dir=tmp_path, cli={}))
    assert str(caught.value) == (
        f"{tmp_path / 'line_items.parquet'}: column 'product_id' (read as product_id) holds lists (List(String)), "
        "not one ID per row"
    )
    assert caught.value.hint == (
        "write one row per product_id (explode the list), or map product_id to a column of single IDs"
    )


def test_a_workbook_whose_first_sheet_is_a_summary_names_its_sheets(tmp_path):
    # The only fix offered was mapping columns ('Metric', 'Value' are no line items): the table
    # is on the second sheet, which sheet: chooses.
    import xlsxwriter

    with xlsxwriter.Workbook(tmp_path / "line_items.xlsx") as book:
        summary = book.add_worksheet("Summary")
        summary.write_row(0, 0, ["Metric", "Value"])
        summary.write_row(1, 0, ["Deals", 2])
        data = book.add_worksheet("Data")
        data.write_row(0, 0, ["account_id", "product_id", "booked_at", "amount"])
        data.write_row(1, 0, ["A-1", "CORE", "2024-01-15", 100])
    values = validate_config({"data": {"dir": "."}})
    with pytest.raises(DataError) as caught:
        load_book(resolve_settings(file_values=values, config_dir=tmp_path, cli={}))
    assert caught.value.hint.startswith(
        "if the table is on another sheet of this workbook ('Summary', 'Data'), name it: sheet: under data: in "
        "xsell.yaml; otherwise map them in xsell.yaml: columns: {line_items: {"
    )


@pytest.mark.parametrize("size", [3, 5000])
def test_json_under_a_csv_name_is_called_json(tmp_path, size):
    # A long one-line JSON export was "a quote in the header row (line 1) is never closed"
    # (the header scan stopped at 64 KB inside a quoted name), with a fix that could not help.
    records = ",".join(f'{{"account_id":"A-{i:06d}","amount":{i}}}' for i in range(size))
    with pytest.raises(DataError) as caught:
        load(tmp_path, {"line_items.csv": f"[{records}]"})
    assert str(caught.value) == f"{tmp_path / 'line_items.csv'}: the file looks like JSON, not CSV (it starts with '[')"
    assert caught.value.hint == "export the table as CSV, or convert the JSON to CSV first"


def test_an_amount_with_its_currency_in_the_header_is_offered_as_the_closest(tmp_path):
    # 'ARR (USD)' is no synonym of amount, but the fix offered a placeholder ('Your Header')
    # instead of the header right there.
    with pytest.raises(DataError) as caught:
        load(tmp_path, {"line_items.csv": "account_id,product_id,booked_at,ARR (USD)\nA-001,CORE,2024-01-15,1200\n"})
    assert caught.value.hint == (
        "the closest header is 'ARR (USD)'; map it in xsell.yaml: columns: {line_items: {amount: 'ARR (USD)'}}"
    )


def test_a_parquet_column_of_yyyymmdd_integers_reads_as_the_same_text_in_a_csv(tmp_path):
    # 20240115 as text in a CSV is detected as %Y%m%d; as Parquet integers every row was
    # rejected, and date_formats: ['%Y%m%d'] did not help: only text columns were looked at.
    frame = pl.DataFrame(
        {"account_id": ["A-001", "A-002"], "product_id": ["CORE"] * 2, "booked_at": [20240115, 20240210]},
        schema_overrides={"booked_at": pl.Int64},
    ).with_columns(pl.lit(5.0).alias("amount"))
    frame.write_parquet(tmp_path / "line_items.parquet")
    values = validate_config({"data": {"dir": "."}})
    book, report = load_book(resolve_settings(file_values=values, config_dir=tmp_path, cli={}))
    assert report.rejected == 0
    assert book.line_items["booked_at"].to_list() == [dt.date(2024, 1, 15), dt.date(2024, 2, 10)]
