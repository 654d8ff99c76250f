"""Ad-hoc, read-only SQL over the published warehouse, shared by `dropscore sql` and the dashboard.

Two layers keep a query from doing more than reading (SPEC §7):

1. DuckDB's own parser: exactly one statement, and only a read (SELECT and everything DuckDB
   parses as one — VALUES, FROM-first, DESCRIBE, SHOW, SUMMARIZE, PIVOT with an IN list — or an
   EXPLAIN of such a read). This layer gives each refusal its plain-language message.
2. The connection itself, which holds even if the first layer misses something: the warehouse is
   attached read-only, external access (files, network, extensions, secrets) is disabled and the
   configuration is locked, all before the user's query runs.

And a query runs in a process of its own, which bounds what neither layer can: DuckDB's time
limit and memory limit hold while it runs a query, not while it plans one (a plan can grow
exponentially) nor while it works out a constant beforehand (`len(range(0, 150000000))`), so
the process may map at most a few GB and is stopped soon after the time limit.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import re
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

if TYPE_CHECKING:  # pandas takes a quarter second to import: only when a frame is asked for
    import pandas

StatementType = duckdb.StatementType


class SqlError(Exception):
    """Any reason `run_query` or `schema` gives no result; the message is one line for the user."""


class QueryRefused(SqlError):
    """The query tried something the sandbox does not allow, or ran out of time."""


class QueryFailed(SqlError):
    """The query is allowed but DuckDB could not run it (syntax error, unknown column, …)."""


class WarehouseMissing(SqlError):
    """Nothing has been published yet."""


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple]
    truncated: bool
    elapsed_seconds: float

    def to_dataframe(self) -> pandas.DataFrame:
        """The result as a frame a table can show: columns named apart (a join's `select *`
        repeats names, which Arrow refuses), and integers wider than 64 bits (HUGEINT) as text,
        which Arrow cannot hold as numbers."""
        import pandas

        columns = {}
        for index, name in enumerate(unique_names(self.columns)):
            values = [row[index] for row in self.rows]
            if any(_wider_than_64_bits(value) for value in values):
                values = [None if value is None else str(value) for value in values]
            columns[name] = values
        return pandas.DataFrame(columns, columns=list(columns))


def _wider_than_64_bits(value: object) -> bool:
    return isinstance(value, int) and not -(2**63) <= value < 2**63


def unique_names(columns: list[str]) -> list[str]:
    """The result's column names told apart: a repeated one suffixed `_1`, `_2`… (a join's
    `select *` repeats the keys), passing over the names the result has already."""
    taken, names = set(columns), []
    for name in columns:
        if name in names:
            suffix = 1
            while f"{name}_{suffix}" in taken:
                suffix += 1
            name = f"{name}_{suffix}"
            taken.add(name)
        names.append(name)
    return names


# Settings for a laptop: the warehouse is small, so a query that needs more than this is a mistake.
# Spills go to a private directory per call: DuckDB's default, `.tmp` in the working directory, is
# somewhere a read-only query has no business writing.
_SANDBOX_CONFIG = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "memory_limit": "1GB",
    "max_temp_directory_size": "4GB",
    "threads": min(4, os.cpu_count() or 1),
}

_REFUSED_STATEMENTS = {
    "the warehouse is read-only": {
        StatementType.INSERT,
        StatementType.UPDATE,
        StatementType.DELETE,
        StatementType.MERGE_INTO,
        StatementType.CREATE,
        StatementType.CREATE_FUNC,
        StatementType.DROP,
        StatementType.ALTER,
        StatementType.VACUUM,
        StatementType.ANALYZE,
        StatementType.COPY_DATABASE,
    },
    "queries may not read or write files": {StatementType.COPY, StatementType.EXPORT},
    "queries may not change settings": {StatementType.SET, StatementType.VARIABLE_SET},
    "queries may not install or load extensions": {StatementType.LOAD, StatementType.EXTENSION},
    "queries may not attach or detach databases": {StatementType.ATTACH, StatementType.DETACH},
}


# What a query's process may map (DuckDB's 1 GB of working memory, its threads and allocator,
# the interpreter: ~2 GB for a query over every order line), the result it may hand back, and
# how long after its time limit it is stopped when DuckDB could not stop it.
_ADDRESS_SPACE_BYTES = 4 * 1024**3
_RESULT_BYTES = 64 * 1024**2
_STOP_GRACE_SECONDS = 2.0


def run_query(
    warehouse: Path, sql: str, *, max_rows: int = 10_000, timeout_seconds: float = 30.0
) -> QueryResult:
    """Run one read-only statement: at most `max_rows` rows, stopped after `timeout_seconds`.

    It runs in a child process, forked (a few milliseconds) when this process has no other
    thread, else started by a fork server (once per process, ~0.3 s). The rows come back
    pickled, in the batches they were fetched in.
    """
    # Native threads count too (DuckDB's own): forking beside them could inherit a held lock.
    # Without /proc (macOS) the fork server is used, and the address-space limit may not hold.
    alone = os.path.isdir("/proc/self/task") and len(os.listdir("/proc/self/task")) == 1
    context = multiprocessing.get_context("fork" if alone else "forkserver")
    if not alone:
        # The server imports this module once. Each child still runs the program's main
        # module, as multiprocessing does: a script calling this needs `if __name__ ==
        # "__main__":`.
        context.set_forkserver_preload([__name__])
    receiving, sending = context.Pipe(duplex=False)
    # The spill directory is this process's to remove: a child stopped cannot.
    spill = tempfile.TemporaryDirectory(prefix="dropscore-sql-")
    child = context.Process(
        target=_run_in_child,
        args=(sending, warehouse, spill.name, sql, max_rows, timeout_seconds),
        daemon=True,
    )
    child.start()
    sending.close()
    try:
        if not receiving.poll(timeout_seconds + _STOP_GRACE_SECONDS):
            raise QueryRefused(
                f"refused: the query ran longer than {timeout_seconds:g} s and was stopped"
            )
        head = pickle.loads(receiving.recv_bytes())
        if isinstance(head, SqlError):
            raise head
        columns, batches, truncated, elapsed_seconds = head
        rows = [row for _ in range(batches) for row in pickle.loads(receiving.recv_bytes())]
    except EOFError:  # the process ended without an answer, killed by a signal
        raise QueryRefused(
            "refused: the query's process ended without an answer (killed, perhaps for memory: "
            f"a query may map {_ADDRESS_SPACE_BYTES / 1024**3:g} GB)"
        ) from None
    finally:
        receiving.close()
        child.kill()
        child.join()
        spill.cleanup()
    return QueryResult(columns, rows[:max_rows], truncated, elapsed_seconds)


def _run_in_child(
    sending, warehouse: Path, spill: str, sql: str, max_rows: int, timeout_seconds: float
) -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (_ADDRESS_SPACE_BYTES, _ADDRESS_SPACE_BYTES))
    except (ImportError, ValueError, OSError):  # not every system bounds address space
        pass
    try:
        columns, batches, truncated, elapsed_seconds = _run_here(
            warehouse, spill, sql, max_rows, timeout_seconds
        )
        sending.send_bytes(pickle.dumps((columns, len(batches), truncated, elapsed_seconds)))
        for batch in batches:
            sending.send_bytes(batch)
    except SqlError as error:
        sending.send_bytes(pickle.dumps(error))
    except MemoryError:
        sending.send_bytes(
            pickle.dumps(QueryRefused("refused: the result needs more memory than a query may use"))
        )
    except Exception as error:  # noqa: BLE001 - whatever it is, one line, not a traceback
        failed = QueryFailed(f"query failed: {type(error).__name__}: {error}".partition("\n")[0])
        sending.send_bytes(pickle.dumps(failed))
    sending.close()


def _run_here(
    warehouse: Path, spill: str, sql: str, max_rows: int, timeout_seconds: float
) -> tuple[list[str], list[bytes], bool, float]:
    """The query run in this process: its columns, its rows in pickled batches, whether there
    were more than `max_rows`, and how long it took."""
    with _sandbox(warehouse, within=spill) as connection:
        statement = _single_read(connection, sql)
        timed_out = threading.Event()
        timer = threading.Timer(timeout_seconds, _interrupt, (connection, timed_out))
        started = time.perf_counter()
        timer.start()
        try:
            connection.execute(statement)
            batches, rows = _fetch(connection, max_rows)
        except duckdb.InterruptException:
            if timed_out.is_set():
                raise QueryRefused(
                    f"refused: the query ran longer than {timeout_seconds:g} s and was stopped"
                ) from None
            raise
        finally:
            # Joining makes sure a timer that has just fired is done before the connection closes.
            timer.cancel()
            timer.join()
        columns = [column[0] for column in connection.description]
        return columns, batches, rows > max_rows, time.perf_counter() - started


def _fetch(connection: duckdb.DuckDBPyConnection, max_rows: int) -> tuple[list[bytes], int]:
    """Up to one row past `max_rows`, so as to know whether there were more (the result
    streams), as pickled batches whose size is counted as they come; and how many rows."""
    batches: list[bytes] = []
    rows = size = 0
    while rows <= max_rows:
        batch = connection.fetchmany(min(1024, max_rows + 1 - rows))
        if not batch:
            break
        batches.append(pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL))
        rows, size = rows + len(batch), size + len(batches[-1])
        if size > _RESULT_BYTES:
            raise QueryRefused(
                f"refused: the result is larger than {_RESULT_BYTES // 1024**2} MB; select fewer "
                "rows or shorter values (every mart as a file: dropscore export)"
            )
    return batches, rows


def schema(warehouse: Path) -> pandas.DataFrame:
    """Every table and view column with its comment; a table's own comment is on a row whose
    column_name and data_type are empty, sorted before its columns."""
    with _sandbox(warehouse) as connection:
        return connection.execute(_SCHEMA_SQL).df()


@contextmanager
def read_only(warehouse: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """The same locked-down connection, for trusted code that runs several reads on one snapshot
    of the warehouse (the weekly report, the Parquet export): a publish in between cannot mix two
    versions, because the attached file stays open. No time limit or row cap; DuckDB errors
    raised inside become SqlErrors."""
    with _sandbox(warehouse) as connection:
        yield connection


_SCHEMA_SQL = """
with relations as (
    select schema_name, table_name, comment
    from duckdb_tables()
    where database_name = current_database()
    union all
    select schema_name, view_name as table_name, comment
    from duckdb_views()
    where database_name = current_database()
),

