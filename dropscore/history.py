"""Each build's verdicts, kept in the warehouse so the weekly report can say which ones changed.

A verdict is a judgement on everything known at the as-of date; last week's verdict cannot be
rebuilt from this week's marts (maturity, and so every rate, moves with the as-of date), and
rerunning dbt on an older as-of date would double every run. So after each successful build the
scorecard's verdicts are copied into `meta.verdict_history`, one snapshot per as-of moment: a
rebuild of the same data (or with other vars) replaces its snapshot; a newer export adds one.
"""

from __future__ import annotations

import duckdb

HISTORY_TABLE = "meta.verdict_history"

_CREATE = f"""
create table if not exists {HISTORY_TABLE} (
    as_of_at timestamptz not null,
    recorded_at timestamptz not null,
    supplier_id varchar not null,
    supplier_name varchar,
    verdict varchar not null,
    mature_lines bigint,
    defect_ratio double,
    not_received_rate double
)
"""


def record_verdicts(connection: duckdb.DuckDBPyConnection) -> int:
    """Snapshot `marts.fct_supplier_scorecard` into meta.verdict_history; returns the rows kept.

    Call it on the build file after a successful `dbt build` and before publishing, so the
    published warehouse carries the snapshot of its own verdicts.
    """
    if not _exists(connection, "marts", "fct_supplier_scorecard"):
        return 0
    connection.execute("create schema if not exists meta")
    connection.execute(_CREATE)
    as_of_at = _as_of_at(connection)
    if as_of_at is None:  # nothing loaded yet: no verdict worth keeping
        return 0
    connection.execute("begin transaction")
    try:
        connection.execute(f"delete from {HISTORY_TABLE} where as_of_at = ?", [as_of_at])
        connection.execute(
            f"""
            insert into {HISTORY_TABLE}
            select
                ?, now(), supplier_id, supplier_name, verdict, mature_lines, defect_ratio,
                not_received_rate,
            from marts.fct_supplier_scorecard
            """,
            [as_of_at],
        )
        (rows,) = connection.execute(
            f"select count(*) from {HISTORY_TABLE} where as_of_at = ?", [as_of_at]
        ).fetchone()
        connection.execute("commit")
    except BaseException:
        connection.execute("rollback")
        raise
    return rows


def _as_of_at(connection: duckdb.DuckDBPyConnection):
    if _exists(connection, "intermediate", "int_as_of_date"):
        sql = "select max(as_of_at) from intermediate.int_as_of_date"
    else:
        sql = "select max(ordered_at) from marts.fct_order_lines"
    return connection.execute(sql).fetchone()[0]


def _exists(connection: duckdb.DuckDBPyConnection, schema_name: str, table_name: str) -> bool:
    (found,) = connection.execute(
        """
        select count(*) from duckdb_tables()
        where database_name = current_database() and schema_name = ? and table_name = ?
        """,
        [schema_name, table_name],
    ).fetchone()
    return found > 0
