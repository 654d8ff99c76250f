"""The input formats dropscore reads: their cells, what each must hold, their raw tables.

A format is data, not code (ingest/spec.py says how one is described): the loader validates,
casts and appends any format from its description. dropscore's own formats and order-links are
here; each outside source has its own module (ingest/shopify.py, ingest/aliexpress.py).
"""

from __future__ import annotations

from ingest.aliexpress import ALIEXPRESS_DS_ORDERS, ALIEXPRESS_ORDERS_CSV, ALIEXPRESS_ORDERS_JSON
from ingest.shopify import SHOPIFY_ORDERS, SHOPIFY_TRANSACTIONS
from ingest.spec import Column, Format, key_part_rule, line_amount_rule, not_before_rule

__all__ = ["FORMATS", "TEMPLATES", "Column", "Format"]

DROPSCORE_ORDERS = Format(
    name="dropscore-orders",
    own=True,
    summary="dropscore's own order-line CSV: one row per supplier order line (dropscore generate)",
    table="dropscore_order_lines",
    obtain="dropscore generate, or any tool's export mapped to it (dropscore template orders)",
    key=("supplier_order_id", "line_id"),
    newest_by=("ordered_at", "shipped_at", "delivered_at"),
    columns=(
        Column("supplier_order_id", "id", required=True, meaning="the AliExpress order id"),
        Column("line_id", required=True, meaning="the line's id, unique within its order"),
        Column("ordered_at", "timestamp", required=True, meaning="when the order was placed"),
        Column("supplier_id", required=True, meaning="the AliExpress store id"),
        Column("supplier_name", required=True, meaning="the AliExpress store name"),
        Column("product_id", "id", required=True, meaning="the AliExpress product id"),
        Column("sku_id", meaning="the variant"),
        Column("product_title", meaning="the product title"),
        Column("quantity", "count", required=True, meaning="units, an integer >= 1"),
        Column("unit_price", "money", required=True, meaning="price paid per unit"),
        Column("currency", "currency", required=True, meaning="ISO 4217 code of the prices"),
        Column("shipping_fee", "money", meaning="paid to the supplier for this line"),
        Column(
            "status",
            "choice",
            required=True,
            choices=("placed", "shipped", "delivered", "cancelled"),
            meaning="where the line stands",
        ),
        Column(
            "cancelled_by",
            "choice",
            choices=("buyer", "seller", "system"),
            meaning="who cancelled a cancelled line",
        ),
        Column("shipped_at", "timestamp", meaning="when the supplier shipped it"),
        Column("delivered_at", "timestamp", meaning="when it was delivered"),
        Column("promised_ship_days", "days", meaning="handling time promised, days from order"),
        Column("promised_delivery_days", "days", meaning="delivery promised, days from order"),
        Column("tracking_number", meaning="carrier tracking number"),
        Column("carrier", meaning="the carrier"),
        Column("ship_to_country", "country", meaning="ISO 3166-1 alpha-2 destination country"),
        Column("store_order", meaning="the Shopify order name (#1001) this line fulfils"),
        Column("exported_at", "timestamp", meaning="when the export was taken"),
    ),
    row_rules=lambda cells: (
        *(
            key_part_rule(cells.raw(name), name)
            for name in ("supplier_order_id", "supplier_id", "product_id")
        ),
        not_before_rule(
            cells.value("shipped_at"), cells.value("ordered_at"), "shipped_at", "ordered_at"
        ),
        not_before_rule(
            cells.value("delivered_at"),
            f"coalesce({cells.value('shipped_at')}, {cells.value('ordered_at')})",
            "delivered_at",
            "shipped_at (or ordered_at)",
        ),
        line_amount_rule(
            cells.value("quantity"),
            cells.value("unit_price"),
            cells.value("shipping_fee"),
            "unit_price",
        ),
    ),
)

DROPSCORE_DISPUTES = Format(
    name="dropscore-disputes",
    own=True,
    summary="dropscore's own dispute CSV: one row per dispute (dropscore template disputes)",
    table="dropscore_disputes",
    obtain="filled in by hand: dropscore template disputes",
    key=("dispute_id",),
    newest_by=("opened_at", "closed_at"),
    columns=(
        Column("dispute_id", "id", required=True, meaning="unique id of the dispute"),
        Column("supplier_order_id", "id", required=True, meaning="the disputed AliExpress order"),
        Column("line_id", meaning="the disputed line; empty with product_id empty = whole order"),
        Column("product_id", "id", meaning="the disputed product when the line is not known"),
        Column("opened_at", "timestamp", required=True, meaning="when the dispute was opened"),
        Column("closed_at", "timestamp", meaning="when it ended"),
        Column("reason", required=True, meaning="the reason as picked on AliExpress"),
        Column(
            "status",
            "choice",
            required=True,
            choices=("open", "closed", "withdrawn"),
            meaning="open, closed or withdrawn",
        ),
        Column(
            "resolution",
            "choice",
            choices=(
                "full_refund",
                "partial_refund",
                "return_and_refund",
                "resend",
                "rejected",
                "withdrawn",
            ),
            meaning="how it ended",
        ),
        Column("refund_amount", "money", meaning="money the supplier refunded"),
        Column("currency", "currency", meaning="ISO 4217 code of the amounts"),
        Column(
            "return_method",
            "choice",
            choices=("none", "free_label", "own_expense"),
            meaning="how the item went back, if it did",
        ),
        Column("return_shipping_cost", "money", meaning="what you paid to ship the item back"),
        Column("exported_at", "timestamp", meaning="when the record was exported"),
    ),
    row_rules=lambda cells: (
        key_part_rule(cells.raw("dispute_id"), "dispute_id"),
        not_before_rule(
            cells.value("closed_at"), cells.value("opened_at"), "closed_at", "opened_at"
        ),
    ),
)

ORDER_LINKS = Format(
    name="order-links",
    summary="Shopify order <-> AliExpress order pairs, as DSers or AutoDS keep them (one per row)",
    table="order_links",
    key=("store_order", "supplier_order_id"),
    obtain="your dropshipping app's order list, or dropscore template order-links",
    columns=(
        Column("store_order", required=True, meaning="the Shopify order name, such as #1001"),
        Column(
            "supplier_order_id",
            "digits",
            required=True,
            meaning="the AliExpress order that fulfils it (one store order may have several)",
        ),
        Column("exported_at", "timestamp", meaning="when the list was exported"),
    ),
)

FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        DROPSCORE_ORDERS,
        DROPSCORE_DISPUTES,
        ORDER_LINKS,
        SHOPIFY_ORDERS,
        SHOPIFY_TRANSACTIONS,
        ALIEXPRESS_ORDERS_CSV,
        ALIEXPRESS_ORDERS_JSON,
        ALIEXPRESS_DS_ORDERS,
    )
}

# What `dropscore template NAME` writes: the formats a user fills in by hand.
TEMPLATES: dict[str, Format] = {
    "orders": DROPSCORE_ORDERS,
    "disputes": DROPSCORE_DISPUTES,
    "order-links": ORDER_LINKS,
}
