"""The weekly job, in three steps: ingest files, build the marts with dbt, publish."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from dropscore import __version__
from dropscore.background import meanwhile
from dropscore.config import PROJECT_DIR, Settings
from dropscore.history import record_verdicts
from dropscore.warehouse import (
    BuildFileNotMade,
    WarehouseError,
    checkpoint_compacting_when_due,
    connect_build,
    publish,
    read_ahead,
    run_lock,
)
from ingest.formats import FORMATS
from ingest.loader import LoadResult, ensure_raw_schema, load_files

if TYPE_CHECKING:
    from dbt.contracts.graph.manifest import Manifest

Progress = Callable[[str], None]


def _silent(message: str) -> None:
    pass


class BuildFailed(WarehouseError):
    """dbt could not build every model or a data test failed; nothing was published."""


@dataclass(frozen=True)
class BuildResult:
    nodes: int
    elapsed_seconds: float
    warehouse: Path
    alongside: Future | None = None  # what `alongside_publish` returned (or raised)


def ingest(
    settings: Settings,
    paths: Iterable[Path],
    format_name: str | None = None,
    progress: Progress = _silent,
) -> list[LoadResult]:
    with _writable_home(settings), run_lock(settings):
        return _ingest(settings, paths, format_name, progress)


def build(
    settings: Settings,
    dbt_vars: dict[str, object] | None = None,
    progress: Progress = _silent,
    unit_tests: bool = False,
) -> BuildResult:
    """Run `dbt build` on the build file, then publish it. A failed build publishes nothing.

    dbt's unit tests check the models' logic on fixed rows, not the user's data: they run in
    the project's own tests (`unit_tests=True`), not in every user's weekly run.
    """
    dbt_vars = dbt_vars or {}
    with _writable_home(settings), run_lock(settings):
        _prepare_dbt(settings)
        manifest = _dbt_parse(settings, dbt_vars)
        return _build(settings, dbt_vars, progress, unit_tests, manifest=manifest)


def run(
    settings: Settings,
    paths: Iterable[Path],
    format_name: str | None = None,
    dbt_vars: dict[str, object] | None = None,
    progress: Progress = _silent,
    unit_tests: bool = False,
    alongside_publish: Callable[[Path], object] | None = None,
    before_publish: Callable[[], object] | None = None,
) -> BuildResult:
    """Ingest, build and publish under one lock: the weekly job.

    `alongside_publish` is called with the published warehouse as soon as it is in place, while
    the next build file is made (`publish`): it reads exactly what was published, in time the
    run spends on the disk. Its result, or what it raised, is in `BuildResult.alongside`.
    `before_publish` is started on a thread once dbt has built every model, while DuckDB writes
    the build file out, for what `alongside_publish` can get ready beforehand; what it raises
    is left for `alongside_publish` to meet.
    """
    dbt_vars = dbt_vars or {}
    with _writable_home(settings), run_lock(settings):
        # dbt takes 1-1.5 s to import and 1.5-2 s to parse the project, all of it Python;
        # loading files is DuckDB's work, which runs without Python's lock.
        _prepare_dbt(settings)  # here: the environment is not for a thread to change
        parsed = meanwhile("parse-dbt", _dbt_parse, settings, dbt_vars)
        try:
            _ingest(settings, paths, format_name, progress, build_next=True)
        finally:
            # The parse writes in the home: done before the lock goes (unless a second Ctrl-C
            # cuts the wait short).
            wait([parsed])
        manifest = None if parsed.exception() else parsed.result()
        return _build(
            settings, dbt_vars, progress, unit_tests, alongside_publish, before_publish, manifest
        )


# What the operating system says when a home cannot take another byte, as DuckDB and dbt pass it on.
_UNWRITABLE = re.compile(r"No space left on device|Disk quota exceeded|Read-only file system")


def _unwritable(settings: Settings, error: BaseException) -> WarehouseError | None:
    """One line for a home that cannot be written (disk full, read-only); None for anything else.

    Looks down the chain of causes: a failed commit is often reported as the failed rollback
    that followed it.
    """
    while error is not None:
        found = _UNWRITABLE.search(str(error))
        if found:
            return WarehouseError(
                f"cannot write to {settings.home}: {found[0]}; nothing was published"
            )
        error = error.__cause__ or error.__context__
    return None


@contextlib.contextmanager
def _writable_home(settings: Settings) -> Iterator[None]:
    """A full disk or a read-only home is the user's to fix: one line, never a traceback."""
    try:
        yield
    except WarehouseError:
        raise
    except (OSError, duckdb.Error) as error:
        unwritable = _unwritable(settings, error)
        if unwritable is None:
            raise
        raise unwritable from None


