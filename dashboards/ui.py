"""What every page shares: the empty-warehouse state, the window, formatting, safe tables and
CSV downloads.

Names and titles come from strangers' stores, so they are only ever shown through elements that
do not parse Markdown or HTML: dataframes, `st.text`, selectbox options. Metric labels and values,
titles, captions and alerts hold only this app's own words and numbers. Text from the warehouse
arrives with its control characters and bidirectional overrides as escapes (`queries.escaped`);
the store ids a page hands back to a query are escaped here, where tables and downloads show them.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping

import pandas as pd
import streamlit as st

from dashboards import queries
from dropscore.controls import escape_controls
from dropscore.safe_csv import dataframe_csv

NOT_IN_DATA = "not in your data"

NO_DISPUTES = "no disputes in your data"  # the scorecard's own words for the reason

ROW_HEIGHT = 35  # st.dataframe's row height in pixels

SUPPLIER_PAGE = "app_pages/supplier.py"

VERDICT_LABELS = {
    "avoid": "Avoid",
    "watch": "Watch",
    "insufficient_data": "Too few lines",
    "good": "Good",
}


HOW_TO_LOAD = (
    "Load your exports with `dropscore run PATH...` (for example `dropscore run "
    "exports/orders.csv exports/disputes.csv`), or try `dropscore demo` on sample data, then "
    "reload this page."
)


def require_warehouse(*, allow_empty: bool = False) -> None:
    """Stop the page with how to load data when nothing has been published yet, or (unless
    `allow_empty`, for the pages that help find out why) when what was published holds no order
    lines."""
    if queries.current_version() is None:
        st.info("Nothing to show yet: no warehouse has been published in this home. " + HOW_TO_LOAD)
        # The path is the user's own, but a folder name may hold Markdown: shown as text.
        st.text(f"Looking in {queries.warehouse_path().parent}")
        st.stop()
    if not allow_empty and not queries.has_order_lines():
        st.info("The published warehouse has no order lines yet. " + HOW_TO_LOAD)
        st.page_link(
            "app_pages/health.py",
            label="See what was loaded and rejected",
            icon=":material/monitor_heart:",
        )
        st.stop()


def window() -> str:
    """The window chosen in the sidebar (see app.py)."""
    chosen = st.session_state.get("window", "all")
    return chosen if chosen in queries.WINDOWS else "all"


def window_label(start: dt.date | None) -> str:
    label = queries.WINDOWS[window()][0]
    return label if start is None else f"{label} (ordered since {start:%d %b %Y})"


_MARKDOWN_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_{}[]<>()#+-.!|~:$&="})

# Streamlit (remark-gfm) links a bare `http://`, `www.` or e-mail address after the Markdown is
# parsed, when the backslash escapes are gone, so those are broken with an invisible word joiner.
_AUTOLINK_STARTS = re.compile(r"(?i)(?<=[a-z]:)(?=//)|(?<=www)(?=\.)|(?<=@)")
WORD_JOINER = "\u2060"


def escape_markdown(text: object) -> str:
    """Text that Markdown shows literally: every character with a meaning is backslash-escaped,
    nothing is made a link, control characters are shown as escapes and line breaks as spaces,
    so a message stays one line. For the rare place where a message that may quote data must go
    into an alert."""
    text = escape_controls(" ".join(str(text).split()))
    return _AUTOLINK_STARTS.sub(WORD_JOINER, text).translate(_MARKDOWN_SPECIAL)


def without_disputes(what: str) -> str:
    """A caption for a list that needs disputes when none are loaded: an empty list there
    would read as "nothing wrong"."""
    return f"{what}: {NOT_IN_DATA} (no disputes have been loaded)."


def is_missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def percent(value: object, digits: int = 1) -> str:
    return NOT_IN_DATA if is_missing(value) else f"{float(value) * 100:.{digits}f} %"


def count(value: object) -> str:
    return NOT_IN_DATA if is_missing(value) else f"{int(value):,}"


def days(value: object) -> str:
    return NOT_IN_DATA if is_missing(value) else f"{float(value):.1f}"


def money(value: object, currency: object = None) -> str:
    if is_missing(value):
        return NOT_IN_DATA
    code = "" if is_missing(currency) else f" {currency}"
    return f"{float(value):,.2f}{code}"


def money_short(value: object) -> str:
    """Whole units for a metric tile, compact from 100,000 on: the exact figure is in tables."""
    if is_missing(value):
        return NOT_IN_DATA
    number = float(value)
    if abs(number) >= 1e6:
        return f"{number / 1e6:,.2f}M"
    if abs(number) >= 1e5:
        return f"{number / 1e3:,.0f}k"
    return f"{number:,.0f}"


def metric(
    container,
    label: str,
    value: str,
    *,
    note: str | None = None,
    help: str | None = None,
    border: bool = False,
) -> None:
    """A metric tile; a value not in the user's data shows a dash with "not in your data" under
    it (a long text in the big value font would be cut off). `note` is small grey text under the
    value, such as a confidence interval."""
    if value == NOT_IN_DATA:
        value, note = None, NOT_IN_DATA
    container.metric(
        label,
        value,
        delta=note,
        delta_color="off",
        delta_arrow="off",
        help=help,
        border=border,
    )


def interval(lower: object, upper: object) -> str | None:
    """'8.2–23.8 %' for a rate's confidence interval, None when it has none."""
    if is_missing(lower) or is_missing(upper):
        return None
    return f"{float(lower) * 100:.1f}–{float(upper) * 100:.1f} %"


