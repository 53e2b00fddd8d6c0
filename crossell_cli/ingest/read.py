"""Readers, one per format: a file -> a LazyFrame of its cells, every data row numbered.

This is the only module that opens input files. It settles the encoding (BOMs,
a configured encoding, never a silent lossy decode), the delimiter and the header,
and returns a LazyFrame whose columns are the file's columns by position (``c0``,
``c1``, …), plus ``_row`` (1-based data row number: the header is row 0, so
spreadsheet row = _row + 1) and ``_extra`` (text found beyond the header's last
column: a ragged row). CSV and XLSX cells are text. Parquet columns keep their own
type (``RawTable.dtypes``): a column that already has the type its canonical column
needs skips the text parse (the typed fast path); the others are cast to text.
"""

from __future__ import annotations

import atexit
import codecs
import csv
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from ..config import check_encoding
from ..errors import ConfigError, DataError, InputMissingError, UsageError
from ..text import shown_controls

ROW = "_row"
EXTRA = "_extra"
LOOKUP_HIT = "_lookup_hit"
_SNIFF_BYTES = 64 * 1024
_CHUNK = 4 * 1024 * 1024
_DELIMITERS = (",", ";", "\t", "|")
# Each byte-order mark: the codec that reads a file starting with it, and the --encoding
# values that agree with it (another one is overruled: the mark says how its file is written).
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32", ("utf-32", "utf-32-le")),
    (codecs.BOM_UTF32_BE, "utf-32", ("utf-32", "utf-32-be")),
    (codecs.BOM_UTF8, "utf-8-sig", ("utf-8", "utf-8-sig")),
    (codecs.BOM_UTF16_LE, "utf-16", ("utf-16", "utf-16-le")),
    (codecs.BOM_UTF16_BE, "utf-16", ("utf-16", "utf-16-be")),
)


@dataclass(frozen=True)
class RawTable:
    path: Path
    headers: tuple[str, ...]
    frame: pl.LazyFrame
    encoding: str
    delimiter: str | None
    source_kind: str  # csv / parquet / xlsx
    header_lines: int = 0  # rows above the header (a formatted report's title block), dropped
    # Each column's type in ``frame``: String for CSV and XLSX; Parquet's own types.
    dtypes: tuple[pl.DataType, ...] = ()
    # With columns joined from another file (a lookup): the header matched on. ``frame`` then
    # also has LOOKUP_HIT (true where the row found its record in the other file).
    lookup_match: str | None = None

    def column(self, index: int) -> str:
        return f"c{index}"

    def dtype(self, index: int) -> pl.DataType:
        return self.dtypes[index] if self.dtypes else pl.String()

    def text(self, index: int) -> pl.Expr:
        """Column ``index`` as text (a typed Parquet column cast; nulls stay null). A list or
        struct cell, which Polars cannot cast to text, is written as its JSON ([1,2])."""
        column = pl.col(self.column(index))
        dtype = self.dtype(index)
        if dtype == pl.String:
            return column
        if dtype.is_nested():
            name = f"__v{index}"  # (one per column: a row hash puts every column in one struct)
            encoded = pl.struct(column.alias(name)).struct.json_encode()  # {"__v4":[1,2]}
            head = len(name) + 4
            text = encoded.str.slice(head, encoded.str.len_chars() - head - 1)
            return pl.when(column.is_not_null()).then(text).alias(self.column(index))
        if isinstance(dtype, pl.Duration):  # (which Polars cannot cast to text: ISO 8601, 'P1DT2H')
            return column.dt.to_string("iso").alias(self.column(index))
        return column.cast(pl.String)


_tempdir: Path | None = None


def _scratch() -> Path:
    global _tempdir
    if _tempdir is None:
        _tempdir = Path(tempfile.mkdtemp(prefix="xsell-"))
        atexit.register(shutil.rmtree, _tempdir, ignore_errors=True)
    return _tempdir


