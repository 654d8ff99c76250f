"""Reading the exports real dropshippers have: Shopify, AliExpress exporters and API, links.

Every real sample loads with counts worked out by hand; a small store whose files connect is
built into marts and links its customer refunds to suppliers; loading the same files again, in
any order, with last week's overlapping exports, changes no mart; no personal data reaches any
table.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from dropscore.cli import cli
from dropscore.config import Settings
from dropscore.pipeline import ingest, run
from ingest.errors import InputError
from ingest.loader import normalise_header
from ingest.text import not_utf8
from tests.conftest import write

FIXTURES = Path(__file__).parent / "fixtures"
REAL = FIXTURES / "real"
MIXED = FIXTURES / "mixed"
OLDER = FIXTURES / "mixed_older"

KETTLE = "8100000000000001:1005000000000011-12000000000000011"
COASTERS = "8100000000000001:1005000000000012-12000000000000012"
DESK_FAN = "8100000000000002:1005000000000021-12000000000000021"
PHONE_STAND = "8100000000000003:1005000000000022"
LAVA_LAMP = "8100000000000004:1005000000000041"
APRON = "8100000000000005:1005000000000051-12000000000000051"


def query(path: Path, sql: str, parameters=None) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, parameters or []).fetchall()
    finally:
        con.close()


def files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.iterdir() if path.name != "README.md")


# --- the real samples ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_samples(tmp_path_factory):
    settings = Settings(home=tmp_path_factory.mktemp("real"))
    return settings, ingest(settings, files(REAL))


def test_every_real_sample_is_recognised_and_loads_whole(real_samples):
    _, results = real_samples
    assert [(r.path.name, r.format, r.rows, r.rejected) for r in results] == [
        ("aliexpress_buyer_orders_shopper_inventory.csv", "aliexpress-orders-csv", 5, 0),
        ("aliexpress_buyer_orders_shopper_inventory.json", "aliexpress-orders-json", 5, 0),
        ("shopify_orders_export_devstore.csv", "shopify-orders", 40, 0),
        ("shopify_transactions_export_with_refunds.csv", "shopify-transactions", 32, 0),
    ]


def test_the_shopify_orders_sample_reads_order_fields_from_each_order_s_first_row(real_samples):
    # 40 line-item rows, 19 orders #1001..#1019; rows per order counted in the file: #1001 4,
    # #1002 2, #1003 1, #1004 2, #1005 2, #1006 3, #1007 1, #1008 4, #1009 4, #1010 1, #1011 4,
    # #1012 1, #1013 2, #1014..#1018 1 each, #1019 4 (= 40). Totals of the 19 first rows:
    # 1659.95 + 1615.90 + 729.95 + 34.95 + 1635.55 + 2535.85 + 49.95 + 189.80 + 189.80 + 729.95
    # + 1659.95 + 949.95 + 127.59 + 100 + 100 + 9.95 + 10 + 100 + 1659.95 = 14089.04. No refunds
    # (README). Only #1013 is pending. Emails: ayumu.hirano (#1004, #1012, #1014, #1015),
    # karine.ruby (#1005, #1013), Russel.winfield (#1008, #1009, #1016): 9 orders, 3 customer
    # keys. Addresses (so a country) on #1005, #1008, #1009, #1013: all CA.
    settings, _ = real_samples
    assert query(
        settings.build_path,
        """
        select count(*), sum(total), sum(refunded_amount), count(customer_key),
            count(distinct customer_key),
            list(name order by name) filter (where financial_status = 'pending'),
            list(name || ' ' || shipping_country order by name) filter (
                where shipping_country is not null
            )
        from raw.shopify_orders
        """,
    ) == [
        (
            19,
            Decimal("14089.04"),
            Decimal("0.00"),
            9,
            3,
            ["#1013"],
            ["#1005 CA", "#1008 CA", "#1009 CA", "#1013 CA"],
        )
    ]
    lines = query(
        settings.build_path,
        "select name, count(*) from raw.shopify_order_lines group by name order by name",
    )
    assert sum(count for _, count in lines) == 40
    assert dict(lines)["#1001"] == 4 and dict(lines)["#1019"] == 4 and len(lines) == 19
    # `2025-05-11 09:55:16 -0400` is stored in UTC
    assert query(
        settings.build_path,
        "select strftime(created_at, '%Y-%m-%d %H:%M:%S') from raw.shopify_orders "
        "where name = '#1001'",
    ) == [("2025-05-11 13:55:16",)]


def test_the_shopify_transactions_sample_keeps_dated_refunds_by_order_name(real_samples):
    # 32 rows over 21 orders (#1001..#1021). Refunds: #1021 44.9, #1011 24.9, #1005 54.89, #1004
    # 149.97 + 49.99, #1003 54.89, #1002 20 + 4.9: 8 refunds, 404.44. Failed sales: #1020 once,
    # #1008 twice. The Order column (5.37518E+12) is not stored: orders join on Name.
    settings, _ = real_samples
    assert query(
        settings.build_path,
        """
        select count(*), count(distinct name), count(*) filter (where kind = 'refund'),
            sum(amount) filter (where kind = 'refund'), count(*) filter (where status = 'failure')
        from raw.shopify_transactions
        """,
    ) == [(32, 21, 8, Decimal("404.44"), 3)]
    assert "order" not in {
        name
        for (name,) in query(
            settings.build_path,
            "select column_name from information_schema.columns "
            "where table_name = 'shopify_transactions'",
        )
    }


def test_the_aliexpress_samples_are_the_same_five_lines_the_json_export_newer(real_samples):
    # Both files hold the same 5 orders of 5 stores. Prices: US $120.95, 129,46zł (PLN), 2 x
    # US $2.04, US $15.00, US $8.50. Completed x3 -> delivered, Awaiting shipment -> placed,
    # Cancelled -> cancelled. Store ids only in the Store Url. The CSV has no export time, so it
    # is dated by its newest order (2026-02-26); the JSON's `timestamp`s (2026-02-27 onwards)
    # are newer, so its versions win.
    settings, _ = real_samples
    newest = query(
        settings.build_path,
        """
        select supplier_order_id, supplier_id, quantity, unit_price, currency, status, loads.format
        from raw.aliexpress_order_lines join raw.loads using (load_id)
        qualify row_number() over (
            partition by supplier_order_id, line_id order by exported_at desc, load_id desc
        ) = 1
        order by supplier_order_id
        """,
    )
    json = "aliexpress-orders-json"
    assert newest == [
        ("3064617543729913", "1104490681", 2, Decimal("2.04"), "USD", "delivered", json),
        ("3065094845459913", "1104298480", 1, Decimal("129.46"), "PLN", "delivered", json),
        ("3069099405659913", "1103582642", 1, Decimal("120.95"), "USD", "delivered", json),
        ("3070000000009913", "9999999999", 1, Decimal("15.00"), "USD", "placed", json),
        ("3070000000019913", "9999999998", 1, Decimal("8.50"), "USD", "cancelled", json),
    ]


# --- a small store whose files connect, built into marts ------------------------------------


@pytest.fixture(scope="module")
def mixed_build(tmp_path_factory) -> Settings:
    """The real samples and the mixed store, each file loaded once, built and published."""
    settings = Settings(home=tmp_path_factory.mktemp("mixed"))
    run(settings, files(REAL) + files(MIXED))
    return settings


@pytest.fixture(scope="module")
def shuffled_build(tmp_path_factory) -> Settings:
    """The same files in reverse order, each twice, with last week's overlapping exports."""
    settings = Settings(home=tmp_path_factory.mktemp("shuffled"))
    everything = files(REAL) + files(MIXED) + files(OLDER)
    run(settings, list(reversed(everything)) + everything)
    return settings


