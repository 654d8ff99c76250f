"""Load export files into the raw schema: one file, one transaction, all or nothing.

A file's cells are read into a temp table, `incoming_cells`: a CSV file by DuckDB's CSV reader,
reading only the columns its format uses, a JSON file by its format's reader. `incoming_records`
adds the file line each record came from; rows that are not records of the format go to
raw.rejects with their reason, and `incoming` is the records left. Every cell is checked against
its column's kind (so an error names the first bad line and column), cast, and appended to the
format's raw tables with its provenance. The raw tables keep every version of a record; staging
keeps the newest.

A CSV file is first read with its timestamps, counts and amounts typed by the reader (spec's
READ_TYPED), which halves the time a large file takes. A file the typed read refuses, or whose
typed cells break a rule, is read again as text: that read names the bad cell.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import re
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from ingest.errors import InputError
from ingest.formats import FORMATS, Format
from ingest.jsonfile import json_values
from ingest.spec import READ_SQL_TYPES, READ_TYPED, Cells, rules
from ingest.text import INVALID_UNICODE, SAVE_AS_UTF8, is_preamble, named_separator, not_utf8

if TYPE_CHECKING:
    import pyarrow as pa

SNIFF_BYTES = 64 * 1024
LARGE_FILE_BYTES = 16 * 1024 * 1024  # above this a load reports its progress
# A file of up to this many lines is appended in file order, as one stream in whole row groups.
# Unordered, the two threads leave partial ones, which DuckDB's checkpoint merges with their
# neighbours and compresses again when the build file closes: a weekly export of 456,948 lines
# into ten million loaded in 3.3-4.7 s in order, 5.6-6.4 s without (closing the file 1.2-1.3 s
# -> 0.07 s). A larger file, a first load of years, goes unsorted: in order, 10M lines took
# 15 s longer to append. The incremental tables append their rebuilt rows by the same rule
# (macros/incremental.sql).
ORDERED_APPEND_LINES = 1_000_000
SPREADSHEET_ROWS = 1_048_576  # Excel's and LibreOffice's most rows, the header's included
JSON_BATCH_ROWS = 10_000

Progress = Callable[[str], None]


@dataclass(frozen=True)
class LoadResult:
    path: Path
    format: str
    outcome: str  # loaded | unchanged
    rows: int
    load_id: int | None
    rejected: int = 0
    read: str = ""  # typed | text: how its cells were read (loaded files)


class _TextNeeded(Exception):
    """The typed read refused a cell, or a typed cell broke a rule: read the file as text."""


def normalise_header(name: str) -> str:
    """`Financial Status`, ` financial-status`, `\ufeffFinancial status` -> financial_status."""
    name = name.replace("\ufeff", "").strip().lower()
    return re.sub(r"[^0-9a-z]+", "_", name).strip("_")


def raw_tables() -> dict[str, tuple[tuple[str, str], ...]]:
    """Every raw table a format fills, with its columns (several formats may share one)."""
    tables: dict[str, tuple[tuple[str, str], ...]] = {}
    for fmt in FORMATS.values():
        for table in fmt.tables:
            tables.setdefault(table.name, table.columns)
    return tables


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
    for name, columns in raw_tables().items():
        listed = ",\n".join(f"{column} {sql_type}" for column, sql_type in columns)
        con.execute(
            f"""
            create table if not exists raw.{name} (
                {listed},
                exported_at timestamptz,
                load_id integer not null,
                source_line bigint not null
            )
            """
        )


def file_checksum(path: Path) -> str:
    return _scan(path).checksum


@dataclass(frozen=True)
class _Scanned:
    checksum: str  # SHA-256
    lines: int  # up to the last that holds anything, as an editor counts them
    comma_ended: bool  # whether a line ends with an empty cell (see _check_cells_per_line)


# A line break after a comma (or after `,""`, an empty quoted cell), found by its line break:
# the search then skips from one line break to the next (3.1 GB of exports with none: the scan
# took 6.0-7.9 s instead of 4.1-4.3 s; starting from the comma, which nearly every cell ends
# with, is twice as slow). Lines broken by a carriage return alone are not one record a line:
# _record_lines counts their cells.
COMMA_ENDED_LINE = re.compile(rb'\n(?:(?<=,\n)|(?<=,\r\n)|(?<=,""\n)|(?<=,""\r\n))')


def _scan(path: Path) -> _Scanned:
    """The file's checksum, lines and whether one ends with a comma, in one read."""
    digest, breaks, tail, comma_ended = hashlib.sha256(), 0, b"", False
    with open(path, "rb") as file:
        # Large reads: hashing runs without Python's lock, and each return to Python may wait
        # for the dbt import a run does meanwhile (3.2 GB: 2.7-2.8 s with 1 MiB reads, 2.3-2.4 s
        # with 16 MiB; 1.9-2.0 s either way alone).
        while chunk := file.read(16 << 20):
            digest.update(chunk)
            breaks += chunk.count(b"\n")
            # the chunk's first line break with what came before it
            comma_ended = comma_ended or bool(COMMA_ENDED_LINE.search(tail[-4:] + chunk))
            tail = (tail + chunk[-4096:])[-4096:]
    content = tail.rstrip(b"\r\n")
    ending = tail[len(content) :].count(b"\n")  # blank lines hold no record
    # a last line without a line break
    comma_ended = comma_ended or content.endswith((b",", b',""'))
    return _Scanned(digest.hexdigest(), breaks - ending + (content != b""), comma_ended)


