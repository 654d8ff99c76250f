"""Nothing lost, nothing torn: SIGKILL `dropscore run` anywhere, and the published warehouse is
still the last complete one; the next run finishes by itself with the marts of an uninterrupted
run (SPEC §2: work happens in a build file, a finished run is published by an atomic replace).

A kill is a power cut as far as the run can tell: no handler runs, DuckDB's WAL is left for the
next open to replay, a half-written copy of the warehouse may be left beside it, and the kernel
releases the run lock.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import random
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import duckdb
import pytest

from dropscore import pipeline
from dropscore.config import PROJECT_DIR, Settings
from dropscore.pipeline import ingest
from dropscore.warehouse import BuildFileNotMade, copy_durably, publish, run_lock
from ingest.generate import generate
from tests.reliability import (
    WatchedRun,
    copy_home,
    file_sha256,
    marts_digest,
    run_arguments,
    split_csv,
)

SEED = 20261126
# Kill targets of each of two chains, in this order: ingest first (while files remain to load), publish last (so the
# previous state and the new one stay different for as long as possible).
SCHEDULE = ("ingest",) * 5 + ("dbt",) * 4 + ("publish",)
PUBLISH_LOOP_KILLS = 20


@dataclasses.dataclass(frozen=True)
class Reference:
    """An uninterrupted run of the next week's files: its marts and when each phase began."""

    files: list[Path]
    settings: Settings
    digest: dict[str, str]
    windows: dict[str, float]  # phase -> how long it lasted


@pytest.fixture(scope="module")
def reference(built_settings, tmp_path_factory) -> Reference:
    out = tmp_path_factory.mktemp("next-week")
    exports = generate(out, orders=2_000, seed=12, end_date=date(2026, 11, 29))
    # Orders in several files, so that after a kill during ingest some are often still to load.
    files = [*split_csv(exports.orders, 8, out / "parts"), exports.disputes]
    settings = copy_home(built_settings, out / "home")
    run = WatchedRun(run_arguments(settings, files))
    ingest_at = run.has_open(settings.build_path)
    dbt_at = run.wait_for_line(lambda line: line.startswith(f"{files[-1]}:"))
    publish_at = run.wait_for_line(lambda line: line.startswith("publishing "))
    published_at = run.wait_for_line(lambda line: line.startswith("published "), stdout=True)
    assert run.finish() == 0, run.stderr_text
    assert None not in (ingest_at, dbt_at, publish_at, published_at)
    windows = {
        "ingest": dbt_at - ingest_at,
        "dbt": publish_at - dbt_at,
        "publish": published_at - publish_at,
    }
    return Reference(files, settings, marts_digest(settings.warehouse_path), windows)


def lock_is_free(settings: Settings) -> bool:
    with open(settings.lock_path, "a+") as lock_file:
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(lock_file, fcntl.LOCK_UN)
        return True


def stale_copies(settings: Settings) -> list[Path]:
    return sorted(settings.home.glob(".warehouse.*.tmp"))


def phase_hit(run: WatchedRun, files: list[Path]) -> str:
    """Where the run was when it died, from what it had printed."""
    if run.line_seen(lambda line: line.startswith("published "), stdout=True):
        return "after publish"
    if run.line_seen(lambda line: line.startswith("publishing ")):
        return "publish"
    if run.line_seen(lambda line: line.startswith(("dbt ", f"{files[-1]}:"))):
        return "dbt"
    return "ingest"  # every attempt is killed after the run opened its build file


def kill_once(settings: Settings, reference: Reference, target: str, delay: float) -> WatchedRun:
    files = reference.files
    run = WatchedRun(run_arguments(settings, files))
    if target == "ingest":
        started = run.has_open(settings.build_path)
    elif target == "dbt":
        started = run.wait_for_line(lambda line: line.startswith(f"{files[-1]}:"))
    else:
        started = run.wait_for_line(lambda line: line.startswith("publishing "))
    if started is not None:  # None: the run ended before the phase began
        time.sleep(max(0.0, started + delay - run.seconds()))
        run.kill()
    run.finish()
    return run