def test_customer_refunds_reach_the_supplier_lines_they_were_for(mixed_build):
    # #2001 was refunded 25.00 + 5.00 = 30.00 USD (transactions; the orders export says 30.00
    # too). The order links file pairs it with AliExpress order -1, whose kettle line has a
    # recorded dispute (D-1, Item damaged), so the kettle takes the whole refund and the
    # coasters none. #2002 ("2002" in the links file) was never refunded: its fan line is
    # known to be 0, not estimated. #2003 was refunded 15.00 EUR = 17.40 USD at 1.16, all to
    # the phone stand (its order ended with seller_accept_issue_no_goods_return). Lines of
    # unlinked orders keep the estimate.
    rows = query(
        mixed_build.warehouse_path,
        """
        select order_line_id, customer_refund_amount, is_customer_refund_estimated
        from marts.fct_order_lines where supplier_order_id like '81%' order by order_line_id
        """,
    )
    assert rows == [
        (KETTLE, Decimal("30.00"), False),
        (COASTERS, Decimal("0.00"), False),
        (DESK_FAN, Decimal("0.00"), False),
        (PHONE_STAND, Decimal("17.40"), False),
        (LAVA_LAMP, Decimal("0.00"), True),
        (APRON, Decimal("0.00"), True),
    ]


def test_an_end_reason_refund_counts_as_a_dispute_without_a_dispute_row(mixed_build):
    # Order -3 ended with seller_accept_issue_no_goods_return: a closed dispute refunded in full,
    # 2 x 3.10 = 6.20 USD; its reason is not in the export, so its category is `other`.
    assert query(
        mixed_build.warehouse_path,
        """
        select has_dispute, dispute_category, dispute_resolution, recovered_amount, status
        from marts.fct_order_lines where order_line_id = ?
        """,
        [PHONE_STAND],
    ) == [(True, "other", "full_refund", Decimal("6.20"), "shipped")]


def test_amounts_keep_their_currency_and_convert_only_with_a_rate(mixed_build):
    # 45,90zł at 0.273 USD = 12.53 USD. ISK has no rate in the seed: NULL, flagged, never 1:1.
    # The API line's cost is its actual_fee, 10.70 (9.50 + 1.20 shipping).
    assert query(
        mixed_build.warehouse_path,
        """
        select order_line_id, line_amount, currency, original_line_amount, original_currency,
            is_missing_exchange_rate
        from intermediate.int_order_lines_unioned
        where order_line_id in (?, ?, ?) order by order_line_id
        """,
        [DESK_FAN, LAVA_LAMP, APRON],
    ) == [
        (DESK_FAN, Decimal("10.70"), "USD", Decimal("10.70"), "USD", False),
        (LAVA_LAMP, None, "USD", Decimal("1299.00"), "ISK", True),
        (APRON, Decimal("12.53"), "USD", Decimal("45.90"), "PLN", False),
    ]


def assert_same_marts(built: Settings, expected: Settings) -> None:
    """Every mart holds the same rows, but for which load and line of a file they came from."""
    tables = query(
        expected.warehouse_path,
        "select table_name from information_schema.tables where table_schema = 'marts' "
        "order by table_name",
    )
    assert ("fct_order_lines",) in tables
    for (table,) in tables:
        columns = [
            name
            for (name,) in query(
                expected.warehouse_path,
                "select column_name from information_schema.columns "
                "where table_schema = 'marts' and table_name = ? order by ordinal_position",
                [table],
            )
            if name not in ("load_id", "source_line")
        ]
        listed = ", ".join(f'"{name}"' for name in columns)
        sql = f"select {listed} from marts.{table} order by all"
        assert query(built.warehouse_path, sql) == query(expected.warehouse_path, sql), table