@dataclass(frozen=True)
class Header:
    columns: list[str]  # normalised names, in file order
    skip: int  # the lines before the header (`is_preamble`)
    names: tuple[str, ...] = ()  # the names as the file writes them

    def label(self, column: str) -> str:
        return dict(zip(self.columns, self.names, strict=True)).get(column, column)


@dataclass(frozen=True)
class Sniffed:
    shape: str  # csv | json
    header: Header | None = None


def _sample_text(path: Path) -> str:
    with open(path, "rb") as file:
        sample = file.read(SNIFF_BYTES)
    if not sample.strip():
        raise InputError(path, "the file is empty")
    if utf16 := _utf16(sample):
        is_csv = not _starts_json(sample.decode(utf16, errors="ignore"))
        raise InputError(
            path, f"UTF-16 text, not UTF-8: {SAVE_AS_UTF8 if is_csv else 'save it as UTF-8'}"
        )
    if b"\x00" in sample:
        raise InputError(path, "not a text file (it contains binary data)")
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as error:
        # Past a CSV file's header, only the cells a format reads must be UTF-8 (DuckDB checks
        # them as it reads them): the others, such as the names dropped unread, may not be.
        text = sample.decode("utf-8", errors="replace")
        is_json = _starts_json(text)
        cut_by_sample = error.reason == "unexpected end of data" and len(sample) == SNIFF_BYTES
        if not cut_by_sample and (
            is_json or not _header_ends_in(sample[: error.start].decode().lstrip("\ufeff"))
        ):
            raise not_utf8(path, is_csv=not is_json) from None
    return text.lstrip("\ufeff")


def _utf16(sample: bytes) -> str | None:
    """The codec of a sample that is UTF-16 text: by its byte order mark, else by its ASCII
    characters' zero bytes."""
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    half = len(sample) // 2
    for codec, zeros, text in (
        ("utf-16-le", sample[1::2], sample[::2]),
        ("utf-16-be", sample[::2], sample[1::2]),
    ):
        if half >= 2 and zeros.count(0) >= 0.9 * half and text.count(0) < 0.5 * half:
            return codec
    return None


def _starts_json(text: str) -> bool:
    """A JSON file starts with `[` or `{`; anything else is read as CSV."""
    return text.lstrip("\ufeff").lstrip()[:1] in ("[", "{")


def _header_ends_in(text: str) -> bool:
    """Whether the CSV text holds its header line whole."""
    for line in text.splitlines(keepends=True):
        if not is_preamble(line):
            return line.endswith(("\n", "\r"))
    return False


def sniff(path: Path) -> Sniffed:
    """A JSON file or a CSV file, by how it starts (`_starts_json`)."""
    text = _sample_text(path)
    if _starts_json(text):
        return Sniffed("json")
    return Sniffed("csv", _header(path, text))


def read_header(path: Path) -> Header:
    """The first non-comment line of a text file, with the names normalised."""
    return _header(path, _sample_text(path))


def _header(path: Path, text: str) -> Header:
    lines = text.splitlines()
    skip = 0
    while skip < len(lines) and is_preamble(lines[skip]):
        skip += 1
    if skip == len(lines):
        raise InputError(path, "the file has no header line")
    separator = named_separator(lines[skip])
    if separator is not None:  # not a comma: that line would be passed over
        raise InputError(
            path,
            f"its cells are separated by {separator!r}: save it with commas"
            if separator
            else "its sep= line names no separator: delete that line",
            line=skip + 1,
        )
    names = tuple(next(csv.reader([lines[skip]])))
    # Excel saves "CSV" with semicolons where the decimal mark is a comma, without a sep= line:
    # the header is then one cell that holds every name.
    if len(names) == 1:
        separator = next((s for s in (";", "\t", "|") if s in names[0]), None)
        if separator is not None:
            raise InputError(
                path,
                f"its cells are separated by {separator!r}: save it with commas",
                line=skip + 1,
            )
    return Header([normalise_header(name) for name in names], skip, names)


def _expected(formats: Iterable[Format]) -> str:
    described = []
    for fmt in formats:
        if fmt.shape == "json":
            described.append(f"{fmt.name} ({fmt.expects})")
        else:
            described.append(f"{fmt.name} (columns {', '.join(sorted(fmt.required))})")
    return "; ".join(described)


