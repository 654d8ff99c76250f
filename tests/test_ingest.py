"""Loading dropscore's own formats: idempotent, newest export wins, bad files refused whole."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from dropscore.cli import cli
from dropscore.config import PROJECT_DIR, Settings
from dropscore.pipeline import ingest
from ingest import loader
from ingest.errors import InputError
from ingest.generate import generate
from ingest.loader import load_files
from tests.conftest import write

ORDERS_HEADER = (
    "supplier_order_id,line_id,ordered_at,supplier_id,supplier_name,product_id,quantity,"
    "unit_price,currency,status,shipped_at,delivered_at,exported_at"
)
ORDERS = f"""{ORDERS_HEADER}
100,1,2026-01-01T10:00:00Z,s1,Store One,p1,1,10.00,USD,shipped,2026-01-03T10:00:00Z,,2026-02-01T00:00:00Z
100,2,2026-01-01T10:00:00Z,s1,Store One,p2,2,5.00,USD,placed,,,2026-02-01T00:00:00Z
"""
NEWER_ORDERS = f"""{ORDERS_HEADER}
100,1,2026-01-01T10:00:00Z,s1,Store One,p1,1,10.00,USD,delivered,2026-01-03T10:00:00Z,2026-01-20T10:00:00Z,2026-03-01T00:00:00Z
"""


def raw_rows(settings, sql: str):
    con = duckdb.connect(str(settings.build_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_loading_the_same_file_twice_changes_nothing(settings, tmp_path):
    orders = write(tmp_path / "orders.csv", ORDERS)
    first = ingest(settings, [orders])
    second = ingest(settings, [orders])
    assert [(r.outcome, r.rows) for r in first] == [("loaded", 2)]
    assert [(r.outcome, r.rows) for r in second] == [("unchanged", 0)]
    assert raw_rows(settings, "select count(*) from raw.dropscore_order_lines") == [(2,)]


@pytest.mark.parametrize("order", [("old", "new"), ("new", "old")])
def test_the_newest_export_of_a_line_wins_whatever_the_load_order(settings, tmp_path, order):
    files = {
        "old": write(tmp_path / "old.csv", ORDERS),
        "new": write(tmp_path / "new.csv", NEWER_ORDERS),
    }
    ingest(settings, [files[name] for name in order])
    newest = raw_rows(
        settings,
        """
        select line_id, status from raw.dropscore_order_lines
        qualify row_number() over (
            partition by supplier_order_id, line_id order by exported_at desc, load_id desc
        ) = 1
        order by line_id
        """,
    )
    assert newest == [("1", "delivered"), ("2", "placed")]


@pytest.mark.parametrize("comments", ["", "# exported 2026-02-01\n# by hand\n"])
@pytest.mark.parametrize(("quantity", "read"), [("1", "typed"), ("'1", "text")])
def test_every_row_knows_its_file_and_line(settings, tmp_path, comments, quantity, read):
    orders = write(tmp_path / "orders.csv", comments + ORDERS.replace(",p1,1,", f",p1,{quantity},"))
    assert [result.read for result in ingest(settings, [orders])] == [read]
    header_line = 1 + comments.count("\n")
    assert raw_rows(
        settings,
        """
        select loads.file_name, lines.line_id, lines.source_line, loads.format, loads.outcome
        from raw.dropscore_order_lines as lines join raw.loads using (load_id)
        order by lines.source_line
        """,
    ) == [
        ("orders.csv", "1", header_line + 1, "dropscore-orders", "loaded"),
        ("orders.csv", "2", header_line + 2, "dropscore-orders", "loaded"),
    ]


TITLED_HEADER = ORDERS_HEADER.replace(",product_id,", ",product_id,product_title,")


def titled(order: int, title: str, currency: str = "USD", quantity: str = "1") -> str:
    return (
        f"{order},1,2026-01-01T10:00:00Z,s1,Store One,p1,{title},{quantity},10.00,{currency},"
        "placed,,,2026-02-01T00:00:00Z"
    )


# Line 1 the header; lines 2-4 one record (a title holding two line breaks); 5 a record; 6-7
# blank; 8 a record; 9 the last.
MULTILINE = "\n".join(
    [TITLED_HEADER, titled(1, '"Lamp,\nwarm\nwhite"'), titled(2, "Cup"), "", "", titled(3, "Pot")]
)


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
@pytest.mark.parametrize("quantity", ["1", "'1"], ids=["typed", "text"])
def test_lines_are_counted_as_an_editor_counts_them(settings, tmp_path, newline, quantity):
    def file(name: str, last: str) -> Path:
        text = MULTILINE.replace(",1,10.00,", f",{quantity},10.00,") + "\n" + last + "\n"
        return write(tmp_path / name, text.replace("\n", newline))

    with pytest.raises(InputError) as refused:
        ingest(settings, [file("bad-cell.csv", titled(4, "Pan", currency="XYZ"))])
    assert (refused.value.line, refused.value.column) == (9, "currency")
    with pytest.raises(InputError) as refused:
        ingest(settings, [file("bad-row.csv", titled(4, "Pan") + ",one too many")])
    assert (refused.value.line, refused.value.message) == (9, "expected 14 columns, found 15")
    with pytest.raises(InputError) as refused:
        ingest(settings, [file("open-quote.csv", titled(4, '"Pan'))])
    assert refused.value.line == 9

    ingest(settings, [file("good.csv", titled(4, "Pan") + "\n\n")])
    assert raw_rows(
        settings,
        "select supplier_order_id, source_line from raw.dropscore_order_lines order by 2",
    ) == [("1", 2), ("2", 5), ("3", 8), ("4", 9)]


QUOTES_HEADER = (
    "supplier_order_id,line_id,ordered_at,supplier_id,supplier_name,product_id,quantity,"
    "unit_price,currency,status,product_title,carrier,tracking_number,store_order"
)
QUOTES_LINE = "100,{},2026-01-05T10:00:00Z,s1,Store,p1,1,9.99,USD,delivered,"


@pytest.mark.parametrize(
    ("last", "refused"),
    [
        # an empty quoted cell at the end is dropped by DuckDB like an empty one
        ('Lamp, warm,Std,LP2,""', True),
        # a quote inside a cell opens nothing, in DuckDB as in Python's csv reader
        ('24" Monitor, Black,"Cainiao Std",LP2,', True),
        ('5" screen,"Cainiao, Std, Tracked",LP2,', False),
    ],
    ids=["quoted-empty-last", "inch-mark-then-comma", "inch-mark-then-quoted-commas"],
)
def test_cells_are_counted_as_duckdb_reads_them(settings, tmp_path, last, refused):
    text = "\n".join(
        [QUOTES_HEADER, QUOTES_LINE.format(1) + "Cup,Std,LP1,", QUOTES_LINE.format(2) + last]
    )
    orders = write(tmp_path / "orders.csv", text + "\n")
    if refused:
        with pytest.raises(InputError) as error:
            ingest(settings, [orders])
        assert (error.value.line, error.value.message) == (
            3,
            "expected 14 columns, found 15 (quote a cell that holds a comma; end no line with one)",
        )
    else:
        ingest(settings, [orders])
        assert raw_rows(
            settings, "select product_title, carrier from raw.dropscore_order_lines order by 1"
        ) == [('5" screen', "Cainiao, Std, Tracked"), ("Cup", "Std")]


def test_cells_are_counted_also_in_a_file_with_bytes_that_are_not_utf8_in_cells_not_read(
    settings, tmp_path
):
    lines = [
        QUOTES_HEADER + ",note",
        QUOTES_LINE.format(1) + "Cup,Std,LP1,,caf\xe9",  # a column no format reads
        QUOTES_LINE.format(2) + "Lamp, warm,Std,LP2,,",
    ]
    orders = tmp_path / "orders.csv"
    orders.write_bytes("\n".join(lines).encode("latin-1") + b"\n")
    with pytest.raises(InputError) as error:
        ingest(settings, [orders])
    assert (error.value.line, error.value.message) == (
        3,
        "expected 15 columns, found 16 (quote a cell that holds a comma; end no line with one)",
    )
    orders.write_bytes("\n".join(lines[:2]).encode("latin-1") + b"\n")
    assert [result.rows for result in ingest(settings, [orders])] == [1]


# A title holding an unquoted comma splits in two, and every cell after it moves a column on:
# with the last (exported_at) empty, the line ends with one comma too many.
SPLIT_TITLE = titled(5, "Lamp, warm white").replace(",2026-02-01T00:00:00Z", ",")


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
@pytest.mark.parametrize(
    ("records", "line"),
    [
        ([titled(1, "Cup"), titled(2, "Pot").removesuffix("2026-02-01T00:00:00Z")], 4),
        ([titled(1, '"Lamp,\nwarm"'), titled(2, '"Pot, small"')], 5),
    ],
    ids=["one-record-a-line", "a-record-on-two-lines"],
)
def test_a_record_with_an_empty_cell_too_many_is_refused_not_shifted(
    settings, tmp_path, newline, records, line
):
    # DuckDB takes the comma too many for a trailing delimiter and would load the record with
    # its cells a column off: the title's second half as the quantity, and so on.
    text = "\n".join([TITLED_HEADER, *records, SPLIT_TITLE]) + "\n"
    with pytest.raises(InputError) as refused:
        ingest(settings, [write(tmp_path / "orders.csv", text.replace("\n", newline))])
    assert (refused.value.line, refused.value.message) == (
        line,
        "expected 14 columns, found 15 (quote a cell that holds a comma; end no line with one)",
    )
    assert raw_rows(settings, "select count(*) from raw.dropscore_order_lines") == [(0,)]

    # Lines that end with a comma because their last cell is empty load as they are.
    text = "\n".join([TITLED_HEADER, *records]) + "\n"
    ingest(settings, [write(tmp_path / "good.csv", text.replace("\n", newline))])
    assert raw_rows(settings, "select count(*) from raw.dropscore_order_lines") == [(2,)]


def test_blank_lines_at_the_end_change_no_line(settings, tmp_path):
    orders = write(tmp_path / "orders.csv", ORDERS + "\n\n\n")
    ingest(settings, [orders])
    assert raw_rows(
        settings, "select line_id, source_line from raw.dropscore_order_lines order by 2"
    ) == [("1", 2), ("2", 3)]


def test_a_cell_the_typed_read_refuses_is_read_as_text_with_the_value_it_means(settings, tmp_path):
    # A spreadsheet's leading apostrophe and Shopify's -0400 offset: DuckDB's CSV reader refuses
    # them as numbers and times, so the file is read again as text, which understands them.
    text = NEWER_ORDERS.replace(",1,10.00,", ",'1,'10.00,").replace(
        "2026-01-20T10:00:00Z", "2026-01-20 06:00:00 -0400"
    )
    orders = write(tmp_path / "orders.csv", text)
    assert [result.read for result in ingest(settings, [orders])] == ["text"]
    assert raw_rows(
        settings,
        """
        select quantity, cast(unit_price as varchar),
            cast(delivered_at at time zone 'UTC' as varchar)
        from raw.dropscore_order_lines
        """,
    ) == [(1, "10.00", "2026-01-20 10:00:00")]


# Cells of the kinds read typed (a count, an amount, days, a time) that DuckDB's CSV reader and
# the text path's casts might read differently: rounding, exponents, hex, underscores, signs,
# spaces, offsets and zone names, special values, overflow, spreadsheet damage.
TYPED_CELLS = {
    "quantity": [
        "4", "4.0", "4.5", "2.5", "1e1", "0x10", "0b1", "1_000", " 4", "4 ", "\t1", "+4", "-4",
        "04", "4.", "'4", "1,000", "99999999999", "2147483648", "", " ", "NaN", "٤",
    ],
    "unit_price": [
        "6.19", "6.199", "6.195", "6.185", "7.885", "0.005", "1e3", "1E-2", ".5", "5.", "+6.19",
        "-6.19", " 6.19", "6.19 ", "1_000.00", "'6.19", "1,000.00", "0x10", "NaN", "inf", "6,19",
        "99999999999999999.99", "123456789012345678", "6.19e0", "", "US $6.19",
    ],
    "promised_ship_days": ["3", "3.5", "-1", "1e1", "'3", "", "three"],
    "shipped_at": [
        "2026-01-03T10:00:00Z", "2026-01-03 10:00:00 -0400", "2026-01-03 10:00:00 -04:00",
        "2026-01-03", "2026-01-03T10:00:00.123+02:00", " 2026-01-03T10:00:00Z",
        "2026-01-03T10:00:00", "2026-01-03 10:00:00 EST", "2026-01-03T10:00:00 America/New_York",
        "2026-01-03 10:00:00 GMT+2", "2026-01-03T10:00:00+0200", "2026-01-03T24:00:00Z",
        "'2026-01-03T10:00:00Z", "20260103", "2026-1-3", "2026-01-03T10:00Z", "infinity",
        "epoch", "2026-01-03T10:00:00.1234567Z", "2026-01-03 10:00:00 UTC", "2026-02-30",
        "1/3/2026", "-2026-01-03", "2026-01-03 (BC)", "2026-01-03T10:00:00 Z", "",
    ],
}  # fmt: skip


def test_each_cell_means_the_same_read_typed_or_as_text(tmp_path):
    header = ORDERS_HEADER + ",promised_ship_days"
    row = ORDERS.splitlines()[1] + ",2"
    reads = set()
    for column, cells in TYPED_CELLS.items():
        at = header.split(",").index(column)
        for cell in cells:
            fields = next(csv.reader([row]))
            fields[at] = cell
            text = io.StringIO()
            csv.writer(text, lineterminator="\n").writerow(fields)
            path = write(tmp_path / "orders.csv", f"{header}\n{text.getvalue()}")
            outcomes = []
            for read_typed in (True, False):
                con = duckdb.connect(str(tmp_path / f"{read_typed}.duckdb"))
                try:
                    (result,) = load_files(con, [path], read_typed=read_typed)
                    reads.add(result.read)
                    outcomes.append(con.execute("from raw.dropscore_order_lines").fetchall())
                except InputError as error:
                    outcomes.append(str(error))
                finally:
                    con.close()
                (tmp_path / f"{read_typed}.duckdb").unlink()
            assert outcomes[0] == outcomes[1], (column, cell)
    assert reads == {"typed", "text"}  # both paths were taken


def test_a_load_leaves_no_copy_of_the_file_behind(tmp_path):
    shopify = PROJECT_DIR / "tests" / "fixtures" / "real" / "shopify_orders_export_devstore.csv"
    good = write(tmp_path / "orders.csv", ORDERS)
    refused_typed = write(tmp_path / "zero.csv", ORDERS.replace(",2,5.00,", ",0,5.00,"))
    refused_text = write(tmp_path / "lost.csv", ORDERS.replace(",placed,", ",lost,"))
    con = duckdb.connect(str(tmp_path / "build.duckdb"))
    load_files(con, [good, shopify])
    for bad in (refused_typed, refused_text):
        with pytest.raises(InputError):
            load_files(con, [bad])
    assert (
        con.execute(
            """
        select table_name from duckdb_tables() where temporary
        union all select view_name from duckdb_views() where temporary and not internal
        """
        ).fetchall()
        == []
    )


@pytest.mark.parametrize("name", ["orders[12].csv", "orders*.csv", "orders?.csv", "{a,b}.csv"])
def test_a_file_whose_name_looks_like_a_pattern_is_read_as_itself(settings, tmp_path, name):
    # DuckDB would read `orders[12].csv` as orders1.csv and orders2.csv.
    for sibling in ("orders1.csv", "orders2.csv", "a.csv", "b.csv"):
        write(tmp_path / sibling, ORDERS.replace("Store One", f"Store {sibling}"))
    named = write(tmp_path / name, NEWER_ORDERS)
    assert [(result.outcome, result.rows) for result in ingest(settings, [named])] == [
        ("loaded", 1)
    ]
    assert raw_rows(settings, "select supplier_name, status from raw.dropscore_order_lines") == [
        ("Store One", "delivered")
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            ORDERS.replace("2026-01-03T10:00:00Z", "yesterday"),
            "orders.csv, line 2, column 'shipped_at': expected an ISO 8601 timestamp "
            "from 1970 to 2199 such as 2026-01-31T09:30:00Z, got 'yesterday'",
        ),
        (
            ORDERS.replace("2026-01-03T10:00:00Z", "infinity"),
            "orders.csv, line 2, column 'shipped_at': expected an ISO 8601 timestamp "
            "from 1970 to 2199 such as 2026-01-31T09:30:00Z, got 'infinity'",
        ),
        (
            ORDERS.replace(
                "2026-01-01T10:00:00Z,s1,Store One,p2", "2300-01-01T10:00:00Z,s1,Store One,p2"
            ),
            "orders.csv, line 3, column 'ordered_at': expected an ISO 8601 timestamp "
            "from 1970 to 2199 such as 2026-01-31T09:30:00Z, got '2300-01-01T10:00:00Z'",
        ),
        (
            ORDERS.replace(",2,5.00,", ",0,5.00,"),
            "orders.csv, line 3, column 'quantity': expected a whole number of at least 1, got '0'",
        ),
        (  # DuckDB would round it to 2
            ORDERS.replace(",2,5.00,", ",1.5,5.00,"),
            "orders.csv, line 3, column 'quantity': expected a whole number of at least 1, "
            "got '1.5'",
        ),
        (  # ... and this one too, read as a decimal of three places
            ORDERS.replace(",2,5.00,", ",1.9996,5.00,"),
            "orders.csv, line 3, column 'quantity': expected a whole number of at least 1, "
            "got '1.9996'",
        ),
        (  # ... and read it as 16
            ORDERS.replace(",2,5.00,", ",0x10,5.00,"),
            "orders.csv, line 3, column 'quantity': expected a whole number of at least 1, "
            "got '0x10'",
        ),
        (  # ten years out would overflow a timestamp in the build, far from this file
            ORDERS.replace(",exported_at", ",exported_at,promised_delivery_days")
            .replace("2026-02-01T00:00:00Z\n100,2", "2026-02-01T00:00:00Z,20\n100,2")
            .replace(",,,2026-02-01T00:00:00Z\n", ",,,2026-02-01T00:00:00Z,2000000000\n"),
            "orders.csv, line 3, column 'promised_delivery_days': expected a whole number of "
            "days from 0 to 3650, got '2000000000'",
        ),
        (  # a country column holding more than the country may hold a buyer's address
            ORDERS.replace(",exported_at", ",exported_at,ship_to_country")
            .replace("2026-02-01T00:00:00Z\n100,2", "2026-02-01T00:00:00Z,us\n100,2")
            .replace(",,,2026-02-01T00:00:00Z\n", ',,,2026-02-01T00:00:00Z,"1 Main St, Leeds"\n'),
            "orders.csv, line 3, column 'ship_to_country': expected a 2-letter ISO 3166-1 "
            "country code such as US, got '1 Main St, Leeds'",
        ),
        (
            ORDERS.replace("10.00,USD", "ten,USD"),
            "orders.csv, line 2, column 'unit_price': expected an amount such as 12.50, got 'ten'",
        ),
        (
            ORDERS.replace("5.00,USD", "5.00,dollars"),
            "orders.csv, line 3, column 'currency': expected a 3-letter ISO 4217 code "
            "such as USD, got 'dollars'",
        ),
        (
            ORDERS.replace(",placed,", ",lost,"),
            "orders.csv, line 3, column 'status': expected one of placed, shipped, delivered, "
            "cancelled, got 'lost'",
        ),
        (
            ORDERS.replace(",Store One,p2,", ",,p2,"),
            "orders.csv, line 3, column 'supplier_name': expected a value (the column is "
            "required), got an empty cell",
        ),
        (
            ORDERS + "101,1,2026-01-01T10:00:00Z,s1\n",
            "orders.csv, line 4: expected 13 columns, found 4",
        ),
        (
            ORDERS + '101,1,2026-01-01T10:00:00Z,s1,"Store',
            "orders.csv, line 4: a quoted value is never closed (is the file cut short?)",
        ),
        (
            ORDERS.replace("supplier_name,", "seller,"),
            "orders.csv, line 1: unrecognised format: closest is dropscore-orders, missing "
            "column(s) supplier_name; expected one of dropscore-orders (columns currency, "
            "line_id, ordered_at, product_id, quantity, status, supplier_id, supplier_name, "
            "supplier_order_id, unit_price); dropscore-disputes (columns dispute_id, opened_at, "
            "reason, status, supplier_order_id); order-links (columns store_order, "
            "supplier_order_id); shopify-orders (columns created_at, currency, financial_status, "
            "lineitem_name, lineitem_price, lineitem_quantity, name, total); shopify-transactions "
            "(columns amount, created_at, currency, kind, name, status); aliexpress-orders-csv "
            "(columns order_date, order_id, price, product_id, qty, status, store, title)",
        ),
        (  # would match order-links, and its order lines be left out
            ORDERS.replace(",currency,", ",store_order,").replace(",USD,", ",#1001,"),
            "orders.csv, line 1: looks like dropscore-orders but is missing column(s) currency; "
            "if it is order-links, load it with --format order-links",
        ),
        (  # two orders Excel rounded to one
            ORDERS.replace("\n100,2,", "\n5.37518E+12,2,"),
            "orders.csv, line 3, column 'supplier_order_id': expected an id as exported (a "
            "spreadsheet that shows 5.37518E+12 has rounded it: export the file again), "
            "got '5.37518E+12'",
        ),
        (
            ORDERS.replace(",shipped_at,", ",Shiped at,"),
            "orders.csv, line 1: unknown column 'Shiped at' for format dropscore-orders: is it "
            "shipped_at misspelt? (a column dropscore does not know is left out)",
        ),
        (
            ORDERS.replace(",exported_at\n", ",status\n", 1),
            "orders.csv, line 1: the header names column 'status' twice",
        ),
        (  # a damaged cell of any size is named in one short line
            ORDERS.replace(",placed,", "," + "x" * 300 + ","),
            "orders.csv, line 3, column 'status': expected one of placed, shipped, delivered, "
            f"cancelled, got '{'x' * 200}'... (300 characters)",
        ),
        ("", "orders.csv: the file is empty"),
        (  # Excel's "CSV" where the decimal mark is a comma, with no sep= line
            "\ufeff" + ORDERS.replace(",", ";").replace("\n", "\r\n"),
            "orders.csv, line 1: its cells are separated by ';': save it with commas",
        ),
        (
            ORDERS.replace(",", "\t"),
            "orders.csv, line 1: its cells are separated by '\\t': save it with commas",
        ),
        (  # order 5001:1 line 2 and order 5001 line 1:2 would share the key 5001:1:2
            ORDERS.replace("\n100,2,", "\n100:7,2,"),
            "orders.csv, line 3, column 'supplier_order_id': expected an id without ':' "
            "(dropscore joins ids with it), got '100:7'",
        ),
        (  # a mistyped year: a negative handling time in every median
            ORDERS.replace("2026-01-03T10:00:00Z", "2025-01-03T10:00:00Z"),
            "orders.csv, line 2, column 'shipped_at': expected a time no earlier than "
            "ordered_at, got '2025-01-03T10:00:00Z'",
        ),
        (
            ORDERS.replace(
                ",2026-01-03T10:00:00Z,,", ",2026-01-03T10:00:00Z,2026-01-02T10:00:00Z,"
            ),
            "orders.csv, line 2, column 'delivered_at': expected a time no earlier than "
            "shipped_at (or ordered_at), got '2026-01-02T10:00:00Z'",
        ),
        (  # no shipping time: the order time bounds it
            ORDERS.replace(",placed,,,", ",delivered,,2025-12-31T10:00:00Z,"),
            "orders.csv, line 3, column 'delivered_at': expected a time no earlier than "
            "shipped_at (or ordered_at), got '2025-12-31T10:00:00Z'",
        ),
        (  # each cell within bounds, their product not: it would overflow sums downstream
            ORDERS.replace(",2,5.00,", ",100000,5000000.00,"),
            "orders.csv, line 3, column 'unit_price': expected a line amount (quantity × price "
            "+ shipping) of at most 9,999,999,999.99, got '5000000.00'",
        ),
    ],
)
def test_a_bad_file_is_refused_whole_with_file_line_and_column(settings, tmp_path, text, message):
    good = write(tmp_path / "good.csv", NEWER_ORDERS)
    ingest(settings, [good])
    bad = write(tmp_path / "orders.csv", text)
    with pytest.raises(InputError) as refused:
        ingest(settings, [bad])
    assert str(refused.value) == f"{tmp_path}/{message}"
    assert raw_rows(settings, "select count(*) from raw.dropscore_order_lines") == [(1,)]
    assert raw_rows(settings, "select outcome from raw.loads order by load_id") == [
        ("loaded",),
        ("failed",),
    ]


def test_a_refused_cell_is_shown_to_the_user_but_not_kept_in_the_warehouse(settings, tmp_path):
    # a country column holding a buyer's address: the message says what it got, raw.loads not
    bad = write(
        tmp_path / "orders.csv",
        ORDERS.replace(",exported_at", ",exported_at,ship_to_country")
        .replace("2026-02-01T00:00:00Z\n100,2", "2026-02-01T00:00:00Z,US\n100,2")
        .replace(",,,2026-02-01T00:00:00Z\n", ',,,2026-02-01T00:00:00Z,"Jane Doe, 1 Main St"\n'),
    )
    with pytest.raises(InputError) as refused:
        ingest(settings, [bad])
    assert str(refused.value).endswith(", got 'Jane Doe, 1 Main St'")
    assert raw_rows(settings, "select message from raw.loads") == [
        (
            f"{bad}, line 3, column 'ship_to_country': expected a 2-letter ISO 3166-1 country "
            "code such as US",
        )
    ]


def test_a_dispute_closed_before_it_was_opened_is_refused(settings, tmp_path):
    disputes = write(
        tmp_path / "disputes.csv",
        "dispute_id,supplier_order_id,opened_at,closed_at,reason,status\n"
        "d1,100,2026-01-16T22:18:29Z,2026-01-18T22:39:22Z,Damaged,closed\n"
        "d2,100,2026-01-16T22:18:29Z,2025-01-18T22:39:22Z,Damaged,closed\n",
    )
    with pytest.raises(InputError) as refused:
        ingest(settings, [disputes])
    assert str(refused.value) == (
        f"{disputes}, line 3, column 'closed_at': expected a time no earlier than opened_at, "
        "got '2025-01-18T22:39:22Z'"
    )
    assert raw_rows(settings, "select count(*) from raw.dropscore_disputes") == [(0,)]


@pytest.mark.parametrize("extra", ["cancelled_at", "imported_at", "ship_to_city", "product_type"])
def test_a_column_of_its_own_is_not_taken_for_a_misspelt_one(settings, tmp_path, extra):
    # Close to cancelled_by, exported_at, ship_to_country, product_title, but no typo of them.
    orders = write(
        tmp_path / "orders.csv",
        ORDERS.replace(",exported_at\n", f",exported_at,{extra}\n").replace("Z\n", "Z,x\n"),
    )
    assert [(result.outcome, result.rows) for result in ingest(settings, [orders])] == [
        ("loaded", 2)
    ]


def test_unnamed_columns_are_left_out_whatever_the_others_are_called(settings, tmp_path):
    # A spreadsheet's empty columns, beside one it named after its position.
    orders = write(
        tmp_path / "orders.csv",
        ORDERS.replace(",exported_at\n", ",exported_at,,,Column 13\n").replace("Z\n", "Z,,,x\n"),
    )
    assert [(result.outcome, result.rows) for result in ingest(settings, [orders])] == [
        ("loaded", 2)
    ]


def test_a_refused_file_is_recorded_with_the_format_it_was_read_as(settings, tmp_path):
    bad = write(tmp_path / "orders.csv", ORDERS.replace("10.00,USD", "ten,USD"))
    with pytest.raises(InputError):
        ingest(settings, [bad])
    assert raw_rows(settings, "select outcome, format from raw.loads") == [
        ("failed", "dropscore-orders")
    ]


def test_a_folder_is_refused_as_a_folder(settings, tmp_path):
    (tmp_path / "exports").mkdir()
    with pytest.raises(InputError, match="exports: a folder, not a file$"):
        ingest(settings, [tmp_path / "exports"])


def test_binary_garbage_is_refused(settings, tmp_path):
    garbage = tmp_path / "orders.csv"
    garbage.write_bytes(bytes(range(256)) * 20)
    with pytest.raises(InputError, match="not a text file"):
        ingest(settings, [garbage])


def test_the_cli_prints_one_line_and_exits_1_on_a_bad_file(tmp_path):
    bad = write(tmp_path / "orders.csv", ORDERS.replace("10.00,USD", "ten,USD"))
    result = CliRunner().invoke(cli, ["ingest", str(bad), "--home", str(tmp_path / "home")])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {bad}, line 2, column 'unit_price': expected an amount such as 12.50, got 'ten'\n"
    )


ROW_GROUP_ROWS = 122_880  # DuckDB's


@pytest.fixture(scope="module")
def a_week_after(tmp_path_factory):
    """A small first export, and a weekly one of more than two row groups."""
    out = tmp_path_factory.mktemp("row-groups")
    first = generate(out / "first", orders=1_000, seed=1)
    week = generate(out / "week", orders=250_000, seed=2)
    assert week.lines > 2 * ROW_GROUP_ROWS
    return first, week


@pytest.mark.parametrize("lines_in_order", [1_000_000, 0])
def test_a_weekly_export_is_appended_in_file_order_in_whole_row_groups(
    a_week_after, tmp_path, monkeypatch, lines_in_order
):
    """Appended unordered, a file leaves partial row groups that DuckDB's checkpoint merges and
    compresses again; a file up to ORDERED_APPEND_LINES long is appended as one stream."""
    monkeypatch.setattr(loader, "ORDERED_APPEND_LINES", lines_in_order)
    first, week = a_week_after
    settings = Settings(home=tmp_path, threads=2)  # one thread appends whole row groups anyway
    row_groups = """
        select sum(count)
        from pragma_storage_info('raw.dropscore_order_lines')
        where column_id = 0 and segment_type <> 'VALIDITY'
        group by row_group_id order by row_group_id
    """
    ingest(settings, [first.orders])
    before = len(raw_rows(settings, row_groups))
    ingest(settings, [week.orders])
    appended = [count for (count,) in raw_rows(settings, row_groups)[before:]]
    in_order = raw_rows(
        settings,
        f"select bool_and(source_line = rowid + 2 - {first.lines}) "
        "from raw.dropscore_order_lines where load_id = 2",
    )
    if lines_in_order:
        assert appended[:-1] == [ROW_GROUP_ROWS] * (len(appended) - 1)
        assert in_order == [(True,)]
    else:  # what the order is for: unordered, the threads leave partial row groups
        assert any(count < ROW_GROUP_ROWS for count in appended[:-1])