@dataclasses.dataclass
class Chain:
    """Runs in one home, each killed at its target phase, then one left to finish."""

    start: Settings  # the built home the chain begins from (never written)
    settings: Settings
    reference: Reference
    schedule: tuple[str, ...]
    rng: random.Random
    previous: dict[str, str]  # the marts of the home's published warehouse
    hits: Counter[str] = dataclasses.field(default_factory=Counter)
    restarts: int = 0  # fresh homes after runs that finished before their kill
    torn_copies: int = 0  # kills that left a half-written copy of the warehouse
    wal_left: int = 0  # kills that left DuckDB a write-ahead log to replay

    def attempt(self, target: str, window: float) -> bool:
        """Kill a run in its `target` phase, `window` s at most after the phase began; False if
        the run finished first."""
        settings, reference = self.settings, self.reference
        published = settings.warehouse_path.stat()
        published_bytes = file_sha256(settings.warehouse_path)
        delay = self.rng.uniform(0, window)
        run = kill_once(settings, reference, target, delay)
        context = f"{target} kill after {delay:.3f} s:\n{run.stderr_text[-3000:]}"
        if run.process.returncode == 0:
            self.hits["finished before the kill"] += 1
        else:
            # Failing by itself would mean an earlier kill's leftovers got in its way.
            assert run.process.returncode == -9, context
            self.hits[phase_hit(run, reference.files)] += 1
        now = settings.warehouse_path.stat()
        if (now.st_ino, now.st_size) == (published.st_ino, published.st_size):
            # Not replaced: the very same bytes, the last complete warehouse.
            assert file_sha256(settings.warehouse_path) == published_bytes, context
            assert marts_digest(settings.warehouse_path) == self.previous, context
        else:
            # Replaced: only ever by the complete new warehouse.
            assert marts_digest(settings.warehouse_path) == reference.digest, context
            self.previous = reference.digest
        self.torn_copies += bool(stale_copies(settings))
        self.wal_left += settings.build_path.with_name("build.duckdb.wal").exists()
        assert lock_is_free(settings), context  # the kernel released the dead run's lock
        return run.process.returncode != 0

    def restart(self) -> None:
        """Go on from a fresh copy of the built home: after a run that finished, the next runs
        would have nothing left to do, and killing them would prove nothing."""
        self.restarts += 1
        home = self.settings.home
        self.settings = copy_home(self.start, home.with_name(f"{home.name}.{self.restarts}"))
        self.previous = marts_digest(self.start.warehouse_path)

    def __call__(self) -> Chain:
        for target in self.schedule:
            # A run can get through the phase faster than the reference did and finish: then go
            # on from the built home again and kill sooner.
            for tries in range(3):
                if self.attempt(target, self.reference.windows[target] / 2**tries):
                    break
                self.restart()
        final = WatchedRun(run_arguments(self.settings, self.reference.files))
        assert final.finish() == 0, final.stderr_text
        assert marts_digest(self.settings.warehouse_path) == self.reference.digest
        assert stale_copies(self.settings) == []
        return self


def test_sigkill_at_any_point_leaves_the_last_complete_warehouse_and_the_next_run_finishes(
    built_settings, reference, tmp_path
):
    before = marts_digest(built_settings.warehouse_path)
    assert reference.digest != before  # else a torn publish could pass unseen
    # Two homes side by side: each run is mostly one busy core, and the machine has two.
    chains = [
        Chain(
            built_settings,
            copy_home(built_settings, tmp_path / f"home-{number}"),
            reference,
            SCHEDULE,
            random.Random(SEED + number),
            before,
        )
        for number in range(2)
    ]
    with ThreadPoolExecutor(len(chains)) as pool:
        finished = [future.result() for future in [pool.submit(chain) for chain in chains]]
    hits = sum((chain.hits for chain in finished), Counter())
    kills = sum(count for phase, count in hits.items() if phase != "finished before the kill")
    torn = sum(chain.torn_copies for chain in finished)
    wal = sum(chain.wal_left for chain in finished)
    restarts = sum(chain.restarts for chain in finished)
    print(
        f"\n{kills} kills of dropscore run survived: {dict(hits)}; "
        f"{torn} left a half-written copy, {wal} a WAL to replay; {restarts} fresh homes"
    )
    assert kills >= 20, dict(hits)
    assert hits["ingest"] >= 2 and hits["dbt"] >= 4, dict(hits)


PUBLISH_LOOP = """
import itertools, os, shutil, sys
from pathlib import Path
from dropscore.config import Settings
from dropscore.warehouse import publish

settings = Settings(home=Path(sys.argv[1]))
versions = [Path(path) for path in sys.argv[2:]]
print("publishing", file=sys.stderr, flush=True)
for turn in itertools.count():
    # The next build, put in place whole (a kill here is not publish's to survive).
    shutil.copyfile(versions[turn % 2], settings.home / "next.tmp")
    os.replace(settings.home / "next.tmp", settings.build_path)
    publish(settings)
"""