def detect_format(path: Path, sniffed: Sniffed | None = None) -> Format:
    """The format a file's header (CSV) or first value (JSON) says it is."""
    sniffed = sniffed or sniff(path)
    candidates = [fmt for fmt in FORMATS.values() if fmt.shape == sniffed.shape]
    if sniffed.shape == "json":
        first = next(json_values(path), None)
        if first is None:
            raise InputError(path, "the file is empty (an empty JSON array)")
        for fmt in candidates:
            if fmt.looks_like and fmt.looks_like(first[1]):
                return fmt
        raise InputError(
            path, f"unrecognised format: expected one of {_expected(candidates)}", line=first[0]
        )
    header = sniffed.header
    columns = set(header.columns)
    matching = [fmt for fmt in candidates if fmt.required <= columns]

    def found(fmt: Format) -> int:
        return len(fmt.required & columns)

    def missing(fmt: Format) -> set[str]:
        return fmt.required - columns

    # A header with most of a format's columns is that format with a column misnamed or missing.
    nearly = [
        fmt
        for fmt in candidates
        if fmt not in matching and found(fmt) >= 2 and found(fmt) * 2 >= len(fmt.required)
    ]
    if matching:
        # The most specific format wins: a dropscore-orders file also holds order-links columns,
        # unless it holds more of another's but for a column or two: that one with a column
        # misnamed or missing, whose other columns would be left out.
        best = max(matching, key=lambda fmt: len(fmt.required))
        nearly = [
            fmt for fmt in nearly if found(fmt) > len(best.required) and len(missing(fmt)) <= 2
        ]
        if not nearly:
            return best
    closest = min(nearly, key=lambda fmt: (len(missing(fmt)), -found(fmt)), default=None)
    lacking = ", ".join(sorted(missing(closest))) if closest else ""
    if matching:
        raise InputError(
            path,
            f"looks like {closest.name} but is missing column(s) {lacking}; if it is "
            f"{best.name}, load it with --format {best.name}",
            line=header.skip + 1,
        )
    hint = f"closest is {closest.name}, missing column(s) {lacking}; " if closest else ""
    raise InputError(
        path,
        f"unrecognised format: {hint}expected one of {_expected(candidates)}",
        line=header.skip + 1,
    )


@contextmanager
def _reporting(con: duckdb.DuckDBPyConnection, report: Progress | None, stage: str) -> Iterator:
    """Report a long query's progress (DuckDB's own estimate) every half second or so."""
    if report is None:
        yield
        return
    report(stage)
    stop = threading.Event()

    def poll() -> None:
        last = -1.0
        while not stop.wait(0.5):
            done = con.query_progress()
            if done >= 0 and done - last >= 1:
                report(f"{stage} {done:.0f}%")
                last = done

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _customer_key(fmt: Format, header_columns: set[str], salt: str | None) -> tuple[str, list]:
    """SQL for a salted hash of the first personal cell present; the cells never land."""
    present = [name for name in fmt.customer_key_from if name in header_columns]
    if not present or salt is None:
        return "cast(null as varchar) as customer_key", []
    cleaned = [
        f"nullif(regexp_replace(\"{name}\", '[^0-9+]', '', 'g'), '')"
        if name == "phone"
        else f"nullif(lower(trim(\"{name}\")), '')"
        for name in present
    ]
    value = f"coalesce({', '.join(cleaned)})"
    return f"case when {value} is not null then sha256(? || {value}) end as customer_key", [salt]


@contextmanager
def _read_as_named(path: Path) -> Iterator[Path]:
    """`path` under a name DuckDB reads as that one file.

    DuckDB's readers expand `*`, `?` and `[...]` in the name they are given: `orders[1].csv`
    would read `orders1.csv` instead. Such a name is read through a link of a plain name.
    """
    if not set(str(path)) & set("*?[]{}"):
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="dropscore-") as folder:
        link = Path(folder) / "export.csv"
        link.symlink_to(path.resolve())
        yield link


