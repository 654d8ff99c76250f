"""Empty CSV templates for the files users fill in by hand (`dropscore template`).

The first line is a `#` comment explaining every column (the loader skips leading `#` lines),
the second the header; a template loads as it is, with no rows.
"""

from __future__ import annotations

import csv
import io

from ingest.spec import Format

KIND_WORDS = {
    "timestamp": "date and time, ISO 8601 such as 2026-01-31T09:30:00Z",
    "count": "whole number >= 1",
    "days": "whole number of days",
    "money": "plain decimal such as 12.50",
    "currency": "ISO 4217 code such as USD",
    "digits": "digits",
}


def _explained(column) -> str:
    words = [column.meaning or column.name]
    if column.kind == "choice":
        words.append("one of " + "/".join(column.choices))
    elif column.kind in KIND_WORDS:
        words.append(KIND_WORDS[column.kind])
    required = "required" if column.required else "optional"
    return f"{column.name} ({required}): {', '.join(words)}"


def template_text(fmt: Format) -> str:
    comment = f"# {fmt.name} template. " + "; ".join(_explained(c) for c in fmt.columns) + "."
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(column.name for column in fmt.columns)
    return comment.replace("\n", " ") + "\n" + header.getvalue()
