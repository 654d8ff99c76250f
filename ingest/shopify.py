"""Shopify admin exports: the customer side, what the store sold and refunded.

`Export orders` writes one row per line item; the order's own fields (status, totals,
refunded amount, dates) are filled on the first row of each order only and left blank on its
continuation rows, so they are read from that row alone and never summed over rows. `Name`
(`#1001`) is the order key: the numeric `Id` does not survive a spreadsheet (`5.37518E+12`).

Personal data (names, emails, phones, addresses, notes, staff names) is never read into any
table: only the cells listed here are read; email (or phone) becomes a salted hash, the
customer key, while the file is being read.
"""

from __future__ import annotations

from ingest.spec import Column, Format, Output, RawTable, Reject

FINANCIAL_STATUSES = (
    "pending",
    "authorized",
    "partially_paid",
    "paid",
    "partially_refunded",
    "refunded",
    "voided",
    "expired",
)

FIRST_ROW = "__position = 1"  # the row of an order that carries its order-level fields

ORDERS_TABLE = RawTable(
    "shopify_orders",
    (
        ("name", "varchar"),
        ("customer_key", "varchar"),
        ("financial_status", "varchar"),
        ("fulfillment_status", "varchar"),
        ("currency", "varchar"),
        ("subtotal", "decimal(18, 2)"),
        ("shipping", "decimal(18, 2)"),
        ("taxes", "decimal(18, 2)"),
        ("discount_amount", "decimal(18, 2)"),
        ("total", "decimal(18, 2)"),
        ("refunded_amount", "decimal(18, 2)"),
        ("created_at", "timestamptz"),
        ("paid_at", "timestamptz"),
        ("fulfilled_at", "timestamptz"),
        ("cancelled_at", "timestamptz"),
        ("shipping_country", "varchar"),
        ("billing_country", "varchar"),
        ("source", "varchar"),
    ),
    "One row per Shopify order per loaded file (format shopify-orders), from its first row.",
)

ORDER_LINES_TABLE = RawTable(
    "shopify_order_lines",
    (
        ("name", "varchar"),
        ("line_number", "integer"),
        ("lineitem_name", "varchar"),
        ("lineitem_sku", "varchar"),
        ("lineitem_quantity", "integer"),
        ("lineitem_price", "decimal(18, 2)"),
        ("lineitem_requires_shipping", "varchar"),
        ("lineitem_fulfillment_status", "varchar"),
        ("vendor", "varchar"),
    ),
    "One row per Shopify order line item per loaded file (format shopify-orders).",
)

TRANSACTIONS_TABLE = RawTable(
    "shopify_transactions",
    (
        ("name", "varchar"),
        ("kind", "varchar"),
        ("gateway", "varchar"),
        ("created_at", "timestamptz"),
        ("status", "varchar"),
        ("amount", "decimal(18, 2)"),
        ("currency", "varchar"),
    ),
    "One row per Shopify payment transaction per loaded file (format shopify-transactions).",
)


def _order_columns(cells) -> dict[str, str]:
    selected = {
        name: cells.value(name) for name, _ in ORDERS_TABLE.columns if name != "customer_key"
    }
    selected["customer_key"] = "customer_key"
    return selected


def _line_columns(cells) -> dict[str, str]:
    selected = {name: cells.value(name) for name, _ in ORDER_LINES_TABLE.columns[2:]}
    return {"name": cells.value("name"), "line_number": "__position", **selected}


# One window for both derived cells: DuckDB sorts the rows once.
_ORDER_ROWS = '(partition by trim("name") order by __line)'