def _read_csv(loading: _Loading, header: Header, cells: Cells, salt, stage: str) -> None:
    """Read the cells the format uses into `incoming_cells`; `incoming_records` adds each
    record's line and the format's derived cells."""
    con, path, fmt = loading.con, loading.path, loading.fmt
    columns = {
        name or f"__unnamed_{i}": (
            READ_SQL_TYPES[fmt.column(name).kind] if name in cells.read_typed else "varchar"
        )
        for i, name in enumerate(header.columns)
    }
    if len(columns) != len(header.columns):
        twice = next(name for name in header.columns if name and header.columns.count(name) > 1)
        raise InputError(
            path, f"the header names column '{header.label(twice)}' twice", line=header.skip + 1
        )
    listed = ", ".join(f'"{name}"' for name in sorted(cells.present))
    key, key_parameters = _customer_key(fmt, set(header.columns), salt)
    try:
        with (
            _reporting(con, loading.report, f"{path.name}: {stage}"),
            _read_as_named(path) as readable,
        ):
            con.execute(
                f"""
                create or replace temp table incoming_cells as
                select {listed}, {key}
                from read_csv(
                    ?, header = true, skip = ?, columns = ?, auto_detect = false,
                    delim = ',', quote = '"', escape = '"', strict_mode = true,
                    null_padding = false
                )
                """,
                [*key_parameters, str(readable), header.skip, columns],
            )
    except (duckdb.InvalidInputException, duckdb.ConversionException) as error:
        if cells.read_typed and INVALID_UNICODE not in str(error):
            raise _TextNeeded from None
        raise _csv_error(path, header, str(error)) from None
    # The table holds the records in file order (DuckDB keeps insertion order) and, made outside
    # a transaction, numbers its rows from 0: when every record is one line, a record's row id
    # gives its line. Reading with a row number would take twice as long. Else (a quoted cell
    # holding a line break, a blank line) the lines are counted apart. Derived cells (a window
    # over the file) are worked out once, into a table; without them a view does.
    ((records,),) = con.execute("select count(*) from incoming_cells").fetchall()
    if header.skip + 1 + records == loading.scanned.lines:
        if loading.scanned.comma_ended:
            _check_cells_per_line(con, path, header)
        numbered = (
            f"select rowid + {header.skip + 2} as __line, rowid as __record, * from incoming_cells"
        )
    else:
        if "starts" not in loading.record_lines:  # kept for the text read after a typed one
            loading.record_lines["starts"] = _record_lines(path, header)
        con.register("incoming_line_starts", loading.record_lines["starts"])
        try:
            con.execute("create or replace temp table incoming_lines as from incoming_line_starts")
        finally:
            con.unregister("incoming_line_starts")
        numbered = (
            "select line as __line, incoming_cells.rowid as __record, * "
            "from incoming_lines positional join incoming_cells"
        )
    derived = "".join(f", {sql} as {name}" for name, sql in fmt.derived)
    con.execute(
        f"""
        create or replace temp {"table" if derived else "view"} incoming_records as
        select *{derived}
        from ({numbered})
        """
    )


def _read_json(loading: _Loading) -> None:
    """Read a JSON format's records, in batches, into `incoming_cells` (with their lines)."""
    import pyarrow as pa  # imported late: CSV files, most of them, never need it (0.1 s)

    con, path, fmt = loading.con, loading.path, loading.fmt
    names = [column.name for column in fmt.columns]
    con.execute(
        "create or replace temp table incoming_cells (__line bigint, "
        + ", ".join(f'"{name}" varchar' for name in names)
        + ")"
    )
    con.execute("create or replace temp view incoming_records as select * from incoming_cells")
    if loading.report:
        loading.report(f"{path.name}: reading")
    batch: list[tuple[int, dict]] = []

    def flush() -> None:
        table = pa.table(
            {
                "__line": pa.array([line for line, _ in batch], pa.int64()),
                **{
                    name: pa.array([record.get(name) for _, record in batch], pa.string())
                    for name in names
                },
            }
        )
        con.register("json_batch", table)
        con.execute("insert into incoming_cells select * from json_batch")
        con.unregister("json_batch")
        batch.clear()

    for record in fmt.json_records(path):
        batch.append(record)
        if len(batch) >= JSON_BATCH_ROWS:
            flush()
    if batch:
        flush()
    if con.execute("select count(*) from incoming_cells").fetchall()[0][0] == 0:
        raise InputError(path, "the file holds no records")


def _check_cells_per_line(con, path: Path, header: Header) -> None:
    """Refuse a record with one cell more than the header, that cell empty.

    DuckDB takes a line that ends with one comma too many (or `,""`) for a trailing delimiter
    and drops the empty cell after it: when the comma too many is inside the line, an
    unquoted one in a cell, every cell after it would land a column off, and the two cannot be
    told apart. In a file of one record a line, the lines that could be one (their last cell
    empty, with as many commas as cells) are read again and their cells counted by Python's
    csv reader, which opens a quote only at a cell's start, as DuckDB does. (Reading the
    lines takes ~1 s a GB: only done when a line ends with a comma.)
    """
    columns = len(header.columns)

    def a_cell_too_many(lines: Iterable[str]) -> bool:
        could_be = (
            line for line in lines if line.endswith((",", '""')) and line.count(",") >= columns
        )
        return any(len(cells) > columns for cells in csv.reader(could_be))

    try:
        with _read_as_named(path) as readable:
            con.execute(
                """
                select text
                from read_csv(
                    ?, columns = {'text': 'varchar'}, header = false, skip = ?,
                    auto_detect = false, delim = ?, quote = '', escape = '', strict_mode = false,
                    null_padding = true
                )
                where (suffix(text, ',') or suffix(text, '""'))
                    and length(text) - length(replace(text, ',', '')) >= ?
                """,
                # NUL never separates cells: each line is one value
                [str(readable), header.skip + 1, "\0", columns],
            )
            batches = iter(lambda: con.fetchmany(10_000), [])
            too_many = a_cell_too_many(text for batch in batches for (text,) in batch)
    except duckdb.InvalidInputException as error:
        if INVALID_UNICODE not in str(error):
            raise
        # A byte that is not UTF-8, in a cell the format does not read (the cells it reads
        # were read): the lines counted by Python instead, that byte replaced.
        with open(path, encoding="utf-8-sig", errors="replace", newline="") as file:
            for _ in range(header.skip + 1):
                file.readline()
            too_many = a_cell_too_many(line.rstrip("\r\n") for line in file)
    if too_many:
        _refuse_a_cell_too_many(path, header, _malformed_line(path, header))


