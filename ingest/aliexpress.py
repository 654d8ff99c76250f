"""AliExpress orders: the supplier side, what the dropshipper bought from which store.

AliExpress gives buyers no order export. Users have either a browser exporter's file (CSV, or
the same exporter's JSON) or the dropshipping API's order lookups (`aliexpress.trade.ds.order.get`,
JSON). All three load into one raw table, `raw.aliexpress_order_lines`, one row per order line.

A line's id is `<product_id>-<sku_id>` (the product id alone without a SKU): the exporter CSV
has no line id and the API none either, and the same id from every source means an order seen
in two of them is one order line, its newest export winning.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from ingest.errors import InputError
from ingest.jsonfile import cell, json_values, listed
from ingest.spec import Column, Format, Output, RawTable, line_amount_rule, price_currency

ORDER_LINES_TABLE = RawTable(
    "aliexpress_order_lines",
    (
        ("supplier_order_id", "varchar"),
        ("line_id", "varchar"),
        ("ordered_at", "timestamptz"),
        ("supplier_id", "varchar"),
        ("supplier_name", "varchar"),
        ("product_id", "varchar"),
        ("sku_id", "varchar"),
        ("product_title", "varchar"),
        ("quantity", "integer"),
        ("unit_price", "decimal(18, 2)"),
        ("shipping_fee", "decimal(18, 2)"),
        ("paid_amount", "decimal(18, 2)"),
        ("currency", "varchar"),
        ("status", "varchar"),
        ("status_text", "varchar"),
        ("cancelled_by", "varchar"),
        ("end_reason", "varchar"),
        ("tracking_number", "varchar"),
        ("carrier", "varchar"),
        ("store_order", "varchar"),
    ),
    "One row per AliExpress order line per loaded file (aliexpress-orders-csv, "
    "aliexpress-orders-json, aliexpress-ds-orders).",
)

# The order status as the AliExpress UI shows it (what browser exporters write) -> dropscore's.
UI_STATUSES = (
    ("Awaiting payment", "placed"),
    ("Payment processing", "placed"),
    ("Awaiting shipment", "placed"),
    ("Awaiting confirmation", "placed"),
    ("Processing", "placed"),
    ("To ship", "placed"),
    ("Shipped", "shipped"),
    ("Awaiting delivery", "shipped"),
    ("Partially shipped", "shipped"),
    ("In transit", "shipped"),
    ("Completed", "delivered"),
    ("Delivered", "delivered"),
    ("Finished", "delivered"),
    ("Cancelled", "cancelled"),
    ("Canceled", "cancelled"),
    ("Closed", "cancelled"),
    ("Order closed", "cancelled"),
)

STORE_ID_FROM_URL = r"regexp_extract({url}, '/store/(?:[a-z-]+/)?([0-9]+)', 1)"


def _line_id(product_id: str, sku_id: str) -> str:
    return f"{product_id} || coalesce('-' || {sku_id}, '')"


def _supplier_id(cells) -> str:
    from_url = STORE_ID_FROM_URL.format(url=cells.text("store_url"))
    return f"coalesce({cells.value('store_id')}, nullif({from_url}, ''))"


def _exporter_row(cells) -> dict[str, str]:
    currency = f"coalesce({cells.value('currency')}, {price_currency(cells.text('price'))})"
    return {
        "supplier_order_id": cells.value("order_id"),
        "line_id": _line_id(cells.value("product_id"), cells.value("sku_id")),
        "ordered_at": cells.value("order_date"),
        "supplier_id": _supplier_id(cells),
        "supplier_name": cells.value("store"),
        "product_id": cells.value("product_id"),
        "sku_id": cells.value("sku_id"),
        "product_title": cells.value("title"),
        "quantity": cells.value("qty"),
        "unit_price": cells.value("price"),
        "shipping_fee": "cast(null as decimal(18, 2))",
        "paid_amount": "cast(null as decimal(18, 2))",
        "currency": currency,
        "status": cells.value("status"),
        "status_text": cells.text("status"),
        "cancelled_by": "cast(null as varchar)",
        "end_reason": "cast(null as varchar)",
        "tracking_number": cells.value("tracking_number"),
        "carrier": "cast(null as varchar)",
        "store_order": cells.value("store_order"),
    }


EXPORTER_COLUMNS = (
    Column("order_id", "digits", required=True, meaning="the AliExpress order id", label="orderId"),
    Column(
        "order_date",
        "timestamp",
        required=True,
        meaning="the day the order was placed",
        label="orderDateIso",
    ),
    Column("title", required=True, meaning="the product title", label="title"),
    Column("qty", "count", required=True, meaning="units", label="quantity"),
    Column(
        "price",
        "price",
        required=True,
        meaning="unit price as displayed (US $120.95, 129,46zł)",
        label="price",
    ),
    Column("store", required=True, meaning="the store's name", label="storeName"),
    Column("product_id", "digits", required=True, meaning="the product id", label="productId"),
    Column("sku_id", "digits", meaning="the variant id", label="skuId"),
    Column("currency", "currency", meaning="ISO 4217 code of the price", label="currency"),
    Column(
        "status",
        "choice",
        required=True,
        mapping=UI_STATUSES,
        meaning="order status as the AliExpress UI shows it",
        label="status",
    ),
    Column(
        "store_url",
        meaning="the store's page, https://www.aliexpress.com/store/<store id>",
        label="storePageUrl",
    ),
    Column(
        "store_id", "digits", meaning="the store id, when the exporter writes it", label="storeId"
    ),
    Column(
        "tracking_number",
        meaning="tracking number, when the exporter writes it",
        label="trackingNumber",
    ),
    Column("store_order", meaning="the Shopify order this fulfils, if known", label="storeOrder"),
    Column("exported_at", "timestamp", meaning="when the export was taken", label="timestamp"),
)

# Checks that need more than one cell: (failing SQL, column, expected).
EXPORTER_ROW_RULES = (
    (
        "{supplier_id} is null",
        "store_url",
        "a store page address such as https://www.aliexpress.com/store/1103582642",
    ),
    (
        "{currency} is null",
        "price",
        "a price whose currency is known: this symbol is shared by several currencies, "
        "so the file needs a Currency column",
    ),
)


def _exporter_row_rules(cells) -> tuple[tuple[str, str, str], ...]:
    row = _exporter_row(cells)
    symbol_names = price_currency(cells.text("price"))
    return (
        *(
            (failing.format(**row), column, expected)
            for failing, column, expected in EXPORTER_ROW_RULES
        ),
        (  # €120.95 with USD beside it: which one was paid is not known
            f"{symbol_names} <> {cells.value('currency')}",
            "price",
            "a price in the currency the Currency column names",
        ),
        line_amount_rule(row["quantity"], row["unit_price"], row["shipping_fee"], "price"),
    )


ALIEXPRESS_ORDERS_CSV = Format(
    name="aliexpress-orders-csv",
    summary="a browser order exporter's CSV (Shopper Inventory and alike): one row per line",
    key=("supplier_order_id", "line_id"),
    newest_by=("order_date",),
    obtain="a browser extension that exports your AliExpress orders page, as CSV",
    any_of=(("store_url", "store_id"),),
    columns=EXPORTER_COLUMNS,
    outputs=(Output(ORDER_LINES_TABLE, _exporter_row),),
    row_rules=_exporter_row_rules,
)


# --- the exporter's JSON: the same records, camelCase ----------------------------------------


def _exporter_json_records(path: Path) -> Iterator[tuple[int, dict[str, str | None]]]:
    for line, value in json_values(path):
        for item in value if isinstance(value, list) else [value]:
            if not isinstance(item, dict):
                raise InputError(path, "expected one JSON object per order line", line=line)
            record = {column.name: cell(item.get(column.label)) for column in EXPORTER_COLUMNS}
            if record["order_date"] is None and item.get("orderDate"):
                record["order_date"] = _us_date(item["orderDate"])
            record["exported_at"] = _from_milliseconds(record["exported_at"])
            yield line, record


def _from_milliseconds(text: str | None) -> str | None:
    """The exporter's `timestamp` (milliseconds since 1970) as ISO 8601; other text as it is,
    for the timestamp check to refuse."""
    if text is None or not text.isdigit():
        return text
    try:
        return datetime.fromtimestamp(int(text) / 1000, UTC).isoformat()
    except (ValueError, OverflowError, OSError):
        return text


def _us_date(text: str) -> str:
    try:
        return datetime.strptime(text.strip(), "%b %d, %Y").date().isoformat()
    except ValueError:
        return text


def _looks_like_exporter_json(value: object) -> bool:
    return isinstance(value, dict) and "orderId" in value and "productId" in value


ALIEXPRESS_ORDERS_JSON = dataclasses.replace(
    ALIEXPRESS_ORDERS_CSV,
    name="aliexpress-orders-json",
    summary="the same browser exporter's JSON: an array of order lines with orderId, productId",
    obtain="a browser extension that exports your AliExpress orders page, as JSON",
    shape="json",
    any_of=(),
    expects="objects with orderId, productId, price, status, storeName, storePageUrl",
    json_records=_exporter_json_records,
    looks_like=_looks_like_exporter_json,
)


# --- the dropshipping API's order lookups ------------------------------------------------------

DS_ORDER_STATUSES = (
    "PLACE_ORDER_SUCCESS",
    "PAYMENT_PROCESSING",
    "WAIT_SELLER_EXAMINE_MONEY",
    "RISK_CONTROL",
    "RISK_CONTROL_HOLD",
    "WAIT_GROUP",
    "WAIT_COMPLETE_ADDRESS",
    "WAIT_SELLER_SEND_GOODS",
    "SELLER_PART_SEND_GOODS",
    "WAIT_BUYER_ACCEPT_GOODS",
    "IN_ISSUE",
    "IN_FROZEN",
    "FUND_PROCESSING",
    "FINISH",
    "IN_CANCEL",
)

# end_reason of an order that ended without the goods being bought: who ended it.
CANCELLED_BY = {
    "buyer_pay_timeout": "buyer",
    "buyer_cancel_notpay_order": "buyer",
    "buyer_cancel_order_in_risk": "buyer",
    "cancel_order_close_trade": "buyer",
    "risk_reject_closed": "system",
    "seller_send_goods_timeout": "seller",
}
# end_reason of an order that ended in a dispute the buyer won (a refund): SPEC §3.
DISPUTE_REFUNDED = ("seller_accept_issue_no_goods_return", "seller_response_issue_timeout")

DS_FIELDS = (
    # (cell, kind, required, JSON path shown in errors, meaning)
    (
        "order_id",
        "digits",
        True,
        "order_id",
        "the AliExpress order id (add it if your tool did not)",
    ),
    ("gmt_create", "timestamp", True, "gmt_create", "when the order was placed"),
    ("order_status", "choice", True, "order_status", "the order's status"),
    ("logistics_status", "text", False, "logistics_status", "the logistics status"),
    ("store_id", "digits", True, "store_info.store_id", "the store id"),
    ("store_name", "text", False, "store_info.store_name", "the store name"),
    ("store_order", "text", False, "store_order", "the Shopify order this fulfils, if known"),
    ("product_id", "digits", True, "child_order_list[].product_id", "the product id"),
    ("sku_id", "digits", False, "child_order_list[].sku_id", "the variant id"),
    ("product_name", "text", False, "child_order_list[].product_name", "the product title"),
    ("product_count", "count", True, "child_order_list[].product_count", "units"),
    ("product_price", "money", True, "child_order_list[].product_price.amount", "unit price"),
    (
        "product_price_currency",
        "currency",
        True,
        "child_order_list[].product_price.currency_code",
        "currency of the prices",
    ),
    ("shipping_fee", "money", False, "child_order_list[].actual_shipping_fee.amount", "shipping"),
    (
        "shipping_fee_currency",
        "currency",
        False,
        "child_order_list[].actual_shipping_fee.currency_code",
        "",
    ),
    ("actual_fee", "money", False, "child_order_list[].actual_fee.amount", "paid for the line"),
    ("actual_fee_currency", "currency", False, "child_order_list[].actual_fee.currency_code", ""),
    ("end_reason", "text", False, "child_order_list[].end_reason", "why the order ended"),
    ("tracking_number", "text", False, "logistics_info_list[].logistics_no", "tracking numbers"),
    ("carrier", "text", False, "logistics_info_list[].logistics_service", "shipping service"),
)


def _ds_column(name, kind, required, label, meaning) -> Column:
    return Column(
        name,
        kind,
        required=required,
        choices=DS_ORDER_STATUSES if name == "order_status" else (),
        meaning=meaning,
        label=label,
    )


def _same_currency(cells, amount: str) -> str:
    # An amount in another currency than the line's price is not mixed into its money.
    return (
        f"case when coalesce({cells.value(amount + '_currency')}, "
        f"{cells.value('product_price_currency')}) = {cells.value('product_price_currency')} "
        f"then {cells.value(amount)} end"
    )


def _ds_row(cells) -> dict[str, str]:
    status = f"upper({cells.text('order_status')})"
    logistics = f"upper({cells.text('logistics_status')})"
    end_reason = f"lower({cells.text('end_reason')})"
    cancelled = ", ".join(f"'{reason}'" for reason in CANCELLED_BY)
    refunded = ", ".join(f"'{reason}'" for reason in DISPUTE_REFUNDED)
    who = " ".join(f"when '{reason}' then '{by}'" for reason, by in CANCELLED_BY.items())
    return {
        "supplier_order_id": cells.value("order_id"),
        "line_id": _line_id(cells.value("product_id"), cells.value("sku_id")),
        "ordered_at": cells.value("gmt_create"),
        "supplier_id": cells.value("store_id"),
        "supplier_name": cells.value("store_name"),
        "product_id": cells.value("product_id"),
        "sku_id": cells.value("sku_id"),
        "product_title": cells.value("product_name"),
        "quantity": cells.value("product_count"),
        "unit_price": cells.value("product_price"),
        "shipping_fee": _same_currency(cells, "shipping_fee"),
        "paid_amount": _same_currency(cells, "actual_fee"),
        "currency": cells.value("product_price_currency"),
        "status": f"""case
            when {status} = 'IN_CANCEL' or {end_reason} in ({cancelled}) then 'cancelled'
            when {end_reason} in ({refunded}) and coalesce({logistics}, '') <> 'BUYER_ACCEPT_GOODS'
                then 'shipped'
            when {status} in ('FINISH', 'FUND_PROCESSING') or {logistics} = 'BUYER_ACCEPT_GOODS'
                then 'delivered'
            when {status} in ('SELLER_PART_SEND_GOODS', 'WAIT_BUYER_ACCEPT_GOODS', 'IN_ISSUE',
                'IN_FROZEN') or {logistics} in ('SELLER_SEND_GOODS', 'SELLER_SEND_PART_GOODS')
                then 'shipped'
            else 'placed'
        end""",
        "status_text": cells.text("order_status"),
        "cancelled_by": f"case {end_reason} {who} end",
        "end_reason": end_reason,
        "tracking_number": cells.value("tracking_number"),
        "carrier": cells.value("carrier"),
        "store_order": cells.value("store_order"),
    }


def _orders(value: object, order_id: object = None) -> Iterator[tuple[object, dict]]:
    """The orders in one JSON value, unwrapping the API's envelopes; (order id, order)."""
    if isinstance(value, list):
        for item in value:
            yield from _orders(item, order_id)
        return
    if not isinstance(value, dict):
        yield order_id, value
        return
    order_id = value.get("order_id", order_id)
    if "error_response" in value:
        yield order_id, value
        return
    envelope = next((key for key in value if key.endswith("_response")), None)
    if envelope:
        yield from _orders(value[envelope], order_id)
    elif "result" in value and "child_order_list" not in value:
        yield from _orders(value["result"], order_id)
    else:
        yield order_id, value


