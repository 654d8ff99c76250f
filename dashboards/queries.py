"""Every query the dashboard runs.

Each query opens a short-lived read-only connection to the published warehouse, so the app never
holds a lock, and caches its result per warehouse version, so a finished `dropscore run` shows up
on the next interaction while a run in progress is never seen half done.

Marts land over time, and a warehouse published by an older dropscore lacks the newer columns.
A query asks only for the columns that exist and reads the rest as NULL, which the pages show as
"not in your data", as they do for a metric the user's exports cannot give (SPEC §5). `EXPECTED`
lists what each page asks for; `missing_expected()` tells the data health page what is absent.

Queries aggregate in DuckDB and LIMIT what a table shows: nothing here pulls `fct_order_lines`
whole into pandas, so a page stays fast on a warehouse of millions of order lines.

Text comes back with its control characters and bidirectional overrides written as escapes
(`escaped`), so no page can show a stranger's name that reverses or hides what follows it.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import threading
import types
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import streamlit as st

from dropscore import sql as sandbox
from dropscore.config import Settings
from dropscore.controls import escape_controls
from dropscore.warehouse import warehouse_version

VERDICT_ORDER = ("avoid", "watch", "insufficient_data", "good")

SUPPLIER_ROWS = 5_000
"""The scorecard table's cap: more than any real store has suppliers (the generator caps at
3,000), so in practice every supplier that passes the filters is listed."""

TABLE_ROWS = 500
"""Cap for tables whose grain is finer than a supplier (disputes, deadlines, products, loads)."""

SCORECARD = "marts.fct_supplier_scorecard"
ORDER_LINES = "marts.fct_order_lines"
SUPPLIER_WEEKS = "marts.fct_supplier_weeks"
PRODUCT_SUPPLIERS = "marts.fct_product_suppliers"
DISPUTES = "marts.fct_disputes"
DEADLINES = "marts.fct_dispute_deadlines"

EXPECTED: dict[str, tuple[str, ...]] = {
    SCORECARD: (
        "supplier_id",
        "supplier_name",
        "has_dispute_data",
        "verdict",
        "verdict_reason",
        "risk_rank",
        "lines",
        "mature_lines",
        "provisional_lines",
        "mature_shipped_lines",
        "defect_lines",
        "not_received_lines",
        "defect_ratio",
        "defect_ratio_lower",
        "defect_ratio_upper",
        "defect_ratio_shrunk",
        "not_received_rate",
        "not_received_rate_lower",
        "not_received_rate_upper",
        "not_received_rate_shrunk",
        "dispute_rate",
        "refund_rate",
        "recovery_rate",
        "seller_cancel_rate",
        "late_shipment_rate",
        "late_delivery_rate",
        "handling_days_median",
        "delivery_days_median",
        "resolution_days_median",
        "spend_amount",
        "customer_refund_amount",
        "recovered_amount",
        "return_cost",
        "resend_cost",
        "loss_amount",
        "loss_per_100_spent",
        "currency",
    ),
    ORDER_LINES: (
        "supplier_id",
        "ordered_date",
        "as_of_at",
        "is_in_analysis_window",
        "is_mature",
        "is_shipped",
        "has_defect_dispute",
        "has_delivery_failure_dispute",
        "has_refund",
        "loss_amount",
        "recovered_amount",
        "currency",
    ),
    SUPPLIER_WEEKS: (
        "supplier_id",
        "ordered_week",
        "has_provisional_lines",
        "week_lines",
        "week_mature_lines",
        "week_shipped_lines",
        "week_defect_lines",
        "week_not_received_lines",
        "week_loss_amount",
        "week_defect_ratio",
        "defect_ratio_centre",
        "defect_ratio_upper_limit",
        "defect_ratio_lower_limit",
        "is_defect_alert",
        "week_not_received_rate",
        "not_received_rate_centre",
        "not_received_rate_upper_limit",
        "not_received_rate_lower_limit",
        "is_not_received_alert",
        "is_alert",
    ),
    PRODUCT_SUPPLIERS: (
        "product_id",
        "supplier_id",
        "product_title",
        "lines",
        "mature_shipped_lines",
        "product_suppliers",
        "problem_rate",
        "problem_rate_upper",
        "is_comparable",
        "is_recommended",
        "recommended_supplier_id",
        "recommended_problem_rate",
        "is_switch_supported",
        "saving_per_100_orders",
        "average_unit_amount",
        "recommended_unit_amount",
        "currency",
    ),
    DISPUTES: (
        "dispute_id",
        "supplier_id",
        "supplier_order_id",
        "product_id",
        "opened_at",
        "closed_at",
        "reason",
        "category",
        "category_group",
        "is_counted",
        "status",
        "resolution",
        "days_to_resolve",
        "refund_amount",
        "return_cost",
        "currency",
    ),
    DEADLINES: (
        "deadline_id",
        "deadline_kind",
        "supplier_id",
        "supplier_order_id",
        "order_line_id",
        "dispute_id",
        "product_id",
        "ordered_at",
        "deadline_at",
        "days_left",
        "is_overdue",
        "amount_at_stake",
        "currency",
        "action",
    ),
}


# --- connection and cache --------------------------------------------------------------------


class _Republished(Exception):
    """The file was replaced between reading its version and opening it."""


def warehouse_path() -> Path:
    if _run.active:
        if _run.path is None:
            _run.path = Settings.from_env().warehouse_path
        return _run.path
    return Settings.from_env().warehouse_path


def current_version() -> str | None:
    """The published warehouse's version, None when nothing has been published. Read once per
    script run: a run shows one warehouse, and a publish shows on the next run."""
    if _run.active:
        if not _run.has_version:
            _run.current, _run.has_version = warehouse_version(warehouse_path()), True
        return _run.current
    return warehouse_version(warehouse_path())


def _open(path: Path) -> tuple[duckdb.DuckDBPyConnection, str | None]:
    """An in-memory connection with the warehouse attached read-only, and the version of the
    file it attached.

    Not `duckdb.connect(path)`: DuckDB hands a second connection to a file the database instance
    an open one already has, so while another session's query is running, a connect after a
    publish would read the replaced file under the new version's cache key. ATTACH opens the file
    afresh every time.
    """
    settings = Settings.from_env()
    connection = duckdb.connect(config={"threads": settings.threads})
    try:
        connection.execute(f"set memory_limit = '{settings.memory_limit}'")
        # Dates are cut from timestamps in UTC, as the marts do, whatever the machine's zone.
        connection.execute("set TimeZone = 'UTC'")
        connection.execute("attach ? as warehouse (read_only)", [str(path)])
        connection.execute("use warehouse")
    except BaseException:
        connection.close()
        raise
    # Read after attaching: if a publish came in between, this names the newer file, and a
    # caller wanting the older version will not get its answer cached under that version.
    return connection, warehouse_version(path)


class _RunConnection(threading.local):
    """The connection one script run shares across its cache misses (see `connection_per_run`)."""

    active: bool = False
    connection: duckdb.DuckDBPyConnection | None = None
    version: str | None = None  # of the file the connection attached
    path: Path | None = None
    current: str | None = None  # the published version this run reads
    has_version: bool = False

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
        self.connection = None
        self.version = None
        self.path = None
        self.current = None
        self.has_version = False


_run = _RunConnection()


@contextmanager
def connection_per_run() -> Iterator[None]:
    """Within the block, queries of this thread share one connection, opened at the first cache
    miss and closed when the block ends: a page render pays for one DuckDB instance and attach
    (tens of milliseconds) instead of one per query, and still holds nothing between runs."""
    if _run.active:  # nested: the outer block owns the connection
        yield
        return
    _run.active = True
    try:
        yield
    finally:
        _run.active = False
        _run.close()


@contextmanager
def _connection(version: str) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the published warehouse at `version`: the run's shared one when there
    is one, else a private one closed after the query."""
    path = warehouse_path()
    if _run.active:
        if _run.connection is None or _run.version != version:
            _run.close()
            _run.connection, _run.version = _open(path)
        if _run.version != version:
            raise _Republished
        yield _run.connection
        return
    connection, attached = _open(path)
    try:
        if attached != version:
            raise _Republished
        yield connection
    finally:
        connection.close()


