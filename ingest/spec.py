"""How an input format is described: the cells it reads, what each must hold, where rows go.

A format is data, not code. The loader reads a file's cells into `incoming` (one row per record
with its `__line`): as text, or, for the kinds in READ_TYPED, already typed by DuckDB's CSV
reader. It checks every cell against its column's kind, then appends rows to one or more raw
tables with the `Output` select lists given here. Format modules (ingest/shopify.py,
ingest/aliexpress.py) only describe; loader.py does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ingest.money import CURRENCY_CODES, price_amount_sql, price_currency_sql

SQL_TYPES = {
    "text": "varchar",
    "id": "varchar",
    "digits": "varchar",
    "choice": "varchar",
    "currency": "varchar",
    "country": "varchar",
    "timestamp": "timestamptz",
    "count": "integer",
    "units": "integer",
    "days": "integer",
    "money": "decimal(18, 2)",
    "price": "decimal(18, 2)",
}


# How a cell is read before its rules are checked: whole numbers as doubles, so that `1.5`
# (or `1.9996`) is refused rather than rounded to 2 (DuckDB casts text to an integer, or to a
# decimal of fewer places, by rounding it).
READ_SQL_TYPES = {**SQL_TYPES, "count": "double", "units": "double", "days": "double"}

# Kinds whose cells DuckDB's CSV reader can read as typed values: for every cell it accepts it
# gives what `typed` gives for the cell's text (tests/test_ingest.py and test_fuzz_ingest.py
# compare the two), and it refuses the rest (a leading apostrophe, Shopify's `-0400` offsets),
# which are read as text. A format's own SQL (Reject.when, Column.where, derived) must not treat
# such a cell as text; outputs and row rules go through Cells, which knows how it was read.
READ_TYPED = frozenset({"timestamp", "count", "units", "days", "money"})

# Beyond these an amount or a count is a damaged cell: quantity × price must stay far inside
# decimal(18, 2) through every sum and conversion downstream.
MAX_AMOUNT = 9_999_999_999.99
MAX_COUNT = 100_000
MAX_DAYS = 3_650  # a promise of ten years is a damaged cell, and would overflow a timestamp


def line_amount_rule(
    quantity: str, unit_price: str, shipping_fee: str, column: str
) -> tuple[str, str, str]:
    """A row rule: a line's amount, each of its cells within bounds, must be one too."""
    amount = f"{quantity}::double * {unit_price}::double + coalesce({shipping_fee}::double, 0)"
    return (
        f"{amount} > {MAX_AMOUNT}",
        column,
        f"a line amount (quantity × price + shipping) of at most {MAX_AMOUNT:,.2f}",
    )


def not_before_rule(
    later: str, earlier: str, column: str, earlier_name: str
) -> tuple[str, str, str]:
    """A row rule: one moment of a record cannot come before another (a mistyped year would
    make a negative time that every median and deadline would take in). A date alone, on the
    day of the earlier moment, is that day: staging takes it as the earlier moment."""
    # The calendar only where a time comes first (`case` runs a branch for its rows only):
    # date_trunc on every line of 10M took 0.4 s a rule.
    return (
        f"case when {later} < {earlier} then {later} <> date_trunc('day', {earlier}) "
        "else false end",
        column,
        f"a time no earlier than {earlier_name}",
    )


def key_part_rule(value: str, column: str) -> tuple[str, str, str]:
    """A row rule: an id that dropscore puts first in a key joined with ':' (the order line's
    `supplier_order_id:line_id`) cannot hold one, or two lines could get one key, and the
    build's uniqueness checks would fail on every later run."""
    return f"contains({value}, ':')", column, "an id without ':' (dropscore joins ids with it)"


@dataclass(frozen=True)
class Column:
    """One cell of a record, named by its normalised CSV header (or its JSON field)."""

    name: str
    kind: str = "text"  # a key of SQL_TYPES
    required: bool = False
    choices: tuple[str, ...] = ()  # choice: the values allowed, written as the file writes them
    mapping: tuple[tuple[str, str], ...] = ()  # choice: file text -> dropscore's value
    meaning: str = ""
    label: str = ""  # how the file names the cell when not by a header (a JSON field path)
    where: str = ""  # SQL on `incoming`: the rows the column's rules apply to (default all)


@dataclass(frozen=True)
class RawTable:
    """A table in the raw schema; every row also gets exported_at, load_id and source_line."""

    name: str
    columns: tuple[tuple[str, str], ...]  # (name, SQL type)
    description: str = ""