def test_loading_again_in_any_order_with_older_overlapping_exports_changes_no_mart(
    mixed_build, shuffled_build
):
    assert_same_marts(shuffled_build, mixed_build)
    # last week's #2001 had a gift-wrap line since removed: the newest export's lines win
    assert query(
        shuffled_build.warehouse_path,
        "select product_title from staging.stg_shopify__order_lines "
        "where store_order = '#2001' order by line_number",
    ) == [("Ceramic Pour-Over Kettle",), ("Bamboo Coasters (set of 4)",)]


def test_a_run_per_export_gives_the_marts_of_one_run_of_them_all(mixed_build, tmp_path):
    # The weekly job, one kind of export at a time: supplier lines first, then their disputes,
    # then the store's orders and refunds, then the links between them. Each run after the
    # first rebuilds only the supplier and store orders its files name.
    settings = Settings(home=tmp_path / "home")
    everything = files(REAL) + files(MIXED)
    kinds = ["aliexpress", "disputes", "order_links", "shopify"]
    for kind in kinds:
        run(settings, [path for path in everything if path.name.startswith(kind)])
    assert {path for path in everything if not path.name.startswith(tuple(kinds))} == set()

    assert_same_marts(settings, mixed_build)
    (marks,) = query(
        settings.warehouse_path,
        "select count(distinct built_through_load_id) from intermediate.int_order_lines_costed",
    )
    assert marks[0] > 1


PERSONAL_COLUMNS = {
    "email",
    "phone",
    "employee",
    "notes",
    "note_attributes",
    *(
        f"{side}_{part}"
        for side in ("billing", "shipping")
        for part in (
            "name",
            "street",
            "address1",
            "address2",
            "company",
            "city",
            "zip",
            "province",
            "province_name",
            "phone",
        )
    ),
}


def personal_values() -> set[str]:
    """Every personal value the Shopify samples hold (names, emails, phones, addresses)."""
    import csv

    values = set()
    for path in [REAL / "shopify_orders_export_devstore.csv", *MIXED.glob("shopify_orders*"),
                 *OLDER.glob("shopify_orders*")]:  # fmt: skip
        with open(path, encoding="utf-8-sig", newline="") as file:
            for row in csv.DictReader(file):
                for header, value in row.items():
                    value = (value or "").strip().lstrip("'")
                    # provinces (ON) are too short to search for; the countries are kept
                    if normalise_header(header) in PERSONAL_COLUMNS and len(value) >= 4:
                        values.add(value.lower())
    return values


def test_no_personal_data_reaches_any_table(mixed_build):
    values = sorted(personal_values())
    assert {"ayumu.hirano@example.com", "mara quist", "12 larkspur lane", "+16135550127"} <= set(
        values
    )
    assert len(values) > 30
    for warehouse in (mixed_build.build_path, mixed_build.warehouse_path):
        con = duckdb.connect(str(warehouse), read_only=True)
        try:
            tables = con.execute(
                """
                select table_schema, table_name, list(column_name)
                from information_schema.columns
                where data_type = 'VARCHAR'
                    and table_schema not in ('information_schema', 'pg_catalog')
                group by all
                """
            ).fetchall()
            assert sum(len(columns) for _, _, columns in tables) > 100
            found = []
            for schema, table, columns in tables:
                cells = ", ".join(f'"{column}"' for column in columns)
                found += con.execute(
                    f"""
                    select distinct '{schema}.{table}', cell
                    from (select unnest([{cells}]) as cell from "{schema}"."{table}"),
                        (select unnest(?::varchar[]) as personal)
                    where contains(lower(cell), personal)
                    """,
                    [values],
                ).fetchall()
        finally:
            con.close()
        assert found == [], warehouse
    # a customer is still recognisable across orders, by a salted hash
    assert query(
        mixed_build.warehouse_path,
        "select count(distinct customer_key) from staging.stg_shopify__orders "
        "where store_order in ('#1004', '#1012', '#2001')",
    ) == [(2,)]


# --- bad files --------------------------------------------------------------------------------

CSV_FORMATS = (
    "dropscore-orders (columns currency, line_id, ordered_at, product_id, quantity, status, "
    "supplier_id, supplier_name, supplier_order_id, unit_price); dropscore-disputes (columns "
    "dispute_id, opened_at, reason, status, supplier_order_id); order-links (columns "
    "store_order, supplier_order_id); shopify-orders (columns created_at, currency, "
    "financial_status, lineitem_name, lineitem_price, lineitem_quantity, name, total); "
    "shopify-transactions (columns amount, created_at, currency, kind, name, status); "
    "aliexpress-orders-csv (columns order_date, order_id, price, product_id, qty, status, store, "
    "title)"
)
JSON_FORMATS = (
    "aliexpress-orders-json (objects with orderId, productId, price, status, storeName, "
    "storePageUrl); aliexpress-ds-orders (order objects (or the API's response envelopes) with "
    "order_id, gmt_create, order_status and child_order_list)"
)

