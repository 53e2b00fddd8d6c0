"""``xsell report``: every metric in one document (HTML page or Excel workbook), with charts.

The command computes a :class:`ReportData` and hands it to :func:`render_html` or
:func:`write_xlsx`; both are pure (no printing, no files read, no network). Importing
this package costs Polars only: XlsxWriter is imported when a workbook is written.
"""

from __future__ import annotations

from .data import ReportData
from .html import render_html
from .xlsx import write_xlsx

__all__ = ["ReportData", "render_html", "write_xlsx"]
