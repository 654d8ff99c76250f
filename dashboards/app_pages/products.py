"""Products: products you buy from more than one supplier. First the switches worth making —
where another of your suppliers of the same product is clearly better — with the saving per 100
orders, biggest saving on your volume first; then every such product."""

import streamlit as st

from dashboards import queries, ui

st.title("Products")
ui.require_warehouse()

search = st.text_input("Product contains", key="products_search", placeholder="e.g. organizer")
search = search.strip()

# A switch rests on problem rates, which need disputes.
disputes = queries.has_dispute_data()

st.subheader("Switches worth making")
switches = queries.product_switches(search)
if switches is None:
    st.caption(f"Recommended switches: {ui.NOT_IN_DATA}.")
elif not disputes:
    st.caption(ui.without_disputes("Recommended switches"))
elif switches.empty:
    st.success(
        "No switch to recommend"
        + (" for that search." if search else ": no supplier of a product you buy from several ")
        + ("" if search else "suppliers is clearly worse than another.")
    )
else:
    currency = ui.currency_of(switches)
    st.caption(
        "The supplier you buy from now has a higher problem rate (defect or not received) than "
        "the recommended one at the 95 % level. The saving is per 100 orders as you buy them "
        "now, priced per unit (a 2-pack is two units): price plus expected loss. Select a row "
        "to open the current supplier."
    )
    event = ui.table(
        switches,
        key="products_switches",
        selectable=True,
        max_height=420,
        column_config={
            "product_title": st.column_config.TextColumn("Product", width="medium"),
            "supplier_name": st.column_config.TextColumn("Now from", width="medium"),
            "recommended_supplier_name": st.column_config.TextColumn("Switch to", width="medium"),
            "saving_per_100_orders": ui.money_column("Saving per 100 orders", currency),
            "lines": ui.count_column("Your lines", "with the current supplier"),
            "problem_rate": ui.percent_column("Problem rate now"),
            "recommended_problem_rate": ui.percent_column("After the switch"),
            "average_unit_amount": ui.money_column("Unit cost now", currency),
            "recommended_unit_amount": ui.money_column("Unit cost after", currency),
            "verdict": "Verdict now",
            "product_suppliers": ui.count_column("Suppliers"),
            "product_id": "Product id",
            "supplier_id": "Store id",
            "recommended_supplier_id": "Switch to store id",
            "currency": "Currency" if currency is None else None,
        },
    )
    ui.download(switches, "dropscore-product-switches.csv", key="products_switches_download")
    if (row := ui.selected_row(event, switches)) is not None:
        ui.open_supplier(row["supplier_id"])

st.subheader("Products with more than one supplier")
products = queries.products_with_choice(search)
if products is None:
    st.caption(f"Products by supplier: {ui.NOT_IN_DATA}.")
elif products.empty:
    st.caption("None" + (" for that search." if search else "."))
else:
    total = int(products["products_with_choice"].iloc[0])
    if not disputes:  # no switch is supported because none can be judged, not because none is due
        products = products.assign(supported_switches=None)
    st.caption(
        f"{total:,} products; most ordered first"
        + (f", the first {queries.TABLE_ROWS:,} shown." if total > len(products) else ".")
        + " The best source is the supplier we are surest is good, when one has enough mature "
        "lines of the product to judge."
    )
    ui.table(
        products,
        key="products_choice",
        max_height=420,
        column_config={
            "product_title": st.column_config.TextColumn("Product", width="large"),
            "suppliers": ui.count_column("Suppliers"),
            "lines": ui.count_column("Lines"),
            "recommended_supplier_name": "Best source",
            "supported_switches": ui.count_column(
                "Switches", help="Suppliers of it worth switching away from"
            ),
            "product_id": "Product id",
        },
    )
