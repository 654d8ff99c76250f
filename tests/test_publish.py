"""Publish (SPEC §2): the build file is renamed over the warehouse, and the replaced warehouse,
brought up to date chunk by chunk, becomes the next build file, unless something still reads it
or it changed since it was published; then the warehouse is copied whole.
"""

from __future__ import annotations

import errno
import hashlib
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
import xxhash
from click.testing import CliRunner

from dropscore import digests, warehouse
from dropscore.cli import cli
from dropscore.config import Settings
from dropscore.digests import CHUNK_BYTES, chunk_digests
from dropscore.warehouse import publish, run_lock
from ingest.generate import generate


@pytest.fixture
def settings(tmp_path) -> Settings:
    home = tmp_path / "home"
    home.mkdir()
    return Settings(home=home)


@pytest.fixture
def copied_ranges(monkeypatch) -> list[tuple[int, int]]:
    """The byte ranges written into the replaced warehouse, as they are written."""
    ranges: list[tuple[int, int]] = []
    copy_range = warehouse._copy_range

    def recording(source: int, target: int, start: int, end: int) -> None:
        ranges.append((start, end))
        copy_range(source, target, start, end)

    monkeypatch.setattr(warehouse, "_copy_range", recording)
    return ranges


def publish_bytes(settings: Settings, data: bytes) -> None:
    settings.build_path.write_bytes(data)
    publish(settings)


def reversed_words(data: bytes) -> bytes:
    """The same 8-byte words in the opposite order: a checksum that adds up the words of a block
    (DuckDB's own does, with XOR) cannot tell the two apart."""
    return b"".join(data[start : start + 8] for start in range(len(data) - 8, -1, -8))


@pytest.mark.parametrize("grows", [True, False], ids=["grown", "shrunk"])
def test_the_replaced_warehouse_becomes_the_next_build_file_with_only_changed_chunks_written(
    settings, copied_ranges, grows
):
    rng = random.Random(7)
    first = rng.randbytes(40 * CHUNK_BYTES + 1_000)
    publish_bytes(settings, first)
    assert copied_ranges == []  # nothing to bring up to date: the build file was copied whole
    replaced_inode = settings.warehouse_path.stat().st_ino

    new = bytearray(first)
    new[3 * CHUNK_BYTES + 5] ^= 0xFF  # one byte
    new[7 * CHUNK_BYTES : 8 * CHUNK_BYTES] = reversed_words(
        first[7 * CHUNK_BYTES : 8 * CHUNK_BYTES]
    )
    new[20 * CHUNK_BYTES + 10 : 22 * CHUNK_BYTES + 10] = rng.randbytes(2 * CHUNK_BYTES)
    if grows:
        new += rng.randbytes(2 * CHUNK_BYTES + 123)
    else:
        del new[30 * CHUNK_BYTES + 7 :]
    publish_bytes(settings, bytes(new))

    assert settings.warehouse_path.read_bytes() == new
    assert settings.build_path.read_bytes() == new
    assert settings.build_path.stat().st_ino == replaced_inode
    changed = [(3, 4), (7, 8), (20, 23)] + ([(40, None)] if grows else [(30, None)])
    assert copied_ranges == [
        (start * CHUNK_BYTES, len(new) if end is None else end * CHUNK_BYTES)
        for start, end in changed
    ]
    assert list(settings.home.glob(".warehouse.*.tmp")) == []


def expected_digests(data: bytes) -> bytes:
    return b"".join(
        xxhash.xxh3_128_digest(data[start : start + CHUNK_BYTES])
        for start in range(0, len(data), CHUNK_BYTES)
    )


@pytest.fixture
def hashed_file(tmp_path):
    """An open file of random bytes, and the digests it should get."""

    def make(size: int) -> tuple[int, bytes]:
        data = random.Random(size).randbytes(size)
        (tmp_path / "file").write_bytes(data)
        descriptor = os.open(tmp_path / "file", os.O_RDONLY)
        opened.append(descriptor)
        return descriptor, expected_digests(data)

    opened: list[int] = []
    yield make
    for descriptor in opened:
        os.close(descriptor)