SHOPIFY_HEADER = (
    "Name,Email,Financial Status,Currency,Total,Refunded Amount,Created at,Lineitem quantity,"
    "Lineitem name,Lineitem price,Billing Name"
)
SHOPIFY = (
    f"{SHOPIFY_HEADER}\n"
    "#3001,ann@example.com,paid,USD,30.00,0.00,2026-01-05 10:00:00 -0500,1,Mug,10.00,Ann Bee\n"
    "#3001,,,,,,,2,Spoon,10.00,\n"
)
TRANSACTIONS = (
    "Order,Name,Kind,Gateway,Created At,Status,Amount,Currency,Card Type\n"
    "5.7E+12,#3001,sale,shopify_payments,2026-01-05 10:00:05 -0500,success,30.00,USD,visa\n"
    "5.7E+12,#3001,refund,shopify_payments,2026-01-09 10:00:05 -0500,success,10.00,USD,visa\n"
)
EXPORTER_HEADER = (
    "Order Date,Order ID,Title,Qty,Price,Store,Product ID,SKU ID,Currency,Status,Store Url"
)
EXPORTER = (
    f"{EXPORTER_HEADER}\n"
    '"2026-01-06",8200000000000001,"Mug, large",1,"US $3.20","Mug Store","1005000000000101",'
    '"12000000000000101",USD,Completed,https://www.aliexpress.com/store/1100000101\n'
    '"2026-01-06",8200000000000002,"Spoon",2,"US $1,002.50","Mug Store","1005000000000102",'
    ",USD,Awaiting shipment,https://www.aliexpress.com/store/1100000101\n"
)
EXPORTER_ROWS = EXPORTER.split("\n", 1)[1]
SHOPIFY_ROWS = SHOPIFY.split("\n", 1)[1]
API_ORDER = (
    '{"order_id": 8200000000000003, "gmt_create": "2026-01-07 08:00:00", "order_status": '
    '"WAIT_SELLER_SEND_GOODS", "store_info": {"store_id": 1100000102, "store_name": "Fan Store"}, '
    '"child_order_list": [{"product_id": 1005000000000103, "product_count": 1, '
    '"product_price": {"amount": "5.00", "currency_code": "USD"}}]}'
)
UI_STATUSES = (
    "Awaiting payment, Payment processing, Awaiting shipment, Awaiting confirmation, "
    "Processing, To ship, Shipped, Awaiting delivery, Partially shipped, In transit, Completed, "
    "Delivered, Finished, Cancelled, Canceled, Closed, Order closed"
)
DIGITS = (
    "an id made of digits such as 3069099405659913 (a spreadsheet that shows 3.06909E+15 has "
    "rounded it: export the file again)"
)

NOT_UTF8 = "in Windows-1252) is not UTF-8 text: save it as UTF-8 (in Excel: CSV UTF-8)"
ORDER_ONCE = "each order once, its rows one after another (two exports pasted into one file?)"

