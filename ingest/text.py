"""Export files as text: the lines before a CSV file's header, and where a file that should be
UTF-8 is not."""

from __future__ import annotations

import csv
import io
from collections import deque
from pathlib import Path

from ingest.errors import InputError

SAVE_AS_UTF8 = "save it as UTF-8 (in Excel: CSV UTF-8)"


def is_preamble(line: str) -> bool:
    """Whether a line before a CSV file's header is one to pass over: a comment (`# ...`, as the
    templates explain their columns), a blank line, or the `sep=,` line with which some tools
    tell Excel the delimiter."""
    text = line.strip()
    return not text or text.startswith("#") or text.lower() == "sep=,"


def not_utf8(path: Path, is_csv: bool = True) -> InputError:
    """The error for a file that is not UTF-8, on the line of its first byte that is not (the
    file read again from its start: only once loading has failed). For a CSV file whose bad
    byte is in its first 64 MiB, the column too: the records before it are parsed to find it."""
    line, before, data = 1, bytearray(), b""
    with open(path, "rb") as file:
        while True:
            chunk = file.read(1 << 20)
            data += chunk  # with the few bytes of a character the last chunk's end cut
            try:
                data.decode("utf-8")
                good, bad = len(data), None
            except UnicodeDecodeError as error:
                good = error.start
                cut = chunk and error.reason == "unexpected end of data"
                bad = None if cut else data[good]
            line += data.count(b"\n", 0, good)
            if len(before) < _CELLS_PARSED:
                before += data[:good]
            if bad is not None or not chunk:
                break
            data = data[good:]
    advice = SAVE_AS_UTF8 if is_csv else "save it as UTF-8"
    if bad is None:
        return InputError(path, f"not a UTF-8 text file: {advice}")
    column = _cell_at_end(bytes(before)) if is_csv and len(before) < _CELLS_PARSED else None
    return InputError(
        path,
        f"byte 0x{bad:02X} is not UTF-8 text (saved as Windows-1252 or Latin-1?): {advice}",
        line=line,
        column=column,
    )


_CELLS_PARSED = 64 << 20


def _cell_at_end(before: bytes) -> str | None:
    """The header's name for the cell in which the CSV text `before` ends; None in the header
    or past its columns."""
    text = before.decode("utf-8-sig")
    if text.endswith(("\n", "\r")):
        text += "x"  # the first cell of the next record
    lines = io.StringIO(text, newline="")
    for first in lines:  # the header
        if not is_preamble(first):
            break
    else:
        return None
    header = next(csv.reader([first]), [])
    rest = lines.read()
    for ending in ("", '"'):  # the text may end inside a quoted cell
        try:
            last = deque(csv.reader(io.StringIO(rest + ending, newline="")), maxlen=1)
        except csv.Error:
            continue
        if last and 0 < len(last[0]) <= len(header):
            return header[len(last[0]) - 1]
        return None
    return None