def _refuse_a_cell_too_many(path: Path, header: Header, line: int | None) -> None:
    columns = len(header.columns)
    raise InputError(
        path,
        f"expected {columns} columns, found {columns + 1} (quote a cell that holds a comma; "
        "end no line with one)",
        line=line,
    )


def _record_lines(path: Path, header: Header) -> pa.Table:
    """The line each record after the header starts on, as an editor counts lines (column
    `line`): a quoted cell may hold line breaks, and blank lines hold no record.

    Refuses a record with one empty cell too many, as _check_cells_per_line does for a file of
    one record a line (DuckDB, which read the records first, refuses any other count).
    """
    import numpy as np  # imported late, as in _read_json
    import pyarrow as pa

    def lines() -> Iterator[int]:
        for line, cells in _records(path, header):
            if cells is not None and len(cells) != len(header.columns):
                _refuse_a_cell_too_many(path, header, line)
            yield line

    return pa.table({"line": np.fromiter(lines(), np.int64)})


def _record_line(path: Path, header: Header, number: int) -> int | None:
    """The line on which the record `number` (from 1) starts."""
    for index, (line, _) in enumerate(_records(path, header), 1):
        if index == number:
            return line
    return None


def _malformed_line(path: Path, header: Header) -> int | None:
    """The line of the first record with another number of cells than the header, or with a
    quote never closed; None if there is none."""
    for line, cells in _records(path, header):
        if cells is None or len(cells) != len(header.columns):
            return line
    return None


def _records(path: Path, header: Header) -> Iterator[tuple[int, list[str] | None]]:
    """(line it starts on, cells) for each record after the header; cells None for a record
    whose quote is never closed, the last."""
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as file:
        for _ in range(header.skip):
            file.readline()
        records = csv.reader(file)
        next(records, None)  # the header
        before = header.skip + records.line_num
        try:
            for cells in records:
                if cells:
                    yield before + 1, cells
                before = header.skip + records.line_num
        except csv.Error:
            yield before + 1, None


def _csv_error(path: Path, header: Header, message: str) -> InputError:
    reported = re.search(r"CSV Error on Line: (\d+)", message)
    line = int(reported[1]) if reported else None
    if line and ("Expected Number of Columns" in message or "unterminated quote" in message):
        # DuckDB counts records, not lines: after a quoted line break or a blank line its
        # count falls behind the line an editor shows.
        line = _malformed_line(path, header) or line
    counts = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", message)
    if counts:
        what = f"expected {counts[1]} columns, found {counts[2]}"
    elif "unterminated quote" in message:
        what = "a quoted value is never closed (is the file cut short?)"
    elif INVALID_UNICODE in message:
        return not_utf8(path)
    elif long := re.search(
        r"Maximum line size of (\d+) bytes exceeded. Actual Size:(\d+)", message
    ):
        # DuckDB counts the header and the records before it: where the record starts.
        if line:
            line = _record_line(path, header, line - header.skip - 1) or line
        what = f"a row of {int(long[2]):,} bytes, longer than the {int(long[1]):,} a row may be"
    else:
        what = "not a well-formed CSV file"
    return InputError(path, what, line=line)


def _reject(con, fmt: Format, load_id: int, label: Callable[[str], str]) -> int:
    """Keep the rows that are not records in raw.rejects, each under the first rule it meets.

    `incoming` is then the records left.
    """
    rejected, kept = 0, "true"
    for rule in fmt.rejects:
        column = label(rule.column) if rule.column else None
        rejected += con.execute(
            f"""
            insert into raw.rejects
            select ?, __line, ?, ? from incoming_records where {kept} and ({rule.when})
            """,
            [load_id, column, rule.reason],
        ).fetchall()[0][0]
        kept += f" and not coalesce({rule.when}, false)"
    con.execute(f"create or replace temp view incoming as from incoming_records where {kept}")
    return rejected


