"""JSON files as exporters and API dumps write them: an array, JSON lines, or one object.

Each top-level value (each element when the file is one array) comes with the line it starts
on, so an error names a line as it does for a CSV file. The file is read whole: API dumps and
exporter files are small; large histories come as CSV.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from ingest.errors import InputError
from ingest.text import not_utf8


class _Number(str):
    """A JSON number with a fraction or an exponent, kept as the file writes it: read as a
    float, a spreadsheet's rounded id (3.06909E+15) would become digits the id rules accept."""


_DECODER = json.JSONDecoder(parse_float=_Number)
_SPACE = " \t\r\n"
# An escaped UTF-16 surrogate: valid JSON, but text only in pairs (an emoji cut in two is not).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in _SPACE:
        position += 1
    return position


def read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise not_utf8(path, is_csv=False) from None


def json_values(path: Path, text: str | None = None) -> Iterator[tuple[int, object]]:
    """Yield (line, value) for each top-level value; array elements are values."""
    text = read_text(path) if text is None else text
    lines = _LineCounter(text)
    surrogates = _SURROGATE_ESCAPE.search(text) is not None
    position = _skip_space(text, 0)
    in_array = position < len(text) and text[position] == "["
    if in_array:
        position = _skip_space(text, position + 1)
        if position < len(text) and text[position] == "]":
            return
    while position < len(text):
        value, end = _decode(path, text, position, lines)
        if surrogates:
            _check_text(path, value, lines.line(position))
        yield lines.line(position), value
        position = _skip_space(text, end)
        if in_array:
            if position >= len(text):
                raise _cut_short(path, lines.line(position))
            if text[position] == "]":
                position = _skip_space(text, position + 1)
                if position < len(text):
                    raise InputError(
                        path, "not valid JSON: text after the array", line=lines.line(position)
                    )
                return
            if text[position] != ",":
                raise InputError(
                    path,
                    "not valid JSON: expected ',' or ']' between array elements",
                    line=lines.line(position),
                )
            position = _skip_space(text, position + 1)
        elif position < len(text) and text[position] == ",":
            position = _skip_space(text, position + 1)  # values separated by commas, unwrapped


def _decode(path: Path, text: str, position: int, lines: _LineCounter) -> tuple[object, int]:
    try:
        return _DECODER.raw_decode(text, position)
    except json.JSONDecodeError as error:
        if error.pos >= len(text.rstrip()) or "Unterminated string" in error.msg:
            raise _cut_short(path, lines.line(min(error.pos, len(text)))) from None
        raise InputError(path, f"not valid JSON: {error.msg}", line=error.lineno) from None
    except RecursionError:
        raise InputError(
            path, "not valid JSON: nested too deeply", line=lines.line(position)
        ) from None
    except ValueError:  # a whole number longer than Python converts (4,300 digits)
        raise InputError(
            path, "not valid JSON: a number too long to read", line=lines.line(position)
        ) from None


def _check_text(path: Path, value: object, line: int) -> None:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(
            path,
            "a text holds half of a UTF-16 surrogate pair (\\ud800-\\udfff alone), which is "
            "not a character",
            line=line,
        ) from None


def _cut_short(path: Path, line: int) -> InputError:
    return InputError(
        path, "the JSON ends before its value does (is the file cut short?)", line=line
    )


class _LineCounter:
    """Line numbers of increasing positions in a text, counted once."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.position = 0
        self.count = 1

    def line(self, position: int) -> int:
        if position < self.position:  # only errors look back; count afresh
            return self.text.count("\n", 0, position) + 1
        self.count += self.text.count("\n", self.position, position)
        self.position = position
        return self.count


def listed(value: object) -> list:
    """A list however it was wrapped: `[...]`, `{"aeop_x": [...]}`, `{"aeop_x": {...}}`, `{...}`.

    APIs that convert XML to JSON write a one-element list as the element itself.
    """
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict) and len(value) == 1:
        (inner,) = value.values()
        if isinstance(inner, list | dict):
            return listed(inner)
    return [value]


def cell(value: object) -> str | None:
    """A JSON scalar as the text a CSV cell would hold."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
