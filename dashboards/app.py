"""dropscore's dashboard: the router and the frame shared by every page."""

from pathlib import Path

import streamlit as st

PAGES = Path(__file__).parent / "app_pages"

st.set_page_config(page_title="dropscore", page_icon=":package:", layout="wide")

navigation = st.navigation(
    [
        st.Page(PAGES / "suppliers.py", title="Suppliers to avoid", icon=":material/block:"),
    ]
)
navigation.run()