def _first_failure(con, column: str, failing: str, where: str):
    rows = con.execute(
        f"""
        select __line, v from (select __line, "{column}" as v from incoming {where})
        where {failing} order by __line limit 1
        """
    ).fetchall()
    return rows[0] if rows else None


def _got(value) -> str:
    if value is None or not str(value).strip():
        return "an empty cell"
    text = str(value)
    # A damaged file can hold a cell of megabytes: the message stays one readable line.
    return repr(text) if len(text) <= 200 else f"{text[:200]!r}... ({len(text):,} characters)"


def _check_cells(con, path: Path, fmt: Format, cells: Cells, label, report) -> None:
    """Raise on the first line whose cell breaks its column's rule, in file order.

    With typed cells, any broken rule asks for the file as text, which names the cell.
    """
    if report:
        report(f"{path.name}: checking")
    # Only a file a spreadsheet can hold can have had its ids rewritten by one: checking the ids
    # of 10M lines cost seconds.
    ((spreadsheet_sized,),) = con.execute(
        f"select count(*) < {SPREADSHEET_ROWS} from incoming_cells"
    ).fetchall()
    checks = [
        (column, failing, expected)
        for column in fmt.columns
        if column.name in cells.present and (column.kind != "id" or spreadsheet_sized)
        for failing, expected in rules(column, column.name in cells.read_typed)
    ]
    # One scan tells which rules any cell breaks (each rule a macro of the cell `v`);
    # only a broken rule is scanned again, for its first line.
    for number, (_, failing, _) in enumerate(checks):
        con.execute(f"create or replace temp macro __breaks_{number}(v) as ({failing})")
    broken = (
        con.execute(
            "select "
            + ", ".join(
                f'coalesce(bool_or(__breaks_{number}("{column.name}")'
                + (f" and ({column.where})" if column.where else "")
                + "), false)"
                for number, (column, _, _) in enumerate(checks)
            )
            + " from incoming"
        ).fetchall()[0]
        if checks
        else ()
    )
    for (column, failing, expected), is_broken in zip(checks, broken, strict=True):
        if not is_broken:
            continue
        if cells.read_typed:
            raise _TextNeeded
        where = f"where {column.where}" if column.where else ""
        line, value = _first_failure(con, column.name, failing, where)
        raise InputError(
            path,
            f"expected {expected}",
            line=line,
            column=label(column.name),
            got=_got(value),
        )
    row_rules = fmt.row_rules(cells) if fmt.row_rules else ()
    if not row_rules:
        return
    # As for the cells: one scan tells which rules a row breaks, and only those are searched.
    broken = con.execute(
        "select "
        + ", ".join(f"coalesce(bool_or({failing}), false)" for failing, _, _ in row_rules)
        + " from incoming"
    ).fetchall()[0]
    for (failing, column, expected), is_broken in zip(row_rules, broken, strict=True):
        if not is_broken:
            continue
        if cells.read_typed:
            raise _TextNeeded
        cell = f'"{column}"' if column in cells.present else "cast(null as varchar)"
        ((line, value),) = con.execute(
            f"select __line, {cell} from incoming where {failing} order by __line limit 1"
        ).fetchall()
        raise InputError(
            path, f"expected {expected}", line=line, column=label(column), got=_got(value)
        )


def _exported_at(fmt: Format, cells: Cells) -> str:
    # Without an export time, a file is dated by the newest event in it, so the newest export
    # of a record wins whatever the order files are loaded in. Only cells whose rules apply
    # count: a Shopify order's dates on its other rows are never checked, nor read.
    newest = [
        f"max({cells.value(name)})"
        + (f" filter (where {fmt.column(name).where})" if fmt.column(name).where else "")
        for name in fmt.newest_by
        if cells.has(name)
    ]
    inferred = f"(select greatest({', '.join(newest)}) from incoming)" if newest else "null"
    if cells.has("exported_at"):
        return f"coalesce({cells.value('exported_at')}, {inferred})"
    return inferred


def _insert(
    con, fmt: Format, cells: Cells, load_id: int, path: Path, report, in_file_order: bool
) -> int:
    exported_at = _exported_at(fmt, cells)
    with _reporting(con, report, f"{path.name}: loading"):
        for output in fmt.all_outputs:
            selected = output.select(cells)
            listed = ",\n".join(f"{sql} as {name}" for name, sql in selected.items())
            con.execute(
                f"""
                insert into raw.{output.table.name} by name
                select
                    {listed},
                    cast({exported_at} as timestamptz) as exported_at,
                    {load_id} as load_id,
                    __line as source_line
                from incoming
                {f"where {output.where}" if output.where else ""}
                {"order by __line" if in_file_order else ""}
                """
            )
    return con.execute("select count(*) from incoming").fetchall()[0][0]


