"""The input formats dropscore reads: their columns, what each column must hold, their raw table.

A format is data, not code: the loader validates and casts any delimited format from this
description, so a new export format is one more entry here.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Column:
    name: str
    kind: str = "text"  # text | timestamp | count | money | days | currency | choice
    required: bool = False
    choices: tuple[str, ...] = ()
    meaning: str = ""


@dataclass(frozen=True)
class Format:
    name: str
    summary: str
    table: str  # the raw table it loads into
    key: tuple[str, ...]  # one version of a record per key; the newest export wins
    columns: tuple[Column, ...]
    newest_by: tuple[str, ...] = field(default=())  # columns that date the export when absent

    @property
    def required(self) -> set[str]:
        return {column.name for column in self.columns if column.required}

    def column(self, name: str) -> Column:
        return next(column for column in self.columns if column.name == name)


DROPSCORE_ORDERS = Format(
    name="dropscore-orders",
    summary="dropscore's own order-line CSV: one row per supplier order line (dropscore generate)",
    table="dropscore_order_lines",
    key=("supplier_order_id", "line_id"),
    newest_by=("ordered_at", "shipped_at", "delivered_at"),
    columns=(
        Column("supplier_order_id", required=True, meaning="the AliExpress order id"),
        Column("line_id", required=True, meaning="the line's id, unique within its order"),
        Column("ordered_at", "timestamp", required=True, meaning="when the order was placed"),
        Column("supplier_id", required=True, meaning="the AliExpress store id"),
        Column("supplier_name", required=True, meaning="the AliExpress store name"),
        Column("product_id", required=True, meaning="the AliExpress product id"),
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
        Column("ship_to_country", meaning="ISO 3166-1 alpha-2 destination country"),
        Column("store_order", meaning="the Shopify order name (#1001) this line fulfils"),
        Column("exported_at", "timestamp", meaning="when the export was taken"),
    ),
)

DROPSCORE_DISPUTES = Format(
    name="dropscore-disputes",
    summary="dropscore's own dispute CSV: one row per dispute (dropscore template disputes)",
    table="dropscore_disputes",
    key=("dispute_id",),
    newest_by=("opened_at", "closed_at"),
    columns=(
        Column("dispute_id", required=True, meaning="unique id of the dispute"),
        Column("supplier_order_id", required=True, meaning="the disputed AliExpress order"),
        Column("line_id", meaning="the disputed line; empty with product_id empty = whole order"),
        Column("product_id", meaning="the disputed product when the line is not known"),
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
)

FORMATS: dict[str, Format] = {f.name: f for f in (DROPSCORE_ORDERS, DROPSCORE_DISPUTES)}
