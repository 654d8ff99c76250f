"""Supplier: one supplier in detail — why the verdict, the weekly defect ratio against its control
limits, what went wrong, its products and better sources for them, its disputes, and the money.

Reached from the supplier tables or straight by URL: `/supplier?supplier=<store id>`.
"""

import streamlit as st

from dashboards import charts, queries, ui
from dropscore.controls import escape_controls

st.title("Supplier")
ui.require_warehouse()

choices = queries.supplier_choices()
names = dict(zip(choices["supplier_id"], choices["supplier_name"], strict=True))
verdicts = dict(zip(choices["supplier_id"], choices["verdict"], strict=True))

# The URL's ?supplier= picks the supplier when it changes (a link, a drill-down, a bookmark);
# otherwise the picker does, and the URL follows it so the page can be shared.
wanted = st.query_params.get("supplier")
if wanted in names and st.session_state.get("supplier_from_url") != wanted:
    st.session_state["supplier"] = wanted
st.session_state["supplier_from_url"] = wanted

supplier_id = st.selectbox(
    "Supplier",
    options=list(names),
    index=None,
    format_func=lambda key: f"{names[key]}  ·  {ui.VERDICT_LABELS.get(verdicts[key], '')}",
    placeholder="Choose a supplier (type to search)",
    key="supplier",
)
if supplier_id is not None and supplier_id != wanted:
    st.query_params["supplier"] = supplier_id
    st.session_state["supplier_from_url"] = supplier_id

if supplier_id is None:
    if wanted:
        st.warning("There is no supplier with that store id in this warehouse.")
    st.info("Choose a supplier above, or select one in the Suppliers table.")
    st.stop()

card = queries.supplier_card(supplier_id)
if card is None:  # gone in a warehouse published since the list was read
    st.warning("There is no supplier with that store id in this warehouse.")
    st.stop()
currency = None if ui.is_missing(card["currency"]) else str(card["currency"])
# The id is kept as stored to look the supplier up; the name arrives escaped.
st.text(f"{card['supplier_name']}  —  store id {escape_controls(supplier_id)}")

# Without disputes, "no disputes" or "no better source" would be a claim the data cannot make;
# and the mart then ranks suppliers by lines alone, so "#1 by risk" would call the busiest the
# riskiest.
has_disputes = queries.has_dispute_data()

top = st.columns(5)
if has_disputes:
    rank = None if ui.is_missing(card["risk_rank"]) else f"#{int(card['risk_rank'])} by risk"
    rank_help = "Rank among all suppliers, riskiest first, by the shrunk rates"
else:
    rank, rank_help = ui.NO_DISPUTES, ui.without_disputes("Rank by risk")
ui.metric(
    top[0],
    "Verdict",
    ui.VERDICT_LABELS.get(card["verdict"], str(card["verdict"])),
    note=rank,
    help=rank_help,
    border=True,
)
for column, label, rate in (
    (top[1], "Defect ratio", "defect_ratio"),
    (top[2], "Not received", "not_received_rate"),
):
    ui.metric(
        column,
        label,
        ui.percent(card[rate]),
        note=ui.interval(card[f"{rate}_lower"], card[f"{rate}_upper"]),
        help="On mature shipped lines; below it, the 95 % confidence interval.",
        border=True,
    )
ui.metric(
    top[3],
    "Mature lines",
    ui.count(card["mature_lines"]),
    note=f"{ui.count(card['provisional_lines'])} provisional",
    help="Provisional lines are too young for their outcome to be known.",
    border=True,
)
ui.metric(
    top[4], "Refund rate", ui.percent(card["refund_rate"]), note="of mature lines", border=True
)

with st.container(border=True):
    st.caption("Why this verdict")
    # The sentence is the mart's; shown as plain text, never Markdown.
    st.text(ui.NOT_IN_DATA if ui.is_missing(card["verdict_reason"]) else card["verdict_reason"])