def load_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    fmt: Format | None = None,
    *,
    salt: str | None = None,
    progress: Progress | None = None,
    read_typed: bool = True,
) -> LoadResult:
    """Load one file in one transaction; a file already loaded is left as it is.

    `salt` keys the hash that stands in for a customer's email or phone (none without it).
    `read_typed=False` reads every cell as text, the reference the typed read must agree with.
    """
    path = Path(path)
    if not _is_file(path):
        raise InputError(path, "a folder, not a file" if path.is_dir() else "no such file")
    scanned = _scan(path)
    previous = con.execute(
        "select format from raw.loads where checksum = ? and outcome = 'loaded' limit 1",
        [scanned.checksum],
    ).fetchall()
    if previous:
        if fmt is not None and fmt.name != previous[0][0]:
            raise InputError(
                path,
                f"already loaded as {previous[0][0]}, and a file loads once: to load it as "
                f"{fmt.name} instead, load your files into a new home",
            )
        return LoadResult(path, previous[0][0], "unchanged", 0, None)
    sniffed = sniff(path)
    fmt = fmt or detect_format(path, sniffed)
    with _reading_as(fmt):
        if fmt.shape != sniffed.shape:
            raise InputError(
                path,
                f"format {fmt.name} is {fmt.shape.upper()}, this file is {sniffed.shape.upper()}",
            )
        if sniffed.shape == "csv":
            _check_header(path, fmt, sniffed.header)
            label = sniffed.header.label
        else:
            labels = {column.name: column.label or column.name for column in fmt.columns}

            def label(name: str) -> str:
                return labels.get(name, name)

        report = progress if progress and path.stat().st_size >= LARGE_FILE_BYTES else None
        loading = _Loading(con, path, fmt, label, scanned, report)
        try:
            if sniffed.shape == "csv":
                read, (load_id, rows, rejected) = _load_csv(
                    loading, sniffed.header, salt, read_typed
                )
            else:
                read = "text"
                _read_json(loading)
                cells = Cells(fmt, {column.name for column in fmt.columns})
                load_id, rows, rejected = _append(loading, cells)
        finally:
            _drop_incoming(con)
    return LoadResult(path, fmt.name, "loaded", rows, load_id, rejected, read)


@contextmanager
def _reading_as(fmt: Format) -> Iterator[None]:
    """A file refused once its format is known names it, for its row in raw.loads."""
    try:
        yield
    except InputError as error:
        error.format = fmt.name
        raise


def _drop_incoming(con) -> None:
    """Drop what a load made (a whole file's cells), whether it loaded or not."""
    made = con.execute(
        """
        select 'view', view_name from duckdb_views() where temporary and view_name like 'incoming%'
        union all
        select 'table', table_name from duckdb_tables()
        where temporary and table_name like 'incoming%'
        order by 1 desc
        """
    ).fetchall()
    for kind, name in made:  # views first, then the tables they read
        con.execute(f"drop {kind} {name}")


@dataclass(frozen=True)
class _Loading:
    """The file being loaded, and what appending its records needs."""

    con: duckdb.DuckDBPyConnection
    path: Path
    fmt: Format
    label: Callable[[str], str]
    scanned: _Scanned
    report: Progress | None
    # the line each record starts on, when they are not one a line (worked out once a load)
    record_lines: dict[str, object] = field(default_factory=dict)


def _load_csv(loading: _Loading, header: Header, salt, read_typed) -> tuple[str, tuple]:
    """Read and append a CSV file's records, typed if it allows: (how it was read, _append's)."""
    fmt = loading.fmt
    present = {column.name for column in fmt.columns} & set(header.columns)
    typed = frozenset(
        name for name in present if read_typed and fmt.column(name).kind in READ_TYPED
    )
    if typed:
        cells = Cells(fmt, present, typed)
        try:
            _read_csv(loading, header, cells, salt, "reading")
            return "typed", _append(loading, cells)
        except _TextNeeded:
            _drop_incoming(loading.con)  # not held beside the text read of the same file
    cells = Cells(fmt, present)
    _read_csv(loading, header, cells, salt, "reading again as text" if typed else "reading")
    return "text", _append(loading, cells)


def _append(loading: _Loading, cells: Cells) -> tuple[int, int, int]:
    """In one transaction: keep the rejects, check the records, append them and record the load.

    Returns (load_id, rows, rejected).
    """
    con, path, fmt, report = loading.con, loading.path, loading.fmt, loading.report
    con.execute("begin transaction")
    try:
        load_id = con.execute("select coalesce(max(load_id), 0) + 1 from raw.loads").fetchall()
        load_id = load_id[0][0]
        rejected = _reject(con, fmt, load_id, loading.label)
        _check_cells(con, path, fmt, cells, loading.label, report)
        in_file_order = loading.scanned.lines <= ORDERED_APPEND_LINES
        rows = _insert(con, fmt, cells, load_id, path, report, in_file_order)
        con.execute(
            "insert into raw.loads values (?, ?, ?, ?, ?, 'loaded', ?, ?, null, now())",
            [
                load_id,
                path.name,
                str(path.resolve()),
                loading.scanned.checksum,
                fmt.name,
                rows,
                rejected,
            ],
        )
        con.execute("commit")
    except BaseException:
        # A commit that failed (a full disk) has already ended the transaction: the error that
        # matters is the commit's, not the rollback's.
        with contextlib.suppress(duckdb.TransactionException):
            con.execute("rollback")
        raise
    return load_id, rows, rejected