BAD_FILES = [
    pytest.param(
        "bank.csv",
        "Date,Amount,Description\n2026-01-01,12.00,coffee\n",
        f", line 1: unrecognised format: expected one of {CSV_FORMATS}",
        id="unknown header",
    ),
    pytest.param(
        "orders.csv",
        SHOPIFY.replace("Lineitem quantity", "Lineitem qty"),
        ", line 1: unrecognised format: closest is shopify-orders, missing column(s) "
        f"lineitem_quantity; expected one of {CSV_FORMATS}",
        id="wrong header",
    ),
    pytest.param(
        "aliexpress.csv",
        EXPORTER[: EXPORTER.index("Spoon") + 3],
        ", line 3: a quoted value is never closed (is the file cut short?)",
        id="truncated csv",
    ),
    pytest.param(
        "api.json",
        f"[\n{API_ORDER},\n{API_ORDER[:90]}",
        ", line 3: the JSON ends before its value does (is the file cut short?)",
        id="truncated json",
    ),
    pytest.param(
        "transactions.csv",
        TRANSACTIONS.replace(",30.00,USD,visa", ",30.00,USD,visa,extra"),
        ", line 2: expected 9 columns, found 10",
        id="wrong column count",
    ),
    pytest.param(
        "orders.csv",
        SHOPIFY.replace("2026-01-05 10:00:00 -0500", "05/01/2026 10:00"),
        ", line 2, column 'Created at': expected an ISO 8601 timestamp from 1970 to 2199 such as "
        "2026-01-31T09:30:00Z, got '05/01/2026 10:00'",
        id="unparsable date",
    ),
    pytest.param(
        "aliexpress.csv",
        EXPORTER.replace("US $3.20", "about 3 dollars"),
        ", line 2, column 'Price': expected a price such as 12.50, US $12.50 or 129,46zł, "
        "got 'about 3 dollars'",
        id="unparsable price",
    ),
    pytest.param(
        "orders.csv",
        SHOPIFY.replace(",30.00,0.00,", ',"30,00 $",0.00,'),
        ", line 2, column 'Total': expected an amount such as 12.50, got '30,00 $'",
        id="unparsable amount",
    ),
    pytest.param(
        "transactions.csv",
        TRANSACTIONS.replace("10.00,USD", "10.00,ZZZ"),
        ", line 3, column 'Currency': expected a 3-letter ISO 4217 code such as USD, got 'ZZZ'",
        id="unknown currency",
    ),
    pytest.param(
        "aliexpress.csv",
        EXPORTER.replace(",USD,Completed", ",,Completed").replace("US $3.20", "$3.20"),
        ", line 2, column 'Price': expected a price whose currency is known: this symbol is "
        "shared by several currencies, so the file needs a Currency column, got '$3.20'",
        id="ambiguous currency",
    ),
    pytest.param(
        "aliexpress.csv",
        EXPORTER.replace("US $3.20", "€3.20"),
        ", line 2, column 'Price': expected a price in the currency the Currency column names, "
        "got '€3.20'",
        id="price and currency disagree",
    ),
    pytest.param(
        "aliexpress.csv",
        EXPORTER.replace("8200000000000002", "8.2E+15"),
        f", line 3, column 'Order ID': expected {DIGITS}, got '8.2E+15'",
        id="spreadsheet-rounded id",
    ),
    pytest.param(
        "aliexpress.csv",
        EXPORTER.replace("Awaiting shipment", "Teleported"),
        f", line 3, column 'Status': expected one of {UI_STATUSES}, got 'Teleported'",
        id="unknown status",
    ),
    pytest.param(
        "orders.csv",
        SHOPIFY.replace("#3001,ann@example.com,paid,", "#3001,ann@example.com,,"),
        ", line 2, column 'Financial Status': expected a value (the column is required), "
        "got an empty cell",
        id="order fields missing from the order's first row",
    ),
    pytest.param(
        "api.json",
        API_ORDER.replace('"order_id": 8200000000000003, ', ""),
        ", line 1, column 'order_id': expected a value (the column is required), got an empty cell",
        id="api order without its id",
    ),
    pytest.param(
        "export.json",
        '[{"sku": "A1", "qty": 2}]',
        f", line 1: unrecognised format: expected one of {JSON_FORMATS}",
        id="unknown json",
    ),
    pytest.param("orders.csv", "", ": the file is empty", id="empty file"),
    pytest.param("orders.json", "[]", ": the file is empty (an empty JSON array)", id="empty json"),
    pytest.param(
        "orders.csv",
        bytes(range(256)) * 20,
        ": not a text file (it contains binary data)",
        id="binary garbage",
    ),
    pytest.param(  # its lines would load twice
        "orders.csv",
        SHOPIFY + SHOPIFY_ROWS.replace("#3001", "#3002") + SHOPIFY_ROWS,
        f", line 6, column 'Name': expected {ORDER_ONCE}, got '#3001'",
        id="an order met again after another",
    ),
    pytest.param(  # records over several lines are counted apart
        "orders.csv",
        (SHOPIFY + SHOPIFY_ROWS.replace("#3001", "#3002") + SHOPIFY_ROWS).replace(
            "Ann Bee", '"Ann\nBee"'
        ),
        f", line 8, column 'Name': expected {ORDER_ONCE}, got '#3001'",
        id="an order met again after another, in a file with line breaks in cells",
    ),
    pytest.param(  # its first row again: the order's own cells where they never are
        "orders.csv",
        SHOPIFY + SHOPIFY_ROWS,
        ", line 4, column 'Financial Status': expected it on an order's first row only, as on "
        "the other orders (is the order pasted twice?), got 'paid'",
        id="an order twice in a row",
    ),
    pytest.param(  # a cell that swallowed a file, say; the line its record starts on
        "aliexpress.csv",
        EXPORTER.replace('"Mug, large"', '"Mug,\n\nlarge"')
        + EXPORTER_ROWS.replace("Mug, large", "x" * 2_100_000),
        f", line 6: a row of {len(EXPORTER_ROWS.splitlines()[0]) - 10 + 2_100_000:,} bytes, "
        "longer than the 2,000,000 a row may be",
        id="a row too long",
    ),
    pytest.param(  # a cell longer than Python's csv reader takes by default, before it
        "orders.csv",
        SHOPIFY.replace("Mug", "M" * 200_000).replace("Spoon", "Sp\xf6on").encode("latin-1"),
        f", line 3, column 'Lineitem name': byte 0xF6 (\xf6 {NOT_UTF8}",
        id="not utf-8 after a long cell",
    ),
    pytest.param(
        "orders.csv",
        SHOPIFY.replace("Spoon", "S" * 200_000 + ", big"),
        ", line 3: expected 11 columns, found 12 (quote a cell that holds a comma; end no line "
        "with one)",
        id="a cell too many after a long cell",
    ),
    pytest.param(
        "orders.csv",
        SHOPIFY.replace("Mug", "M\xfcg").encode("latin-1"),
        f", line 2, column 'Lineitem name': byte 0xFC (\xfc {NOT_UTF8}",
        id="not utf-8",
    ),
    pytest.param(  # the line of the byte, in a cell that began on the line before
        "aliexpress.csv",
        EXPORTER.replace('"Mug, large"', '"Mug,\nlarge caf\xe9"').encode("latin-1"),
        f", line 3, column 'Title': byte 0xE9 (\xe9 {NOT_UTF8}",
        id="not utf-8 in a cell over two lines",
    ),
    pytest.param(  # old Mac line ends, CR alone
        "aliexpress.csv",
        (EXPORTER + EXPORTER_ROWS.replace("Mug Store", "Mug St\xf6re"))
        .replace("\n", "\r")
        .encode("latin-1"),
        f", line 4, column 'Store': byte 0xF6 (\xf6 {NOT_UTF8}",
        id="not utf-8 after lines ended by CR",
    ),
    pytest.param(  # larger than the sample read to sniff the format: found by DuckDB
        "aliexpress.csv",
        (
            EXPORTER + EXPORTER_ROWS * 299 + EXPORTER_ROWS.replace("Mug Store", "Mug St\xf6re")
        ).encode("latin-1"),
        f", line 602, column 'Store': byte 0xF6 (\xf6 {NOT_UTF8}",
        id="not utf-8 far into a large file",
    ),
    pytest.param(
        "aliexpress.csv",
        EXPORTER.encode() + "Caf\xe9".encode()[:-1],
        ", line 4, column 'Order Date': the file ends inside a character (cut short?), or byte "
        f"0xC3 (\xc3 {NOT_UTF8}",
        id="cut inside a character",
    ),
    pytest.param(
        "orders.json",
        ("[\n" + API_ORDER.replace('"Fan Store"', '"Fan St\xf6re"') + "\n]").encode("latin-1"),
        ", line 2: byte 0xF6 (\xf6 in Windows-1252) is not UTF-8 text: save it as UTF-8",
        id="not utf-8 in json",
    ),
    pytest.param(  # lines before the header are passed over, and counted
        "aliexpress.csv",
        "\nsep=,\n" + EXPORTER.replace("8200000000000002", "8.2E+15"),
        f", line 5, column 'Order ID': expected {DIGITS}, got '8.2E+15'",
        id="a blank line and a sep line before the header",
    ),
    pytest.param(
        "aliexpress.csv",
        "sep=;\n" + EXPORTER.replace(",", ";"),
        ", line 1: its cells are separated by ';': save it with commas",
        id="semicolons",
    ),
    pytest.param(
        "aliexpress.csv",
        "sep=\t\n" + EXPORTER.replace(",", "\t"),
        ", line 1: its cells are separated by '\\t': save it with commas",
        id="tabs",
    ),
    pytest.param(
        "orders.csv",
        "Name,Total\n#1,30.00\n".encode("utf-16"),
        ": UTF-16 text, not UTF-8: save it as UTF-8 (in Excel: CSV UTF-8)",
        id="utf-16",
    ),
    pytest.param(
        "orders.csv",
        "Name,Total\n#1,30.00\n".encode("utf-16-le"),
        ": UTF-16 text, not UTF-8: save it as UTF-8 (in Excel: CSV UTF-8)",
        id="utf-16 without a byte order mark",
    ),
    pytest.param(
        "orders.json",
        ("[\n" + API_ORDER + "\n]").encode("utf-16"),
        ": UTF-16 text, not UTF-8: save it as UTF-8",
        id="utf-16 json",
    ),
    pytest.param(  # an emoji cut in two by an exporter: valid JSON, not text
        "orders.json",
        "[\n" + API_ORDER.replace('"Fan Store"', '"Fan \\ud83d Store"') + "\n]",
        ", line 2: a text holds half of a UTF-16 surrogate pair (\\ud800-\\udfff alone), "
        "which is not a character",
        id="lone surrogate",
    ),
    pytest.param(  # as a float it would be 3069090000000000, digits the id rule accepts
        "orders.json",
        "[\n" + API_ORDER.replace("8200000000000003", "3.06909E+15") + "\n]",
        f", line 2, column 'order_id': expected {DIGITS}, got '3.06909E+15'",
        id="id a spreadsheet rounded, in json",
    ),
    pytest.param(
        "orders.json",
        "[\n" + API_ORDER.replace("8200000000000003", "8" * 5000) + "\n]",
        ", line 2: not valid JSON: a number too long to read",
        id="number of 5000 digits",
    ),
]


