"""Overview: this week's picture for the chosen window — how many suppliers to avoid, what went
wrong and what it cost, the costliest suppliers to drop and the new alerts."""

import streamlit as st

from dashboards import charts, queries, ui

VERDICT_NOTES = {
    "avoid": "stop buying from them",
    "watch": "not clearly good or bad",
    "insufficient_data": "under 20 mature lines",
    "good": "clearly below the lines",
}

st.title("Overview")
ui.require_warehouse()

start = queries.window_start(ui.window())
totals = queries.window_totals(start)
currency = ui.single_currency(totals.get("currency"))
st.caption(
    f"{ui.window_label(start)}. Rates count mature order lines only; younger lines are "
    "provisional and wait until their outcome is known."
)

# Without disputes no supplier can be judged: none is to avoid, watch or good, and the too-few
# card holds every one of them, whatever their lines.
disputes = queries.has_dispute_data()
verdicts = queries.verdict_counts(start)
columns = st.columns(len(queries.VERDICT_ORDER))
for column, verdict in zip(columns, queries.VERDICT_ORDER, strict=True):
    judged = disputes or verdict == "insufficient_data"
    ui.metric(
        column,
        f"Suppliers: {ui.VERDICT_LABELS[verdict].lower()}",
        f"{verdicts.get(verdict, 0):,}" if judged else ui.NOT_IN_DATA,
        note=VERDICT_NOTES[verdict] if disputes else ui.NO_DISPUTES,
        border=True,
    )

figures = st.columns(5)
ui.metric(
    figures[0],
    "Order lines",
    ui.count(totals.get("lines")),
    note=f"{ui.count(totals.get('provisional_lines'))} provisional",
    help="Provisional lines are too young for their outcome to be known; rates leave them out.",
    border=True,
)
ui.metric(
    figures[1],
    "Defect ratio",
    ui.percent(totals.get("defect_ratio")),
    note="mature shipped",
    border=True,
)
ui.metric(
    figures[2],
    "Refund rate",
    ui.percent(totals.get("refund_rate")),
    note="mature lines",
    help="Lines on which the supplier refunded any money",
    border=True,
)
ui.metric(
    figures[3],
    "Money lost",
    ui.money_short(totals.get("loss_amount")),
    note=currency or "mixed currencies",
    help=f"Exactly {ui.money(totals.get('loss_amount'), currency)}: refunds, return shipping "
    "and resends, less what suppliers paid back.",
    border=True,
)
ui.metric(
    figures[4],
    "Recovered",
    ui.money_short(totals.get("recovered_amount")),
    note=currency or "mixed currencies",
    help=f"Exactly {ui.money(totals.get('recovered_amount'), currency)}, refunded by suppliers "
    "through disputes.",
    border=True,
)

weeks = queries.weekly_totals(start)
if weeks is None:
    st.caption(f"Weekly trend: {ui.NOT_IN_DATA}.")
elif weeks.empty:
    st.info("No order lines in this window. Pick a longer window in the sidebar.")
else:
    left, middle, right = st.columns(3)
    left.altair_chart(charts.weekly_lines(weeks), key="overview_lines_chart")
    # An empty chart on a 0 % axis would read as "no problems"; these figures need disputes.
    has_rates = weeks[["defect_ratio", "not_received_rate"]].notna().any().any()
    if has_rates:
        middle.altair_chart(charts.weekly_rates(weeks), key="overview_rates_chart")
    else:
        middle.caption(f"Rates per week: {ui.NOT_IN_DATA}.")
    if weeks["loss_amount"].notna().any():
        right.altair_chart(charts.weekly_loss(weeks, currency), key="overview_loss_chart")
    else:
        right.caption(f"Money lost per week: {ui.NOT_IN_DATA}.")
    st.caption(
        "By week ordered."
        + (
            " The weekly rates count every shipped line of the week, so the newest weeks "
            "(hollow points) can still rise as disputes come in."
            if has_rates
            else ""
        )
    )

st.subheader("Costliest suppliers to avoid")
costliest = queries.costliest_to_avoid(start)
if not disputes:
    st.caption(ui.without_disputes("Suppliers to avoid"))
elif costliest.empty:
    st.success("No supplier with orders in this window has an `avoid` verdict.")
else:
    event = ui.table(
        costliest,
        key="overview_costliest",
        selectable=True,
        column_config={
            "supplier_name": "Supplier",
            "loss_amount": ui.money_column("Money lost", currency, "in the window"),
            "lines": st.column_config.NumberColumn("Order lines", help="in the window"),
            "defect_ratio": ui.percent_column("Defect ratio"),
            "not_received_rate": ui.percent_column("Not received"),
            "verdict_reason": st.column_config.TextColumn("Why", width="large"),
            "supplier_id": "Store id",
        },
    )
    st.caption("Select a row to open the supplier.")
    if (row := ui.selected_row(event, costliest)) is not None:
        ui.open_supplier(row["supplier_id"])

st.subheader("New alerts")
alerts = queries.new_alerts()
if alerts is None:
    st.caption(f"Weekly alerts: {ui.NOT_IN_DATA}.")
elif not disputes:
    st.caption(ui.without_disputes("Weekly alerts"))
elif alerts.empty:
    st.success("No supplier had a week above its control limit in the 4 newest weeks.")
else:
    st.caption(
        "Weeks among the 4 newest in which a supplier's defect ratio or not-received rate went "
        "above its upper control limit, on at least 3 lines. Select a row to open the supplier."
    )
    event = ui.table(
        alerts,
        key="overview_alerts",
        selectable=True,
        column_config={
            "week_start": st.column_config.DateColumn("Week of", format="D MMM YYYY"),
            "supplier_name": "Supplier",
            "verdict": "Verdict",
            "is_defect_alert": st.column_config.CheckboxColumn("Defects"),
            "week_defect_ratio": ui.percent_column("Defect ratio"),
            "defect_ratio_upper_limit": ui.percent_column("Limit"),
            "is_not_received_alert": st.column_config.CheckboxColumn("Not received"),
            "week_not_received_rate": ui.percent_column("Not-received rate"),
            "not_received_rate_upper_limit": ui.percent_column("Limit "),
            "week_shipped_lines": st.column_config.NumberColumn("Shipped lines"),
            "has_provisional_lines": st.column_config.CheckboxColumn(
                "Provisional", help="Some lines of the week are not mature yet"
            ),
            "supplier_id": "Store id",
        },
    )
    if (row := ui.selected_row(event, alerts)) is not None:
        ui.open_supplier(row["supplier_id"])
