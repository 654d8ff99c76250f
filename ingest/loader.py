"""Load export files into the raw schema: one file, one transaction, all or nothing.

Every file is read with DuckDB's CSV reader as text, checked column by column against its
format (so an error names the first bad line and column), cast, and appended to its raw table
with its provenance. The raw tables keep every version of a record; staging keeps the newest.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ingest.errors import InputError
from ingest.formats import FORMATS, Column, Format

SQL_TYPES = {
    "text": "varchar",
    "choice": "varchar",
    "currency": "varchar",
    "timestamp": "timestamptz",
    "count": "integer",
    "days": "integer",
    "money": "decimal(18, 2)",
}

# What each kind of column must hold: a SQL test on the text value `v` and the words for it.
CHECKS = {
    "timestamp": (
        "try_cast(v as timestamptz) is not null",
        "an ISO 8601 timestamp such as 2026-01-31T09:30:00Z",
    ),
    "count": ("try_cast(v as integer) >= 1", "a whole number of at least 1"),
    "days": ("try_cast(v as integer) >= 0", "a whole number of days, 0 or more"),
    "money": ("try_cast(v as decimal(18, 2)) >= 0", "an amount such as 12.50"),
    "currency": ("regexp_full_match(v, '[A-Za-z]{3}')", "a 3-letter ISO 4217 code such as USD"),
}

SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True)
class LoadResult:
    path: Path
    format: str
    outcome: str  # loaded | unchanged
    rows: int
    load_id: int | None


def normalise_header(name: str) -> str:
    """`Financial Status`, ` financial-status`, `\ufeffFinancial status` -> financial_status."""
    name = name.replace("\ufeff", "").strip().lower()
    return re.sub(r"[^0-9a-z]+", "_", name).strip("_")


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists raw")
    con.execute(
        """
        create table if not exists raw.loads (
            load_id integer primary key,
            file_name varchar not null,
            file_path varchar not null,
            checksum varchar not null,
            format varchar,
            outcome varchar not null,
            rows_loaded bigint not null,
            rows_rejected bigint not null,
            message varchar,
            loaded_at timestamptz not null
        )
        """
    )
    con.execute(
        """
        create table if not exists raw.rejects (
            load_id integer not null,
            source_line bigint not null,
            column_name varchar,
            reason varchar not null
        )
        """
    )
    for fmt in FORMATS.values():
        columns = ",\n".join(f"{c.name} {SQL_TYPES[c.kind]}" for c in fmt.columns)
        con.execute(
            f"""
            create table if not exists raw.{fmt.table} (
                {columns},
                load_id integer not null,
                source_line bigint not null
            )
            """
        )


def file_checksum(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Header:
    columns: list[str]  # normalised names, in file order
    skip: int  # comment lines before the header


def read_header(path: Path) -> Header:
    """The first non-comment line of a text file, with the names normalised."""
    with open(path, "rb") as file:
        sample = file.read(SNIFF_BYTES)
    if not sample.strip():
        raise InputError(path, "the file is empty")
    if b"\x00" in sample:
        raise InputError(path, "not a text file (it contains binary data)")
    text = sample.decode("utf-8", errors="ignore" if len(sample) == SNIFF_BYTES else "strict")
    lines = text.lstrip("\ufeff").splitlines()
    skip = 0
    while skip < len(lines) and lines[skip].lstrip().startswith("#"):
        skip += 1
    if skip == len(lines):
        raise InputError(path, "the file has no header line")
    return Header([normalise_header(name) for name in lines[skip].split(",")], skip)


def detect_format(path: Path) -> Format:
    try:
        header = read_header(path)
    except UnicodeDecodeError:
        raise InputError(path, "not a UTF-8 text file") from None
    for fmt in FORMATS.values():
        if fmt.required <= set(header.columns):
            return fmt
    expected = "; ".join(
        f"{fmt.name} (columns {', '.join(sorted(fmt.required))})" for fmt in FORMATS.values()
    )
    raise InputError(path, f"unrecognised format: expected one of {expected}", line=header.skip + 1)


def _read_as_text(con: duckdb.DuckDBPyConnection, path: Path, header: Header) -> None:
    """Fill the temp table `incoming` with the file's cells as text, in file order."""
    columns = {name or f"column_{i}": "varchar" for i, name in enumerate(header.columns)}
    if len(columns) != len(header.columns):
        raise InputError(path, "the header names a column twice", line=header.skip + 1)
    try:
        con.execute(
            """
            create or replace temp table incoming as
            select ordinality as __record, * from read_csv(
                ?, header = true, skip = ?, columns = ?, auto_detect = false,
                delim = ',', quote = '"', escape = '"', strict_mode = true, null_padding = false
            ) with ordinality
            """,
            [str(path), header.skip, columns],
        )
    except (duckdb.InvalidInputException, duckdb.ConversionException) as error:
        raise _csv_error(path, str(error)) from None


def _csv_error(path: Path, message: str) -> InputError:
    line = re.search(r"CSV Error on Line: (\d+)", message)
    counts = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", message)
    if counts:
        what = f"expected {counts[1]} columns, found {counts[2]}"
    elif "unterminated quote" in message:
        what = "a quoted value is never closed (is the file cut short?)"
    elif "unicode" in message.lower():
        what = "not a UTF-8 text file"
    else:
        what = "not a well-formed CSV file"
    return InputError(path, what, line=int(line[1]) if line else None)


