"""SQL: ask the warehouse anything, read-only. An editor with a row cap and a time limit, results
as a table and a CSV, and a browser of every table's columns with their descriptions.

Queries go through dropscore's shared sandbox (`dropscore.sql`): one read statement, no files,
network, extensions or settings. What it refuses shows as one error line.
"""

import streamlit as st

from dashboards import queries, ui
from dropscore.sql import SqlError

EXAMPLE = """select verdict, count(*) as suppliers, sum(loss_amount) as money_lost
from marts.fct_supplier_scorecard
group by verdict
order by money_lost desc"""

st.title("SQL")
ui.require_warehouse(allow_empty=True)

with st.form(key="sql_form", border=False):
    text = st.text_area(
        "One read-only statement",
        value=EXAMPLE,
        height=160,
        key="sql_text",
        help="SELECT, WITH, DESCRIBE, SUMMARIZE, EXPLAIN … No files, network, extensions or "
        "settings. Ctrl+Enter runs it.",
    )
    limits = st.columns([1, 1, 1, 3], vertical_alignment="bottom")
    max_rows = limits[0].number_input(
        "Row cap", min_value=1, max_value=10_000, value=1_000, step=100, key="sql_max_rows"
    )
    timeout = limits[1].number_input(
        "Time limit (s)", min_value=1, max_value=30, value=10, step=1, key="sql_timeout"
    )
    submitted = limits[2].form_submit_button("Run", type="primary", key="sql_run")
if submitted:
    st.session_state["sql_submitted"] = (text, int(max_rows), int(timeout))

if "sql_submitted" in st.session_state:
    query, rows_cap, seconds = st.session_state["sql_submitted"]
    try:
        result = queries.run_sql(query, rows_cap, seconds)
    except SqlError as error:
        # The message can quote the query or the data, so nothing in it may act as Markdown.
        st.error(ui.escape_markdown(error), icon=":material/block:")
    else:
        cap = f" (capped at {rows_cap:,}: there are more)" if result.truncated else ""
        st.caption(f"{len(result.rows):,} rows{cap} in {result.elapsed_seconds:.2f} s")
        st.dataframe(
            result.rows,
            key="sql_result",
            hide_index=True,
            width="stretch",
            height=min(560, ui.ROW_HEIGHT * (len(result.rows) + 1) + 3),
        )
        ui.download(result.rows, "dropscore-query.csv", key="sql_download")

st.subheader("Tables and columns")
catalog = queries.schema()
relations = set(zip(catalog["table_schema"], catalog["table_name"], strict=True))
names = sorted(
    (f"{schema}.{table}" for schema, table in relations),
    # Marts first: they are what the warehouse is for; raw, staging and the rest follow.
    key=lambda name: (not name.startswith("marts."), name),
)
default = "marts.fct_supplier_scorecard"
chosen = st.selectbox(
    "Table",
    options=names,
    index=names.index(default) if default in names else 0,
    key="sql_table",
)
if chosen:
    schema_name, _, table_name = chosen.partition(".")
    described = catalog[
        (catalog["table_schema"] == schema_name) & (catalog["table_name"] == table_name)
    ]
    about = described[described["column_name"] == ""]["description"]
    if not about.empty and about.iloc[0]:
        st.text(about.iloc[0])
    columns = described[described["column_name"] != ""]
    st.dataframe(
        columns[["column_name", "data_type", "description"]],
        key="sql_columns",
        hide_index=True,
        width="stretch",
        height=min(560, ui.ROW_HEIGHT * (len(columns) + 1) + 3),
        column_config={
            "column_name": "Column",
            "data_type": "Type",
            "description": st.column_config.TextColumn("Description", width="large"),
        },
    )
    st.caption(f"{len(columns)} columns · {len(names)} tables and views in the warehouse.")