money = st.columns(6)
for column, label, amount, help in (
    (money[0], "Spent", "spend_amount", None),
    (money[1], "Refunds", "customer_refund_amount", "Refunded to your customers"),
    (money[2], "Returns", "return_cost", "Return shipping you paid"),
    (money[3], "Resends", "resend_cost", "Buying the goods again to replace what failed"),
    (
        money[4],
        "Recovered",
        "recovered_amount",
        f"Refunded by the supplier; recovery rate {ui.percent(card['recovery_rate'])}",
    ),
    (
        money[5],
        "Money lost",
        "loss_amount",
        f"Refunds + returns + resends − recovered: {ui.money(card['loss_per_100_spent'])} "
        "per 100 spent",
    ),
):
    exact = f"Exactly {ui.money(card[amount], currency)}"
    ui.metric(
        column,
        ui.money_label(label, currency),
        ui.money_short(card[amount]),
        help=f"{help}. {exact}." if help else f"{exact}.",
    )

other = st.columns(6)
ui.metric(other[0], "Late shipment", ui.percent(card["late_shipment_rate"]))
ui.metric(other[1], "Late delivery", ui.percent(card["late_delivery_rate"]))
ui.metric(other[2], "Seller cancels", ui.percent(card["seller_cancel_rate"]))
ui.metric(other[3], "Handling (days)", ui.days(card["handling_days_median"]), help="Median")
ui.metric(other[4], "Delivery (days)", ui.days(card["delivery_days_median"]), help="Median")
ui.metric(other[5], "Resolve (days)", ui.days(card["resolution_days_median"]), help="Median")

weekly, reasons, products, disputes = st.tabs(
    ["Weekly", "Reasons", "Products", "Disputes"], key="supplier_tabs"
)

with weekly:
    start = queries.window_start(ui.window())
    weeks = queries.supplier_weeks(supplier_id, start)
    if weeks is None:
        st.caption(f"Weekly rates with control limits: {ui.NOT_IN_DATA}.")
    elif weeks.empty:
        st.info("No order lines in this window. Pick a longer window in the sidebar.")
    else:
        st.caption(
            f"{ui.window_label(start)}. Each week counts every shipped line ordered that week, "
            "so the newest weeks (hollow points) can still rise. Dotted: the supplier's usual "
            "level; dashed: the upper control limit, wider in weeks with few lines."
        )
        left, right = st.columns(2)
        for column, rate in ((left, "defect_ratio"), (right, "not_received_rate")):
            if weeks[f"week_{rate}"].isna().all():
                column.caption(f"Weekly {charts.RATE_NAMES[rate]}: {ui.NOT_IN_DATA}.")
            else:
                column.altair_chart(charts.control_chart(weeks, rate), key=f"supplier_{rate}_chart")
        alerts = weeks[weeks["is_alert"].fillna(False).astype(bool)]
        if not has_disputes:
            st.caption(ui.without_disputes("Alert weeks"))
        elif alerts.empty:
            st.caption("No week above its upper control limit.")
        else:
            st.caption("Alert weeks: above the upper control limit on at least 3 lines.")
            ui.table(
                alerts.sort_values("ordered_week", ascending=False),
                key="supplier_alerts",
                column_config={
                    "ordered_week": st.column_config.DateColumn("Week of", format="D MMM YYYY"),
                    "is_defect_alert": st.column_config.CheckboxColumn("Defects"),
                    "week_defect_ratio": ui.percent_column("Defect ratio"),
                    "defect_ratio_upper_limit": ui.percent_column("Limit"),
                    "week_defect_lines": st.column_config.NumberColumn("Defective"),
                    "is_not_received_alert": st.column_config.CheckboxColumn("Not received"),
                    "week_not_received_rate": ui.percent_column("Not-received rate"),
                    "not_received_rate_upper_limit": ui.percent_column("Limit "),
                    "week_not_received_lines": st.column_config.NumberColumn("Not received "),
                    "week_shipped_lines": st.column_config.NumberColumn("Shipped lines"),
                    "has_provisional_lines": st.column_config.CheckboxColumn("Provisional"),
                },
            )

