"""Every query the dashboard runs. Each opens a short-lived read-only connection to the
published warehouse, so the app never holds a lock, and caches its result per warehouse
version, so a finished `dropscore run` shows up on the next interaction."""

from __future__ import annotations

import duckdb
import pandas as pd
import streamlit as st

from dropscore.config import Settings
from dropscore.warehouse import warehouse_version

VERDICT_ORDER = ("avoid", "watch", "insufficient_data", "good")


def current_version() -> str | None:
    return warehouse_version(Settings.from_env().warehouse_path)


@st.cache_data(show_spinner=False, max_entries=256)
def _fetch(version: str, sql: str, params: tuple = ()) -> pd.DataFrame:
    del version  # only part of the cache key
    con = duckdb.connect(str(Settings.from_env().warehouse_path), read_only=True)
    try:
        return con.execute(sql, list(params)).df()
    finally:
        con.close()


def fetch(sql: str, params: tuple = ()) -> pd.DataFrame | None:
    """The query's result, or None when nothing has been published yet."""
    version = current_version()
    if version is None:
        return None
    return _fetch(version, sql, params)


def supplier_scorecard() -> pd.DataFrame | None:
    return fetch(
        """
        select
            verdict,
            supplier_name,
            supplier_id,
            defect_ratio,
            defect_ratio_lower,
            defect_ratio_upper,
            not_received_rate,
            not_received_rate_lower,
            not_received_rate_upper,
            refund_rate,
            lines,
            mature_lines,
            provisional_lines,
            loss_amount,
            currency,
        from marts.fct_supplier_scorecard
        order by
            list_position(?, verdict),
            greatest(defect_ratio_lower, not_received_rate_lower) desc nulls last,
            loss_amount desc
        """,
        (list(VERDICT_ORDER),),
    )