def customer_key_salt(settings: Settings) -> str:
    """The home's secret salt for customer keys, made on first use.

    It lives beside the warehouse, never in it: a published warehouse alone cannot be used to
    test guessed emails against its customer keys.
    """
    path = settings.home / "customer-key.salt"
    if not path.exists():
        settings.home.mkdir(parents=True, exist_ok=True)
        # Written whole under another name, then linked into place: a run killed halfway must
        # not leave an empty salt, which every later run would use (unsalted customer keys).
        draft = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(descriptor, "w") as file:
                file.write(secrets.token_hex(32))
                file.flush()
                os.fsync(file.fileno())
            with contextlib.suppress(FileExistsError):  # another run made it first: use theirs
                os.link(draft, path)
        finally:
            draft.unlink()
    return path.read_text().strip()


def _ingest(settings, paths, format_name, progress, build_next=False) -> list[LoadResult]:
    def report(result: LoadResult) -> None:
        if result.outcome == "unchanged":
            progress(f"{result.path}: already loaded, unchanged")
            return
        rejected = f", {result.rejected:,} rejected (see raw.rejects)" if result.rejected else ""
        progress(f"{result.path}: {result.rows:,} rows loaded as {result.format}{rejected}")

    paths = [Path(path) for path in paths]
    con = connect_build(settings)
    if build_next:
        # The file's pages for the build, read while the files load. Not before DuckDB has
        # opened it: its own first reads would wait behind them (1.6-1.9 s in replays); nor
        # before the files themselves, which are read first: an export the kernel no longer
        # holds would wait behind the build file's gigabytes (133 MB: 1.9 s instead of 0.3 s
        # right after a full run). A daemon: a run that ends sooner does not wait for it.
        reading = threading.Thread(
            target=_read_ahead_in_turn,
            args=([*paths, settings.build_path],),
            name="read-ahead",
            daemon=True,
        )
        reading.start()
    try:
        return load_files(
            con,
            paths,
            FORMATS[format_name] if format_name else None,
            report,
            salt=customer_key_salt(settings),
            progress=progress,
        )
    finally:
        con.close()


def _read_ahead_in_turn(paths: list[Path]) -> None:
    for path in paths:
        read_ahead(path)


def _build(
    settings: Settings,
    dbt_vars: dict[str, object],
    progress: Progress,
    unit_tests: bool,
    alongside_publish: Callable[[Path], object] | None = None,
    before_publish: Callable[[], object] | None = None,
    manifest: Manifest | None = None,
) -> BuildResult:
    started = datetime.now(UTC)
    fingerprint = _models_fingerprint(dbt_vars)
    con = connect_build(settings)  # creates the file and its raw tables on a first build
    try:
        ensure_raw_schema(con)
        full_refresh, built_through = _start_attempt(con, started, fingerprint)
        if full_refresh or unit_tests:  # excluding a model would take its unit tests too
            excluded = []
        else:
            # The views and seeds are as the last build left them: with other models or seeds
            # the fingerprint would have asked for a full refresh. Their tests still run, on
            # this build's data, after the tables they read (dbt keeps the order through the
            # nodes it leaves out); not those of data no load has changed since the last
            # successful build.
            excluded = [
                "config.materialized:view",
                "resource_type:seed",
                *_tests_of_unchanged_data(con, manifest),
            ]
    finally:
        con.close()
    nodes = _dbt_build(
        settings, dbt_vars, progress, unit_tests, full_refresh, excluded, before_publish, manifest
    )
    _record_build(
        settings, started, nodes, dbt_vars, fingerprint, built_through, full_refresh, progress
    )
    progress(f"publishing {settings.warehouse_path}")
    try:
        alongside = publish(settings, alongside_publish)
    except BuildFileNotMade as error:  # published all the same: the run did its job
        progress(f"warning: {error}")
        alongside = error.alongside
    elapsed = (datetime.now(UTC) - started).total_seconds()
    return BuildResult(nodes, elapsed, settings.warehouse_path, alongside)