def test_sigkill_during_publish_never_leaves_a_torn_warehouse(built_settings, reference, tmp_path):
    """The publish step alone, over and over, killed at random: the window is a few
    milliseconds in a real run, so this is where most kills land in publish. Killed after the
    rename, a home has no build file until the next run's lock makes it again."""
    rng = random.Random(SEED + 1)
    settings = copy_home(built_settings, tmp_path / "home")
    versions = {
        file_sha256(path): path
        for path in (built_settings.build_path, reference.settings.build_path)
    }
    assert len(versions) == 2
    digests = {
        built_settings.build_path: marts_digest(built_settings.warehouse_path),
        reference.settings.build_path: reference.digest,
    }
    torn = without_build_file = 0
    for _ in range(PUBLISH_LOOP_KILLS):
        run = WatchedRun(["-c", PUBLISH_LOOP, str(settings.home), *map(str, versions.values())])
        assert run.wait_for_line(lambda line: line == "publishing") is not None, run.stderr_text
        time.sleep(rng.uniform(0.05, 0.4))
        run.kill()
        assert run.finish() == -9, run.stderr_text
        source = versions.get(file_sha256(settings.warehouse_path))
        assert source is not None, "the published file is neither version: torn"
        assert marts_digest(settings.warehouse_path) == digests[source]
        torn += bool(stale_copies(settings))
        without_build_file += not settings.build_path.exists()
        with run_lock(settings):  # the next run's first step clears what the killed one left
            assert stale_copies(settings) == []
            # the next build file, whole: a copy of the warehouse, or (killed before the
            # rename) the version the loop had put in place to publish
            assert file_sha256(settings.build_path) in versions
    print(
        f"\n{PUBLISH_LOOP_KILLS} publish kills survived; {torn} left a torn copy, "
        f"{without_build_file} no build file"
    )
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        assert con.execute("select count(*) from marts.fct_supplier_scorecard").fetchone()[0] > 0


# --- a home that cannot be written ------------------------------------------------------------
# A real small filesystem, so DuckDB, dbt and the publish meet ENOSPC and EROFS from the kernel
# exactly as on a full or read-only disk: a 64 MB tmpfs (mounting needs root, which CI is).


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m,mode=0755", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "--lazy", str(disk)], check=False)


def fill(disk: Path, leave: int) -> Path:
    """Take all the disk's free space but `leave` bytes."""
    filler = disk / "filler"
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    with open(filler, "wb") as file:
        os.posix_fallocate(file.fileno(), 0, max(0, free - leave))
    return filler


def dropscore(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dropscore", *arguments],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=600,
    )