relation_rows as (
    select schema_name, table_name, '' as column_name, '' as data_type, comment, -1 as position
    from relations
),

column_rows as (
    select schema_name, table_name, column_name, data_type, comment, column_index as position
    from duckdb_columns()
    where database_name = current_database()
),

described as (
    select * from relation_rows
    union all
    select * from column_rows
)

select
    schema_name as table_schema,
    table_name,
    column_name,
    data_type,
    coalesce(comment, '') as description,
from described
order by table_schema, table_name, position
"""


@contextmanager
def _sandbox(warehouse: Path, within: str | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A private, locked-down connection to the warehouse, closed on exit; DuckDB errors raised
    inside become SqlErrors. It spills to a directory of its own (in `within` if given)."""
    if not warehouse.is_file():
        raise WarehouseMissing(f"no published warehouse at {warehouse}; run `dropscore run` first")
    with tempfile.TemporaryDirectory(prefix="dropscore-sql-", dir=within) as spill_directory:
        # An in-memory database with the warehouse attached, rather than connecting to the file:
        # DuckDB shares one instance per file within a process and refuses a second connection
        # with a different configuration, so the dashboard's own read-only connections would
        # collide with this sandbox. Attaching needs file access, so it comes before the lock.
        connection = duckdb.connect(config=_SANDBOX_CONFIG | {"temp_directory": spill_directory})
        try:
            alias = _identifier(warehouse.stem)
            connection.execute(f"attach ? as {alias} (read_only)", [str(warehouse)])
            connection.execute(f"use {alias}")
            connection.execute("set enable_external_access = false")
            connection.execute("set lock_configuration = true")
            yield connection
        except duckdb.Error as error:
            raise _as_sql_error(error) from None
        finally:
            connection.close()


