"""CSV that is safe to open in a spreadsheet: shared by `dropscore sql` and the dashboard.

A cell that begins with =, +, -, @ (or a tab or carriage return, which some spreadsheets skip
before reading the rest) is run as a formula when the file is opened in Excel, LibreOffice or
Google Sheets, so a supplier or product name chosen by a stranger could run one on the user's
machine (OWASP "CSV injection"). Such cells get a leading apostrophe, which spreadsheets show as
text. Only text is touched: a number such as -12.5 is a value, not a formula, and stays a number.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas takes a quarter second to import: only when a frame is asked for
    import pandas

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")


def neutralise_cell(value: object) -> object:
    """The value, with an apostrophe in front when it is text a spreadsheet would run.

    Line breaks inside text become plain newlines: the csv module quotes a cell holding one,
    but not a bare carriage return, where a spreadsheet would start a new row mid-cell.
    """
    if not isinstance(value, str):
        return value
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def write_csv(file: io.TextIOBase, columns: Sequence[str], rows: Iterable[Sequence]) -> None:
    """Write a header and rows to an open text file, every text cell neutralised; None is empty."""
    writer = csv.writer(file, lineterminator="\n")
    writer.writerow([neutralise_cell(column) for column in columns])
    for row in rows:
        writer.writerow([neutralise_cell(value) for value in row])


def csv_text(columns: Sequence[str], rows: Iterable[Sequence]) -> str:
    """The CSV as a string (what a download button wants)."""
    buffer = io.StringIO()
    write_csv(buffer, columns, rows)
    return buffer.getvalue()


def dataframe_csv(frame: pandas.DataFrame) -> str:
    """A DataFrame as safe CSV text, without its index: `st.download_button(data=...)`."""
    rows = (
        [None if _is_missing(value) else value for value in row]
        for row in frame.itertuples(index=False, name=None)
    )
    return csv_text([str(column) for column in frame.columns], rows)


def _is_missing(value: object) -> bool:
    try:
        import pandas

        return bool(pandas.isna(value))
    except (TypeError, ValueError):  # lists and arrays are values, not missing
        return False
