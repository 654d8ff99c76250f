import hashlib
import tempfile
import time
from pathlib import Path

import duckdb
import pytest

from dropscore.sql import (
    QueryFailed,
    QueryRefused,
    QueryResult,
    SqlError,
    WarehouseMissing,
    _sandbox,
    read_only,
    run_query,
    schema,
)

WAREHOUSE_SQL = """
create schema main_marts;
create table main_marts.dim_suppliers (supplier_id varchar, supplier_name varchar);
insert into main_marts.dim_suppliers values ('s1', 'Shenzhen Gadgets'), ('s2', 'Yiwu Homeware');
comment on table main_marts.dim_suppliers is 'one row per supplier';
comment on column main_marts.dim_suppliers.supplier_name is 'the AliExpress store name';
create table main_marts.fct_supplier_weeks as
    select 's' || (week % 2 + 1) as supplier_id, week, week / 100 as defect_ratio
    from range(25) as weeks(week);
create view main_marts.supplier_names as select supplier_name from main_marts.dim_suppliers;
"""


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("published") / "dropscore.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute(WAREHOUSE_SQL)
    return path


@pytest.fixture(scope="module")
def published_sha256(warehouse: Path) -> str:
    return sha256(warehouse)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory a query must not be able to write into."""
    return tmp_path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_select_returns_columns_and_rows(warehouse: Path) -> None:
    result = run_query(
        warehouse, "select supplier_id, supplier_name from main_marts.dim_suppliers order by 1"
    )

    assert result.columns == ["supplier_id", "supplier_name"]
    assert result.rows == [("s1", "Shenzhen Gadgets"), ("s2", "Yiwu Homeware")]
    assert result.truncated is False
    assert result.elapsed_seconds >= 0
    assert result.to_dataframe().to_dict("list") == {
        "supplier_id": ["s1", "s2"],
        "supplier_name": ["Shenzhen Gadgets", "Yiwu Homeware"],
    }


@pytest.mark.parametrize(
    ("max_rows", "expected_rows", "truncated"),
    [(10, 10, True), (24, 24, True), (25, 25, False), (100, 25, False), (0, 0, True)],
)
def test_row_cap_keeps_at_most_max_rows_and_says_when_more_existed(
    warehouse: Path, max_rows: int, expected_rows: int, truncated: bool
) -> None:
    result = run_query(warehouse, "from main_marts.fct_supplier_weeks", max_rows=max_rows)

    assert len(result.rows) == expected_rows
    assert result.truncated is truncated


def test_empty_result_keeps_its_columns(warehouse: Path) -> None:
    result = run_query(warehouse, "select supplier_id from main_marts.dim_suppliers where false")

    assert result == QueryResult(["supplier_id"], [], False, result.elapsed_seconds)
    assert list(result.to_dataframe().columns) == ["supplier_id"]


@pytest.mark.parametrize(
    ("sql", "first_column", "first_row"),
    [
        pytest.param("values (1, 'a')", "col0", (1, "a"), id="values"),
        pytest.param(
            "from main_marts.dim_suppliers select supplier_id order by 1",
            "supplier_id",
            ("s1",),
            id="from-first",
        ),
        pytest.param(
            "with ids as (select supplier_id from main_marts.dim_suppliers)"
            " select count(*) as suppliers from ids",
            "suppliers",
            (2,),
            id="with",
        ),
        pytest.param(
            "describe main_marts.dim_suppliers",
            "column_name",
            ("supplier_id", "VARCHAR", "YES", None, None, None),
            id="describe",
        ),
        pytest.param("show tables", "name", None, id="show-tables"),
        pytest.param("summarize main_marts.dim_suppliers", "column_name", None, id="summarize"),
        pytest.param(
            "pivot (select supplier_id from main_marts.dim_suppliers)"
            " on supplier_id in ('s1', 's2') using count(*)",
            "s1",
            (1, 1),
            id="pivot-with-values",
        ),
        pytest.param("explain select 1", "explain_key", None, id="explain"),
        pytest.param("explain (select 1)", "explain_key", None, id="explain-parenthesised"),
        pytest.param(
            "explain (describe main_marts.dim_suppliers)",
            "explain_key",
            None,
            id="explain-describe-parenthesised",
        ),
        pytest.param(
            "explain analyze (select 1) union all (select 2)",
            "explain_key",
            None,
            id="explain-analyze-parenthesised",
        ),
        pytest.param(
            "explain analyze /* why slow? */ from main_marts.fct_supplier_weeks",
            "explain_key",
            None,
            id="explain-analyze",
        ),
        pytest.param(
            "select 1 as answer; -- a trailing semicolon and comment",
            "answer",
            (1,),
            id="trailing-semicolon",
        ),
    ],
)
def test_read_statements_are_allowed(
    warehouse: Path, sql: str, first_column: str, first_row: tuple | None
) -> None:
    result = run_query(warehouse, sql)

    assert result.columns[0] == first_column
    if first_row is not None:
        assert result.rows[0] == first_row


def test_sandbox_settings_are_in_force_for_the_query(warehouse: Path) -> None:
    # read on the queries' own connection: a query may not read settings itself
    with read_only(warehouse) as connection:
        rows = connection.execute(
            "select current_setting('enable_external_access'),"
            " current_setting('lock_configuration'), current_setting('autoload_known_extensions'),"
            " current_setting('access_mode'), current_setting('memory_limit'), current_database()"
        ).fetchall()

    assert rows == [(False, True, False, "automatic", "953.6 MiB", "dropscore")]


def test_schema_lists_tables_views_and_columns_with_their_comments(warehouse: Path) -> None:
    described = schema(warehouse)

    assert list(described.columns) == [
        "table_schema",
        "table_name",
        "column_name",
        "data_type",
        "description",
    ]
    assert described.values.tolist() == [
        ["main_marts", "dim_suppliers", "", "", "one row per supplier"],
        ["main_marts", "dim_suppliers", "supplier_id", "VARCHAR", ""],
        ["main_marts", "dim_suppliers", "supplier_name", "VARCHAR", "the AliExpress store name"],
        ["main_marts", "fct_supplier_weeks", "", "", ""],
        ["main_marts", "fct_supplier_weeks", "supplier_id", "VARCHAR", ""],
        ["main_marts", "fct_supplier_weeks", "week", "BIGINT", ""],
        ["main_marts", "fct_supplier_weeks", "defect_ratio", "DOUBLE", ""],
        ["main_marts", "supplier_names", "", "", ""],
        ["main_marts", "supplier_names", "supplier_name", "VARCHAR", ""],
    ]


FILES = "refused: queries may not read or write files"
READ_ONLY = "refused: the warehouse is read-only"
SETTINGS = "refused: queries may not change settings"
READ_SETTINGS = "refused: queries may not read settings or file paths"
EXTENSIONS = "refused: queries may not install or load extensions"
DATABASES = "refused: queries may not attach or detach databases"
TABLE_FUNCTION = "is not allowed; read a table function with SELECT * FROM name()"

# {warehouse} is the published file, {outside} a scratch directory.
ESCAPES = [
    ("select * from read_csv('/etc/passwd')", f"{FILES} (/etc/passwd)"),
    ("select * from read_text('/etc/passwd')", f"{FILES} (/etc/passwd)"),
    ("select * from read_blob('/etc/passwd')", f"{FILES} (/etc/passwd)"),
    ("select * from read_json_auto('/etc/hosts')", f"{FILES} (/etc/hosts)"),
    ("select * from sniff_csv('/etc/hosts')", f"{FILES} (/etc/hosts)"),
    ("select * from glob('/*')", f"{FILES} (/*)"),
    ("select * from '/etc/hosts.csv'", f"{FILES} (/etc/hosts.csv)"),
    (
        "select * from read_parquet('http://example.com/x.parquet')",
        f"{FILES} (http://example.com/x.parquet)",
    ),
    ("from 'https://example.com/x.csv'", f"{FILES} (https://example.com/x.csv)"),
    ("select * from duckdb_secrets()", f"{FILES} (in DuckDB's own directory)"),
    ("copy main_marts.dim_suppliers to '{outside}/x.csv'", f"{FILES} (COPY)"),
    ("copy main_marts.dim_suppliers from '/etc/passwd'", f"{FILES} (COPY)"),
    ("copy (select 1) to '{warehouse}'", f"{FILES} (COPY)"),
    ("export database '{outside}/export'", f"{FILES} (EXPORT)"),
    ("explain analyze copy (select 1) to '{outside}/x.csv'", f"{FILES} (COPY)"),
    ("attach '{outside}/x.duckdb'", f"{DATABASES} (ATTACH)"),
    ("detach dropscore", f"{DATABASES} (DETACH)"),
    ("install httpfs", f"{EXTENSIONS} (LOAD)"),
    ("load httpfs", f"{EXTENSIONS} (LOAD)"),
    ("set threads = 1", f"{SETTINGS} (SET)"),
    ("reset threads", f"{SETTINGS} (SET)"),
    ("set variable answer = 42", f"{SETTINGS} (SET)"),
    ("use main_marts", f"{SETTINGS} (SET)"),
    ("select * from enable_logging()", f"{SETTINGS} (enable_logging)"),
    ("select current_setting('secret_directory')", f"{READ_SETTINGS} (current_setting)"),
    ("select CURRENT_SETTING ('temp_directory')", f"{READ_SETTINGS} (current_setting)"),
    ("select * from duckdb_settings()", f"{READ_SETTINGS} (duckdb_settings)"),
    ("from duckdb_settings", f"{READ_SETTINGS} (duckdb_settings)"),
    ("select path from duckdb_databases()", f"{READ_SETTINGS} (duckdb_databases)"),
    ("from pragma_database_list", f"{READ_SETTINGS} (pragma_database_list)"),
    ("select * from duckdb_temporary_files()", f"{READ_SETTINGS} (duckdb_temporary_files)"),
    ("select name, setting from pg_settings", f"{READ_SETTINGS} (pg_settings)"),
    ("from pg_catalog.pg_settings", f"{READ_SETTINGS} (pg_settings)"),
    ('from "DUCKDB_DATABASES"', f"{READ_SETTINGS} (duckdb_databases)"),
    ('select * from "PRAGMA_DATABASE_LIST"', f"{READ_SETTINGS} (pragma_database_list)"),
    ("select * from pragma_database_size()", f"{READ_SETTINGS} (pragma_database_size)"),
    ("select * from duckdb_extensions()", f"{FILES} (in DuckDB's own directory)"),
    ("pragma enable_profiling", f"refused: PRAGMA {TABLE_FUNCTION}"),
    ("call duckdb_secrets()", f"refused: CALL {TABLE_FUNCTION}"),
    ("checkpoint", f"refused: CALL {TABLE_FUNCTION}"),
    ("create table main_marts.x (a int)", f"{READ_ONLY} (CREATE)"),
    ("create temp table x as select 1", f"{READ_ONLY} (CREATE)"),
    ("create secret (type s3, key_id 'k', secret 's')", f"{READ_ONLY} (CREATE)"),
    ("create macro leak() as 1", f"{READ_ONLY} (CREATE)"),
    ("insert into main_marts.dim_suppliers values ('s3', 'x')", f"{READ_ONLY} (INSERT)"),
    ("update main_marts.dim_suppliers set supplier_name = 'x'", f"{READ_ONLY} (UPDATE)"),
    ("delete from main_marts.dim_suppliers", f"{READ_ONLY} (DELETE)"),
    ("truncate main_marts.dim_suppliers", f"{READ_ONLY} (DELETE)"),
    ("drop table main_marts.dim_suppliers", f"{READ_ONLY} (DROP)"),
    ("alter table main_marts.dim_suppliers rename to gone", f"{READ_ONLY} (ALTER)"),
    (
        "merge into main_marts.dim_suppliers using (select 's9' as supplier_id) as new"
        " using (supplier_id) when not matched then insert values ('s9', 'x')",
        f"{READ_ONLY} (MERGE INTO)",
    ),
    (
        "with gone as (delete from main_marts.dim_suppliers returning *) select * from gone",
        "refused: only read queries are allowed (a CTE that writes)",
    ),
    (
        "with new as (insert into main_marts.dim_suppliers values ('s3', 'x') returning *)"
        " select * from new",
        "refused: only read queries are allowed (a CTE that writes)",
    ),
    ("vacuum", f"{READ_ONLY} (VACUUM)"),
    ("analyze", f"{READ_ONLY} (VACUUM)"),
    (
        "explain analyze insert into main_marts.dim_suppliers values ('s3', 'x')",
        f"{READ_ONLY} (INSERT)",
    ),
    ("explain (format json) drop table main_marts.dim_suppliers", f"{READ_ONLY} (DROP)"),
    ("begin transaction", "refused: only read queries are allowed (TRANSACTION)"),
    ("prepare leak as select 1", "refused: only read queries are allowed (PREPARE)"),
    ("update extensions", "refused: only read queries are allowed (unrecognised statement)"),
    (
        "pivot main_marts.dim_suppliers on supplier_id using count(*)",
        "refused: the statement expands into several; a PIVOT must list its values (IN …)",
    ),
    (
        "select 1; drop table main_marts.dim_suppliers",
        "refused: expected exactly one SQL statement, found 2",
    ),
    ("select 1; select 2", "refused: expected exactly one SQL statement, found 2"),
    ("", "refused: expected exactly one SQL statement, found 0"),
    ("-- nothing but a comment", "refused: expected exactly one SQL statement, found 0"),
]


def escape_sql(template: str, warehouse: Path, outside: Path) -> str:
    return template.format(warehouse=warehouse, outside=outside)


@pytest.mark.parametrize(("sql", "message"), ESCAPES, ids=[sql or "empty" for sql, _ in ESCAPES])
def test_escape_attempt_is_refused_and_changes_nothing(
    warehouse: Path, published_sha256: str, outside: Path, sql: str, message: str
) -> None:
    neighbours = sorted(warehouse.parent.iterdir())

    with pytest.raises(QueryRefused) as refused:
        run_query(warehouse, escape_sql(sql, warehouse, outside))

    assert str(refused.value) == escape_sql(message, warehouse, outside)
    assert sha256(warehouse) == published_sha256
    assert sorted(warehouse.parent.iterdir()) == neighbours
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("copy (select 1) to '{outside}/x.csv'", f"{FILES} ({{outside}}/x.csv)"),
        ("attach '{outside}/x.duckdb'", f"{FILES} ({{outside}}/x.duckdb)"),
        ("set threads = 1", f"{SETTINGS} (threads)"),
        ("set enable_external_access = true", f"{SETTINGS} (enable_external_access)"),
        ("set lock_configuration = false", f"{SETTINGS} (lock_configuration)"),
        ("load httpfs", "refused: Loading external extensions is disabled through configuration"),
        (
            "insert into main_marts.dim_suppliers values ('s3', 'x')",
            'query failed: Invalid Input Error: Cannot execute statement of type "INSERT" on'
            ' database "dropscore" which is attached in read-only mode!',
        ),
        (
            "copy (select 1) to '{warehouse}'",
            'query failed: Binder Error: Cannot COPY to "{warehouse}": the file belongs to an'
            " attached database",
        ),
    ],
)
def test_connection_itself_stops_what_the_statement_check_would_miss(
    warehouse: Path, published_sha256: str, outside: Path, sql: str, message: str
) -> None:
    # Runs straight on the sandboxed connection, skipping the statement-type check, to prove the
    # second layer holds on its own.
    with pytest.raises(SqlError) as stopped, _sandbox(warehouse) as connection:
        connection.execute(escape_sql(sql, warehouse, outside))

    assert str(stopped.value) == escape_sql(message, warehouse, outside)
    assert sha256(warehouse) == published_sha256
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        pytest.param(
            "selec 1", 'query failed: Parser Error: syntax error at or near "selec"', id="syntax"
        ),
        pytest.param(
            "select nope from main_marts.dim_suppliers",
            'query failed: Binder Error: Referenced column "nope" not found in FROM clause!',
            id="unknown-column",
        ),
        pytest.param(
            # The DuckDB CLI has getenv(); the Python client does not, so there is nothing to block.
            "select getenv('HOME')",
            "query failed: Catalog Error: Scalar Function with name getenv does not exist!",
            id="getenv",
        ),
        pytest.param(
            # Without external access DuckDB does not turn a quoted path into a file scan.
            "select * from '/etc/passwd'",
            "query failed: Catalog Error: Table with name /etc/passwd does not exist!",
            id="replacement-scan-of-a-file",
        ),
        pytest.param(
            "select * from sqlite_scan('/tmp/x.db', 't')",
            'query failed: Catalog Error: Table Function with name "sqlite_scan" is not in the'
            " catalog, but it exists in the sqlite_scanner extension.",
            id="extension-not-autoloaded",
        ),
        pytest.param(
            "select error('boom')", "query failed: Invalid Input Error: boom", id="runtime-error"
        ),
    ],
)
def test_broken_or_impossible_query_fails_with_one_line(
    warehouse: Path, published_sha256: str, sql: str, message: str
) -> None:
    with pytest.raises(QueryFailed) as failed:
        run_query(warehouse, sql)

    assert str(failed.value) == message
    assert sha256(warehouse) == published_sha256


def test_the_warehouse_file_itself_stays_readable_as_bytes(warehouse: Path) -> None:
    # DuckDB puts every attached database file on its allowed_paths when external access is
    # disabled, and refuses to change that list afterwards; the bytes hold nothing a query cannot
    # already select, and writing to the file is still refused.
    result = run_query(warehouse, f"select size from read_blob('{warehouse}')")

    assert result.rows == [(warehouse.stat().st_size,)]


def test_long_query_is_stopped_at_the_time_limit(warehouse: Path) -> None:
    started = time.perf_counter()

    with pytest.raises(QueryRefused) as refused:
        run_query(warehouse, "select count(*) from range(1000000000000)", timeout_seconds=0.2)

    assert str(refused.value) == "refused: the query ran longer than 0.2 s and was stopped"
    assert time.perf_counter() - started < 5


# Work DuckDB does before it runs a query, where neither its time limit nor its memory limit
# holds: aliases that build on each other plan in time exponential in their number (23: over a
# minute), and a constant is worked out whole (150M numbers: 47 s and 13.8 GB in one process).
BEFORE_THE_QUERY_RUNS = [
    "select 'x' as a0, "
    + ", ".join(f"a{i} || a{i} as a{i + 1}" for i in range(23))
    + " from main_marts.dim_suppliers",
    "select len(range(0, 150000000))",
]


@pytest.mark.parametrize("sql", BEFORE_THE_QUERY_RUNS, ids=["aliases", "constant"])
def test_work_duckdb_cannot_stop_is_stopped_with_its_process(
    warehouse: Path, sql: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    started = time.perf_counter()

    with pytest.raises(QueryRefused) as refused:
        run_query(warehouse, sql, timeout_seconds=1)

    assert str(refused.value) in {
        "refused: the query ran longer than 1 s and was stopped",
        "refused: the query's process ended without an answer (killed, perhaps for memory: a "
        "query may map 4 GB)",
    }
    assert time.perf_counter() - started < 8  # the limit, 2 s of grace, starting the process
    # its spill directory, removed for it (multiprocessing keeps a pymp-* of its own)
    assert list(tmp_path.glob("dropscore-sql-*")) == []


def test_an_error_in_the_query_process_is_one_line(warehouse: Path) -> None:
    # 500 nested lists: pickling the row goes deeper than Python allows
    nested = "[" * 500 + "1" + "]" * 500
    with pytest.raises(QueryFailed) as failed:
        run_query(warehouse, f"select {nested}")

    assert str(failed.value).startswith("query failed: RecursionError: maximum recursion depth")
    assert "\n" not in str(failed.value)


def test_a_query_may_not_map_more_than_its_share_of_memory(warehouse: Path) -> None:
    # 1,500 strings of 2 MB in one batch: DuckDB's 1 GB limit does not count them, the
    # process's address-space limit does.
    with pytest.raises(QueryFailed, match="^query failed: Out of Memory Error"):
        run_query(
            warehouse,
            "select max(length(repeat('x', 2000000) || i)) from range(1500) as numbers(i)",
        )


def test_a_result_larger_than_a_query_may_hand_back_is_refused(warehouse: Path) -> None:
    # 1,000 rows of 100 kB: under the row cap, 100 MB over the size cap.
    with pytest.raises(QueryRefused) as refused:
        run_query(warehouse, "select repeat('x', 100000) || i from range(1000) as numbers(i)")

    assert str(refused.value) == (
        "refused: the result is larger than 64 MB; select fewer rows or shorter values "
        "(every mart as a file: dropscore export)"
    )
    assert run_query(warehouse, "select repeat('x', 10000) || i from range(1000) as n(i)").rows


def test_ctes_that_inline_each_other_are_refused_before_they_are_planned(warehouse: Path) -> None:
    # Each CTE joins the one before to itself: inlined, the plan doubles with each, and DuckDB
    # cannot be interrupted while it plans (16 of them ran for minutes past a 2 s limit).
    ctes = ["a0 as not materialized (select 1 as x)"] + [
        f"a{i} as not materialized (select l.x from a{i - 1} l join a{i - 1} r using (x))"
        for i in range(1, 17)
    ]
    started = time.perf_counter()

    inlined = f"with {', '.join(ctes)} select count(*) from a16"
    serialized = f"select * from json_execute_serialized_sql(json_serialize_sql('{inlined}'))"
    for query in (inlined, f"select * from query('{inlined}')", f"describe {inlined}", serialized):
        with pytest.raises(QueryRefused, match="^refused: `not materialized` CTEs, query()"):
            run_query(warehouse, query, timeout_seconds=2)

    assert time.perf_counter() - started < 2
    # Shared, as DuckDB does by default, the same CTEs are quick; a string saying so is data.
    shared = ", ".join(ctes).replace(" not materialized", "")
    query = f"with {shared} select count(*), 'CTE_MATERIALIZE_NEVER' from a16"
    assert run_query(warehouse, query, timeout_seconds=10).rows == [(1, "CTE_MATERIALIZE_NEVER")]
    # Nested 400 deep, a query is still one line's answer, not a traceback.
    assert run_query(warehouse, "select " + "(1 + " * 400 + "1" + ")" * 400).rows == [(401,)]


def test_missing_warehouse_says_to_run_first(tmp_path: Path) -> None:
    missing = tmp_path / "dropscore.duckdb"

    with pytest.raises(WarehouseMissing) as raised:
        run_query(missing, "select 1")
    with pytest.raises(WarehouseMissing):
        schema(missing)

    assert str(raised.value) == f"no published warehouse at {missing}; run `dropscore run` first"


def test_query_runs_while_another_reader_holds_the_warehouse(warehouse: Path) -> None:
    # The dashboard opens its own read-only connections in the same process.
    with duckdb.connect(str(warehouse), read_only=True):
        assert run_query(warehouse, "select count(*) from main_marts.dim_suppliers").rows == [(2,)]


def test_warehouse_is_byte_for_byte_unchanged_after_every_attempt(
    warehouse: Path, published_sha256: str, outside: Path
) -> None:
    for sql, _ in ESCAPES:
        with pytest.raises(QueryRefused):
            run_query(warehouse, escape_sql(sql, warehouse, outside))
    run_query(warehouse, "summarize main_marts.fct_supplier_weeks")
    schema(warehouse)

    assert sha256(warehouse) == published_sha256
    assert sorted(path.name for path in warehouse.parent.iterdir()) == ["dropscore.duckdb"]