# the last: a file longer than one read of the child's, ending in part of a chunk
@pytest.mark.parametrize("size", [0, 1, CHUNK_BYTES, 5 * CHUNK_BYTES // 2, (17 << 20) + 100])
def test_chunk_digests_come_from_the_child_process(hashed_file, monkeypatch, size):
    descriptor, expected = hashed_file(size)
    monkeypatch.setattr(digests, "digests_here", None)  # not here: the child's only
    assert chunk_digests(descriptor) == expected


@pytest.mark.parametrize("child", ["/bin/false", "/bin/echo"], ids=["fails", "answers-wrong"])
def test_a_child_that_cannot_hash_leaves_it_to_this_process(hashed_file, monkeypatch, child):
    descriptor, expected = hashed_file(3 * CHUNK_BYTES + 5)
    monkeypatch.setattr(sys, "executable", child)
    assert chunk_digests(descriptor) == expected


def test_a_file_that_cannot_be_read_is_an_error_not_digests(tmp_path):
    (tmp_path / "file").write_bytes(b"x" * CHUNK_BYTES)
    descriptor = os.open(tmp_path / "file", os.O_WRONLY)
    try:
        with pytest.raises(OSError):
            chunk_digests(descriptor)
    finally:
        os.close(descriptor)


def duckdb_file(path: Path, rows: int) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("create or replace table numbers as select range as n from range(?)", [rows])


def count(path: Path) -> int:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("select count(*) from numbers").fetchall()[0][0]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


WRITER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
print("open", flush=True)
sys.stdin.read()
"""


def open_file(inode: int) -> Path:
    """This process's descriptor of the file with that inode, as a path."""
    for descriptor in Path("/proc/self/fd").iterdir():
        try:
            if os.stat(descriptor).st_ino == inode:
                return descriptor
        except FileNotFoundError:  # closed since the listing
            continue
    raise AssertionError(f"no descriptor of inode {inode}")


READER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print(con.execute("select count(*) from numbers").fetchall()[0][0], flush=True)
sys.stdin.read()  # until the test is done with the publish
print(con.execute("select count(*), sum(n) from numbers").fetchall()[0], flush=True)
"""


@pytest.mark.parametrize("where", ["this process", "another process"])
def test_a_warehouse_still_read_is_left_alone_and_the_next_build_file_is_a_copy(
    settings, copied_ranges, where
):
    duckdb_file(settings.build_path, 1_000)
    publish(settings)
    duckdb_file(settings.build_path, 2_000_000)
    publish(settings)  # with its digests noted: the next publish could update it in place
    held = settings.warehouse_path
    before = sha256(held)
    replaced_inode = held.stat().st_ino
    if where == "this process":
        reader = duckdb.connect(str(held), read_only=True)
        assert reader.execute("select count(*) from numbers").fetchall() == [(2_000_000,)]
    else:
        reader = subprocess.Popen(
            [sys.executable, "-c", READER, str(held)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert reader.stdout.readline() == "2000000\n"
    copied_ranges.clear()
    try:
        duckdb_file(settings.build_path, 3_000)
        publish(settings)
        if where == "this process":
            # the replaced file, still open, through the reader's descriptor: the bytes it had
            assert sha256(open_file(replaced_inode)) == before
            assert reader.execute("select count(*), sum(n) from numbers").fetchall() == [
                (2_000_000, 1_999_999_000_000)
            ]
        else:
            output, _ = reader.communicate("", timeout=60)
            assert output == "(2000000, 1999999000000)\n"
    finally:
        if where == "this process":
            reader.close()
        else:
            reader.kill()
    assert copied_ranges == []
    assert settings.build_path.stat().st_ino != replaced_inode
    assert sha256(settings.build_path) == sha256(settings.warehouse_path)
    assert count(settings.warehouse_path) == 3_000


def test_a_reader_whose_duckdb_lock_went_with_another_connection_still_counts(
    settings, copied_ranges
):
    """A process loses its POSIX locks on a file when it closes any descriptor of it: two
    connections attaching the warehouse (two dashboard sessions), one closes, and DuckDB's
    shared lock is gone while the other still reads."""
    duckdb_file(settings.build_path, 1_000)
    publish(settings)
    duckdb_file(settings.build_path, 2_000)
    publish(settings)
    held = settings.warehouse_path
    before = sha256(held)
    first = duckdb.connect()
    first.execute("attach ? as warehouse (read_only)", [str(held)])
    second = duckdb.connect()
    second.execute("attach ? as warehouse (read_only)", [str(held)])
    second.close()
    replaced_inode = held.stat().st_ino
    copied_ranges.clear()
    try:
        duckdb_file(settings.build_path, 3_000)
        publish(settings)
        assert sha256(open_file(replaced_inode)) == before
        assert first.execute("select count(*) from warehouse.numbers").fetchall() == [(2_000,)]
    finally:
        first.close()
    assert copied_ranges == []
    assert sha256(settings.build_path) == sha256(settings.warehouse_path)


def test_a_file_copied_by_another_program_while_published_is_left_alone(settings, copied_ranges):
    """A backup reading the warehouse takes no lock at all."""
    publish_bytes(settings, random.Random(3).randbytes(10 * CHUNK_BYTES))
    publish_bytes(settings, random.Random(4).randbytes(10 * CHUNK_BYTES))
    with open(settings.warehouse_path, "rb") as backup:
        half = backup.read(5 * CHUNK_BYTES)
        copied_ranges.clear()
        publish_bytes(settings, random.Random(5).randbytes(10 * CHUNK_BYTES))
        rest = backup.read()
    assert half + rest == random.Random(4).randbytes(10 * CHUNK_BYTES)
    assert copied_ranges == []
    assert settings.build_path.read_bytes() == settings.warehouse_path.read_bytes()


def test_no_duckdb_writer_gets_the_new_warehouse_while_the_next_build_file_is_made(settings):
    duckdb_file(settings.build_path, 1_000)
    publish(settings)
    duckdb_file(settings.build_path, 2_000)

    def write_to(path: Path) -> str:
        try:
            with duckdb.connect(str(path)) as con:
                con.execute("create table mine as select 42 as answer")
        except duckdb.IOException as error:
            return str(error)
        return "written"

    attempt = publish(settings, alongside=write_to)

    assert "lock" in attempt.result()
    assert sha256(settings.build_path) == sha256(settings.warehouse_path)
    assert count(settings.warehouse_path) == 2_000


def test_a_warehouse_written_to_since_it_was_published_is_not_updated_in_place(
    settings, copied_ranges
):
    duckdb_file(settings.build_path, 1_000)
    publish(settings)
    # A user opens the published file read-write (the DuckDB CLI does by default) and writes.
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("create table mine as select 42 as answer")
    duckdb_file(settings.build_path, 5_000)

    publish(settings)

    assert copied_ranges == []  # its digests no longer describe it: copied whole
    assert sha256(settings.build_path) == sha256(settings.warehouse_path)
    assert count(settings.build_path) == 5_000


def test_a_home_left_without_its_build_file_gets_it_back_from_the_warehouse(settings):
    """A run killed after the rename and before the next build file was ready."""
    duckdb_file(settings.build_path, 1_000)
    publish(settings)
    settings.build_path.unlink()
    (settings.home / ".warehouse.replaced.tmp").write_bytes(b"half brought up to date")

    with run_lock(settings):
        assert sha256(settings.build_path) == sha256(settings.warehouse_path)
        assert list(settings.home.glob(".warehouse.*.tmp")) == []


def test_a_run_that_cannot_make_its_next_build_file_still_publishes_and_reports(
    tmp_path, monkeypatch
):
    """The warehouse is published by then: the run says what failed and ends well; the next
    run makes its build file from the warehouse."""
    settings = Settings(home=tmp_path / "home")
    exports = generate(tmp_path / "exports", orders=300, seed=5)

    def disk_full(*arguments: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(warehouse, "_next_build_file", disk_full)
    result = CliRunner().invoke(
        cli, ["run", str(exports.orders), str(exports.disputes), "--home", str(settings.home)]
    )

    assert result.exit_code == 0, result.output
    assert (
        f"warning: published {settings.warehouse_path}, but cannot make the next build file: "
        "[Errno 28] No space left on device; the next run makes it"
    ) in result.stderr.splitlines()
    assert result.stdout.splitlines()[-1].startswith("report: ")
    assert not settings.build_path.exists()
    monkeypatch.undo()
    with run_lock(settings):
        assert sha256(settings.build_path) == sha256(settings.warehouse_path)


def test_a_build_file_open_for_writing_elsewhere_is_not_published(settings):
    duckdb_file(settings.build_path, 1_000)
    publish(settings)
    before = sha256(settings.warehouse_path)
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(settings.build_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout.readline() == "open\n"
        with pytest.raises(warehouse.WarehouseError) as refused:
            publish(settings)
    finally:
        writer.communicate("", timeout=60)
    assert str(refused.value) == (
        f"{settings.build_path} is open for writing elsewhere (a read-write DuckDB session?); "
        "close it and try again"
    )
    assert sha256(settings.warehouse_path) == before
    assert list(settings.home.glob(".warehouse.*.tmp")) == []


def cached_fraction(path: Path) -> float:
    """How much of the file is in the kernel's cache (util-linux's fincore)."""
    pages = subprocess.run(
        ["fincore", "--bytes", "--noheadings", "--output", "RES", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return int(pages) / path.stat().st_size


@pytest.mark.skipif(
    not hasattr(os, "posix_fadvise") or shutil.which("fincore") is None,
    reason="the kernel's cache is asked and seen only on Linux, with util-linux",
)
def test_a_build_file_on_the_disk_is_read_into_the_cache_ahead(tmp_path):
    path = tmp_path / "build.duckdb"
    path.write_bytes(os.urandom(48 << 20))
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)  # written pages cannot be dropped
        os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(descriptor)
    if cached_fraction(path) > 0.5:
        pytest.skip("this file system keeps its files in memory")

    warehouse.read_ahead(path)
    deadline = time.monotonic() + 10
    while cached_fraction(path) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cached_fraction(path) == 1


def _stored_and_live(connection: duckdb.DuckDBPyConnection, table: str) -> tuple[int, int]:
    ((stored,),) = connection.execute(
        "select estimated_size from duckdb_tables() where table_name = ?", [table]
    ).fetchall()
    ((live,),) = connection.execute(f"select count(*) from {table}").fetchall()
    return stored, live


def test_a_build_file_keeps_deleted_rows_until_a_table_is_due_then_merges_them(settings):
    # Eight row groups of 122,880 rows. Rebuilt rows are deleted and appended again, as an
    # incremental build does: the checkpoints leave the thinned row groups as they are until
    # one table's deleted rows reach COMPACT_AT_DELETED_SHARE (and a row group's worth).
    rows = 8 * 122_880
    connection = warehouse.connect_build(settings)
    connection.execute(
        f"create table lines as select i, 'line ' || i as name from range({rows}) t(i)"
    )
    connection.execute("create table other as select 1 as i")
    connection.execute("checkpoint")
    # A fifth of the last four row groups: a tenth of the rows.
    rebuilt = "i >= 4 * 122880 and i % 5 = 0"
    connection.execute(f"create table again as select * from lines where {rebuilt}")
    connection.execute(f"delete from lines where {rebuilt}")
    connection.execute("insert into lines select * from again")
    assert warehouse.checkpoint_compacting_when_due(connection, anew=False) == []
    connection.close()

    connection = warehouse.connect_build(settings)  # as the next run opens it
    connection.execute("insert into other values (2)")  # a checkpoint with something to write
    connection.execute("checkpoint")
    stored, live = _stored_and_live(connection, "lines")
    assert live == rows and stored - live == 4 * 122_880 // 5  # kept
    connection.close()

    # Other rows of those row groups rebuilt, by another connection: now over a tenth of the
    # stored rows are deleted ones.
    connection = warehouse.connect_build(settings)
    rebuilt = "i >= 4 * 122880 and i % 5 = 1"
    connection.execute(f"create or replace table again as select * from lines where {rebuilt}")
    connection.execute(f"delete from lines where {rebuilt}")
    connection.execute("insert into lines select * from again")
    connection.close()
    connection = warehouse.connect_build(settings)
    stored, live = _stored_and_live(connection, "lines")
    assert (stored - live) / stored >= warehouse.COMPACT_AT_DELETED_SHARE
    assert warehouse.checkpoint_compacting_when_due(connection, anew=False) == ["main.lines"]
    stored_after, live_after = _stored_and_live(connection, "lines")
    assert live_after == rows
    assert stored_after - live_after < (stored - live) / 2  # merged
    assert connection.execute("select count(distinct i), sum(i) from lines").fetchall() == [
        (rows, rows * (rows - 1) // 2)
    ]
    kept = dict(connection.execute("from meta.deleted_rows_kept").fetchall())
    assert kept.get("main.lines", 0) == stored_after - live_after
    assert connection.execute("select current_setting('max_vacuum_tasks')").fetchall() == [(0,)]
    connection.close()


def test_deleted_rows_no_merge_can_take_out_are_not_due_again_until_more_are_deleted(settings):
    # A sixth of every row group deleted: no two neighbours fit in one, so DuckDB merges none.
    # Due once; then not again, run after run, until as many more rows are deleted.
    connection = warehouse.connect_build(settings)
    connection.execute("create table lines as select i from range(6 * 122880) t(i)")
    connection.execute("checkpoint")
    connection.execute("delete from lines where i % 6 = 0")
    assert warehouse.checkpoint_compacting_when_due(connection, anew=False) == ["main.lines"]
    left = 122_880  # a sixth of six row groups
    assert _stored_and_live(connection, "lines") == (6 * 122_880, 5 * 122_880)
    assert connection.execute("from meta.deleted_rows_kept").fetchall() == [("main.lines", left)]
    connection.execute("insert into lines values (-1)")  # a change: something to checkpoint
    assert warehouse.checkpoint_compacting_when_due(connection, anew=False) == []
    # A build that made every table anew forgets what the last merge left.
    assert warehouse.checkpoint_compacting_when_due(connection, anew=True) == ["main.lines"]
    assert warehouse.checkpoint_compacting_when_due(connection, anew=False) == []
    connection.execute("delete from lines where i % 6 = 1")  # now three fit in two
    assert warehouse.checkpoint_compacting_when_due(connection, anew=False) == ["main.lines"]
    stored, live = _stored_and_live(connection, "lines")
    assert live == 4 * 122_880 + 1 and stored - live < left
    connection.close()


def test_row_groups_with_no_row_left_are_dropped_not_counted_as_due(settings):
    # Any checkpoint drops them: nothing to merge. Three of six row groups, and a few rows.
    connection = warehouse.connect_build(settings)
    connection.execute("create table lines as select i from range(6 * 122880) t(i)")
    connection.execute("checkpoint")
    connection.execute("delete from lines where i < 3 * 122880 or i % 1000 = 0")
    assert warehouse.checkpoint_compacting_when_due(connection, anew=False) == []
    stored, live = _stored_and_live(connection, "lines")
    assert stored == 3 * 122_880 and live == 3 * 122_880 - 369
    connection.close()