def raw_row_counts(settings: Settings) -> dict[str, int]:
    tables = query(
        settings.build_path,
        "select table_name from information_schema.tables where table_schema = 'raw' "
        "and table_name not in ('loads', 'rejects')",
    )
    return {
        table: query(settings.build_path, f"select count(*) from raw.{table}")[0][0]
        for (table,) in tables
    }


@pytest.mark.parametrize(("name", "content", "message"), BAD_FILES)
def test_a_bad_file_is_refused_in_one_line_and_loads_nothing(
    settings, tmp_path, name, content, message
):
    good = [
        write(tmp_path / "good_orders.csv", SHOPIFY),
        write(tmp_path / "good_transactions.csv", TRANSACTIONS),
        write(tmp_path / "good_aliexpress.csv", EXPORTER),
        write(tmp_path / "good_api.json", API_ORDER),
    ]
    ingest(settings, good)
    before = raw_row_counts(settings)
    bad = tmp_path / "bad" / name
    bad.parent.mkdir()
    if isinstance(content, bytes):
        bad.write_bytes(content)
    else:
        write(bad, content)
    result = CliRunner().invoke(cli, ["ingest", str(bad), "--home", str(settings.home)])
    assert (result.exit_code, result.output) == (1, f"Error: {bad}{message}\n")
    assert raw_row_counts(settings) == before
    # kept without the cell's text, which may be a buyer's data
    recorded = re.sub(r", got (an empty cell|'.*)$", "", f"{bad}{message}")
    assert query(
        settings.build_path, "select outcome, message from raw.loads order by load_id desc limit 1"
    ) == [("failed", recorded)]


def test_a_shopify_export_is_dated_by_its_orders_own_dates_not_their_other_rows(settings, tmp_path):
    # A date left on an order's second row is never checked: it must not date the export
    # either, or this file would outrank the next export, whose refund would then be lost.
    stray = SHOPIFY.replace(",,,,,,,2,Spoon,", ",,,,,,9999-01-01 00:00:00 -0400,2,Spoon,")
    refunded = SHOPIFY.replace(
        ",paid,USD,30.00,0.00,2026-01-05", ",refunded,USD,30.00,30.00,2026-01-06"
    )
    ingest(settings, [write(tmp_path / "first.csv", stray)])
    ingest(settings, [write(tmp_path / "next.csv", refunded)])
    assert query(
        settings.build_path,
        "select load_id, exported_at::varchar from raw.shopify_orders order by load_id",
    ) == [(1, "2026-01-05 15:00:00+00"), (2, "2026-01-06 15:00:00+00")]


def test_a_path_that_cannot_be_opened_is_refused_in_one_line(settings, tmp_path):
    (tmp_path / "loop.csv").symlink_to(tmp_path / "loop.csv")
    for path, message in [
        (tmp_path / ("x" * 300 + ".csv"), "cannot be opened: file name too long"),
        (tmp_path / "loop.csv", "cannot be opened: too many levels of symbolic links"),
    ]:
        result = CliRunner().invoke(cli, ["ingest", str(path), "--home", str(settings.home)])
        assert (result.exit_code, result.output) == (1, f"Error: {path}: {message}\n")


