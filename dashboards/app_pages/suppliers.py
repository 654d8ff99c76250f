"""Suppliers to avoid: every supplier with its verdict and the rates behind it, worst first."""

import streamlit as st

from dashboards import queries

st.title("Suppliers to avoid")

scorecard = queries.supplier_scorecard()
if scorecard is None:
    st.info(
        "No warehouse yet. Load your exports with `dropscore run PATH...`, "
        "or try `dropscore demo` on sample data."
    )
    st.stop()

counts = scorecard["verdict"].value_counts()
columns = st.columns(len(queries.VERDICT_ORDER))
for column, verdict in zip(columns, queries.VERDICT_ORDER, strict=True):
    column.metric(verdict.replace("_", " "), int(counts.get(verdict, 0)))

st.dataframe(
    scorecard,
    key="suppliers_table",
    hide_index=True,
    use_container_width=True,
    column_config={
        "verdict": "Verdict",
        "supplier_name": "Supplier",
        "supplier_id": "Store id",
        "defect_ratio": st.column_config.NumberColumn("Defect ratio", format="percent"),
        "defect_ratio_lower": st.column_config.NumberColumn("low", format="percent"),
        "defect_ratio_upper": st.column_config.NumberColumn("high", format="percent"),
        "not_received_rate": st.column_config.NumberColumn("Not received", format="percent"),
        "not_received_rate_lower": st.column_config.NumberColumn("low ", format="percent"),
        "not_received_rate_upper": st.column_config.NumberColumn("high ", format="percent"),
        "refund_rate": st.column_config.NumberColumn("Refund rate", format="percent"),
        "lines": "Lines",
        "mature_lines": "Mature lines",
        "provisional_lines": "Provisional",
        "loss_amount": st.column_config.NumberColumn("Money lost", format="%.2f"),
        "currency": "Currency",
    },
)
st.caption(
    "Rates count mature order lines only; low–high is the 95 % confidence interval. "
    "A supplier is `avoid` when even the low end is over the line."
)
