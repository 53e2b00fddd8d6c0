"""Write the binary and whitespace-sensitive members of the bad-input corpus.

Text cases are committed as plain files next to this script so that a reader can open
them. The cases below are generated instead, because their bytes are the point (UTF-16,
latin-1, NUL bytes, CR line endings, a UTF-8 BOM, corrupt workbooks) and editors or
git's end-of-line handling would silently change them.

    python tests/corpus/make_corpus.py            # write the files that are missing
    python tests/corpus/make_corpus.py --force    # rewrite all of them

``tests/test_bad_inputs.py`` calls ``ensure_corpus()`` at import time. Every output is
deterministic except the two .xlsx workbooks written by XlsxWriter (which stamp a
creation time in their metadata; the cells are always the same).
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent

HEADER = "line_id,account_id,product_id,booked_at,amount,stage\n"
# Three data rows; row 2 has an amount that is not a number, so a reader that decodes the
# file correctly reports exactly that row (and one that mis-decodes it shows up as
# different counts).
ROWS = "L1,A-001,CORE,2024-01-15,1200,won\nL2,A-001,ANALYTICS,2024-02-01,oops,won\nL3,A-002,CORE,2024-02-10,900,won\n"
# Accented names, so that a wrong single-byte decode would not go unnoticed.
ACCENTED = (
    "line_id,account_id,product_id,booked_at,amount,rep,stage\n"
    "L1,A-001,CORE,2024-01-15,1200,José Núñez,won\n"
    "L2,A-001,ANALYTICS,2024-02-01,500,Björn Öberg,won\n"
    "L3,A-002,CORE,2024-02-10,900,Zoë Faÿ,won\n"
)


def _bytes(data: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data)


def _latin1_after_64k(path: Path) -> None:
    # 3 000 clean rows (~100 KB, beyond the 64 KB the reader sniffs), then one latin-1 'é'.
    body = "".join(f"L{i},A-{i % 50:03d},P{i % 5},2024-01-15,100,won\n" for i in range(3000))
    text = HEADER + body + "L9999,A-José,P1,2024-01-15,100,won\n"
    path.write_bytes(text.encode("latin-1"))


def _corrupt_xlsx(path: Path) -> None:
    path.write_bytes(random.Random(1234).randbytes(512))


def _corrupt_parquet(path: Path) -> None:
    # Parquet magic at both ends, garbage in between (and a footer length that lies).
    path.write_bytes(b"PAR1" + random.Random(4321).randbytes(200) + b"PAR1")


def _wrong_columns_parquet(path: Path) -> None:
    import polars as pl

    pl.DataFrame(
        {"customer": ["A-001", "A-002"], "sku": ["CORE", "CORE"], "when": ["2024-01-15", "2024-02-10"]}
    ).write_parquet(path)


def _bad_cells_xlsx(path: Path) -> None:
    import polars as pl

    pl.DataFrame(
        {
            "account_id": ["A-001", "A-002"],
            "product_id": ["CORE", "ANALYTICS"],
            "booked_at": ["2024-01-15", "bad"],
            "amount": ["1200", "x"],
        }
    ).write_excel(path)


GENERATED: dict[str, Callable[[Path], None]] = {
    # UTF-8 with a byte-order mark: the first header must still be 'line_id'.
    "bom_utf8.csv": _bytes(b"\xef\xbb\xbf" + (HEADER + ROWS).encode()),
    # Windows line endings: 'oops\r' must not leak into values.
    "crlf.csv": _bytes((HEADER + ROWS).replace("\n", "\r\n").encode()),
    # Classic Mac line endings (CR only): three data rows must not vanish.
    "cr_only.csv": _bytes((HEADER + ROWS).replace("\n", "\r").encode()),
    # UTF-16 with a BOM (what Excel's "Unicode text" writes), one bad row.
    "utf16_bom.csv": _bytes((HEADER + ROWS).encode("utf-16")),
    # UTF-16 little-endian without a BOM: every other byte is NUL.
    "nul_bytes.csv": _bytes(ACCENTED.encode("utf-16-le")),
    # UTF-16 with a BOM, cut in the middle of a code unit.
    "utf16_truncated.csv": _bytes((HEADER + ROWS).encode("utf-16")[:-1]),
    # latin-1 (ISO 8859-1) and no encoding configured: 'é' is byte 0xE9 on line 2.
    "latin1_no_config.csv": _bytes(ACCENTED.encode("latin-1")),
    # cp1252 ('€' is 0x80, curly quotes 0x93/0x94) and no encoding configured.
    "cp1252_no_config.csv": _bytes((ACCENTED.replace("Zoë Faÿ", "“Zoë” €")).encode("cp1252")),
    # The bad byte is past the sniffed head of the file: found only while streaming.
    "latin1_after_64k.csv": _latin1_after_64k,
    # Random bytes with an .xlsx name.
    "corrupt.xlsx": _corrupt_xlsx,
    # A workbook that opens, with one bad date and one bad amount on row 2.
    "bad_cells.xlsx": _bad_cells_xlsx,
    # Random bytes with a .parquet name.
    "corrupt.parquet": _corrupt_parquet,
    # A real Parquet file whose columns are not line items.
    "wrong_columns.parquet": _wrong_columns_parquet,
    # A CSV saved with the old Excel extension.
    "old_format.xls": _bytes((HEADER + ROWS).encode()),
}


def ensure_corpus(folder: Path = HERE, *, force: bool = False) -> list[Path]:
    """Write every generated case that is missing (or all, with ``force``); return what was written."""
    written = []
    for name, make in GENERATED.items():
        path = folder / name
        if force or not path.exists():
            make(path)
            written.append(path)
    return written


if __name__ == "__main__":
    for p in ensure_corpus(force="--force" in sys.argv[1:]):
        print(f"wrote {p}")