def read_raw(
    path: Path, *, encoding: str | None = None, delimiter: str | None = None, sheet: str | None = None
) -> RawTable:
    if not path.exists():
        raise InputMissingError(f"input file not found: {path}")
    if path.is_dir():
        raise InputMissingError(f"{path} is a folder, not a file", hint="use --data for a folder")
    if path.is_fifo():
        # (a pipe can be read once: its header was read, then its rows found it empty, and a
        # named pipe waited for a second writer that never came)
        raise UsageError(
            f"{path} is a pipe, not a file: xsell reads an input more than once (its header, a sample of "
            "its dates, then its rows)",
            hint="save it to a file first (e.g. `… > line_items.csv`) and give that file",
        )
    suffix = path.suffix.lower()
    if is_parquet(path):
        return _read_parquet(path)
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(path, sheet)
    if suffix == ".xls":
        raise DataError(
            f"{path}: the old binary .xls format is not supported",
            hint="save it as .xlsx or CSV (UTF-8) from Excel",
        )
    return _read_csv(path, encoding=encoding, delimiter=delimiter)


# ---------------------------------------------------------------------------------------
# CSV


# Files that are not text, by their first bytes: (signature, what it is, the fix).
_NOT_TEXT = (
    (
        b"\x1f\x8b",
        "a gzip-compressed file",
        "decompress it first (gunzip, or 7-Zip on Windows) and give the file inside",
    ),
    (b"PAR1", "a Parquet file", "give it a .parquet name (xsell reads Parquet)"),
    (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        "an old binary Excel workbook (.xls)",
        "save it as .xlsx or CSV (UTF-8) from Excel",
    ),
    (b"BZh", "a bzip2-compressed file", "decompress it first (bunzip2) and give the file inside"),
    (b"\xfd7zXZ\x00", "an xz-compressed file", "decompress it first (unxz) and give the file inside"),
    (b"\x28\xb5\x2f\xfd", "a zstd-compressed file", "decompress it first (unzstd) and give the file inside"),
    (b"%PDF-", "a PDF document", "export the report as CSV (UTF-8) instead"),
)


def _not_text(path: Path, head: bytes) -> DataError | None:
    """A compressed file, a workbook or a Parquet file behind a CSV name, said as such (not as
    an encoding problem, whose --encoding fix only gives another encoding error)."""
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                workbook = any(name.startswith("xl/workbook") for name in archive.namelist())
        except (zipfile.BadZipFile, OSError):
            workbook = False
        if workbook:
            return DataError(
                f"{path}: the file is an Excel workbook (.xlsx), not a CSV text file",
                hint="give it an .xlsx name (xsell reads workbooks), or export the sheet as CSV (UTF-8)",
            )
        return DataError(
            f"{path}: the file is a zip archive, not a CSV text file", hint="unzip it first and give the file inside"
        )
    for signature, kind, fix in _NOT_TEXT:
        if head.startswith(signature):
            return DataError(f"{path}: the file is {kind}, not a CSV text file", hint=fix)
    return None