def _single_read(connection: duckdb.DuckDBPyConnection, sql: str) -> duckdb.Statement:
    statements = connection.extract_statements(sql)
    if len(statements) != 1:
        raise QueryRefused(f"refused: expected exactly one SQL statement, found {len(statements)}")
    statement = statements[0]
    statement_type = _statement_type(statement)
    if statement_type is StatementType.EXPLAIN:
        # EXPLAIN ANALYZE runs what it explains, so that must be a read too.
        _single_read(connection, _explained(statement.query))
    elif statement_type is not StatementType.SELECT:
        raise QueryRefused(_refusal(statement_type))
    ((tree,),) = connection.execute("select json_serialize_sql(?)", [statement.query]).fetchall()
    if _WRITES.search(tree):
        # The warehouse is attached read-only, so DuckDB would refuse it too.
        raise QueryRefused("refused: only read queries are allowed (a CTE that writes)")
    if read := _settings_read(tree, statement.query):
        raise QueryRefused(f"refused: queries may not read settings or file paths ({read})")
    if _plans_unbounded(tree, statement.query):
        raise QueryRefused(
            "refused: `not materialized` CTEs, query() and json_execute_serialized_sql() are "
            "not allowed (they can take longer to plan than any time limit; without the hint "
            "DuckDB shares each CTE)"
        )
    return statement