def test_the_byte_that_is_not_utf8_is_found_past_characters_cut_between_reads(tmp_path):
    # The header's 7 bytes put the 1 MiB read's end inside a row's 3-byte euro sign.
    rows = "abcd,b\n" + "1,\u20ac\n" * 200_000
    assert rows.encode()[(1 << 20) - 1 : (1 << 20) + 1] == "\u20ac".encode()[:2]
    path = tmp_path / "orders.csv"
    path.write_bytes(rows.encode() + b"2,caf\xe9\n")
    error = not_utf8(path)
    assert (error.line, error.column) == (200_002, "b")
    path.write_bytes(rows.encode() + b"\xe9,2\n")
    assert (not_utf8(path).line, not_utf8(path).column) == (200_002, "abcd")
    path.write_bytes(b"ab\xe9,b\n1,2\n")  # in the header: no column to name
    assert (not_utf8(path).line, not_utf8(path).column) == (1, None)


def test_cells_that_are_not_read_need_not_be_utf8_and_blank_rows_may_split_an_order(
    settings, tmp_path
):
    # A billing name saved as Windows-1252 is dropped unread: the export loads, also larger
    # than the sample read to find its header and with lines ending in a comma.
    orders = [SHOPIFY_ROWS.replace("#3001", f"#{number}") for number in range(4000, 4600)]
    big = SHOPIFY_HEADER + "\n" + "".join(orders) + SHOPIFY_ROWS.replace("Ann Bee", "Jos\xe9")
    (tmp_path / "big.csv").write_bytes(big.encode("latin-1"))
    (tmp_path / "small.csv").write_bytes(SHOPIFY.replace("Ann Bee", "Jos\xe9").encode("latin-1"))
    rows = SHOPIFY.splitlines()  # a line item cleared in a spreadsheet, left as a row of commas
    blank = write(tmp_path / "blank.csv", "\n".join([rows[0], rows[1], "," * 10, rows[2]]) + "\n")
    # a spreadsheet writes back the line that tells it the delimiter as a row, or quoted
    sep = [
        write(tmp_path / f"sep{n}.csv", line + EXPORTER)
        for n, line in enumerate(["sep=,,,,,,,,,,\n", '"sep=,"\n'])
    ]
    results = ingest(settings, [tmp_path / "big.csv", tmp_path / "small.csv", blank, *sep])
    assert [(r.format, r.rows, r.rejected) for r in results] == [
        ("shopify-orders", 1202, 0),
        ("shopify-orders", 2, 0),
        ("shopify-orders", 2, 1),
        ("aliexpress-orders-csv", 2, 0),
        ("aliexpress-orders-csv", 2, 0),
    ]


def test_a_real_export_in_a_folder_named_unicode_loads(settings, tmp_path):
    # DuckDB's message for a cell it cannot read typed names the file: only its own words for
    # a byte that is not UTF-8 may be taken for one.
    export = tmp_path / "unicode" / "orders.csv"
    export.parent.mkdir()
    export.write_bytes((REAL / "shopify_orders_export_devstore.csv").read_bytes())
    assert [(r.format, r.rows) for r in ingest(settings, [export])] == [("shopify-orders", 40)]


def test_the_good_files_of_the_bad_file_tests_load(settings, tmp_path):
    results = ingest(
        settings,
        [
            write(tmp_path / "o.csv", SHOPIFY),
            write(tmp_path / "t.csv", TRANSACTIONS),
            write(tmp_path / "a.csv", EXPORTER),
            write(tmp_path / "j.json", API_ORDER),
        ],
    )
    assert [(r.format, r.rows) for r in results] == [
        ("shopify-orders", 2),
        ("shopify-transactions", 2),
        ("aliexpress-orders-csv", 2),
        ("aliexpress-ds-orders", 1),
    ]
    # "US $1,002.50": thousands separator; the second row has no SKU id
    assert query(
        settings.build_path,
        "select line_id, unit_price from raw.aliexpress_order_lines order by line_id",
    ) == [
        ("1005000000000101-12000000000000101", Decimal("3.20")),
        ("1005000000000102", Decimal("1002.50")),
        ("1005000000000103", Decimal("5.00")),
    ]


def test_rows_that_are_not_orders_are_kept_as_rejects_and_counted(settings, tmp_path):
    # a spreadsheet's total row under the export: no Name, so not an order line
    export = write(tmp_path / "orders.csv", SHOPIFY + ",,,,30.00,,,,,,\n")
    result = CliRunner().invoke(cli, ["ingest", str(export), "--home", str(settings.home)])
    assert result.exit_code == 0
    assert f"{export}: 2 rows loaded as shopify-orders, 1 rejected (see raw.rejects)\n" in (
        result.stderr
    )
    assert result.stdout == (
        f"2 rows loaded, 1 rejected (see raw.rejects) from 1 file(s) into {settings.build_path}\n"
    )
    assert query(settings.build_path, "select * from raw.rejects") == [
        (1, 4, "Name", "not an order row: Name is empty")
    ]
    assert query(settings.build_path, "select rows_loaded, rows_rejected from raw.loads") == [
        (2, 1)
    ]


# --- detection, --format and templates ---------------------------------------------------


def test_formats_are_detected_from_content_not_names(settings, tmp_path):
    links = write(
        tmp_path / "from-dsers.txt", "Store Order , SUPPLIER ORDER ID\n#1,8200000000000001\n"
    )
    bom_crlf = tmp_path / "aliexpress.dat"
    bom_crlf.write_bytes(b"\xef\xbb\xbf" + EXPORTER.replace("\n", "\r\n").encode())
    api = write(tmp_path / "api.txt", API_ORDER + "\n" + API_ORDER.replace("03,", "04,") + "\n")
    results = ingest(settings, [links, bom_crlf, api])
    assert [(r.format, r.rows) for r in results] == [
        ("order-links", 1),
        ("aliexpress-orders-csv", 2),
        ("aliexpress-ds-orders", 2),
    ]


