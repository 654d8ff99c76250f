"""Readers and runs at the same time (SPEC §2): readers of the published warehouse never fail,
never block a run and see the new warehouse once it is published; a second run on the same home
is refused in one line and changes nothing.

One real `dropscore run` in a subprocess, watched by every kind of reader the project has, and
poked by second runs while it holds the home.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import pytest

from dropscore.config import PROJECT_DIR
from dropscore.sql import run_query
from ingest.generate import generate
from tests.reliability import WatchedRun, copy_home, run_arguments

SIGNATURE_SQL = """
select
    (select count(*) from meta.builds) as builds,
    (select count(*) from marts.fct_supplier_scorecard) as suppliers,
    (select sum(hash(supplier_id, verdict, defect_ratio)) from marts.fct_supplier_scorecard)
        as verdicts
"""


def read_with_connect(path: Path) -> tuple:
    """A user's script: a short read-only connection of its own (one at a time per process)."""
    with duckdb.connect(str(path), read_only=True) as con:
        return tuple(con.execute(SIGNATURE_SQL).fetchone())


def read_with_attach(path: Path) -> tuple:
    """The dashboard's way: an in-memory database with the warehouse attached read-only."""
    with duckdb.connect() as con:
        con.execute("attach ? as warehouse (read_only)", [str(path)])
        con.execute("use warehouse")
        return tuple(con.execute(SIGNATURE_SQL).fetchone())


def read_with_sandbox(path: Path) -> tuple:
    """`dropscore sql` and the dashboard's SQL page."""
    return tuple(run_query(path, SIGNATURE_SQL).rows[0])


def read_with_duckdb_cli(path: Path) -> tuple:
    """Another program altogether: the DuckDB CLI, in its own process."""
    result = subprocess.run(
        [
            "duckdb",
            "-readonly",
            "-csv",
            "-noheader",
            str(path),
            "-c",
            " ".join(SIGNATURE_SQL.split()),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr.strip())
    return tuple(int(value) for value in result.stdout.strip().split(","))


READERS = [read_with_connect, read_with_attach, read_with_sandbox]
if shutil.which("duckdb"):
    READERS.append(read_with_duckdb_cli)


@dataclass
class Reader:
    read: object
    path: Path
    seen: list[tuple[float, tuple]] = field(default_factory=list)  # (when the read began, state)
    failures: list[str] = field(default_factory=list)

    def poll(self, stop: threading.Event) -> None:
        while not stop.wait(0.02):  # as fast as a busy dashboard, leaving the run its cores
            self.once()

    def once(self) -> None:
        started = time.monotonic()
        try:
            self.seen.append((started, self.read(self.path)))
        except Exception as error:  # every failure counts, whatever its kind
            self.failures.append(f"{type(error).__name__}: {error}")


@dataclass
class Observed:
    before: tuple
    after: tuple
    published_at: float
    readers: list[Reader]
    second_runs: dict[str, subprocess.CompletedProcess]
    loads: list[tuple]
    files: list[Path]


def signature_after_normalising(value: tuple) -> tuple:
    return tuple(int(item) for item in value)


@pytest.fixture(scope="module")
def observed(built_settings, tmp_path_factory) -> Observed:
    out = tmp_path_factory.mktemp("concurrency")
    exports = generate(out / "exports", orders=1_500, seed=13, end_date=date(2026, 11, 29))
    files = [exports.orders, exports.disputes]
    settings = copy_home(built_settings, out / "home")
    path = settings.warehouse_path
    before = signature_after_normalising(read_with_connect(path))

    readers = [Reader(read, path) for read in READERS]
    stop = threading.Event()
    threads = [threading.Thread(target=reader.poll, args=(stop,)) for reader in readers]
    for thread in threads:
        thread.start()
    try:
        run = WatchedRun(run_arguments(settings, files))
        assert run.has_open(settings.build_path) is not None, run.stderr_text  # holds the lock
        second_runs = {
            name: subprocess.run(
                [sys.executable, "-m", "dropscore", *arguments, "--home", str(settings.home)],
                cwd=PROJECT_DIR,
                capture_output=True,
                text=True,
                timeout=120,
            )
            for name, arguments in {
                "run": ["run", *map(str, files)],
                "ingest": ["ingest", *map(str, files)],
                "build": ["build"],
            }.items()
        }
        assert run.process.poll() is None, "the first run ended before the second ones tried"
        published_at = run.wait_for_line(lambda line: line.startswith("published "), stdout=True)
        assert run.finish() == 0, run.stderr_text
        published_at = run.started + published_at
        time.sleep(0.5)  # a few more reads of the new warehouse
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    for reader in readers:
        reader.once()  # a read started after the run ended
    after = signature_after_normalising(read_with_connect(path))
    with duckdb.connect(str(settings.build_path), read_only=True) as con:
        loads = con.execute("select file_path, outcome from raw.loads order by load_id").fetchall()
    return Observed(before, after, published_at, readers, second_runs, loads, files)


def test_readers_of_every_kind_never_fail_while_a_run_builds_and_publishes(observed):
    assert observed.after != observed.before
    for reader in observed.readers:
        assert reader.failures == [], reader.read.__name__
        assert len(reader.seen) >= 3, reader.read.__name__
    print(f"\n{sum(len(reader.seen) for reader in observed.readers)} reads, 0 failed")


def test_every_read_sees_a_whole_warehouse_old_or_new_and_never_goes_back(observed):
    whole = {observed.before, observed.after}
    for reader in observed.readers:
        states = [signature_after_normalising(state) for _, state in reader.seen]
        assert set(states) <= whole, reader.read.__name__
        # Each reader reads one after another: once it has seen the new warehouse, it never
        # sees the old one again.
        first_new = states.index(observed.after)
        assert set(states[first_new:]) == {observed.after}, reader.read.__name__
        assert states[-1] == observed.after  # the read after the run


def test_a_read_started_after_the_publish_sees_the_new_warehouse(observed):
    for reader in observed.readers:
        late = [state for began, state in reader.seen if began > observed.published_at]
        assert late and {signature_after_normalising(s) for s in late} == {observed.after}


@pytest.mark.parametrize("command", ["run", "ingest", "build"])
def test_a_second_run_on_the_same_home_is_refused_in_one_line(observed, command):
    result = observed.second_runs[command]
    home = result.args[-1]
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"Error: another dropscore run is using {home}; try again when it has finished\n"
    )


def test_the_refused_runs_changed_nothing_and_the_first_loaded_each_file_once(observed):
    paths = [str(path.resolve()) for path in observed.files]
    assert [load for load in observed.loads if load[0] in paths] == [
        (path, "loaded") for path in paths
    ]