# In a query's parse tree as DuckDB serializes it (a string the user wrote is escaped there):
# a SELECT whose CTE deletes, inserts or updates (`with t as (delete ... returning *)`).
_WRITES = re.compile(r'"type":"(INSERT|UPDATE|DELETE|MERGE_INTO)_QUERY_NODE"')
# ... and CTEs inlined into each other, or SQL run from a string, which this check cannot see
# into.
_UNBOUNDED_PLANS = re.compile(
    r'"materialized":"CTE_MATERIALIZE_NEVER"'
    r'|"function_name":"(query|query_table|json_execute_serialized_sql)"'
)
# The same in the query's text, for a statement DuckDB cannot serialize.
_UNBOUNDED_TEXT = re.compile(
    r"\bnot\s+materialized\b|\b(query|query_table|json_execute_serialized_sql)\s*\(",
    re.IGNORECASE,
)


# What tells DuckDB's settings (the spill directory, the secrets directory, memory) or the
# warehouse file's path: called as functions, or named as tables (`from duckdb_settings`,
# `pg_settings`, a view over it), in any case (a quoted name keeps its own in the tree).
_SETTINGS_READERS = (
    "current_setting|duckdb_settings|pg_settings|duckdb_databases|pragma_database_list"
    "|pragma_database_size|duckdb_temporary_files|duckdb_external_file_cache"
)
_SETTINGS_IN_TREE = re.compile(
    rf'"(?:function_name|table_name)":"({_SETTINGS_READERS})"', re.IGNORECASE
)
_SETTINGS_IN_TEXT = re.compile(rf"\b({_SETTINGS_READERS})\b", re.IGNORECASE)


def _settings_read(tree: str, query: str) -> str | None:
    """The function a query would read settings or paths with, if any."""
    found = _found(tree, query, _SETTINGS_IN_TREE, _SETTINGS_IN_TEXT)
    return found[1].lower() if found else None