def _read_csv(path: Path, *, encoding: str | None, delimiter: str | None) -> RawTable:
    with path.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    not_text = _not_text(path, head)
    if not_text is not None:
        raise not_text
    body = next((head[len(bom) :] for bom, _, _ in _BOMS if head.startswith(bom)), head)
    if not body.strip(b" \t\r\n\x00" + codecs.BOM_UTF8):
        raise DataError(
            f"{path}: the file is empty (no header row)",
            hint="export the table again with its header row",
        )
    detected = next((name for bom, name, _ in _BOMS if head.startswith(bom)), None)
    wanted = encoding or detected or "utf-8"
    check_encoding(wanted)
    if encoding is not None and detected is not None and not _bom_agrees(head, encoding):
        # The file's own mark says how it is written, whatever --encoding says for the run
        # (a folder may hold a UTF-8 export with its mark beside a cp1252 one).
        wanted = detected
    if detected is None and encoding is None and head.count(b"\x00") > len(head) // 8:
        raise DataError(
            f"{path}: the file looks like UTF-16 without a byte-order mark (many NUL bytes)",
            hint="pass --encoding utf-16-le (or utf-16-be), or save it as UTF-8",
        )
    # Polars reads UTF-8 only (and the BOM sits in the skipped header line); anything
    # else is decoded strictly into a UTF-8 scratch copy first.
    utf8_path = path
    if codecs.lookup(wanted).name not in ("utf-8", "utf-8-sig"):
        utf8_path = _transcode(path, wanted)
    header_text, eol = _first_record_text(utf8_path)
    skip = 1
    # Excel's separator line ("sep=;" above the header, which Excel writes for a locale whose
    # list separator is not a comma and reads to open the file right): it names the delimiter
    # and is no row of the table.
    excel_sep = _EXCEL_SEP.fullmatch(header_text)
    if excel_sep is not None:
        header_text, eol = _first_record_text(utf8_path, after=1)
        skip = 2
    sep = delimiter or (excel_sep.group(1) if excel_sep else None) or _sniff_delimiter(header_text, path)
    headers = _parse_header(header_text, sep, path)
    schema = {f"c{i}": pl.String for i in range(len(headers))}
    schema[EXTRA] = pl.String
    frame = pl.scan_csv(
        utf8_path,
        has_header=False,
        skip_rows=skip,
        separator=sep,
        quote_char='"',
        schema=schema,
        empty_string_is_null=False,
        truncate_ragged_lines=True,
        missing_columns="insert",
        extra_columns="ignore",
        row_index_name=ROW,
        row_index_offset=1,
        encoding="utf8",
        eol_char=eol,
    )
    return RawTable(path, headers, frame, wanted, sep, "csv")


def _bom_agrees(head: bytes, encoding: str) -> bool:
    """Whether ``encoding`` reads the byte-order mark ``head`` starts with as that mark says."""
    name = codecs.lookup(encoding).name
    return next((name in agree for bom, _, agree in _BOMS if head.startswith(bom)), True)


def _line_end(path: Path) -> bytes:
    """The byte that ends a line of ``path``, for the line numbers of a message: CR in an old
    Mac file (CR alone, no LF; its line 4 was called line 1), else LF (CRLF too)."""
    with path.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    return b"\r" if b"\r" in head and b"\n" not in head else b"\n"


def _transcode(path: Path, encoding: str) -> Path:
    """Decode ``path`` strictly and write it as UTF-8 in a scratch file."""
    target = _scratch() / f"{path.stem}.{abs(hash(str(path)))}.utf8.csv"
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    offset = 0
    lines = 1
    eol = _line_end(path)
    with path.open("rb") as src, target.open("w", encoding="utf-8", newline="") as dst:
        while True:
            chunk = src.read(_CHUNK)
            final = not chunk
            try:
                text = decoder.decode(chunk, final=final)
            except UnicodeDecodeError as exc:
                if final:  # bytes left over at the end: half a character
                    raise DataError(
                        f"{path}: the file ends in the middle of a {encoding} character: it was cut short",
                        hint="export or copy the file again",
                    ) from None
                bad_at = offset + exc.start
                line = lines + chunk[: exc.start].count(eol)
                raise DataError(
                    f"{path}: byte {bad_at} (line {line}) is not valid {encoding}: "
                    f"{chunk[exc.start : exc.start + 4]!r}",
                    hint=_encoding_hint(path, encoding),
                ) from None
            except UnicodeError as exc:  # e.g. "UTF-16 stream does not start with BOM"
                raise DataError(
                    f"{path}: cannot be decoded as {encoding}: {exc}",
                    hint="for UTF-16 without a byte-order mark pass --encoding utf-16-le or utf-16-be",
                ) from None
            if text.startswith("\ufeff") and offset == 0:
                text = text[1:]
            dst.write(text)
            if final:
                break
            offset += len(chunk)
            lines += chunk.count(eol)
    return target


def _encoding_hint(path: Path, tried: str) -> str:
    return (
        "save the file as UTF-8, or pass --encoding with its real encoding "
        "(Excel on Windows usually writes cp1252; older systems latin-1)"
        if tried.lower().replace("_", "-") in ("utf-8", "utf8")
        else f"the file is not {tried}; try --encoding utf-8, cp1252 or utf-16"
    )


