"""Suppliers: the scorecard. Every supplier with its verdict and the rates behind it, worst first;
filters, sorting, a CSV download, and a click through to one supplier."""

import streamlit as st

from dashboards import queries, ui

st.title("Suppliers")
ui.require_warehouse()

filters = st.columns([3, 1, 2, 1.3], vertical_alignment="bottom")
verdicts = filters[0].pills(
    "Verdict",
    options=list(queries.VERDICT_ORDER),
    default=list(queries.VERDICT_ORDER),
    selection_mode="multi",
    format_func=ui.VERDICT_LABELS.get,
    key="suppliers_verdicts",
)
min_lines = filters[1].number_input(
    "Min. lines",
    min_value=0,
    value=0,
    step=10,
    key="suppliers_min_lines",
    help="Order lines in the window.",
)
search = filters[2].text_input("Name contains", key="suppliers_search", placeholder="e.g. Shenzhen")
# Without disputes the rates are not in the data, and the mart's risk rank orders by lines
# alone: "Worst first" would put the busiest suppliers first.
disputes = queries.has_dispute_data()
sort = filters[3].selectbox(
    "Sort by",
    options=list(queries.SORTS) if disputes else ["lines", "name", "loss"],
    format_func=queries.SORTS.get,
    key="suppliers_sort",
)

start = queries.window_start(ui.window())
scorecard = queries.scorecard(start, verdicts, int(min_lines or 0), search.strip(), sort)
currency = ui.currency_of(scorecard)

counts = scorecard["verdict"].value_counts() if not scorecard.empty else {}
# Without disputes no supplier can be judged: "good 0" would read as none of them being good.
counted = queries.VERDICT_ORDER if disputes else ("insufficient_data",)
st.caption(
    f"{len(scorecard):,} {'supplier' if len(scorecard) == 1 else 'suppliers'} listed · "
    f"{ui.window_label(start)} · "
    + " · ".join(f"{ui.VERDICT_LABELS[v].lower()} {int(counts.get(v, 0)):,}" for v in counted)
    + ("" if disputes else " · " + ui.without_disputes("avoid, watch and good"))
)

if scorecard.empty:
    st.info("No supplier matches these filters.")
    st.stop()

windowed = start is not None
event = ui.table(
    scorecard,
    key="suppliers_table",
    selectable=True,
    column_config={
        "verdict": "Verdict",
        "supplier_name": st.column_config.TextColumn("Supplier", width="medium"),
        **(
            {
                "window_loss_amount": ui.money_column("Lost in window", currency),
                "window_lines": ui.count_column("Lines in window"),
            }
            if windowed
            else {}
        ),
        "loss_amount": ui.money_column("Money lost", currency, "Over the scorecard period"),
        "defect_ratio": ui.percent_column("Defect ratio"),
        "defect_ratio_lower": ui.percent_column("low", "Lower end of the 95 % interval"),
        "defect_ratio_upper": ui.percent_column("high", "Upper end of the 95 % interval"),
        "not_received_rate": ui.percent_column("Not received"),
        "not_received_rate_lower": ui.percent_column("low ", "Lower end of the 95 % interval"),
        "not_received_rate_upper": ui.percent_column("high ", "Upper end of the 95 % interval"),
        "mature_lines": ui.count_column("Mature lines"),
        "provisional_lines": ui.count_column("Provisional", "Too young to count in the rates yet"),
        "lines": None if windowed else ui.count_column("Lines"),
        "refund_rate": ui.percent_column("Refund rate"),
        "dispute_rate": ui.percent_column("Dispute rate"),
        "loss_per_100_spent": st.column_config.NumberColumn("Lost per 100 spent", format="%.2f"),
        "currency": "Currency" if currency is None else None,
        "verdict_reason": st.column_config.TextColumn("Why", width="large"),
        "supplier_id": "Store id",
    },
)
st.caption(
    "Rates count mature order lines only; low–high is the 95 % confidence interval. A supplier "
    "is `avoid` when even the low end is over the line, and `good` when even the high end is "
    "under it. Select a row to see why."
)
ui.download(scorecard, "dropscore-suppliers.csv", key="suppliers_download")

if (row := ui.selected_row(event, scorecard)) is not None:
    ui.open_supplier(row["supplier_id"])