@dataclass(frozen=True)
class Output:
    """Rows of one raw table, selected from `incoming` once every cell passed its checks."""

    table: RawTable
    select: Callable[[Cells], dict[str, str]]  # raw column -> SQL expression over `incoming`
    where: str = ""


@dataclass(frozen=True)
class Reject:
    """Rows that are not records of the format: kept in raw.rejects with the reason, not loaded."""

    when: str  # SQL condition on `incoming`
    reason: str
    column: str | None = None


@dataclass(frozen=True)
class Format:
    name: str
    summary: str
    key: tuple[str, ...]  # one version of a record per key; the newest export wins (in staging)
    columns: tuple[Column, ...]
    outputs: tuple[Output, ...] = ()  # default: one table named `table` holding every column
    table: str = ""
    newest_by: tuple[str, ...] = field(default=())  # cells that date the export when absent
    shape: str = "csv"  # csv | json
    any_of: tuple[tuple[str, ...], ...] = ()  # at least one column of each group must be there
    rejects: tuple[Reject, ...] = ()
    # Cells computed while reading a CSV file: (name, SQL over the cells, `__line` and
    # `__record`, the record's place in the file from 0).
    derived: tuple[tuple[str, str], ...] = ()
    customer_key_from: tuple[str, ...] = ()  # personal cells hashed (salted) into customer_key
    # Checks across cells: (SQL true for a bad row, the column to name, what was expected).
    row_rules: Callable[[Cells], tuple[tuple[str, str, str], ...]] | None = None
    obtain: str = ""  # how a user gets the file, one line
    own: bool = False  # dropscore's own template: it has no columns of other tools
    # JSON formats: what a file must look like, whether a first value does, and its records.
    expects: str = ""
    looks_like: Callable[[object], bool] | None = None
    json_records: Callable[[Path], Iterator[tuple[int, dict[str, str | None]]]] | None = None

    @property
    def required(self) -> set[str]:
        return {column.name for column in self.columns if column.required}

    def column(self, name: str) -> Column:
        return next(column for column in self.columns if column.name == name)

    def has(self, name: str) -> bool:
        return any(column.name == name for column in self.columns)

    @property
    def tables(self) -> tuple[RawTable, ...]:
        return tuple(output.table for output in self.all_outputs)

    @property
    def all_outputs(self) -> tuple[Output, ...]:
        if self.outputs:
            return self.outputs
        table = RawTable(
            self.table,
            tuple((c.name, SQL_TYPES[c.kind]) for c in self.columns if c.name != "exported_at"),
        )
        return (Output(table, lambda cells: {c: cells.value(c) for c, _ in table.columns}),)


class Cells:
    """SQL for the cells of `incoming`, as text or as typed values, knowing which are present
    and which were read typed (`read_typed`: those have no text)."""

    def __init__(self, fmt: Format, present: set[str], read_typed: frozenset[str] = frozenset()):
        self.fmt = fmt
        self.present = present
        self.read_typed = read_typed

    def has(self, name: str) -> bool:
        return name in self.present

    def text(self, name: str) -> str:
        """The cell trimmed, NULL when empty or absent."""
        if name not in self.present:
            return "cast(null as varchar)"
        if name in self.read_typed:
            raise ValueError(f"{self.fmt.name}: the text of {name} is asked for, but it is typed")
        return f"nullif(trim(\"{name}\"), '')"

    def raw(self, name: str) -> str:
        """The cell as read, untrimmed (NULL when absent): for a test trimming cannot change,
        without trimming every cell of a large file (seconds at 10M lines)."""
        return f'"{name}"' if name in self.present else "cast(null as varchar)"

    def value(self, name: str) -> str:
        """The cell cast to its column's type (NULL when absent)."""
        column = self.fmt.column(name)
        if name not in self.present:
            return f"cast(null as {SQL_TYPES[column.kind]})"
        if name in self.read_typed:
            return f'"{name}"'
        return typed(column, self.text(name))


def _unquoted(text: str) -> str:
    # A spreadsheet keeps a number as text by writing a leading apostrophe ('92591).
    return f"regexp_replace({text}, '^''', '')"


def timestamp_sql(text: str) -> str:
    """ISO 8601, or Shopify's `2025-05-11 09:55:16 -0400`; a date alone is midnight UTC."""
    normalised = (
        f"regexp_replace({text}, "
        r"'(\d{2}:\d{2}(:\d{2}(\.\d+)?)?)\s*([+-]\d{2}):?(\d{2})$', '\1\4:\5')"
    )
    return f"try_cast({normalised} as timestamptz)"


