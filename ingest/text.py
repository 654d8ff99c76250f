"""Export files as text: the lines before a CSV file's header, and where a file that should be
UTF-8 is not."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from ingest.errors import InputError

# Python's csv reader takes cells as long as DuckDB's reader does, wherever ingest parses one.
csv.field_size_limit(1 << 30)

SAVE_AS_UTF8 = "save it as UTF-8 (in Excel: CSV UTF-8)"
INVALID_UNICODE = "Invalid unicode (byte sequence mismatch)"  # DuckDB's words for such a byte

# `sep=,` tells Excel the delimiter; a spreadsheet that read it as a row writes it back with
# commas after it, or quoted.
_SEP_LINE = re.compile(r'\s*"?sep=(?P<separator>[^"]?)"?,*\s*', re.IGNORECASE)


def named_separator(line: str) -> str | None:
    """The separator a `sep=` line names ('' for none); None for any other line."""
    found = _SEP_LINE.fullmatch(line)
    return found["separator"] if found else None


def is_preamble(line: str) -> bool:
    """Whether a line before a CSV file's header is one to pass over: a comment (`# ...`, as the
    templates explain their columns), a blank line, or a `sep=,` line."""
    text = line.strip()
    return not text or text.startswith("#") or named_separator(line) == ","


def not_utf8(path: Path, is_csv: bool = True) -> InputError:
    """The error for a file that is not UTF-8, at its first byte that is not, with its line (a
    CR, LF or CRLF ends one) and, for a CSV file whose bad byte is in its first 64 MiB, the
    header's name for the cell that holds it. The file is read again from its start: only once
    loading has failed."""
    offset, line, carry, previous, cut = 0, 1, b"", b"", False
    with open(path, "rb") as file:
        while True:
            chunk = file.read(1 << 20)
            data = carry + chunk  # with the few bytes of a character the last read cut
            try:
                data.decode("utf-8")
                good, bad = len(data), None
            except UnicodeDecodeError as error:
                good = error.start
                cut = error.reason == "unexpected end of data"  # by the read, or the file's end
                bad = None if cut and chunk else data[good : good + 1]
            line += _line_breaks(data[:good], previous)
            offset += good
            if bad is not None or not chunk:
                break
            previous, carry = data[good - 1 : good] or previous, data[good:]
    advice = SAVE_AS_UTF8 if is_csv else "save it as UTF-8"
    if bad is None:
        return InputError(path, f"not a UTF-8 text file: {advice}")
    character = bad.decode("cp1252", errors="replace")
    shown = f" ({character} in Windows-1252)" if character.isalnum() else ""
    if cut:  # a character cut short, or a Windows-1252 letter that looks like its start
        what = f"the file ends inside a character (cut short?), or byte 0x{bad[0]:02X}{shown}"
    else:
        what = f"byte 0x{bad[0]:02X}{shown}"
    column = _cell_holding(path) if is_csv and offset < _CELLS_PARSED else None
    return InputError(path, f"{what} is not UTF-8 text: {advice}", line=line, column=column)


_CELLS_PARSED = 64 << 20


def _line_breaks(data: bytes, previous: bytes) -> int:
    """The line breaks in `data` (CRLF, CR or LF), `previous` the byte before it."""
    breaks = data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")
    return breaks - (previous == b"\r" and data.startswith(b"\n"))


def _cell_holding(path: Path) -> str | None:
    """The header's name for the cell of a CSV file that holds its first byte that is not
    UTF-8; None in the lines up to the header or past its columns. The records are read one at
    a time, bytes that are not UTF-8 kept as escapes (U+DC80-U+DCFF) to be found."""
    with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as file:
        for first in file:  # the header
            if _ESCAPED.search(first):
                return None
            if not is_preamble(first):
                break
        else:
            return None
        header = next(csv.reader([first]), [])
        for cells in csv.reader(file):
            for index, cell in enumerate(cells):
                if _ESCAPED.search(cell):
                    return header[index] if index < len(header) else None
    return None


_ESCAPED = re.compile("[\udc80-\udcff]")
