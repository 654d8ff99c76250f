"""The weekly job, in three steps: ingest files, build the marts with dbt, publish."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dropscore import __version__
from dropscore.config import PROJECT_DIR, Settings
from dropscore.warehouse import WarehouseError, connect_build, publish, run_lock
from ingest.formats import FORMATS
from ingest.loader import LoadResult, ensure_raw_schema, load_files

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


def ingest(
    settings: Settings,
    paths: Iterable[Path],
    format_name: str | None = None,
    progress: Progress = _silent,
) -> list[LoadResult]:
    with run_lock(settings):
        return _ingest(settings, paths, format_name, progress)


def build(
    settings: Settings,
    dbt_vars: dict[str, object] | None = None,
    progress: Progress = _silent,
) -> BuildResult:
    """Run `dbt build` on the build file, then publish it. A failed build publishes nothing."""
    with run_lock(settings):
        return _build(settings, dbt_vars or {}, progress)


def run(
    settings: Settings,
    paths: Iterable[Path],
    format_name: str | None = None,
    dbt_vars: dict[str, object] | None = None,
    progress: Progress = _silent,
) -> BuildResult:
    """Ingest, build and publish under one lock: the weekly job."""
    with run_lock(settings):
        _ingest(settings, paths, format_name, progress)
        return _build(settings, dbt_vars or {}, progress)


def _ingest(settings, paths, format_name, progress) -> list[LoadResult]:
    def report(result: LoadResult) -> None:
        if result.outcome == "unchanged":
            progress(f"{result.path}: already loaded, unchanged")
        else:
            progress(f"{result.path}: {result.rows:,} rows loaded as {result.format}")

    con = connect_build(settings)
    try:
        return load_files(con, paths, FORMATS[format_name] if format_name else None, report)
    finally:
        con.close()


def _build(settings: Settings, dbt_vars: dict[str, object], progress: Progress) -> BuildResult:
    started = datetime.now(UTC)
    con = connect_build(settings)  # creates the file and its raw tables on a first build
    try:
        ensure_raw_schema(con)
    finally:
        con.close()
    nodes = _dbt_build(settings, dbt_vars, progress)
    _record_build(settings, started, nodes, dbt_vars)
    progress(f"publishing {settings.warehouse_path}")
    warehouse = publish(settings)
    elapsed = (datetime.now(UTC) - started).total_seconds()
    return BuildResult(nodes=nodes, elapsed_seconds=elapsed, warehouse=warehouse)


def _dbt_build(settings: Settings, dbt_vars: dict[str, object], progress: Progress) -> int:
    from dbt.cli.main import dbtRunner  # imported late: it takes a second to import

    finished = []

    def on_event(event) -> None:
        if event.info.name == "NodeFinished":
            node = event.data.node_info
            finished.append(node.node_status)
            progress(f"dbt {node.node_status:>7}  {node.resource_type} {node.node_name}")

    os.environ["DROPSCORE_BUILD_PATH"] = str(settings.build_path)
    os.environ["DROPSCORE_MEMORY_LIMIT"] = settings.memory_limit
    arguments = [
        "build",
        "--project-dir", str(PROJECT_DIR),
        "--profiles-dir", str(PROJECT_DIR),
        "--target-path", str(settings.dbt_target_path),
        "--log-path", str(settings.home / "logs"),
        "--vars", json.dumps(dbt_vars),
        "--quiet",
    ]  # fmt: skip
    try:
        result = dbtRunner(callbacks=[on_event]).invoke(arguments)
    finally:
        _release_dbt_database()
    if not result.success:
        raise BuildFailed(_first_failure(result))
    return len(finished)


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


def _first_failure(result) -> str:
    if result.exception is not None:
        return f"dbt build failed: {str(result.exception).strip().splitlines()[0]}"
    for node in getattr(result.result, "results", []) or []:
        if str(node.status) in ("error", "fail"):
            message = (node.message or "").strip().splitlines()
            return f"dbt build failed at {node.node.unique_id}: {message[0] if message else ''}"
    return "dbt build failed"


def _record_build(settings: Settings, started: datetime, nodes: int, dbt_vars: dict) -> None:
    """Keep a row per successful build in the warehouse itself, for the data health page."""
    con = connect_build(settings)
    try:
        con.execute("create schema if not exists meta")
        con.execute(
            """
            create table if not exists meta.builds (
                started_at timestamptz, finished_at timestamptz, nodes integer,
                dbt_vars varchar, dropscore_version varchar
            )
            """
        )
        con.execute(
            "insert into meta.builds values (?, now(), ?, ?, ?)",
            [started, nodes, json.dumps(dbt_vars), __version__],
        )
        con.execute("checkpoint")
    finally:
        con.close()