def diagnose_utf8(path: Path) -> DataError:
    """Find the first byte of ``path`` that is not UTF-8 (after Polars refused the file)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    offset = 0
    lines = 1
    eol = _line_end(path)
    with path.open("rb") as fh:
        while True:
            chunk = fh.read(_CHUNK)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                line = lines + chunk[: exc.start].count(eol)
                return DataError(
                    f"{path}: line {line} (byte {offset + exc.start}) is not valid UTF-8: "
                    f"{chunk[exc.start : exc.start + 4]!r}",
                    hint=_encoding_hint(path, "utf-8"),
                )
            if not chunk:
                break
            offset += len(chunk)
            lines += chunk.count(eol)
    return DataError(f"{path}: the file is not valid UTF-8", hint=_encoding_hint(path, "utf-8"))


def diagnose_csv(path: Path, delimiter: str | None, problem: str) -> DataError:
    """Explain why Polars could not parse ``path``: find an unclosed quote with the csv module."""
    try:
        with path.open("r", encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh, delimiter=delimiter or ",", strict=True)
            record_start = 1
            for _ in reader:
                record_start = reader.line_num + 1
    except UnicodeDecodeError:
        return diagnose_utf8(path)
    except csv.Error as exc:
        if "EOF" in str(exc) or "unexpected end of data" in str(exc):
            return DataError(
                f"{path}: a quoted value that starts on line {record_start} is never closed",
                hint="the file was probably cut short or a value contains a stray '\"'; "
                "fix that line or export the file again",
            )
        return DataError(
            f"{path}: line {record_start} cannot be read as CSV: {exc}",
            hint='a value has text after its closing quote or a stray ": quote the whole value and '
            'double any " inside it ("")',
        )
    stray = _unquoted_quote(path, delimiter or ",")
    if stray is not None:
        # (Python's csv takes '27" 4K' as text; Polars' reader does not)
        line, value = stray
        return DataError(
            f"{path}: line {line} has a '\"' inside a value that is not in quotes ({shown_controls(value)!r}); "
            "the file cannot be read as CSV",
            hint='quote the whole value and double the " inside it ("Monitor 27"" 4K"), or export the file '
            "again with every value quoted",
        )
    return DataError(f"{path}: could not be read as CSV: {problem.splitlines()[0]}")


def _unquoted_quote(path: Path, delimiter: str) -> tuple[int, str] | None:
    """The first line with a value that does not start with a quote but holds one (an inch
    mark: Monitor 27" 4K), and that value; None when there is none."""
    d = re.escape(delimiter)
    value = re.compile(rf'(?:^|{d})([^"{d}\r\n]+"[^{d}\r\n]*)')
    with path.open("r", encoding="utf-8-sig", errors="replace", newline="") as fh:
        for number, text in enumerate(fh, start=1):
            found = value.search(text)
            if found is not None:
                return number, found.group(1)
    return None


# ("sep=;", '"sep=;"', and padded with empty cells to the table's width: "sep=;;;;")
_EXCEL_SEP = re.compile(r'[ ]*"?sep=([^"\r\n])"?\1*[ ]*')


def _first_record_text(path: Path, *, after: int = 0) -> tuple[str, str]:
    """The header record as text (the record after ``after`` others: an Excel "sep=;" line),
    and the file's line ending ("\n", or "\r" for old Mac files).

    A quoted header may span lines; a quote that never closes is an error, not a header
    that swallows the whole file.
    """
    with path.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
        complete = not fh.read(1)
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:
            raise diagnose_utf8(path) from None
        text = head[: exc.start].decode("utf-8-sig")
    eol = "\r" if "\r" in text and "\n" not in text else "\n"
    in_quotes = False
    out: list[str] = []
    ending = False  # (the \n of a \r\n that ended a skipped record)
    for char in text:
        if ending and char == "\n":
            ending = False
            continue
        ending = False
        if char == '"':
            in_quotes = not in_quotes
        if char in "\r\n" and not in_quotes:
            if not after:
                return "".join(out), eol
            after, out, ending = after - 1, [], char == "\r"
            continue
        out.append(char)
    if text.lstrip()[:2] in ("[{", '{"', "[]"):
        # (JSON saved under a .csv name: one long line full of quotes, often cut at the sniff
        # limit inside one, which read as a header quote never closed)
        raise DataError(
            f"{path}: the file looks like JSON, not CSV (it starts with '{text.lstrip()[0]}')",
            hint="export the table as CSV, or convert the JSON to CSV first",
        )
    if not complete:
        raise DataError(f"{path}: the header row is longer than {_SNIFF_BYTES // 1024} KB; is this a CSV file?")
    if in_quotes:
        raise DataError(
            f"{path}: a quote in the header row (line 1) is never closed",
            hint='remove the stray " from the header, or close the quoted header name',
        )
    return "".join(out), eol


def _sniff_delimiter(header: str, path: Path) -> str:
    if path.suffix.lower() == ".tsv":
        return "\t"
    counts = {d: header.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _parse_header(header: str, sep: str, path: Path) -> tuple[str, ...]:
    try:
        row = next(csv.reader([header], delimiter=sep, strict=True), [])
    except csv.Error as exc:
        raise DataError(
            f"{path}: the header row (line 1) cannot be read: {exc}",
            hint='a header name has a stray ": remove it, or quote the whole name and double the " inside',
        ) from None
    return tuple((cell.strip().lstrip("\ufeff").strip() or f"column_{i + 1}") for i, cell in enumerate(row))


# ---------------------------------------------------------------------------------------
# Parquet and Excel


def is_parquet(path: Path) -> bool:
    return path.suffix.lower() in (".parquet", ".pq")


_PARQUET_TEXT_HINT = (
    "the column holds raw bytes (Parquet BINARY) in another encoding: write it as UTF-8 text "
    "(a STRING column) when exporting, or decode it first (in pandas: .str.decode('cp1252'))"
)


def diagnose_parquet_text(path: Path) -> DataError:
    """``parquet_text_error``, or a message without the cell when none is found."""
    found = parquet_text_error(path)
    if found is not None:
        return found
    return DataError(f"{path}: a text column holds bytes that are not UTF-8", hint=_PARQUET_TEXT_HINT)


def parquet_text_error(path: Path) -> DataError | None:
    """The first cell of a Parquet BINARY column that is not UTF-8 (after Polars refused to read
    it as text, in an error that names no file), as a message; None when every one is text.
    The row is found by bisection: each step casts only the rows between the last good and
    the first bad bound, so the reads add up to about one pass over the column."""
    if not is_parquet(path) or not path.is_file():
        return None
    scan = pl.scan_parquet(path)

    def readable(name: str, start: int, rows: int) -> bool:
        try:
            scan.slice(start, rows).select(pl.col(name).cast(pl.String)).collect()
        except pl.exceptions.ComputeError:
            return False
        return True

    binary = [name for name, dtype in scan.collect_schema().items() if dtype == pl.Binary]
    total = scan.select(pl.len()).collect().item() if binary else 0
    for name in binary:
        if readable(name, 0, total):
            continue
        good, bad = 0, total  # rows before `good` read as text; some row before `bad` does not
        while bad - good > 1:
            middle = (good + bad) // 2
            good, bad = (middle, bad) if readable(name, good, middle - good) else (good, middle)
        value = scan.slice(good, 1).select(name).collect().item()
        return DataError(
            f"{path}: column '{name}', row {bad}, is not UTF-8 text: {bytes(value)[:40]!r}",
            hint=_PARQUET_TEXT_HINT,
        )
    return None


def _read_parquet(path: Path) -> RawTable:
    try:
        schema = pl.scan_parquet(path).collect_schema()
    except Exception as exc:
        raise DataError(
            f"{path}: not a readable Parquet file ({str(exc).splitlines()[0]})",
            hint="the file is damaged or not Parquet: export it again, or save the table as CSV",
        ) from None
    headers = tuple(schema.names())
    frame = (
        pl.scan_parquet(path)
        .select([pl.col(name).alias(f"c{i}") for i, name in enumerate(headers)])
        .with_columns(pl.lit(None, dtype=pl.String).alias(EXTRA))
        .with_row_index(ROW, offset=1)
    )
    return RawTable(path, headers, frame, "parquet", None, "parquet", dtypes=tuple(schema.dtypes()))


def _xlsx_header_row(sheet: pl.DataFrame) -> int:
    """The header's row index: the first of the top rows as full as the fullest of them.

    A formatted Salesforce report puts its title and filters in one or two cells above the
    header; the header and the data fill most columns.
    """
    top = sheet.head(50)
    filled = top.select(
        pl.sum_horizontal([pl.col(c).is_not_null() & (pl.col(c).str.strip_chars() != "") for c in top.columns])
    ).to_series()
    counts: list[int] = [int(c or 0) for c in filled.to_list()]
    widest = max(counts, default=0)
    for index, count in enumerate(counts):
        if count >= max(2, 0.6 * widest):
            return index
    return 0


def _rows_above_range(path: Path, sheet: str | None) -> int:
    """Rows above the sheet's first cell with a value, which the Excel reader leaves out (it
    starts at the used range): numbering from there keeps 'spreadsheet row = row + 1' when a
    workbook has empty rows above its header. Read from the sheet's XML up to that cell; 0 when
    the workbook cannot be read this way (the reader then says what is wrong).

    A cell holds a value as the reader sees it when it has text, or when it points at a shared
    string (even an empty one: Excel writes those for pasted ``=""``)."""
    from xml.etree import ElementTree

    def local(tag: str) -> str:
        return tag.rsplit("}", 1)[-1]

    try:
        with zipfile.ZipFile(path) as book:
            target = _sheet_part(book, sheet)
            if target is None:
                return 0
            row = 0  # the sheet row being read (a row's r attribute is optional: then the next one)
            with book.open(target) as part:
                for event, element in ElementTree.iterparse(part, events=("start", "end")):
                    tag = local(element.tag)
                    if event == "start":
                        if tag == "row":
                            number = element.get("r") or ""
                            row = int(number) if number.isdigit() else row + 1
                        continue
                    if tag != "c":
                        continue
                    parts = [t for t in element.iter() if local(t.tag) in ("v", "t")]
                    if element.get("t") == "s":
                        valued = any(local(t.tag) == "v" and (t.text or "").strip() for t in parts)
                    else:
                        valued = bool("".join(t.text or "" for t in parts))
                    if valued:
                        found = re.match(r"[A-Za-z]+([0-9]+)$", element.get("r") or "")
                        return (int(found.group(1)) if found else row) - 1
                    element.clear()
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, ElementTree.ParseError):
        return 0
    return 0


# A formula whose cell has no saved value: <c r="D3"><f>50*2</f><v/></c> (a workbook written by a
# program, such as openpyxl, and not opened and saved by Excel since). Matched from the formula
# on (a literal start the regex engine scans for quickly), the cell's tag read backwards.
_VALUE = rb"(?:<(?:\w+:)?v\s*/>|<(?:\w+:)?v>\s*</(?:\w+:)?v>)"
_FORMULA_CELL = {
    (prefixed, unsaved): re.compile(
        (rb"<(\w+:)f\b" if prefixed else rb"<()f\b")
        + rb"[^>]*?(?:/>|>([^<]*)</(?:\w+:)?f>)"
        + (rb"\s*(" + _VALUE + rb")?\s*</(?:\w+:)?c>" if unsaved else rb"()")
    )
    for prefixed in (False, True)
    for unsaved in (False, True)
}
_CELL_REF = re.compile(rb'\br="([A-Z]+)([0-9]+)"')
_STRING_CELL = re.compile(rb'\bt="str"')
# A writer that computes no formula (XlsxWriter, openpyxl, ExcelJS…) asks Excel to recalculate
# on opening; the values it saved beside its formulas (XlsxWriter: 0) were never computed.
_RECALC_ON_LOAD = re.compile(rb'<(?:\w+:)?calcPr\b[^>]*\bfullCalcOnLoad="(?:1|true)"')
_VALUED_CELL = re.compile(
    rb'<(?:\w+:)?c\b[^>]*\br="([A-Z]+)[0-9]+"[^>]*>(?:(?!</(?:\w+:)?c>).)*?<(?:\w+:)?(?:v|t)\b', re.DOTALL
)


def _check_formulas(path: Path, sheet: str | None, *, header_row: int) -> None:
    """A formula without a saved value reads as an empty cell: an amount "missing", an end date
    gone (a subscription that never ends), with nothing said; one whose writer asked for a
    recalculation on opening (and saved 0, say) reads as that value. xsell cannot compute
    formulas, so the sheet is refused, naming the cells, until it is saved with its values.
    Only the cells xsell reads count: below the header row (``header_row``, the sheet's row
    number), in a column with a header."""
    try:
        with zipfile.ZipFile(path) as book:
            target = _sheet_part(book, sheet)
            if target is None:
                return
            xml = book.read(target)
            if b"<f" in xml:
                prefixed = False
            elif b":f" in xml:  # (a sheet whose elements carry a namespace prefix, <x:f>)
                prefixed = True
            else:
                return
            recalc = bool(_RECALC_ON_LOAD.search(book.read("xl/workbook.xml")))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return  # (the reader has read it; a part it cannot find holds no formula to check)
    headed = _header_columns(xml, header_row)
    found = []
    for match in _FORMULA_CELL[(prefixed, not recalc)].finditer(xml):
        tag = _cell_tag(xml, match.group(1), match.start())
        if not recalc and match.group(3) and _STRING_CELL.search(tag):
            continue  # a saved empty text result (Excel writes ="" as t="str" with an empty <v>)
        ref = _CELL_REF.search(tag)
        if ref is not None and (int(ref.group(2)) <= header_row or (headed is not None and ref.group(1) not in headed)):
            continue  # a title block above the header, the header itself, or a column xsell drops
        name = (ref.group(1) + ref.group(2)).decode() if ref else "a cell"
        found.append((name, (match.group(2) or b"").decode("utf-8", "replace")))
    if not found:
        return
    shown = ", ".join(name + _formula_text(text) for name, text in found[:5])
    more = f" and {len(found) - 5} more" if len(found) > 5 else ""
    noun = "cell holds a formula" if len(found) == 1 else "cells hold formulas"
    why = (
        ("whose saved values were" if len(found) > 1 else "whose saved value was")
        + " never computed (the workbook asks to be recalculated when opened: a program wrote it)"
        if recalc
        else "without a saved value"
    )
    raise DataError(
        f"{path}: {len(found):,} {noun} {why}, which xsell cannot compute: {shown}{more}",
        hint="open the workbook in Excel or LibreOffice and save it (formulas then keep their values), "
        "or export the sheet as CSV (UTF-8)",
    )


def _formula_text(text: str) -> str:
    """' (=50*2)': a formula as written in the XML, its entities read and line breaks shown."""
    from html import unescape

    text = shown_controls(unescape(text))
    return f" (={text})" if text else ""


def _cell_tag(xml: bytes, prefix: bytes, before: int) -> bytes:
    """The opening tag of the cell holding the element at ``before`` (not a <col>, <cols>…)."""
    opening = before
    while True:
        opening = xml.rfind(b"<" + prefix + b"c", 0, opening)
        if opening < 0:
            return b""
        follows = xml[opening + len(prefix) + 2 : opening + len(prefix) + 3]
        if follows in (b" ", b"\t", b"\r", b"\n", b">", b"/"):
            return xml[opening:before]


def _header_columns(xml: bytes, header_row: int) -> set[bytes] | None:
    """The column letters of the header row's cells holding a value; None when the row cannot
    be found by its number (then no column is left out)."""
    row = re.search(
        rb'<(?:\w+:)?row\b[^>]*\br="' + str(header_row).encode() + rb'"[^>]*>(.*?)</(?:\w+:)?row>', xml, re.DOTALL
    )
    if row is None:
        return None
    return {m.group(1) for m in _VALUED_CELL.finditer(row.group(1))}


def _sheet_part(book: zipfile.ZipFile, sheet: str | None) -> str | None:
    """The zip member holding the named sheet (the first sheet when None)."""
    from xml.etree import ElementTree

    ns = {
        "m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
        "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
        "p": "http://schemas.openxmlformats.org/package/2006/relationships",
    }
    sheets = ElementTree.fromstring(book.read("xl/workbook.xml")).findall("m:sheets/m:sheet", ns)
    chosen = next((s for s in sheets if sheet is None or s.get("name") == sheet), None)
    if chosen is None:
        return None
    rid = chosen.get(f"{{{ns['r']}}}id")
    rels = ElementTree.fromstring(book.read("xl/_rels/workbook.xml.rels")).findall("p:Relationship", ns)
    target = next((r.get("Target") for r in rels if r.get("Id") == rid), None)
    if target is None:
        return None
    return target.lstrip("/") if target.startswith("/") else f"xl/{target}"


def _first_visible_sheet(path: Path) -> str | None:
    """The first sheet not hidden, when the workbook's first sheet is hidden; else None (the first)."""
    from xml.etree import ElementTree

    ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
    try:
        with zipfile.ZipFile(path) as book:
            sheets = ElementTree.fromstring(book.read("xl/workbook.xml")).findall("m:sheets/m:sheet", ns)
    except (OSError, KeyError, zipfile.BadZipFile, ElementTree.ParseError):
        return None  # an unreadable workbook: the read says so
    shown = [s.get("name") for s in sheets if s.get("state", "visible") == "visible"]
    if not sheets or sheets[0].get("state", "visible") == "visible" or not shown:
        return None
    return shown[0]


def sheet_names(path: Path) -> list[str]:
    """The sheets of a workbook, in order (none when it cannot be read: its read says why)."""
    import fastexcel  # Polars' own Excel reader

    try:
        return list(fastexcel.read_excel(path).sheet_names)
    except Exception:
        return []


def _check_sheet(path: Path, sheet: str) -> None:
    """A configured sheet the workbook does not have is a config error naming the sheets."""
    names = sheet_names(path)
    if names and sheet not in names:
        listing = ", ".join(f"'{n}'" for n in names)
        raise ConfigError(
            f"{path}: no sheet '{sheet}' in the workbook (its sheets: {listing})",
            hint="set sheet: under data: in xsell.yaml to one of them (names are case-sensitive)",
        )


def _read_xlsx(path: Path, sheet: str | None) -> RawTable:
    if sheet is not None:
        _check_sheet(path, sheet)
    else:
        # The sheet Excel opens on: the first one a person can see (a hidden 'Notes' or
        # lookup sheet often comes first).
        sheet = _first_visible_sheet(path)
    try:
        sheet_df = pl.read_excel(
            path,
            sheet_name=sheet,
            has_header=False,
            infer_schema_length=0,
            drop_empty_rows=False,
            drop_empty_cols=False,
            raise_if_empty=False,
        )
    except Exception as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(
            f"{path}: cannot read the workbook ({message})",
            hint="open it in Excel and save it again as .xlsx, or export the sheet as CSV (UTF-8)",
        ) from None
    if sheet_df.height == 0:
        raise DataError(f"{path}: the sheet is empty (no header row)")
    header_at = _xlsx_header_row(sheet_df)
    # Formatted reports leave column A empty and put a title block above the header.
    keep = [c for c in sheet_df.columns if sheet_df[c].slice(header_at).drop_nulls().str.strip_chars().ne("").any()]
    sheet_df = sheet_df.select(keep)
    header_row = sheet_df.row(header_at)
    headers = tuple(
        (str(cell).strip() if cell is not None and str(cell).strip() else f"column_{i + 1}")
        for i, cell in enumerate(header_row)
    )
    body = sheet_df.slice(header_at + 1)
    body.columns = [f"c{i}" for i in range(len(headers))]
    # Numbered so that, as in every format, the spreadsheet row is row + 1 (the reader starts
    # at the first row with a value: empty rows above it are counted back in).
    offset = _rows_above_range(path, sheet) + header_at + 1
    _check_formulas(path, sheet, header_row=offset)  # (the header's row number in the sheet)
    frame = body.lazy().with_columns(pl.lit(None, dtype=pl.String).alias(EXTRA)).with_row_index(ROW, offset=offset)
    return RawTable(path, headers, frame, "xlsx", None, "xlsx", header_lines=header_at)
