"""dropscore's dashboard: the router and the frame shared by every page."""

from pathlib import Path

import streamlit as st

from dashboards import queries

PAGES = Path(__file__).parent / "app_pages"

st.set_page_config(page_title="dropscore", page_icon=":package:", layout="wide")

navigation = st.navigation(
    {
        "Decide": [
            st.Page(
                PAGES / "overview.py",
                title="Overview",
                icon=":material/dashboard:",
                url_path="overview",
                default=True,
            ),
            st.Page(PAGES / "suppliers.py", title="Suppliers", icon=":material/block:"),
            st.Page(PAGES / "supplier.py", title="Supplier", icon=":material/storefront:"),
            st.Page(PAGES / "products.py", title="Products", icon=":material/swap_horiz:"),
            st.Page(PAGES / "deadlines.py", title="Deadlines", icon=":material/alarm:"),
        ],
        "Look closer": [
            st.Page(PAGES / "sql.py", title="SQL", icon=":material/terminal:", url_path="sql"),
            st.Page(
                PAGES / "health.py",
                title="Data health",
                icon=":material/monitor_heart:",
                url_path="health",
            ),
        ],
    }
)

with st.sidebar:
    # Kept for the whole session, so the window survives a drill-down to a supplier and back.
    st.selectbox(
        "Window",
        options=list(queries.WINDOWS),
        format_func=lambda window: queries.WINDOWS[window][0],
        key="window",
        persist_state="session",
        help=(
            "Which order lines the overview, the supplier list and the weekly charts count, by "
            "order date, counting back from the newest date in your exports. Verdicts always "
            "use every mature line."
        ),
    )

# One DuckDB connection per script run, shared by the page's queries that miss the cache.
with queries.connection_per_run():
    navigation.run()
