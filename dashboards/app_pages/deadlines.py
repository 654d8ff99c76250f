"""Deadlines: what to do before AliExpress stops listening — order lines still not delivered
whose buyer protection is about to end (open a dispute), and open disputes to escalate — most
urgent first, overdue on top."""

import streamlit as st

from dashboards import queries, ui

st.title("Deadlines")
ui.require_warehouse()

kinds = st.multiselect(
    "Show",
    options=list(queries.DEADLINE_KINDS),
    default=list(queries.DEADLINE_KINDS),
    format_func=queries.DEADLINE_KINDS.get,
    key="deadlines_kinds",
)
rows = queries.deadlines(kinds)
if rows is None:
    st.info(f"Dispute deadlines: {ui.NOT_IN_DATA}.")
    st.stop()
# Without a dispute log there is no open dispute to escalate.
disputes = queries.has_dispute_data()
if not disputes and "escalate_dispute" in kinds:
    st.caption(ui.without_disputes("Disputes to escalate"))
if rows.empty:
    if disputes:
        st.success("Nothing due: no order line or dispute has a deadline coming up.")
    elif "open_dispute" in kinds:
        st.success("Nothing due: no order line has a deadline coming up.")
    st.stop()

total = int(rows["total_deadlines"].iloc[0])
overdue = int(rows["is_overdue"].fillna(False).astype(bool).sum())
st.caption(
    f"{total:,} to act on, most urgent first"
    + (f" ({overdue:,} already past their date)" if overdue else "")
    + (f"; the first {queries.TABLE_ROWS:,} shown." if total > len(rows) else ".")
    + " Deadlines count from the newest date in your exports. Select a row to open the supplier."
)
currency = ui.currency_of(rows)
rows = rows.assign(task=rows["deadline_kind"].map(queries.DEADLINE_KINDS))
event = ui.table(
    rows,
    key="deadlines_table",
    selectable=True,
    column_config={
        "deadline_at": st.column_config.DatetimeColumn("Deadline", format="ddd D MMM YYYY"),
        "days_left": st.column_config.NumberColumn("Days left", format="%.1f"),
        "task": "To do",
        "supplier_name": st.column_config.TextColumn("Supplier", width="medium"),
        "product_title": st.column_config.TextColumn("Product", width="medium"),
        "amount_at_stake": ui.money_column("At stake", currency),
        "supplier_order_id": "Order",
        "dispute_id": "Dispute",
        "action": st.column_config.TextColumn("What to do", width="large"),
        "ordered_at": st.column_config.DatetimeColumn("Ordered", format="D MMM YYYY"),
        "verdict": "Verdict",
        "product_id": "Product id",
        "supplier_id": "Store id",
        "currency": "Currency" if currency is None else None,
    },
)
ui.download(
    rows.drop(columns=["total_deadlines", "task"]),
    "dropscore-deadlines.csv",
    key="deadlines_download",
)
if (row := ui.selected_row(event, rows)) is not None and not ui.is_missing(row["supplier_id"]):
    ui.open_supplier(row["supplier_id"])