def _money(value: object) -> tuple[str | None, str | None]:
    items = listed(value)
    if not items:
        return None, None
    money = items[0]
    if isinstance(money, dict):
        return cell(money.get("amount")), cell(money.get("currency_code"))
    return cell(money), None


def _ds_records(path: Path) -> Iterator[tuple[int, dict[str, str | None]]]:
    for line, value in json_values(path):
        for order_id, order in _orders(value):
            if not isinstance(order, dict) or "error_response" in order:
                problem = "an error" if isinstance(order, dict) else "not an order object"
                raise InputError(path, f"expected an order, the API answered {problem}", line=line)
            store = order.get("store_info") or {}
            logistics = [
                item for item in listed(order.get("logistics_info_list")) if isinstance(item, dict)
            ]
            shared = {
                "order_id": cell(order_id),
                "gmt_create": cell(order.get("gmt_create")),
                "order_status": cell(order.get("order_status")),
                "logistics_status": cell(order.get("logistics_status")),
                "store_id": cell(store.get("store_id")) if isinstance(store, dict) else None,
                "store_name": cell(store.get("store_name")) if isinstance(store, dict) else None,
                "store_order": cell(order.get("store_order")),
                "tracking_number": "; ".join(
                    str(item["logistics_no"]) for item in logistics if item.get("logistics_no")
                )
                or None,
                "carrier": "; ".join(
                    str(item["logistics_service"])
                    for item in logistics
                    if item.get("logistics_service")
                )
                or None,
            }
            children = listed(order.get("child_order_list"))
            if not children:
                raise InputError(
                    path,
                    "expected an order with its lines, got none",
                    line=line,
                    column="child_order_list",
                )
            for child in children:
                if not isinstance(child, dict):
                    raise InputError(
                        path, "expected an order line object", line=line, column="child_order_list"
                    )
                price, price_currency_code = _money(child.get("product_price"))
                shipping, shipping_currency = _money(child.get("actual_shipping_fee"))
                paid, paid_currency = _money(child.get("actual_fee"))
                yield (
                    line,
                    {
                        **shared,
                        "product_id": cell(child.get("product_id")),
                        "sku_id": cell(child.get("sku_id")),
                        "product_name": cell(child.get("product_name")),
                        "product_count": cell(child.get("product_count")),
                        "product_price": price,
                        "product_price_currency": price_currency_code,
                        "shipping_fee": shipping,
                        "shipping_fee_currency": shipping_currency,
                        "actual_fee": paid,
                        "actual_fee_currency": paid_currency,
                        "end_reason": cell(child.get("end_reason") or order.get("end_reason")),
                    },
                )


def _looks_like_ds_order(value: object) -> bool:
    for _, order in _orders(value):
        return isinstance(order, dict) and (
            "child_order_list" in order or "order_status" in order or "error_response" in order
        )
    return False


ALIEXPRESS_DS_ORDERS = Format(
    name="aliexpress-ds-orders",
    summary="dropshipping API order lookups (aliexpress.trade.ds.order.get) as JSON or JSON lines",
    key=("supplier_order_id", "line_id"),
    newest_by=("gmt_create",),
    obtain="your dropshipping app's saved API responses, or the API called with your own key",
    shape="json",
    expects="order objects (or the API's response envelopes) with order_id, gmt_create, "
    "order_status and child_order_list",
    columns=tuple(_ds_column(*field) for field in DS_FIELDS),
    outputs=(Output(ORDER_LINES_TABLE, _ds_row),),
    row_rules=lambda cells: (
        line_amount_rule(
            cells.value("product_count"),
            cells.value("product_price"),
            cells.value("shipping_fee"),
            "product_price",
        ),
    ),
    json_records=_ds_records,
    looks_like=_looks_like_ds_order,
)
