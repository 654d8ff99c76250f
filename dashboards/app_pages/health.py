"""Data health: what was loaded and when, what was rejected and why, how fresh each input is, the
last builds, and which warehouse this dashboard is reading."""

import datetime as dt

import streamlit as st

from dashboards import queries, ui

st.title("Data health")
ui.require_warehouse(allow_empty=True)

warehouse = queries.warehouse_file()
builds = queries.builds()
dates = queries.data_dates()
now = dt.datetime.now(dt.UTC)


def ago(moment) -> str:
    if ui.is_missing(moment):
        return ui.NOT_IN_DATA
    hours = (now - moment.to_pydatetime()).total_seconds() / 3600
    if hours < 1:
        return "within the hour"
    return f"{hours:.0f} h ago" if hours < 48 else f"{hours / 24:.0f} days ago"


st.subheader("Warehouse")
top = st.columns(4)
if warehouse is not None:
    ui.metric(
        top[0],
        "Published",
        f"{warehouse.published_at:%d %b %H:%M}",
        note=f"UTC · {warehouse.size_bytes / 1e6:,.1f} MB",
        help=f"Version {warehouse.version}",
    )
last_build = builds.iloc[0] if builds is not None and not builds.empty else None
if last_build is None:
    ui.metric(top[1], "Last build", ui.NOT_IN_DATA)
    ui.metric(top[2], "Built by dropscore", ui.NOT_IN_DATA)
else:
    seconds = (last_build["finished_at"] - last_build["started_at"]).total_seconds()
    ui.metric(
        top[1],
        "Last build",
        f"{last_build['nodes']:,} nodes",
        note=f"{seconds:.0f} s · finished {last_build['finished_at']:%d %b %H:%M}",
        help="dbt models, seeds and tests built; a failed build publishes nothing.",
    )
    version = last_build.get("dropscore_version")
    ui.metric(top[2], "Built by dropscore", ui.NOT_IN_DATA if ui.is_missing(version) else version)
newest = dates.get("last_ordered_at")
ui.metric(
    top[3],
    "Newest order",
    ui.NOT_IN_DATA if ui.is_missing(newest) else f"{newest:%Y-%m-%d}",
    help="Ages and windows count from the newest date in your exports, not from today.",
)
if warehouse is not None:
    st.text(f"Reading {warehouse.path} (version {warehouse.version})")

dbt = queries.last_dbt_results()
if dbt is not None:
    counts = ", ".join(f"{count} {status}" for status, count in sorted(dbt.statuses.items()))
    summary = (
        f"Last dbt build: finished {dbt.finished_at:%Y-%m-%d %H:%M} UTC in "
        f"{dbt.elapsed_seconds:.0f} s — {counts}."
    )
    failed = dbt.problems["status"].isin(["error", "fail", "runtime error"]).any()
    if dbt.problems.empty:
        st.success(summary, icon=":material/check_circle:")
    elif failed:
        st.error(
            "The last dbt build failed, so it published nothing: the dashboard shows the "
            "warehouse published before it. " + summary,
            icon=":material/error:",
        )
    else:
        st.warning(summary, icon=":material/warning:")
    if not dbt.problems.empty:
        # dbt's messages can quote data, so they stay in a table, never in Markdown.
        ui.table(
            dbt.problems,
            key="health_dbt_problems",
            note_missing=False,
            column_config={
                "node": "Node",
                "status": "Status",
                "message": st.column_config.TextColumn("Message", width="large"),
            },
        )

st.subheader("Freshness of each input")
freshness = queries.freshness()
if freshness is None or freshness.empty:
    st.caption(f"Loads: {ui.NOT_IN_DATA}.")
else:
    freshness = freshness.assign(age=[ago(moment) for moment in freshness["last_loaded_at"]])
    ui.table(
        freshness,
        key="health_freshness",
        column_config={
            "format": "Input",
            "last_loaded_at": st.column_config.DatetimeColumn(
                "Last loaded", format="YYYY-MM-DD HH:mm"
            ),
            "age": "Age",
            "last_file": "Last file",
            "files_loaded": ui.count_column("Files"),
            "rows_loaded": ui.count_column("Rows"),
            "rows_rejected": ui.count_column("Rejected"),
        },
    )

st.subheader("Loads")
loads = queries.loads()
if loads is None or loads.empty:
    st.caption(f"Loads: {ui.NOT_IN_DATA}.")
else:
    ui.table(
        loads,
        key="health_loads",
        note_missing=False,
        column_config={
            "loaded_at": st.column_config.DatetimeColumn("When", format="YYYY-MM-DD HH:mm"),
            "file_name": "File",
            "format": "Format",
            "outcome": "Outcome",
            "rows_loaded": ui.count_column("Rows"),
            "rows_rejected": ui.count_column("Rejects"),
            "message": st.column_config.TextColumn("Message", width="large"),
            "file_path": "Path",
        },
    )

st.subheader("Rejected rows")
rejects = queries.rejects()
if rejects is None:
    st.caption(f"Rejects: {ui.NOT_IN_DATA}.")
elif rejects.empty:
    st.success("No rows were rejected.")
else:
    total = int(rejects["total_rejects"].iloc[0])
    st.caption(f"{total:,} rejected rows; the newest {min(total, queries.TABLE_ROWS):,} shown.")
    ui.table(
        rejects,
        key="health_rejects",
        column_config={
            "file_name": "File",
            "source_line": st.column_config.NumberColumn("Line", format="%d"),
            "column_name": "Column",
            "reason": st.column_config.TextColumn("Reason", width="large"),
        },
    )

st.subheader("Builds")
if builds is None or builds.empty:
    st.caption(f"Builds: {ui.NOT_IN_DATA}.")
else:
    ui.table(
        builds,
        key="health_builds",
        note_missing=False,
        column_config={
            "finished_at": st.column_config.DatetimeColumn("Finished", format="YYYY-MM-DD HH:mm"),
            "started_at": st.column_config.DatetimeColumn("Started", format="YYYY-MM-DD HH:mm"),
            "nodes": st.column_config.NumberColumn("dbt nodes"),
            "dbt_vars": "Vars",
            "dropscore_version": "dropscore",
            **{
                column: column.replace("_", " ").capitalize()
                for column in builds.columns
                if column
                not in ("finished_at", "started_at", "nodes", "dbt_vars", "dropscore_version")
            },
        },
    )

missing = queries.missing_expected()
if not missing.empty:
    with st.expander(
        f"{len(missing)} of the tables and columns this dashboard can show are not in this "
        "warehouse"
    ):
        st.caption(
            "They show as “not in your data”. A warehouse built by a newer dropscore has them: "
            "run `dropscore build`."
        )
        st.dataframe(missing, key="health_missing", hide_index=True, width="stretch")