def assert_fails_with_one_line(result: subprocess.CompletedProcess, message: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output and "Logging error" not in output, output
    assert result.stdout == ""
    # Progress lines (one per dbt node) may come first; the error is one line, the last.
    assert result.stderr.splitlines()[-1] == f"Error: {message}", output
    assert sum(line.startswith("Error") for line in result.stderr.splitlines()) == 1, output


def raw_counts(settings: Settings) -> dict[str, int]:
    with duckdb.connect(str(settings.build_path), read_only=True) as con:
        tables = con.execute(
            "select table_name from duckdb_tables() where schema_name = 'raw' order by 1"
        ).fetchall()
        return {
            table: con.execute(f'select count(*) from raw."{table}"').fetchone()[0]
            for (table,) in tables
        }


def test_a_full_disk_during_ingest_fails_in_one_line_and_changes_nothing(
    built_settings, reference, small_disk
):
    settings = copy_home(built_settings, small_disk / "home")
    published = file_sha256(settings.warehouse_path)
    raw_before = raw_counts(settings)
    filler = fill(small_disk, leave=64 * 1024)

    result = dropscore(*run_arguments(settings, reference.files)[2:])

    assert_fails_with_one_line(
        result, f"cannot write to {settings.home}: No space left on device; nothing was published"
    )
    assert file_sha256(settings.warehouse_path) == published
    filler.unlink()
    assert raw_counts(settings) == raw_before  # no file half loaded


def test_a_full_disk_during_the_build_fails_in_one_line_and_the_next_run_recovers(
    built_settings, reference, small_disk
):
    settings = copy_home(built_settings, small_disk / "home")
    published = file_sha256(settings.warehouse_path)
    ingest(settings, reference.files)
    filler = fill(small_disk, leave=2 * 1024 * 1024)  # dbt needs several times this

    result = dropscore("build", "--home", str(settings.home))

    assert_fails_with_one_line(
        result, f"cannot write to {settings.home}: No space left on device; nothing was published"
    )
    assert file_sha256(settings.warehouse_path) == published
    filler.unlink()
    recovered = dropscore("build", "--home", str(settings.home))
    assert recovered.returncode == 0, recovered.stderr[-3000:]
    assert marts_digest(settings.warehouse_path) == reference.digest


def test_a_full_disk_while_publishing_publishes_and_the_next_run_makes_its_build_file(
    built_settings, reference, small_disk
):
    """Renaming the build file into place needs no space; copying the warehouse back as the
    next build file does, and fails in one line that says the warehouse was published."""
    settings = copy_home(built_settings, small_disk / "home")
    shutil.copyfile(reference.settings.build_path, settings.build_path)
    built = file_sha256(settings.build_path)
    filler = fill(small_disk, leave=1024 * 1024)  # less than a warehouse

    with pytest.raises(BuildFileNotMade) as refused:
        publish(settings)

    assert str(refused.value).startswith(
        f"published {settings.warehouse_path}, but cannot make the next build file: [Errno 28] "
    )
    assert "\n" not in str(refused.value)
    assert file_sha256(settings.warehouse_path) == built
    assert stale_copies(settings) == []
    assert not settings.build_path.exists()
    filler.unlink()
    with run_lock(settings):
        assert file_sha256(settings.build_path) == built


def test_a_full_disk_while_the_replaced_warehouse_grows_publishes_all_the_same(small_disk):
    """The replaced warehouse brought up to date in place: growing it is what needs space."""
    settings = Settings(home=small_disk / "home")
    settings.home.mkdir()
    rng = random.Random(SEED + 2)
    settings.build_path.write_bytes(rng.randbytes(4 << 20))
    publish(settings)  # the digests noted: the next publish may update the replaced file
    grown = settings.build_path.read_bytes()[: 3 << 20] + rng.randbytes(16 << 20)
    settings.build_path.write_bytes(grown)
    filler = fill(small_disk, leave=1024 * 1024)

    with pytest.raises(BuildFileNotMade) as refused:
        publish(settings)

    assert "[Errno 28] No space left on device" in str(refused.value)
    assert settings.warehouse_path.read_bytes() == grown
    assert stale_copies(settings) == []
    filler.unlink()
    with run_lock(settings):
        assert settings.build_path.read_bytes() == grown


@pytest.mark.parametrize("o_direct", [True, False], ids=["o_direct", "without_o_direct"])
def test_the_publish_copy_is_byte_for_byte_whatever_its_size(tmp_path, monkeypatch, o_direct):
    """O_DIRECT writes whole blocks, the last one padded and cut back; without it (macOS), a
    plain copy. Either way over an older, longer file, as a copy left by a killed run."""
    if not o_direct:
        monkeypatch.delattr(os, "O_DIRECT", raising=False)
    source = tmp_path / "build.duckdb"
    source.write_bytes(random.Random(SEED).randbytes(2 * (16 << 20) + 3 * 4096 + 123))
    target = tmp_path / "copy"
    target.write_bytes(b"an older, longer file " * 2_000_000)

    with open(source, "rb") as opened:
        copy_durably(opened.fileno(), target)

    assert target.read_bytes() == source.read_bytes()


def test_a_read_only_home_refuses_the_run_in_one_line_and_readers_still_read(
    built_settings, reference, small_disk
):
    settings = copy_home(built_settings, small_disk / "home")
    published = file_sha256(settings.warehouse_path)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)

    result = dropscore(*run_arguments(settings, reference.files)[2:])

    assert_fails_with_one_line(
        result, f"cannot write to {settings.home}: Read-only file system; nothing was published"
    )
    assert file_sha256(settings.warehouse_path) == published
    query = dropscore(
        "sql", "--home", str(settings.home), "--format", "csv",
        "select count(*) > 0 as has_rows from marts.fct_supplier_scorecard",
    )  # fmt: skip
    assert (query.returncode, query.stdout) == (0, "has_rows\ntrue\n"), query.stderr


def test_a_run_that_dies_while_making_the_customer_key_salt_leaves_no_empty_salt(
    settings, monkeypatch
):
    def dies(size: int) -> str:
        raise KeyboardInterrupt  # the moment between creating the file and writing the salt

    with monkeypatch.context() as patched:
        patched.setattr(pipeline.secrets, "token_hex", dies)
        with pytest.raises(KeyboardInterrupt):
            pipeline.customer_key_salt(settings)
    assert not (settings.home / "customer-key.salt").exists()
    assert list(settings.home.iterdir()) == []
    salt = pipeline.customer_key_salt(settings)
    assert len(salt) == 64 and salt == pipeline.customer_key_salt(settings)