KEYS = ("supplier_id",)
"""Columns a page hands back to a query (a drill-down's store id): fetched as stored, or the
lookup would miss; `ui` escapes them where it shows them."""


def escaped(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """`frame` with the text of `columns` safe to show: control characters, bidirectional
    overrides and non-characters written as escapes (`\\u202e`), as the weekly report and the
    terminal write them. A supplier name holding an unclosed right-to-left override would
    otherwise reverse whatever follows it on the page: the rest of a label, a store id, a rate."""
    for column in columns:
        if column not in frame.columns or frame[column].dtype.kind != "O":
            continue
        values = frame[column]
        # Almost no column holds one: a single pass over the joined text tells, in C.
        joined = "".join(v for v in values.dropna().tolist() if isinstance(v, str))
        if escape_controls(joined) != joined:
            frame = frame.assign(**{column: values.map(_escaped_value, na_action="ignore")})
    return frame


def _escaped_value(value: object) -> object:
    return escape_controls(value) if isinstance(value, str) else value


@st.cache_data(show_spinner=False, max_entries=1024)
def _fetch(version: str, sql: str, params: tuple) -> pd.DataFrame:
    with _connection(version) as connection:
        frame = connection.execute(sql, list(params)).df()
    return escaped(frame, [column for column in frame.columns if column not in KEYS])


def fetch(sql: str, params: Sequence = ()) -> pd.DataFrame:
    """The query's result; empty when nothing is published (pages check that first)."""
    for _ in range(5):
        version = current_version()
        if version is None:
            return pd.DataFrame()
        try:
            return _fetch(version, sql, tuple(params))
        except _Republished:
            # A run published meanwhile: read the new file, under its own version.
            _run.has_version = False
    raise RuntimeError("the warehouse kept changing while it was read; reload the page")


def clear_caches() -> None:
    """Forget every cached result, as a new publish would (for benchmarks and tests)."""
    _fetch.clear()
    _schema.clear()
    _run_sql.clear()
    _relations.cache_clear()


# --- what the warehouse holds ----------------------------------------------------------------


def relations() -> Mapping[str, tuple[str, ...]]:
    """Every table and view (`schema.name`) with its columns in order. Asked for by most
    queries, so kept as a plain dict per version rather than unpickled from the cache each
    time."""
    version = current_version()
    return _relations(version) if version is not None else {}


@functools.lru_cache(maxsize=4)
def _relations(version: str) -> Mapping[str, tuple[str, ...]]:
    frame = fetch(
        """
        select
            schema_name || '.' || table_name as relation,
            list(column_name order by column_index) as columns,
        from duckdb_columns()
        where database_name = current_database()
        group by all
        """
    )
    if frame.empty:
        return types.MappingProxyType({})
    pairs = zip(frame["relation"], frame["columns"], strict=True)
    return types.MappingProxyType({relation: tuple(columns) for relation, columns in pairs})


def has(relation: str, *columns: str) -> bool:
    present = relations().get(relation)
    return present is not None and all(column in present for column in columns)


def missing_expected() -> pd.DataFrame:
    """The marts and columns the dashboard asks for that this warehouse does not have."""
    present = relations()
    rows = []
    for relation, columns in EXPECTED.items():
        if relation not in present:
            rows.append((relation, "(the whole table)"))
        else:
            rows.extend((relation, c) for c in columns if c not in present[relation])
    return pd.DataFrame(rows, columns=["table", "column"])


# Columns renamed while the marts settled: the dashboard's name, then older names it accepts.
RENAMED = {
    "has_provisional_lines": ("is_provisional",),
    "saving_per_100_orders": ("expected_saving_per_100_orders",),
}


def _column(relation: str, column: str) -> str | None:
    """The name `relation` has for `column` (its own, or an older one), None if neither."""
    present = relations().get(relation, ())
    return next((c for c in (column, *RENAMED.get(column, ())) if c in present), None)


def _select(relation: str, columns: Sequence[str], alias: str | None = None) -> str:
    """A select list of `columns`, reading those `relation` lacks as NULL.

    Only ever called with column names written in this module, never with user input.
    """
    prefix = f"{alias}." if alias else ""
    selected = []
    for column in columns:
        found = _column(relation, column)
        if found is None:
            selected.append(f"null as {column}")
        elif found == column:
            selected.append(f"{prefix}{column}")
        else:
            selected.append(f"{prefix}{found} as {column}")
    return ",\n".join(selected)


def has_order_lines() -> bool:
    if ORDER_LINES not in relations():
        return False
    frame = fetch(f"select count(*) as lines from (select 1 from {ORDER_LINES} limit 1)")
    return not frame.empty and int(frame.iloc[0, 0]) > 0


def has_dispute_data() -> bool:
    """Whether any dispute has been loaded. Without, every dispute-based figure is NULL, and a
    page that finds no alert, no dispute or no better supplier must say "not in your data": an
    empty list there would read as good news."""
    if not has(SCORECARD, "has_dispute_data"):
        return True  # a warehouse from before the flag: its NULLs still show as not in the data
    frame = fetch(f"select coalesce(bool_or(has_dispute_data), false) from {SCORECARD}")
    return not frame.empty and bool(frame.iloc[0, 0])


# --- the as-of date and windows --------------------------------------------------------------

WINDOWS = {
    "all": ("Scorecard period", None),
    "4w": ("Last 4 weeks", 4),
    "13w": ("Last 13 weeks", 13),
    "26w": ("Last 26 weeks", 26),
}


def as_of_date() -> dt.date | None:
    """The as-of date of the build: the newest moment in the exports (or the as_of_date var).
    Windows count back from it, never from the wall clock, so the same data shows the same
    figures on any day (SPEC §5)."""
    if has(ORDER_LINES, "as_of_at"):
        # The same on every line of a build: one row is enough, and reading it costs nothing.
        sql = f"select cast(as_of_at as date) from {ORDER_LINES} limit 1"
    else:
        sql = f"select cast(max(ordered_at) as date) from {ORDER_LINES}"
    frame = fetch(sql)
    if frame.empty or pd.isna(frame.iloc[0, 0]):
        return None
    return pd.Timestamp(frame.iloc[0, 0]).date()


def window_start(window: str) -> dt.date | None:
    """First day of the window: the Monday `weeks - 1` weeks before the as-of date's week, so
    every week in a weekly chart is whole. None for the whole scorecard period."""
    weeks = WINDOWS.get(window, WINDOWS["all"])[1]
    as_of = as_of_date()
    if weeks is None or as_of is None:
        return None
    return as_of - dt.timedelta(days=as_of.weekday() + 7 * (weeks - 1))


def _in_window(start: dt.date | None) -> tuple[str, tuple]:
    """Order lines of the scorecard period (the `analysis_weeks` var), from `start` on."""
    period = "is_in_analysis_window" if has(ORDER_LINES, "is_in_analysis_window") else "true"
    if start is None:
        return period, ()
    return f"{period} and ordered_date >= ?", (start,)


def _weeks_from(start: dt.date | None) -> tuple[str, tuple]:
    return ("true", ()) if start is None else ("ordered_week >= ?", (start,))


# --- overview --------------------------------------------------------------------------------


_SCORECARD_COUNTS = (
    "lines",
    "mature_lines",
    "provisional_lines",
    "mature_shipped_lines",
    "defect_lines",
    "not_received_lines",
    "refunded_lines",
    "loss_amount",
    "recovered_amount",
)


def window_totals(start: dt.date | None) -> pd.Series:
    """Store-wide headline figures for the window. No mart holds them, so they are added up
    here: for the whole scorecard period from the scorecard's own counts (a few thousand rows),
    for a narrower window from the flags and amounts fct_order_lines carries per line. What is
    mature, a defect, a refund or a loss stays defined in dbt; only the adding up happens here."""
    if start is None and has(SCORECARD, *_SCORECARD_COUNTS):
        frame = fetch(
            f"""
            select
                sum(lines) as lines,
                sum(mature_lines) as mature_lines,
                sum(provisional_lines) as provisional_lines,
                sum(defect_lines) / nullif(sum(mature_shipped_lines), 0) as defect_ratio,
                sum(not_received_lines) / nullif(sum(mature_shipped_lines), 0)
                    as not_received_rate,
                sum(refunded_lines) / nullif(sum(mature_lines), 0) as refund_rate,
                sum(loss_amount) as loss_amount,
                sum(recovered_amount) as recovered_amount,
                string_agg(distinct currency, ', ' order by currency) as currency,
            from {SCORECARD}
            """
        )
        return frame.iloc[0] if not frame.empty else pd.Series(dtype=object)
    where, params = _in_window(start)
    frame = fetch(
        f"""
        select
            count(*) as lines,
            count(*) filter (where is_mature) as mature_lines,
            count(*) filter (where not is_mature) as provisional_lines,
            count(*) filter (where is_mature and is_shipped and has_defect_dispute)
                / nullif(count(*) filter (where is_mature and is_shipped), 0) as defect_ratio,
            count(*) filter (where is_mature and is_shipped and has_delivery_failure_dispute)
                / nullif(count(*) filter (where is_mature and is_shipped), 0)
                as not_received_rate,
            count(*) filter (where is_mature and has_refund)
                / nullif(count(*) filter (where is_mature), 0) as refund_rate,
            sum(loss_amount) as loss_amount,
            sum(recovered_amount) as recovered_amount,
            string_agg(distinct currency, ', ' order by currency) as currency,
        from {ORDER_LINES}
        where {where}
        """,
        params,
    )
    return frame.iloc[0] if not frame.empty else pd.Series(dtype=object)


def weekly_totals(start: dt.date | None) -> pd.DataFrame | None:
    """Every supplier's weeks added up: lines, mature and provisional, rates and money lost per
    order week. The weekly mart counts every line of a week, mature or not, so a young week's
    rates can still rise; `has_provisional_lines` marks such weeks. None without the weekly mart."""
    if not has(SUPPLIER_WEEKS, "ordered_week", "week_lines"):
        return None
    where, params = _weeks_from(start)
    provisional = _column(SUPPLIER_WEEKS, "has_provisional_lines") or "null"
    return fetch(
        f"""
        select
            ordered_week as week_start,
            sum(week_lines) as lines,
            sum(week_mature_lines) as mature_lines,
            sum(week_lines - week_mature_lines) as provisional_lines,
            sum(week_defect_lines) / nullif(sum(week_shipped_lines), 0) as defect_ratio,
            sum(week_not_received_lines) / nullif(sum(week_shipped_lines), 0)
                as not_received_rate,
            sum(week_loss_amount) as loss_amount,
            bool_or({provisional}) as has_provisional_lines,
        from {SUPPLIER_WEEKS} as weeks
        where {where}
        group by ordered_week
        order by ordered_week
        """,
        params,
    )


def _windowed_suppliers(start: dt.date | None) -> tuple[str, tuple]:
    """A CTE `windowed`: each supplier's order lines and money lost in the window."""
    if start is None or not has(SUPPLIER_WEEKS, "ordered_week", "week_lines"):
        return (
            f"""windowed as (
                select supplier_id, lines as window_lines, loss_amount as window_loss_amount,
                from {SCORECARD}
            )""",
            (),
        )
    return (
        f"""windowed as (
            select
                supplier_id,
                sum(week_lines) as window_lines,
                sum(week_loss_amount) as window_loss_amount,
            from {SUPPLIER_WEEKS}
            where ordered_week >= ?
            group by supplier_id
        )""",
        (start,),
    )


def verdict_counts(start: dt.date | None) -> dict[str, int]:
    """Suppliers by verdict, among those with order lines in the window."""
    windowed, params = _windowed_suppliers(start)
    frame = fetch(
        f"""
        with {windowed}
        select verdict, count(*) as suppliers
        from {SCORECARD}
        inner join windowed using (supplier_id)
        where window_lines > 0
        group by verdict
        """,
        params,
    )
    return {verdict: int(count) for verdict, count in frame.itertuples(index=False)}


def costliest_to_avoid(start: dt.date | None, limit: int = 5) -> pd.DataFrame:
    windowed, params = _windowed_suppliers(start)
    columns = _select(
        SCORECARD,
        ["supplier_name", "supplier_id", "defect_ratio", "not_received_rate", "verdict_reason"],
        alias="scorecard",
    )
    return fetch(
        f"""
        with {windowed}
        select
            {columns},
            windowed.window_loss_amount as loss_amount,
            windowed.window_lines as lines,
            scorecard.currency,
        from {SCORECARD} as scorecard
        inner join windowed using (supplier_id)
        where scorecard.verdict = 'avoid' and windowed.window_lines > 0
        order by windowed.window_loss_amount desc nulls last, scorecard.supplier_id
        limit ?
        """,
        (*params, limit),
    )


def new_alerts(weeks: int = 4) -> pd.DataFrame | None:
    """Alert weeks among the newest `weeks` order weeks of the weekly mart, newest first; None
    when the warehouse has no weekly alerts."""
    if not has(SUPPLIER_WEEKS, "ordered_week", "is_alert"):
        return None
    columns = _select(
        SUPPLIER_WEEKS,
        [
            "is_defect_alert",
            "week_defect_ratio",
            "defect_ratio_upper_limit",
            "week_defect_lines",
            "is_not_received_alert",
            "week_not_received_rate",
            "not_received_rate_upper_limit",
            "week_not_received_lines",
            "week_shipped_lines",
            "has_provisional_lines",
        ],
        alias="weeks",
    )
    return fetch(
        f"""
        with newest as (select max(ordered_week) as week from {SUPPLIER_WEEKS})
        select
            weeks.ordered_week as week_start,
            scorecard.supplier_name,
            weeks.supplier_id,
            scorecard.verdict,
            {columns},
        from {SUPPLIER_WEEKS} as weeks
        inner join {SCORECARD} as scorecard using (supplier_id)
        where weeks.is_alert
            and weeks.ordered_week > (select week from newest) - to_weeks(?)
        order by weeks.ordered_week desc, scorecard.supplier_name, weeks.supplier_id
        limit {TABLE_ROWS}
        """,
        (weeks,),
    )


# --- suppliers -------------------------------------------------------------------------------

SCORECARD_TABLE_COLUMNS = (
    "verdict",
    "supplier_name",
    "supplier_id",
    "defect_ratio",
    "defect_ratio_lower",
    "defect_ratio_upper",
    "not_received_rate",
    "not_received_rate_lower",
    "not_received_rate_upper",
    "refund_rate",
    "dispute_rate",
    "lines",
    "mature_lines",
    "provisional_lines",
    "loss_amount",
    "loss_per_100_spent",
    "currency",
    "verdict_reason",
)

SORTS = {
    "worst": "Worst first",
    "loss": "Money lost",
    "defect_ratio": "Defect ratio",
    "not_received_rate": "Not-received rate",
    "lines": "Order lines",
    "name": "Name",
}


def _worst_first() -> tuple[str, tuple]:
    """Verdict order, then within a verdict the mart's risk rank (its empirical-Bayes shrunk
    rates, SPEC §6); a warehouse without it falls back to the lower confidence bounds."""
    if has(SCORECARD, "risk_rank"):
        return "scorecard.risk_rank", ()
    return (
        "list_position(?, scorecard.verdict), "
        "greatest(scorecard.defect_ratio_lower, scorecard.not_received_rate_lower) desc nulls last",
        (list(VERDICT_ORDER),),
    )


def scorecard(
    start: dt.date | None,
    verdicts: Sequence[str] = VERDICT_ORDER,
    min_lines: int = 0,
    search: str = "",
    sort: str = "worst",
) -> pd.DataFrame:
    """The scorecard, filtered and sorted in SQL.

    Verdicts and rates are the mart's, over the whole scorecard period: that is how a verdict is
    decided. A narrower window lists the suppliers with order lines in it, and `window_lines`
    and `window_loss_amount` count those; `min_lines` applies to them.
    """
    windowed, window_params = _windowed_suppliers(start)
    worst, worst_params = _worst_first()
    order, order_params = {
        "worst": (worst, worst_params),
        "loss": ("windowed.window_loss_amount desc nulls last", ()),
        "defect_ratio": ("scorecard.defect_ratio desc nulls last", ()),
        "not_received_rate": ("scorecard.not_received_rate desc nulls last", ()),
        "lines": ("windowed.window_lines desc", ()),
        "name": ("lower(scorecard.supplier_name)", ()),
    }.get(sort, (worst, worst_params))
    columns = _select(SCORECARD, SCORECARD_TABLE_COLUMNS, alias="scorecard")
    return fetch(
        f"""
        with {windowed}
        select
            {columns},
            windowed.window_lines,
            windowed.window_loss_amount,
        from {SCORECARD} as scorecard
        inner join windowed using (supplier_id)
        where list_contains(?, scorecard.verdict)
            and windowed.window_lines >= ?
            and contains(lower(scorecard.supplier_name), lower(?))
        order by {order}, scorecard.supplier_id
        limit {SUPPLIER_ROWS}
        """,
        (*window_params, list(verdicts), int(min_lines), search, *order_params),
    )


# --- one supplier ----------------------------------------------------------------------------


def supplier_choices() -> pd.DataFrame:
    """Every supplier for the picker: worst verdicts first, then by name."""
    return fetch(
        f"""
        select supplier_id, supplier_name, verdict
        from {SCORECARD}
        order by list_position(?, verdict), lower(supplier_name), supplier_id
        """,
        (list(VERDICT_ORDER),),
    )


def supplier_card(supplier_id: str) -> pd.Series | None:
    columns = _select(SCORECARD, EXPECTED[SCORECARD])
    frame = fetch(f"select {columns} from {SCORECARD} where supplier_id = ?", (supplier_id,))
    return None if frame.empty else frame.iloc[0]


def supplier_weeks(supplier_id: str, start: dt.date | None) -> pd.DataFrame | None:
    """The supplier's weekly rates with their p-chart limits; None without a weekly mart."""
    if not has(SUPPLIER_WEEKS, "supplier_id", "ordered_week"):
        return None
    where, params = _weeks_from(start)
    columns = _select(SUPPLIER_WEEKS, [c for c in EXPECTED[SUPPLIER_WEEKS] if c != "supplier_id"])
    return fetch(
        f"""
        select {columns}
        from {SUPPLIER_WEEKS}
        where supplier_id = ? and {where}
        order by ordered_week
        """,
        (supplier_id, *params),
    )


def supplier_reasons(supplier_id: str) -> pd.DataFrame | None:
    """The supplier's disputes by reason category (withdrawn ones left out, as in the rates)."""
    if not has(DISPUTES, "supplier_id", "category"):
        return None
    counted = "is_counted" if has(DISPUTES, "is_counted") else "true"
    group = "category_group" if has(DISPUTES, "category_group") else "null"
    refunded = "sum(refund_amount)" if has(DISPUTES, "refund_amount") else "null"
    return fetch(
        f"""
        select
            category,
            any_value({group}) as category_group,
            count(*) as disputes,
            {refunded} as refund_amount,
        from {DISPUTES}
        where supplier_id = ? and {counted}
        group by category
        order by disputes desc, category
        """,
        (supplier_id,),
    )


def supplier_products(supplier_id: str) -> pd.DataFrame | None:
    """The supplier's products; where another supplier is a supported switch, who and the
    saving. None without the product mart."""
    if not has(PRODUCT_SUPPLIERS, "supplier_id", "product_id"):
        return None
    columns = _select(
        PRODUCT_SUPPLIERS,
        [
            "product_title",
            "product_id",
            "lines",
            "product_suppliers",
            "problem_rate",
            "is_recommended",
            "recommended_supplier_id",
            "recommended_problem_rate",
            "is_switch_supported",
            "average_unit_amount",
            "recommended_unit_amount",
            "currency",
        ],
        alias="products",
    )
    saving = _saving_column()
    recommended = (
        "products.recommended_supplier_id"
        if has(PRODUCT_SUPPLIERS, "recommended_supplier_id")
        else "null"
    )
    return fetch(
        f"""
        select
            {columns},
            {saving} as saving_per_100_orders,
            alternative.supplier_name as recommended_supplier_name,
        from {PRODUCT_SUPPLIERS} as products
        left join {SCORECARD} as alternative
            on alternative.supplier_id = {recommended}
            and {recommended} <> products.supplier_id
        where products.supplier_id = ?
        order by products.lines desc nulls last, products.product_id
        limit {TABLE_ROWS}
        """,
        (supplier_id,),
    )


def supplier_disputes(supplier_id: str) -> pd.DataFrame | None:
    if not has(DISPUTES, "supplier_id", "opened_at"):
        return None
    columns = _select(DISPUTES, [c for c in EXPECTED[DISPUTES] if c != "supplier_id"])
    return fetch(
        f"""
        select {columns}
        from {DISPUTES}
        where supplier_id = ?
        order by opened_at desc, dispute_id
        limit {TABLE_ROWS}
        """,
        (supplier_id,),
    )


def _saving_column() -> str:
    column = _column(PRODUCT_SUPPLIERS, "saving_per_100_orders")
    return f"products.{column}" if column else "null"


# --- products --------------------------------------------------------------------------------


def product_switches(search: str = "") -> pd.DataFrame | None:
    """Product × supplier pairs where the mart supports switching to another supplier of the
    same product, the biggest saving on the user's volume first. None without the product mart
    or its recommendation."""
    saving = _saving_column()
    if saving == "null" or not has(
        PRODUCT_SUPPLIERS, "recommended_supplier_id", "is_switch_supported"
    ):
        return None
    columns = _select(
        PRODUCT_SUPPLIERS,
        [
            "product_title",
            "product_id",
            "supplier_id",
            "lines",
            "problem_rate",
            "recommended_supplier_id",
            "recommended_problem_rate",
            "average_unit_amount",
            "recommended_unit_amount",
            "product_suppliers",
            "currency",
        ],
        alias="products",
    )
    return fetch(
        f"""
        select
            {columns},
            {saving} as saving_per_100_orders,
            current.supplier_name,
            current.verdict,
            alternative.supplier_name as recommended_supplier_name,
            alternative.verdict as recommended_verdict,
        from {PRODUCT_SUPPLIERS} as products
        inner join {SCORECARD} as current on current.supplier_id = products.supplier_id
        left join {SCORECARD} as alternative
            on alternative.supplier_id = products.recommended_supplier_id
        where products.is_switch_supported
            and contains(lower(coalesce(products.product_title, products.product_id)), lower(?))
        order by
            {saving} * products.lines desc nulls last,
            products.product_id,
            products.supplier_id
        limit {TABLE_ROWS}
        """,
        (search,),
    )


def products_with_choice(search: str = "") -> pd.DataFrame | None:
    """One row per product the user buys from two or more suppliers: how many, the lines, and
    the recommended supplier if the mart could name one. None without the product mart."""
    if not has(PRODUCT_SUPPLIERS, "product_id", "supplier_id", "lines"):
        return None
    present = relations()[PRODUCT_SUPPLIERS]
    title = "product_title" if "product_title" in present else "null"
    recommended = "recommended_supplier_id" if "recommended_supplier_id" in present else "null"
    supported = "is_switch_supported" if "is_switch_supported" in present else "null"
    return fetch(
        f"""
        with products as (
            select
                product_id,
                arg_max({title}, lines) as product_title,
                count(distinct supplier_id) as suppliers,
                sum(lines) as lines,
                any_value({recommended}) as recommended_supplier_id,
                count(*) filter (where {supported}) as supported_switches,
            from {PRODUCT_SUPPLIERS}
            group by product_id
            having count(distinct supplier_id) > 1
        )
        select
            products.*,
            alternative.supplier_name as recommended_supplier_name,
            count(*) over () as products_with_choice,
        from products
        left join {SCORECARD} as alternative
            on alternative.supplier_id = products.recommended_supplier_id
        where contains(lower(coalesce(products.product_title, products.product_id)), lower(?))
        order by products.lines desc, products.product_id
        limit {TABLE_ROWS}
        """,
        (search,),
    )


# --- deadlines -------------------------------------------------------------------------------

DEADLINE_KINDS = {
    "open_dispute": "Open a dispute",
    "escalate_dispute": "Escalate a dispute",
}


def deadlines(kinds: Sequence[str]) -> pd.DataFrame | None:
    """What must be done before a deadline, most urgent first (overdue on top); None without
    the deadline mart."""
    if not has(DEADLINES, "deadline_at", "supplier_id"):
        return None
    kind = "deadlines.deadline_kind" if has(DEADLINES, "deadline_kind") else "null"
    columns = _select(
        DEADLINES, [c for c in EXPECTED[DEADLINES] if c != "supplier_id"], "deadlines"
    )
    titles = (
        f"""left join {PRODUCT_SUPPLIERS} as products
            on products.product_id = deadlines.product_id
            and products.supplier_id = deadlines.supplier_id"""
        if has(PRODUCT_SUPPLIERS, "product_id", "supplier_id", "product_title")
        else "left join (select null as product_title) as products on false"
    )
    return fetch(
        f"""
        select
            {columns},
            deadlines.supplier_id,
            scorecard.supplier_name,
            scorecard.verdict,
            products.product_title,
            count(*) over () as total_deadlines,
        from {DEADLINES} as deadlines
        left join {SCORECARD} as scorecard on scorecard.supplier_id = deadlines.supplier_id
        {titles}
        where {kind} is null or list_contains(?, {kind})
        order by deadlines.deadline_at, deadlines.supplier_id, 1
        limit {TABLE_ROWS}
        """,
        (list(kinds),),
    )


# --- data health -----------------------------------------------------------------------------


def loads() -> pd.DataFrame | None:
    if "raw.loads" not in relations():
        return None
    return fetch(
        f"""
        select file_name, format, outcome, rows_loaded, rows_rejected, loaded_at, message,
            file_path, checksum,
        from raw.loads
        order by loaded_at desc, load_id desc
        limit {TABLE_ROWS}
        """
    )


def rejects() -> pd.DataFrame | None:
    if "raw.rejects" not in relations() or "raw.loads" not in relations():
        return None
    return fetch(
        f"""
        select
            loads.file_name,
            rejects.source_line,
            rejects.column_name,
            rejects.reason,
            count(*) over () as total_rejects,
        from raw.rejects as rejects
        left join raw.loads as loads using (load_id)
        order by loads.loaded_at desc, rejects.source_line
        limit {TABLE_ROWS}
        """
    )


def freshness() -> pd.DataFrame | None:
    """Each input format: its newest load, how many files and rows, and how long ago."""
    if "raw.loads" not in relations():
        return None
    return fetch(
        """
        select
            format,
            max(loaded_at) as last_loaded_at,
            arg_max(file_name, loaded_at) as last_file,
            count(*) filter (where outcome = 'loaded') as files_loaded,
            sum(rows_loaded) as rows_loaded,
            sum(rows_rejected) as rows_rejected,
        from raw.loads
        where format is not null
        group by format
        order by format
        """
    )


def data_dates() -> pd.Series:
    """The newest dates in the data itself, which is what the marts count up to."""
    disputes = f"(select max(opened_at) from {DISPUTES})" if has(DISPUTES, "opened_at") else "null"
    frame = fetch(
        f"""
        select
            min(ordered_at) as first_ordered_at,
            max(ordered_at) as last_ordered_at,
            {disputes} as last_dispute_opened_at,
        from {ORDER_LINES}
        """
    )
    return frame.iloc[0] if not frame.empty else pd.Series(dtype=object)


def builds() -> pd.DataFrame | None:
    if "meta.builds" not in relations():
        return None
    return fetch(f"select * from meta.builds order by finished_at desc limit {TABLE_ROWS}")


@dataclass(frozen=True)
class DbtResults:
    """The last `dbt build` in this home, published or not (a failed build publishes nothing,
    and this is where to see why)."""

    finished_at: dt.datetime
    elapsed_seconds: float
    statuses: dict[str, int]
    problems: pd.DataFrame  # node, status, message: anything that did not pass


def last_dbt_results() -> DbtResults | None:
    path = Settings.from_env().dbt_target_path / "run_results.json"
    try:
        stamp = path.stat().st_mtime_ns
    except FileNotFoundError:
        return None
    return _dbt_results(str(path), stamp)


@st.cache_data(show_spinner=False, max_entries=4)
def _dbt_results(path: str, stamp: int) -> DbtResults | None:
    del stamp  # only part of the cache key
    try:
        with open(path, encoding="utf-8") as file:
            results = json.load(file)
        nodes = results["results"]
        finished = dt.datetime.fromisoformat(results["metadata"]["generated_at"])
    except (OSError, ValueError, KeyError):
        return None  # written by another dbt version, or mid-write: nothing to say
    statuses: dict[str, int] = {}
    problems = []
    for node in nodes:
        status = str(node.get("status"))
        statuses[status] = statuses.get(status, 0) + 1
        if status not in ("pass", "success", "no-op", "skipped"):
            message = (node.get("message") or "").strip().splitlines()
            problems.append((node.get("unique_id"), status, message[0] if message else ""))
    return DbtResults(
        finished_at=finished if finished.tzinfo else finished.replace(tzinfo=dt.UTC),
        elapsed_seconds=float(results.get("elapsed_time") or 0),
        statuses=statuses,
        # A failing node's message can quote data.
        problems=escaped(
            pd.DataFrame(problems, columns=["node", "status", "message"]), ["node", "message"]
        ),
    )


@dataclass(frozen=True)
class WarehouseFile:
    path: Path
    version: str
    published_at: dt.datetime
    size_bytes: int


def warehouse_file() -> WarehouseFile | None:
    path = warehouse_path()
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return WarehouseFile(
        path=path,
        version=warehouse_version(path) or "",
        published_at=dt.datetime.fromtimestamp(stat.st_mtime, tz=dt.UTC),
        size_bytes=stat.st_size,
    )


# --- ad-hoc SQL ------------------------------------------------------------------------------


@st.cache_data(show_spinner=False, max_entries=8)
def _schema(version: str) -> pd.DataFrame:
    del version  # only part of the cache key
    return sandbox.schema(warehouse_path())


def schema() -> pd.DataFrame:
    """Tables and columns with their descriptions, from the shared SQL runner."""
    version = current_version()
    if version is None:
        return pd.DataFrame(
            columns=["table_schema", "table_name", "column_name", "data_type", "description"]
        )
    return _schema(version)


@dataclass(frozen=True)
class SqlResult:
    rows: pd.DataFrame
    truncated: bool
    elapsed_seconds: float


@st.cache_data(show_spinner=False, max_entries=32)
def _run_sql(version: str, sql: str, max_rows: int, timeout_seconds: float) -> SqlResult:
    del version  # only part of the cache key
    result = sandbox.run_query(
        warehouse_path(), sql, max_rows=max_rows, timeout_seconds=timeout_seconds
    )
    rows = result.to_dataframe()
    rows = escaped(rows, rows.columns)
    # Column names too: a pivot names its columns after the values it lists.
    rows.columns = sandbox.unique_names([escape_controls(str(name)) for name in rows.columns])
    return SqlResult(rows, result.truncated, result.elapsed_seconds)


def run_sql(sql: str, max_rows: int, timeout_seconds: float) -> SqlResult:
    """Run a user's query in the read-only sandbox; raises `dropscore.sql.SqlError` with a
    one-line message when it is refused or fails."""
    version = current_version()
    if version is None:
        raise sandbox.WarehouseMissing("nothing has been published yet; run `dropscore run` first")
    return _run_sql(version, sql, int(max_rows), float(timeout_seconds))