def _models_fingerprint(dbt_vars: dict[str, object]) -> str:
    """What every incremental row depends on besides the loads: the models, macros, seeds,
    project and profile settings, this run's vars, and the versions that run them. When it
    changes, every table is rebuilt in full, and tested. The data tests' own SQL is in it too:
    an incremental build tests only the rows it rebuilt, and leaves out the tests of data it
    did not change (`_tests_of_unchanged_data`), trusting the last build's results."""
    import dbt.version  # imported late, as dbt itself: a second to import

    adapter = metadata.version("dbt-duckdb")
    versions = f"{__version__} {duckdb.__version__} {dbt.version.__version__} {adapter}"
    digest = hashlib.sha256(versions.encode() + b"\0")
    digest.update(json.dumps(dbt_vars, sort_keys=True, default=str).encode())
    paths = [PROJECT_DIR / "dbt_project.yml", PROJECT_DIR / "profiles.yml"]
    for folder in ("models", "macros", "seeds", "data-tests"):
        paths += sorted(path for path in (PROJECT_DIR / folder).rglob("*") if path.is_file())
    for path in paths:
        digest.update(path.relative_to(PROJECT_DIR).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _start_attempt(
    con: duckdb.DuckDBPyConnection, started: datetime, fingerprint: str
) -> tuple[bool, int]:
    """Decide whether this build may be incremental, and note the attempt before dbt runs.

    Incremental only when the last successful build and the last attempt both had this
    fingerprint, and the last attempt was not a full refresh that never succeeded: an attempt
    with another fingerprint that failed may have left tables built under it, and a full
    refresh after it, interrupted, some of them.
    An incremental build rebuilds what the loads after the last success name, and its tests
    check the rows rebuilt since then (all rows on a full refresh): both read
    `meta.build_attempt` as they run. Returns whether to refresh in full, and the newest load
    this build covers.
    """
    con.execute("create schema if not exists meta")
    con.execute(BUILDS_TABLE)
    for column in ("models_fingerprint varchar", "built_through_load_id bigint"):  # older homes
        con.execute(f"alter table meta.builds add column if not exists {column}")
    ((last_built, last_built_through),) = con.execute(
        "select arg_max(models_fingerprint, finished_at), "
        "arg_max(built_through_load_id, finished_at) from meta.builds"
    ).fetchall()
    # (created bare on a first build, to be read; replaced with its columns below)
    con.execute("create table if not exists meta.build_attempt (models_fingerprint varchar)")
    for column in ("started_at timestamptz", "last_built_through_load_id bigint"):  # older homes
        con.execute(f"alter table meta.build_attempt add column if not exists {column}")
    ((last_attempted, refresh_unfinished),) = con.execute(
        """
        select
            any_value(models_fingerprint),
            -- a full refresh that never succeeded: it may have left tables and views of both
            -- fingerprints, so the next build refreshes in full too
            coalesce(bool_or(
                last_built_through_load_id = -1
                and started_at not in (
                    select started_at from meta.builds where started_at is not null
                )
            ), false),
        from meta.build_attempt
        """
    ).fetchall()
    full_refresh = refresh_unfinished or not (fingerprint == last_built == last_attempted)
    ((built_through,),) = con.execute("select coalesce(max(load_id), 0) from raw.loads").fetchall()
    con.execute("begin transaction")
    con.execute(  # replaced, not emptied: older homes kept other columns
        """
        create or replace table meta.build_attempt (
            started_at timestamptz, models_fingerprint varchar, last_built_through_load_id bigint
        )
        """
    )
    con.execute(
        "insert into meta.build_attempt values (?, ?, ?)",
        [started, fingerprint, -1 if full_refresh else last_built_through],
    )
    con.execute("commit")
    return full_refresh, built_through


def _tests_of_unchanged_data(con, manifest: Manifest | None) -> list[str]:
    """The data tests an incremental build can leave out: every node they read is a seed, or a
    view over seeds and over sources no load has added to since the last successful build.

    Their data is what that build tested, with the same SQL: the fingerprint vouches for the
    seeds, the views and the tests, and a raw table changes only by a load appending rows under
    its own `load_id`. As dbt selectors; none without the parsed project (the build then
    parses it).
    """
    if manifest is None:
        return []
    ((last_built_through,),) = con.execute(
        "select last_built_through_load_id from meta.build_attempt"
    ).fetchall()

    def loaded_since(source) -> bool:
        if last_built_through is None or source.relation_name is None:
            return True
        try:
            ((loaded,),) = con.execute(
                f"select exists (select 1 from {source.relation_name} where load_id > ?)",
                [last_built_through],
            ).fetchall()
        except duckdb.Error:  # not a table dropscore loads: not known to be unchanged
            return True
        return loaded

    changed_sources = {
        unique_id for unique_id, source in manifest.sources.items() if loaded_since(source)
    }

    @functools.cache
    def unchanged(unique_id: str) -> bool:
        if unique_id in manifest.sources:
            return unique_id not in changed_sources
        node = manifest.nodes.get(unique_id)
        if node is None or node.resource_type not in ("seed", "model"):
            return False
        if node.resource_type == "seed":
            return True
        return node.config.materialized in ("view", "ephemeral") and all(
            unchanged(parent) for parent in node.depends_on.nodes
        )

    graph = [
        *manifest.nodes.values(),
        *manifest.sources.values(),
        *manifest.exposures.values(),
        *manifest.unit_tests.values(),
    ]

    def selects_only(test) -> bool:
        # dbt's fqn selector takes every node under the name, and reads * ? [ ] as a pattern
        return not set("*?[]") & set(".".join(test.fqn)) and all(
            node is test or node.fqn[: len(test.fqn)] != test.fqn for node in graph
        )

    return sorted(
        "fqn:" + ".".join(test.fqn)
        for test in manifest.nodes.values()
        if test.resource_type == "test"
        # (a test reading nothing the graph shows may read anything)
        and test.depends_on.nodes
        and all(unchanged(parent) for parent in test.depends_on.nodes)
        and selects_only(test)
    )


# meta.builds: a row per successful build (the data health page shows them).
BUILDS_TABLE = """
create table if not exists meta.builds (
    started_at timestamptz, finished_at timestamptz, nodes integer,
    dbt_vars varchar, dropscore_version varchar,
    models_fingerprint varchar, built_through_load_id bigint
)
"""


def _prepare_dbt(settings: Settings) -> None:
    """The environment profiles.yml reads, and dbt's saved parse made fit for this checkout:
    once per run or build, before dbt's parse."""
    _parse_afresh_for_another_checkout(settings.dbt_target_path)
    os.environ["DROPSCORE_BUILD_PATH"] = str(settings.build_path)
    os.environ["DROPSCORE_MEMORY_LIMIT"] = settings.memory_limit
    os.environ["DROPSCORE_THREADS"] = str(settings.threads)


def _dbt_arguments(settings: Settings, dbt_vars: dict[str, object]) -> list[str]:
    """What dbt's parse and build of the project both take."""
    return [
        "--project-dir", str(PROJECT_DIR),
        "--profiles-dir", str(PROJECT_DIR),
        "--target-path", str(settings.dbt_target_path),
        "--log-path", str(settings.home / "logs"),
        "--vars", json.dumps(dbt_vars),
        # Nothing on the console: a failure comes back as one line, dbt's own words go to the log.
        "--log-level", "none",
        "--log-level-file", "debug",
    ]  # fmt: skip


def _dbt_parse(settings: Settings, dbt_vars: dict[str, object]) -> Manifest | None:
    """dbt's manifest of the project, for a build to start from (it saves its parse for the next
    run). None when the parse failed: the build then parses again, and reports what is wrong."""
    from dbt.cli.main import dbtRunner

    # No manifest.json: the build writes it as it ends (0.3 s of the parse's Python).
    arguments = ["parse", "--no-write-json", *_dbt_arguments(settings, dbt_vars)]
    with _dbt_logging():
        result = dbtRunner().invoke(arguments)
    return result.result if result.success else None


@contextlib.contextmanager
def _dbt_logging() -> Iterator[None]:
    # On a full disk the log file fails too; logging would print a traceback per lost line.
    # Process-wide: dbt's parse and build never run at the same time.
    raise_exceptions, logging.raiseExceptions = logging.raiseExceptions, False
    try:
        yield
    finally:
        logging.raiseExceptions = raise_exceptions


def _dbt_build(
    settings: Settings,
    dbt_vars: dict[str, object],
    progress: Progress,
    unit_tests: bool,
    full_refresh: bool,
    excluded: list[str],
    when_built: Callable[[], object] | None = None,
    manifest: Manifest | None = None,
) -> int:
    from dbt.cli.main import dbtRunner  # imported late: it takes a second to import

    finished = []

    def on_event(event) -> None:
        if event.info.name == "NodeFinished":
            node = event.data.node_info
            finished.append(node.node_status)
            progress(f"dbt {node.node_status:>7}  {node.resource_type} {node.node_name}")

    # --write-json: `_record_build` reads the manifest.json the build writes, whatever
    # DBT_WRITE_JSON says.
    arguments = ["build", "--write-json", *_dbt_arguments(settings, dbt_vars)]
    if not unit_tests:
        arguments += ["--exclude-resource-type", "unit_test"]
    if full_refresh:
        arguments += ["--full-refresh"]
    if excluded:  # `empty`: excluding a node leaves its tests in
        arguments += ["--exclude", *excluded, "--indirect-selection", "empty"]
    try:
        with _dbt_logging():
            result = dbtRunner(manifest=manifest, callbacks=[on_event]).invoke(arguments)
        if result.success and when_built is not None:
            # Closing dbt's database is DuckDB's checkpoint (1-2 s at 10M lines), which runs
            # without Python's lock: time for Python work on the other core.
            meanwhile("when-built", when_built)
    finally:
        _release_dbt_database()
    if not result.success:
        if isinstance(result.exception, KeyboardInterrupt):  # Ctrl+C while dbt ran
            raise result.exception
        unwritable = _unwritable(settings, Exception(_all_failures(result)))
        if unwritable is not None:
            raise BuildFailed(str(unwritable))
        raise BuildFailed(_first_failure(result))
    return len(finished)


def _parse_afresh_for_another_checkout(target: Path) -> None:
    """Drop dbt's saved parse when it was made by dropscore installed elsewhere.

    dbt reuses the parse it saves in the home across runs, with the absolute paths it found
    (seeds are loaded from them), and does not check where the project is: a home kept across
    a move or a new clone of dropscore would read the old checkout's seeds, or fail when it is
    gone.
    """
    marker = target / "project-dir"
    if marker.is_file() and marker.read_text() == str(PROJECT_DIR):
        return
    (target / "partial_parse.msgpack").unlink(missing_ok=True)
    target.mkdir(parents=True, exist_ok=True)
    marker.write_text(str(PROJECT_DIR))


def _release_dbt_database() -> None:
    """Close the DuckDB database dbt-duckdb keeps open for the life of the process.

    Until it is closed, its unflushed changes are not in the file we publish, and this process
    cannot open the file again with other settings.
    """
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    environment = DuckDBConnectionManager._ENV
    if environment is not None:
        environment.close()
    DuckDBConnectionManager.close_all_connections()


def _all_failures(result) -> str:
    messages = [str(result.exception)] if result.exception is not None else []
    for node in getattr(result.result, "results", None) or []:
        if str(node.status) in ("error", "fail"):
            messages.append(node.message or "")
    return "\n".join(messages)


def _first_failure(result) -> str:
    if result.exception is not None:
        message = str(result.exception).strip().splitlines()
        return f"dbt build failed: {message[0] if message else type(result.exception).__name__}"
    for node in getattr(result.result, "results", []) or []:
        if str(node.status) in ("error", "fail"):
            message = (node.message or "").strip().splitlines()
            found = f"dbt build failed at {node.node.unique_id}: {message[0] if message else ''}"
            if node.node.unique_id.startswith("test."):
                # A check of the data built: what failed is in the files loaded, and loading a
                # corrected copy of the file replaces its rows.
                found += " (a check of the loaded data; nothing was published)"
            return found
    return "dbt build failed"


# The schemas dbt builds in (macros/generate_schema_name.sql); raw and meta are the pipeline's.
DBT_SCHEMAS = {"staging", "intermediate", "marts", "seeds"}


def _drop_relations_no_longer_built(con: duckdb.DuckDBPyConnection, manifest_path: Path) -> None:
    """Drop the tables and views in dbt's schemas that the project no longer builds: a model
    renamed or removed in an upgrade, or dbt's `__dbt_tmp` leftovers from an interrupted run,
    would otherwise stay in every warehouse published after it."""
    manifest = json.loads(manifest_path.read_text())
    built = {
        (node["schema"], node.get("alias") or node["name"])
        for node in manifest["nodes"].values()
        if node["resource_type"] in ("model", "seed", "snapshot")
        and node["config"].get("materialized") != "ephemeral"
    }
    found = con.execute(
        """
        select table_schema, table_name, table_type = 'VIEW'
        from information_schema.tables
        where table_catalog = current_database() and list_contains(?, table_schema)
        order by table_type = 'VIEW' desc  -- a view before the table it may read
        """,
        [sorted(DBT_SCHEMAS)],
    ).fetchall()
    for schema, name, is_view in found:
        if (schema, name) not in built:
            con.execute(f'drop {"view" if is_view else "table"} "{schema}"."{name}"')


def _record_build(
    settings: Settings,
    started: datetime,
    nodes: int,
    dbt_vars: dict,
    fingerprint: str,
    built_through: int,
    full_refresh: bool,
    progress: Progress,
) -> None:
    """Keep a row per successful build in the warehouse itself, for the data health page and
    for the next build to tell whether it may build incrementally; drop what dbt no longer
    builds; compact the file when its deleted rows are due."""
    con = connect_build(settings)
    try:
        _drop_relations_no_longer_built(con, settings.dbt_target_path / "manifest.json")
        con.execute(
            """
            insert into meta.builds by name
            select
                ? as started_at, now() as finished_at, ? as nodes, ? as dbt_vars,
                ? as dropscore_version, ? as models_fingerprint, ? as built_through_load_id
            """,
            [started, nodes, json.dumps(dbt_vars), __version__, fingerprint, built_through],
        )
        record_verdicts(con)
        if due := checkpoint_compacting_when_due(con, anew=full_refresh):
            progress(f"compacted the build file: deleted rows due in {', '.join(due)}")
    finally:
        con.close()