def typed(column: Column, text: str) -> str:
    """SQL for the typed value of a cell whose trimmed text is `text` (NULL when invalid)."""
    kind = column.kind
    if kind == "timestamp":
        return timestamp_sql(_unquoted(text))
    if kind in ("count", "units", "days"):
        return f"try_cast({_unquoted(text)} as {READ_SQL_TYPES[kind]})"
    if kind == "money":
        return f"try_cast({_unquoted(text)} as decimal(18, 2))"
    if kind == "price":
        return price_amount_sql(text)
    if kind in ("currency", "country"):
        return f"upper({_unquoted(text)})"
    if kind == "digits":
        return _unquoted(text)
    if kind == "choice":
        if column.mapping:
            cases = " ".join(
                f"when '{raw.lower()}' then '{value}'" for raw, value in column.mapping
            )
            return f"(case lower({text}) {cases} end)"
        return f"lower({text})"
    return text


def _listed(values) -> str:
    return ", ".join("'" + value.replace("'", "''") + "'" for value in values)


# What a spreadsheet makes of a long number it was not told is text: 5.37518E+12.
_EXCEL_NUMBER = r"'[0-9]+([.,][0-9]+)?E\+[0-9]+'"


def rules(column: Column, read_typed: bool = False) -> list[tuple[str, str]]:
    """What the column's cells must hold: (SQL that is true for a bad cell `v`, the words).

    `v` is the cell's text, or its typed value when `read_typed`.
    """
    found = []
    if column.required:
        missing = "v is null" if read_typed else "v is null or trim(v) = ''"
        found.append((missing, "a value (the column is required)"))
    cell = "v" if read_typed else "nullif(trim(v), '')"
    value = cell if read_typed else typed(column, cell)
    kind = column.kind
    test, words = None, None
    if kind == "timestamp":
        # Not `infinity`, nor a date no order has: the as-of date is the newest moment loaded.
        test = f"{value} between '1970-01-01 00:00:00+00' and '2199-12-31 23:59:59.999999+00'"
        words = "an ISO 8601 timestamp from 1970 to 2199 such as 2026-01-31T09:30:00Z"
    elif kind == "count":
        test = f"{value} between 1 and {MAX_COUNT} and {value} = trunc({value})"
        words = "a whole number of at least 1"
    elif kind == "units":
        test = f"{value} between 0 and {MAX_COUNT} and {value} = trunc({value})"
        words = "a whole number, 0 or more"
    elif kind == "days":
        test = f"{value} between 0 and {MAX_DAYS} and {value} = trunc({value})"
        words = f"a whole number of days from 0 to {MAX_DAYS}"
    elif kind == "money":
        test, words = f"{value} between 0 and {MAX_AMOUNT}", "an amount such as 12.50"
    elif kind == "price":
        test = f"{value} between 0 and {MAX_AMOUNT}"
        words = "a price such as 12.50, US $12.50 or 129,46zł"
    elif kind == "currency":
        test = f"{value} in ({_listed(sorted(CURRENCY_CODES))})"
        words = "a 3-letter ISO 4217 code such as USD"
    elif kind == "country":
        # Only the code: a column that holds more may hold a buyer's address.
        test = f"regexp_full_match({value}, '[A-Z]{{2}}')"
        words = "a 2-letter ISO 3166-1 country code such as US"
    elif kind == "id":
        # The regular expression only where an exponent is (`case` runs a branch for its rows
        # only; `and` ran both): on every id of 10M lines that cost 9 s of loading them.
        test = (
            f"not case when contains({value}, 'E+') "
            f"then regexp_full_match({value}, {_EXCEL_NUMBER}) else false end"
        )
        words = (
            "an id as exported (a spreadsheet that shows 5.37518E+12 has rounded it: export "
            "the file again)"
        )
    elif kind == "digits":
        test = f"regexp_full_match({value}, '[0-9]+')"
        words = (
            "an id made of digits such as 3069099405659913 (a spreadsheet that shows "
            "3.06909E+15 has rounded it: export the file again)"
        )
    elif kind == "choice":
        allowed = [raw for raw, _ in column.mapping] or list(column.choices)
        test = f"lower({cell}) in ({_listed(a.lower() for a in allowed)})"
        words = f"one of {', '.join(allowed)}"
    if test:
        given = "v is not null" if read_typed else "v is not null and trim(v) <> ''"
        found.append((f"{given} and not coalesce({test}, false)", words))
    return found


def price_currency(text: str) -> str:
    """The ISO code a display price's symbol stands for (`129,46zł` -> PLN), else NULL."""
    return price_currency_sql(text)