def money_label(label: str, currency: str | None) -> str:
    return f"{label} ({currency})" if currency else label


def rate_with_bounds(rate: object, lower: object, upper: object) -> str:
    if is_missing(rate):
        return NOT_IN_DATA
    if is_missing(lower) or is_missing(upper):
        return percent(rate)
    return f"{percent(rate)} ({float(lower) * 100:.1f}–{float(upper) * 100:.1f})"


def single_currency(codes: object) -> str | None:
    """The currency code when `codes` (as `string_agg` gives them, "EUR, USD") names one."""
    if is_missing(codes) or "," in str(codes):
        return None
    return str(codes)


def currency_of(frame: pd.DataFrame) -> str | None:
    """The single currency of a frame's `currency` column, None if there are several or none."""
    if "currency" not in frame or frame.empty:
        return None
    codes = {code for code in frame["currency"].dropna().unique() for code in str(code).split(", ")}
    return codes.pop() if len(codes) == 1 else None


def table(
    frame: pd.DataFrame,
    key: str,
    column_config: Mapping[str, object],
    *,
    selectable: bool = False,
    max_height: int = 560,
    note_missing: bool = True,
) -> object:
    """A dataframe of the configured columns, in their order; a column configured as None is
    hidden.

    A column that is NULL on every row (a metric the user's exports cannot give, or a mart
    column this warehouse lacks) is left out and, with `note_missing`, named under the table
    as not in the data. A NULL cell among values shows empty.
    """
    column_config = {c: config for c, config in column_config.items() if config is not None}
    shown = [c for c in column_config if c in frame.columns]
    absent = [c for c in shown if not frame.empty and frame[c].isna().all()]
    shown = [c for c in shown if c not in absent]
    event = st.dataframe(
        queries.escaped(frame, queries.KEYS),
        key=key,
        hide_index=True,
        width="stretch",
        # Tall enough for every row up to `max_height`, then it scrolls.
        height=min(max_height, ROW_HEIGHT * (len(frame) + 1) + 3),
        column_order=shown,
        column_config=column_config,
        placeholder="",
        on_select="rerun" if selectable else "ignore",
        selection_mode="single-row",
    )
    if absent and note_missing:
        labels = [_label(column_config[c], c) for c in absent]
        st.caption(f"Not in your data: {', '.join(labels)}.")
    return event


def _label(config: object, column: str) -> str:
    if isinstance(config, str):
        return config
    if isinstance(config, Mapping) and config.get("label"):
        return str(config["label"])
    return column.replace("_", " ")


def selected_row(event: object, frame: pd.DataFrame) -> pd.Series | None:
    """The row the user clicked in a selectable table, if any."""
    try:
        rows = event.selection.rows  # type: ignore[attr-defined]
    except AttributeError:
        return None
    if not rows or rows[0] >= len(frame):
        return None
    return frame.iloc[rows[0]]


def open_supplier(supplier_id: str) -> None:
    st.switch_page(SUPPLIER_PAGE, query_params={"supplier": str(supplier_id)})


def download_csv(frame: pd.DataFrame) -> str:
    """What a download holds: the text as the table shows it, control characters and bidi
    overrides as escapes (a spreadsheet would reverse the text after an override too), and cells
    a spreadsheet would run as a formula neutralised."""
    return dataframe_csv(queries.escaped(frame, queries.KEYS))


def download(frame: pd.DataFrame, file_name: str, key: str, label: str = "Download CSV") -> None:
    """A CSV download of `frame` (see `download_csv`).

    The file is made with the page (tables are capped, so it is cheap), so a click downloads
    it at once instead of waiting for another script run to make it."""
    st.download_button(
        label,
        data=download_csv(frame),
        file_name=file_name,
        mime="text/csv",
        key=key,
        icon=":material/download:",
    )


def percent_column(label: str, help: str | None = None) -> object:
    return st.column_config.NumberColumn(label, format="percent", help=help)


def count_column(label: str, help: str | None = None) -> object:
    return st.column_config.NumberColumn(label, format="localized", help=help)


def money_column(label: str, currency: str | None, help: str | None = None) -> object:
    title = f"{label} ({currency})" if currency else label
    return st.column_config.NumberColumn(title, format="%.2f", help=help)


def finite(value: object) -> float | None:
    if is_missing(value):
        return None
    number = float(value)
    return number if math.isfinite(number) else None