with reasons:
    breakdown = queries.supplier_reasons(supplier_id)
    if breakdown is None:
        st.caption(f"Reasons: {ui.NOT_IN_DATA}.")
    elif breakdown.empty:
        st.caption("No disputes." if has_disputes else ui.without_disputes("Reasons"))
    else:
        left, right = st.columns([3, 2])
        left.altair_chart(charts.reasons(breakdown), key="supplier_reasons_chart")
        with right:
            ui.table(
                breakdown,
                key="supplier_reasons",
                column_config={
                    "category": "Reason",
                    "category_group": "Kind",
                    "disputes": st.column_config.NumberColumn("Disputes"),
                    "refund_amount": ui.money_column("Refunded", currency),
                },
            )
            st.caption("Withdrawn disputes are left out, as in the rates.")

with products:
    rows = queries.supplier_products(supplier_id)
    if rows is None:
        st.caption(f"Products and alternative suppliers: {ui.NOT_IN_DATA}.")
    elif rows.empty:
        st.caption("No products in the scorecard period.")
    else:
        st.caption(
            "Products bought from this supplier. Where another of your suppliers of the same "
            "product has a clearly lower problem rate, it is named with the expected saving "
            "per 100 orders, priced per unit (a 2-pack is two units)."
        )
        if not has_disputes:
            st.caption(ui.without_disputes("Better sources"))
            rows = rows.assign(is_switch_supported=None)  # unchecked would read "no switch due"
        elif rows["saving_per_100_orders"].isna().all():
            st.caption("No switch away from this supplier is clearly better for any product.")
        ui.table(
            rows,
            key="supplier_products",
            note_missing=False,
            column_config={
                "product_title": st.column_config.TextColumn("Product", width="large"),
                "lines": st.column_config.NumberColumn("Lines"),
                "problem_rate": ui.percent_column(
                    "Problem rate", "Defect or not received, on mature shipped lines"
                ),
                "product_suppliers": st.column_config.NumberColumn("Suppliers"),
                "is_recommended": st.column_config.CheckboxColumn("Best source"),
                "recommended_supplier_name": "Better source",
                "recommended_problem_rate": ui.percent_column("Their problem rate"),
                "average_unit_amount": ui.money_column("Unit cost", currency),
                "recommended_unit_amount": ui.money_column("Their unit cost", currency),
                "is_switch_supported": st.column_config.CheckboxColumn(
                    "Switch", help="The difference holds at the 95 % level"
                ),
                "saving_per_100_orders": ui.money_column("Saving per 100 orders", currency),
                "product_id": "Product id",
            },
        )

with disputes:
    rows = queries.supplier_disputes(supplier_id)
    if rows is None:
        st.caption(f"Disputes: {ui.NOT_IN_DATA}.")
    elif rows.empty:
        st.caption("No disputes." if has_disputes else ui.without_disputes("Disputes"))
    else:
        st.caption(f"Newest first; at most {queries.TABLE_ROWS:,} shown.")
        ui.table(
            rows,
            key="supplier_disputes",
            column_config={
                "opened_at": st.column_config.DatetimeColumn("Opened", format="D MMM YYYY"),
                "category": "Category",
                "reason": "Reason given",
                "status": "Status",
                "resolution": "Resolution",
                "days_to_resolve": st.column_config.NumberColumn("Days", format="%.0f"),
                "refund_amount": ui.money_column("Refunded", currency),
                "return_cost": ui.money_column("Return cost", currency),
                "supplier_order_id": "Order",
                "product_id": "Product id",
                "dispute_id": "Dispute",
                "closed_at": None,
                "category_group": None,
                "is_counted": None,
                "currency": None,
            },
        )