def test_format_overrides_detection_and_says_what_the_file_lacks(settings, tmp_path):
    links = write(tmp_path / "links.csv", "store_order,supplier_order_id\n#1,8200000000000001\n")
    home = ["--home", str(settings.home)]
    result = CliRunner().invoke(cli, ["ingest", str(links), "--format", "dropscore-orders", *home])
    assert (result.exit_code, result.output) == (
        1,
        f"Error: {links}, line 1: missing required column(s) currency, line_id, ordered_at, "
        "product_id, quantity, status, supplier_id, supplier_name, unit_price for format "
        "dropscore-orders\n",
    )
    api = write(tmp_path / "api.json", API_ORDER)
    result = CliRunner().invoke(cli, ["ingest", str(api), "--format", "order-links", *home])
    assert (result.exit_code, result.output) == (
        1,
        f"Error: {api}: format order-links is CSV, this file is JSON\n",
    )
    result = CliRunner().invoke(cli, ["ingest", str(links), "--format", "order-links", *home])
    assert result.exit_code == 0
    # Loaded once as one format, a file is not "unchanged" under another.
    result = CliRunner().invoke(cli, ["ingest", str(links), "--format", "order-links", *home])
    assert (result.exit_code, "unchanged" in result.output) == (0, True)
    disputes = ["--format", "dropscore-disputes", *home]
    result = CliRunner().invoke(cli, ["ingest", str(links), *disputes])
    assert (result.exit_code, result.output) == (
        1,
        f"Error: {links}: already loaded as order-links, and a file loads once: to load it as "
        "dropscore-disputes instead, load your files into a new home\n",
    )


def test_a_file_with_a_richer_formats_columns_but_one_is_not_taken_for_a_poorer_one(
    settings, tmp_path
):
    # All of order-links' columns, and all of dropscore-orders' but its quantity, misspelt:
    # loaded as order-links, its order lines would be left out without a word.
    header = (
        "supplier_order_id,line_id,ordered_at,supplier_id,supplier_name,product_id,qty,"
        "unit_price,currency,status,store_order"
    )
    row = "8200000000000001,1,2026-01-05T10:00:00Z,s1,Store,p1,1,9.99,USD,delivered,#1001"
    orders = write(tmp_path / "orders.csv", f"{header}\n{row}\n")
    with pytest.raises(InputError) as refused:
        ingest(settings, [orders])
    assert str(refused.value) == (
        f"{orders}, line 1: looks like dropscore-orders but is missing column(s) quantity; if "
        "it is order-links, load it with --format order-links"
    )
    # Two richer formats as near by their columns found: the one missing fewer is named.
    disputes = write(
        tmp_path / "disputes.csv",
        "dispute_id,supplier_order_id,line_id,product_id,opened_at,why,state,store_order\n"
        "d1,8200000000000001,1,p1,2026-01-05T10:00:00Z,Damaged,open,#1001\n",
    )
    with pytest.raises(InputError) as refused:
        ingest(settings, [disputes])
    assert refused.value.message == (
        "looks like dropscore-disputes but is missing column(s) reason, status; if it is "
        "order-links, load it with --format order-links"
    )
    # A links file with a few order columns besides is still one.
    links = write(
        tmp_path / "links.csv",
        "store_order,supplier_order_id,ordered_at,product_id,status\n"
        "#1001,8200000000000001,2026-01-05T10:00:00Z,p1,delivered\n",
    )
    assert [result.format for result in ingest(settings, [links])] == ["order-links"]


@pytest.mark.parametrize(
    ("kind", "format_name"),
    [
        ("disputes", "dropscore-disputes"),
        ("order-links", "order-links"),
        ("orders", "dropscore-orders"),
    ],
)
def test_a_template_explains_its_columns_and_loads_as_its_format(
    settings, tmp_path, kind, format_name
):
    from ingest.formats import FORMATS

    shown = CliRunner().invoke(cli, ["template", kind])
    assert shown.exit_code == 0
    comment, header = shown.stdout.splitlines()
    columns = [column.name for column in FORMATS[format_name].columns]
    assert comment.startswith(f"# {format_name} template. ")
    assert all(f"{name} (" in comment for name in columns)
    assert header == ",".join(columns)
    out = tmp_path / f"{kind}.csv"
    written = CliRunner().invoke(cli, ["template", kind, "--out", str(out)])
    assert written.exit_code == 0
    assert out.read_text(encoding="utf-8") == shown.stdout
    loaded = ingest(settings, [out])
    assert [(r.format, r.rows) for r in loaded] == [(format_name, 0)]


def test_a_template_is_never_written_over_a_file_and_a_bad_path_is_one_line(tmp_path):
    kept = tmp_path / "disputes.csv"
    kept.write_text("dispute_id,supplier_order_id\nd1,100\n", encoding="utf-8")
    again = CliRunner().invoke(cli, ["template", "disputes", "--out", str(kept)])
    assert (again.exit_code, again.stderr) == (
        1,
        f"Error: {kept} already exists: name another file (a template has no rows to keep)\n",
    )
    assert kept.read_text(encoding="utf-8") == "dispute_id,supplier_order_id\nd1,100\n"
    nowhere = tmp_path / "no-such-folder" / "disputes.csv"
    missing = CliRunner().invoke(cli, ["template", "disputes", "--out", str(nowhere)])
    assert (missing.exit_code, missing.stderr) == (
        1,
        f"Error: cannot write {nowhere}: No such file or directory\n",
    )