SHOPIFY_ORDERS = Format(
    name="shopify-orders",
    summary="Shopify admin Orders > Export (CSV): one row per line item, order fields on its first",
    key=("name",),
    newest_by=("created_at", "paid_at", "fulfilled_at", "cancelled_at"),
    obtain="Shopify admin: Orders > Export > All orders > CSV for Excel, Numbers, or other",
    derived=(
        # The position of a row within its order: 1 is the row carrying the order's fields.
        ("__position", f"row_number() over {_ORDER_ROWS}"),
        ("__first_record", f"first_value(__record) over {_ORDER_ROWS}"),
    ),
    row_rules=lambda cells: (
        # An export lists each order's rows one after another: an order met again further down
        # (two exports in one file) would load all its rows as one order's lines. Only rows
        # without an order (set aside as rejects) may come between: those are numbered, and
        # each out-of-place row finds how many lie before it and before its order's first row
        # (ASOF joins, so that many such rows cost no more than a sort).
        (
            """
            __record in (
                with no_order as (
                    select __record, row_number() over (order by __record) as up_to
                    from incoming_records
                    where nullif(trim("name"), '') is null
                ),
                out_of_place as (
                    select __record, __first_record, __record - __first_record - __position + 1
                        as rows_between
                    from incoming
                    where __record <> __first_record + __position - 1
                )
                select out_of_place.__record
                from out_of_place
                asof left join no_order as before_row
                    on out_of_place.__record >= before_row.__record
                asof left join no_order as before_first
                    on out_of_place.__first_record >= before_first.__record
                where rows_between
                    > coalesce(before_row.up_to, 0) - coalesce(before_first.up_to, 0)
            )
            """,
            "name",
            "each order once, its rows one after another (two exports pasted into one file?)",
        ),
        # ... and fills the order's own cells on its first row only: a later row that has them,
        # in a file whose other later rows do not, starts the order again (pasted twice in a row).
        (
            f"""
            __position > 1 and {cells.value("financial_status")} is not null
            and (
                select count(*) from incoming
                where __position > 1 and {cells.value("financial_status")} is null
            ) > 0
            """,
            "financial_status",
            "it on an order's first row only, as on the other orders (is the order pasted twice?)",
        ),
    ),
    customer_key_from=("email", "phone"),
    rejects=(
        Reject("nullif(trim(\"name\"), '') is null", "not an order row: Name is empty", "name"),
    ),
    columns=(
        Column("name", required=True, meaning="the order name, such as #1001: the order key"),
        Column(
            "financial_status",
            "choice",
            required=True,
            choices=FINANCIAL_STATUSES,
            where=FIRST_ROW,
            meaning="payment state of the order",
        ),
        Column("paid_at", "timestamp", where=FIRST_ROW, meaning="when it was paid"),
        Column("fulfillment_status", meaning="fulfilled, partial, unfulfilled, restocked"),
        Column("fulfilled_at", "timestamp", where=FIRST_ROW, meaning="when it was fulfilled"),
        Column("currency", "currency", required=True, where=FIRST_ROW, meaning="store currency"),
        Column("subtotal", "money", where=FIRST_ROW, meaning="order subtotal"),
        Column("shipping", "money", where=FIRST_ROW, meaning="shipping charged"),
        Column("taxes", "money", where=FIRST_ROW, meaning="taxes charged"),
        Column("total", "money", required=True, where=FIRST_ROW, meaning="order total"),
        Column("discount_amount", "money", where=FIRST_ROW, meaning="order discount"),
        Column("refunded_amount", "money", where=FIRST_ROW, meaning="refunded, whole order"),
        Column("created_at", "timestamp", required=True, where=FIRST_ROW, meaning="order placed"),
        Column("cancelled_at", "timestamp", where=FIRST_ROW, meaning="when it was cancelled"),
        Column(
            # 0 is accepted: one edited line must not refuse a whole store export
            "lineitem_quantity",
            "units",
            required=True,
            meaning="units of the line item",
        ),
        Column("lineitem_name", required=True, meaning="the product and variant sold"),
        Column("lineitem_price", "money", required=True, meaning="unit price charged"),
        Column("lineitem_sku", meaning="the SKU sold"),
        Column("lineitem_requires_shipping", meaning="true for physical goods"),
        Column("lineitem_fulfillment_status", meaning="the line's fulfilment state"),
        Column("vendor", meaning="the product's vendor (often the importer app, not the supplier)"),
        Column("shipping_country", "country", where=FIRST_ROW, meaning="ship-to country code"),
        Column("billing_country", "country", where=FIRST_ROW, meaning="billing country code"),
        Column("source", where=FIRST_ROW, meaning="the sales channel"),
    ),
    outputs=(
        Output(ORDERS_TABLE, _order_columns, where=FIRST_ROW),
        Output(ORDER_LINES_TABLE, _line_columns),
    ),
)

SHOPIFY_TRANSACTIONS = Format(
    name="shopify-transactions",
    summary="Shopify Export transactions (CSV): one row per payment, sale or refund, dated",
    key=("name", "kind", "status", "created_at", "amount"),
    newest_by=("created_at",),
    obtain="Shopify admin: Orders > (select orders) > Export > Transaction histories",
    rejects=(
        Reject(
            "nullif(trim(\"name\"), '') is null", "not an order's payment: Name is empty", "name"
        ),
    ),
    columns=(
        Column("name", required=True, meaning="the order name, such as #1001"),
        Column(
            "kind",
            "choice",
            required=True,
            choices=(
                "sale",
                "refund",
                "capture",
                "authorization",
                "void",
                "change",
                "emv_authorization",
            ),
            meaning="what the transaction did",
        ),
        Column("gateway", meaning="the payment gateway"),
        Column("created_at", "timestamp", required=True, meaning="when it happened"),
        Column(
            "status",
            "choice",
            required=True,
            choices=("success", "failure", "pending", "error"),
            meaning="whether it went through",
        ),
        Column("amount", "money", required=True, meaning="the amount, positive"),
        Column("currency", "currency", required=True, meaning="ISO 4217 code of the amount"),
    ),
    outputs=(
        Output(
            TRANSACTIONS_TABLE,
            lambda cells: {name: cells.value(name) for name, _ in TRANSACTIONS_TABLE.columns},
        ),
    ),
)