def _plans_unbounded(tree: str, query: str) -> bool:
    """Whether the query could take longer to plan than any time limit, from its parse tree.

    A query's time limit holds only once DuckDB runs it: binding and planning cannot be
    interrupted, and CTEs that inline each other make a plan exponential in their number.
    """
    return _found(tree, query, _UNBOUNDED_PLANS, _UNBOUNDED_TEXT) is not None


def _found(tree: str, query: str, in_tree: re.Pattern, in_text: re.Pattern) -> re.Match | None:
    """`in_tree` searched in the query's parse tree, or `in_text` in its text for a statement
    DuckDB cannot serialize."""
    if tree.startswith('{"error":true'):
        return in_text.search(query)
    return in_tree.search(tree)


def _statement_type(statement: duckdb.Statement) -> StatementType | None:
    try:
        return statement.type
    except ValueError:
        # The Python enum lags the parser (e.g. UPDATE EXTENSIONS has no member in duckdb 2.0).
        return None


def _refusal(statement_type: StatementType | None) -> str:
    if statement_type is None:
        return "refused: only read queries are allowed (unrecognised statement)"
    kind = statement_type.name.replace("_", " ")
    for reason, statement_types in _REFUSED_STATEMENTS.items():
        if statement_type in statement_types:
            return f"refused: {reason} ({kind})"
    if statement_type in (StatementType.CALL, StatementType.PRAGMA):
        return f"refused: {kind} is not allowed; read a table function with SELECT * FROM name()"
    if statement_type is StatementType.MULTI:
        # Mostly a PIVOT whose columns come from the data: DuckDB creates an enum type first.
        return "refused: the statement expands into several; a PIVOT must list its values (IN …)"
    return f"refused: only read queries are allowed ({kind})"


def _explained(query: str) -> str:
    """The statement inside `EXPLAIN [ANALYZE] [(options)] statement`, found with DuckDB's
    tokenizer."""
    tokens = duckdb.tokenize(query)
    ends = [offset for offset, _ in tokens[1:]] + [len(query)]
    words = [
        (offset, query[offset:end].strip().lower())
        for (offset, token_type), end in zip(tokens, ends, strict=True)
        if token_type is not duckdb.token_type.comment
    ]
    position = 1
    if words[position][1] in ("analyze", "analyse"):
        position += 1
    # `(format json)` is options; `(select 1)` the statement, in parentheses
    if (
        position + 1 < len(words)
        and words[position][1] == "("
        and words[position + 1][1] not in _STATEMENT_STARTS
    ):
        position = [word for _, word in words].index(")", position) + 1
    return query[words[position][0] :]


_STATEMENT_STARTS = {
    "(", "select", "with", "from", "values", "table", "pivot", "unpivot", "describe", "show",
    "summarize",
}  # fmt: skip


def _interrupt(connection: duckdb.DuckDBPyConnection, timed_out: threading.Event) -> None:
    timed_out.set()
    connection.interrupt()


def _as_sql_error(error: duckdb.Error) -> SqlError:
    # DuckDB adds context (the query with a caret, hints) on further lines; the first says it all.
    message = str(error).partition("\n")[0]
    if isinstance(error, duckdb.PermissionException):
        path = re.search(r'Cannot access (?:file|directory) "([^"]*)"', message)
        if path:
            # A path the query named is the user's own; one of DuckDB's (its secrets, its
            # extensions) is one the settings refusal keeps from queries, so not named here.
            named = "in DuckDB's own directory" if _is_duckdbs_own(path[1]) else path[1]
            return QueryRefused(f"refused: queries may not read or write files ({named})")
        return QueryRefused(f"refused: {message.removeprefix('Permission Error: ')}")
    # Table functions such as enable_logging() try to change settings, which the lock stops.
    locked = re.search(r'Cannot change configuration option "([^"]+)"', message)
    if locked:
        return QueryRefused(f"refused: queries may not change settings ({locked[1]})")
    return QueryFailed(f"query failed: {message}")


def _is_duckdbs_own(path: str) -> bool:
    return Path(path).is_relative_to(Path.home() / ".duckdb")


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