def _check_cells(con, path: Path, fmt: Format, present: set[str], header_line: int) -> None:
    """Raise on the first line whose cell breaks its column's rule, in file order."""
    for column in fmt.columns:
        if column.name not in present:
            continue
        problems = []
        if column.required:
            problems.append(("v is null or trim(v) = ''", "a value (the column is required)"))
        rule = CHECKS.get(column.kind)
        if column.kind == "choice":
            allowed = ", ".join(column.choices)
            listed = ", ".join(f"'{choice}'" for choice in column.choices)
            rule = (f"lower(trim(v)) in ({listed})", f"one of {allowed}")
        if rule:
            test, words = rule
            failing = f"v is not null and trim(v) <> '' and not coalesce({test}, false)"
            problems.append((failing, words))
        for failing, expected in problems:
            row = con.execute(
                f"""
                select __record, v from (select __record, "{column.name}" as v from incoming)
                where {failing} order by __record limit 1
                """
            ).fetchall()
            if row:
                record, value = row[0]
                got = "an empty cell" if value is None or not value.strip() else repr(value)
                raise InputError(
                    path,
                    f"expected {expected}, got {got}",
                    line=header_line + record,
                    column=column.name,
                )


def _cast(column: Column) -> str:
    value = f"nullif(trim(\"{column.name}\"), '')"
    if column.kind in ("choice", "currency"):
        value = f"{'upper' if column.kind == 'currency' else 'lower'}({value})"
    return f"cast({value} as {SQL_TYPES[column.kind]}) as {column.name}"


def _insert(con, fmt: Format, present: set[str], load_id: int, header_line: int) -> int:
    selected = [
        _cast(column) if column.name in present else f"null as {column.name}"
        for column in fmt.columns
        if column.name != "exported_at"
    ]
    # Without an export time, a file is dated by the newest event in it, so the newest export
    # of a record wins whatever the order files are loaded in.
    inferred = ", ".join(
        f'max(try_cast("{name}" as timestamptz))' for name in fmt.newest_by if name in present
    )
    inferred_at = f"(select greatest({inferred}) from incoming)"
    exported_at = (
        f"coalesce(try_cast(nullif(trim(exported_at), '') as timestamptz), {inferred_at})"
        if "exported_at" in present
        else inferred_at
    )
    con.execute(
        f"""
        insert into raw.{fmt.table} by name
        select
            {", ".join(selected)},
            {exported_at} as exported_at,
            {load_id} as load_id,
            __record + {header_line} as source_line
        from incoming
        """
    )
    return con.execute("select count(*) from incoming").fetchall()[0][0]


def load_file(con: duckdb.DuckDBPyConnection, path: Path, fmt: Format | None = None) -> LoadResult:
    """Load one file in one transaction; a file already loaded is left as it is."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    checksum = file_checksum(path)
    previous = con.execute(
        "select format from raw.loads where checksum = ? and outcome = 'loaded' limit 1", [checksum]
    ).fetchall()
    if previous:
        return LoadResult(path, previous[0][0], "unchanged", 0, None)
    fmt = fmt or detect_format(path)
    header = read_header(path)
    missing = sorted(fmt.required - set(header.columns))
    if missing:
        raise InputError(
            path,
            f"missing required column(s) {', '.join(missing)} for format {fmt.name}",
            line=header.skip + 1,
        )
    present = {column.name for column in fmt.columns} & set(header.columns)
    header_line = header.skip + 1
    con.execute("begin transaction")
    try:
        _read_as_text(con, path, header)
        _check_cells(con, path, fmt, present, header_line)
        load_id = con.execute("select coalesce(max(load_id), 0) + 1 from raw.loads").fetchall()
        load_id = load_id[0][0]
        rows = _insert(con, fmt, present, load_id, header_line)
        con.execute(
            "insert into raw.loads values (?, ?, ?, ?, ?, 'loaded', ?, 0, null, now())",
            [load_id, path.name, str(path.resolve()), checksum, fmt.name, rows],
        )
        con.execute("drop table incoming")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return LoadResult(path, fmt.name, "loaded", rows, load_id)


def load_files(
    con: duckdb.DuckDBPyConnection,
    paths: Iterable[Path],
    fmt: Format | None = None,
    on_loaded: Callable[[LoadResult], None] | None = None,
) -> list[LoadResult]:
    """Load files in order; the first bad file stops the load and is recorded as failed."""
    con.execute("set TimeZone = 'UTC'")  # a timestamp without an offset is UTC
    ensure_raw_schema(con)
    results = []
    for path in paths:
        try:
            result = load_file(con, Path(path), fmt)
        except InputError as error:
            _record_failure(con, Path(path), fmt, error)
            raise
        results.append(result)
        if on_loaded:
            on_loaded(result)
    return results


def _record_failure(con, path: Path, fmt: Format | None, error: InputError) -> None:
    checksum = file_checksum(path) if path.is_file() else ""
    con.execute(
        """
        insert into raw.loads
        select coalesce(max(load_id), 0) + 1, ?, ?, ?, ?, 'failed', 0, 0, ?, now() from raw.loads
        """,
        [path.name, str(path.resolve()), checksum, fmt.name if fmt else None, str(error)],
    )
