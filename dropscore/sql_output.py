"""How `dropscore sql` prints a result: an aligned table for people, CSV or JSON for programs."""

from __future__ import annotations

import base64
import datetime
import decimal
import json
import math
import unicodedata
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dropscore.controls import escape_controls
from dropscore.safe_csv import csv_text
from dropscore.sql import unique_names

if TYPE_CHECKING:  # pandas takes a quarter second to import: only when a frame is asked for
    import pandas

FORMATS = ("table", "csv", "json")


def render(
    columns: Sequence[str], rows: Sequence[Sequence], output_format: str, *, terminal: bool = False
) -> str:
    """`terminal`: the text goes to a terminal, so CSV values are made safe to show there (a
    table always is, JSON escapes them itself); written to a file they are left as they are."""
    if output_format == "csv":
        shown = escape_controls if terminal else str
        return csv_text(
            [shown(str(column)) for column in columns],
            ([_csv_value(value, shown) for value in row] for row in rows),
        )
    if output_format == "json":
        names = unique_names(list(columns))  # an object holds a key once
        records = [dict(zip(names, map(_finite, row), strict=True)) for row in rows]
        return json.dumps(records, indent=2, default=_json_value, allow_nan=False) + "\n"
    return table(columns, rows)


def table(columns: Sequence[str], rows: Sequence[Sequence]) -> str:
    """Columns padded to their widest cell, numbers right-aligned, NULL spelled out."""
    header = [escape_controls(str(column)) for column in columns]
    cells = [[_table_value(value) for value in row] for row in rows]
    widths = [
        max([_width(header[index])] + [_width(row[index]) for row in cells])
        for index in range(len(header))
    ]
    numeric = [
        bool(rows) and all(_is_number(row[index]) or row[index] is None for row in rows)
        for index in range(len(header))
    ]

    def line(values: list[str]) -> str:
        padded = [
            _pad(value, width, right=is_numeric)
            for value, width, is_numeric in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(padded).rstrip()

    lines = [line(header), line(["-" * width for width in widths])]
    lines.extend(line(row) for row in cells)
    return "\n".join(lines) + "\n"


def schema_listing(described: pandas.DataFrame) -> str:
    """`dropscore sql --schema` as text: each table with its description, then its columns."""
    lines: list[str] = []
    for (schema_name, table_name), columns in described.groupby(
        ["table_schema", "table_name"], sort=False
    ):
        relation = columns[columns["column_name"] == ""]
        description = _one_line(relation["description"].iloc[0]) if len(relation) else ""
        title = f"{schema_name}.{table_name}"
        lines.append(escape_controls(f"{title}  {description}".rstrip()))
        own = columns[columns["column_name"] != ""]
        name_width = max((_width(name) for name in own["column_name"]), default=0)
        type_width = max((_width(kind) for kind in own["data_type"]), default=0)
        for name, kind, text in own[["column_name", "data_type", "description"]].itertuples(
            index=False
        ):
            row = f"    {_pad(name, name_width)}  {_pad(kind, type_width)}  {_one_line(text)}"
            lines.append(escape_controls(row.rstrip()))
        lines.append("")
    return "\n".join(lines)


def _one_line(text: str) -> str:
    """dbt keeps a description's line breaks; a listing reads better with them joined."""
    return " ".join(text.split())


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool)


def _table_value(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape_controls(str(value))


def _csv_value(value: object, shown) -> object:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, str):
        return shown(value)
    return value


def _finite(value: object) -> object:
    """JSON has no NaN or infinity: they are written as the strings "NaN", "Infinity" and
    "-Infinity", in lists and structs too."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    if isinstance(value, dict):  # a MAP's keys may be any type; JSON's are strings
        return {_json_key(key): _finite(item) for key, item in value.items()}
    return value


def _json_key(key: object) -> object:
    if isinstance(key, str | int | bool) or key is None:
        return key  # json writes these itself
    key = _finite(key)
    return key if isinstance(key, str | float) else _json_value(key)


def _json_value(value: object) -> object:
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)


def _width(text: str) -> int:
    """Columns a string takes in a terminal: East Asian wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _pad(text: str, width: int, *, right: bool = False) -> str:
    padding = " " * (width - _width(text))
    return padding + text if right else text + padding