def _check_header(path: Path, fmt: Format, header: Header) -> None:
    missing = sorted(fmt.required - set(header.columns))
    if missing:
        raise InputError(
            path,
            f"missing required column(s) {', '.join(missing)} for format {fmt.name}",
            line=header.skip + 1,
        )
    for group in fmt.any_of:
        if not set(group) & set(header.columns):
            raise InputError(
                path,
                f"missing a column for format {fmt.name}: one of {', '.join(group)}",
                line=header.skip + 1,
            )
    if fmt.own:
        # Other tools' exports carry columns dropscore does not read; in its own templates a
        # name one typo away from a column's is that column misspelt, whose cells would be left
        # out. A name of its own (cancelled_at beside cancelled_by) is left alone.
        absent = sorted({column.name for column in fmt.columns} - set(header.columns))
        for name in (name for name in header.columns if not fmt.has(name)):
            meant = next((known for known in absent if _one_typo_apart(name, known)), None)
            if meant:
                raise InputError(
                    path,
                    f"unknown column '{header.label(name)}' for format {fmt.name}: is it "
                    f"{meant} misspelt? (a column dropscore does not know is left out)",
                    line=header.skip + 1,
                )


def _one_typo_apart(name: str, known: str) -> bool:
    """Whether `name` is `known` with one word of it mistyped: a letter left out, added,
    changed, or two swapped (shiped_at, shipping_fees); the other words as they are."""
    words, known_words = name.split("_"), known.split("_")
    if len(words) != len(known_words):
        return False
    different = [(a, b) for a, b in zip(words, known_words, strict=True) if a != b]
    if len(different) != 1:
        return False
    a, b = different[0]
    if abs(len(a) - len(b)) > 1 or min(len(a), len(b)) < 3:
        return False
    if len(a) == len(b):
        changed = [i for i in range(len(a)) if a[i] != b[i]]
        return len(changed) == 1 or (
            len(changed) == 2
            and changed[1] == changed[0] + 1
            and a[changed[0]] == b[changed[1]]
            and a[changed[1]] == b[changed[0]]
        )
    shorter, longer = sorted((a, b), key=len)
    return any(longer[:i] + longer[i + 1 :] == shorter for i in range(len(longer)))


def load_files(
    con: duckdb.DuckDBPyConnection,
    paths: Iterable[Path],
    fmt: Format | None = None,
    on_loaded: Callable[[LoadResult], None] | None = None,
    *,
    salt: str | None = None,
    progress: Progress | None = None,
    read_typed: bool = True,
) -> list[LoadResult]:
    """Load files in order; the first bad file stops the load and is recorded as failed."""
    con.execute("set TimeZone = 'UTC'")  # a timestamp without an offset is UTC
    con.execute("set enable_progress_bar = true")
    con.execute("set enable_progress_bar_print = false")
    con.execute("set progress_bar_time = 0")  # track progress from the start of each query
    ensure_raw_schema(con)
    results = []
    for path in paths:
        try:
            result = load_file(
                con, Path(path), fmt, salt=salt, progress=progress, read_typed=read_typed
            )
        except InputError as error:
            _record_failure(con, Path(path), fmt, error)
            raise
        results.append(result)
        if on_loaded:
            on_loaded(result)
    return results


def _is_file(path: Path) -> bool:
    try:
        path.stat()
    except FileNotFoundError:
        return False
    except OSError as error:  # a name longer than the system allows, a link that loops
        raise InputError(path, f"cannot be opened: {error.strerror.lower()}") from None
    return path.is_file()


def _record_failure(con, path: Path, fmt: Format | None, error: InputError) -> None:
    try:
        checksum = file_checksum(path) if path.is_file() else ""
    except OSError:  # a name too long, a file that cannot be read: none to record
        checksum = ""
    con.execute(
        """
        insert into raw.loads
        select coalesce(max(load_id), 0) + 1, ?, ?, ?, ?, 'failed', 0, 0, ?, now() from raw.loads
        """,
        # absolute, not resolved: a link that loops has no end to resolve to
        [
            path.name,
            str(path.absolute()),
            checksum,
            fmt.name if fmt else error.format,
            error.recorded,
        ],
    )
