"""The build file, the run lock and the atomic publish of a finished warehouse.

A DuckDB file has one writer or many readers, never both. So runs write to ``build.duckdb``
and, once dbt has built every model, the file is renamed over ``warehouse.duckdb``: readers
always open a complete warehouse and never block a run. The replaced warehouse, brought up to
date, becomes the next ``build.duckdb``.
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
import signal
import struct
from collections.abc import Callable, Iterator
from concurrent.futures import Future, wait
from contextlib import ExitStack, contextmanager
from pathlib import Path

import duckdb

from dropscore.background import meanwhile
from dropscore.config import STORAGE_COMPATIBILITY_VERSION, Settings
from dropscore.digests import (
    CHUNK_BYTES,
    DIGEST_BYTES,
    chunk_digests,
    digests_length,
    read_fully,
)

# A table is compacted once its deleted rows reach this share of the rows it stores: until then
# its scans read them too, and the file keeps them.
COMPACT_AT_DELETED_SHARE = 0.10
DUCKDB_DEFAULT_VACUUM_TASKS = 100
ROW_GROUP_ROWS = 122_880  # DuckDB's: a merge takes out a row group or none
KEPT_DELETED_ROWS = "meta.deleted_rows_kept"  # what the last merge could not take out
# How many merges of thinned row groups a checkpoint may make (DuckDB's max_vacuum_tasks), as
# dbt's profile reads it: 0, but for benchmarks/weeks.py's baseline, DuckDB's default.
MAX_VACUUM_TASKS_VARIABLE = "DROPSCORE_MAX_VACUUM_TASKS"


class WarehouseError(Exception):
    """A warehouse problem the user can act on, in one line."""


def connect_build(settings: Settings) -> duckdb.DuckDBPyConnection:
    settings.home.mkdir(parents=True, exist_ok=True)
    config = settings.duckdb_config()
    # Only applies when the file is created; DuckDB keeps the format on every later open.
    config["storage_compatibility_version"] = STORAGE_COMPATIBILITY_VERSION
    # No merging of the row groups deletes have thinned, which every checkpoint otherwise does
    # in every table, changed or not (as dbt's profile): `checkpoint_compacting_when_due` does
    # it when it pays.
    config["max_vacuum_tasks"] = os.environ.get(MAX_VACUUM_TASKS_VARIABLE, "0")
    try:
        return duckdb.connect(str(settings.build_path), config=config)
    except duckdb.IOException as error:
        raise WarehouseError(f"cannot open {settings.build_path}: {error}") from None


def checkpoint_compacting_when_due(con: duckdb.DuckDBPyConnection, anew: bool) -> list[str]:
    """Checkpoint the build file, then merge its thinned row groups if one table is due; return
    the tables that were.

    An incremental build deletes the rows it rebuilds and appends them again, so the newest row
    groups of each table lose a share of their rows every week. Merging them at every
    checkpoint rewrote the same few hundred thousand rows of each table every week; left
    alone, they would pile up. A table is due once its deleted rows, beyond those the last
    merge left (DuckDB merges neighbours only when their rows fit in fewer row groups), reach
    COMPACT_AT_DELETED_SHARE of the rows it stores and a row group's worth. Then a checkpoint
    merges in every table, and what it leaves is noted. `anew`: every built table was made
    anew since the last.
    """
    columns = "(table_name varchar, rows bigint)"
    con.execute("create schema if not exists meta")
    create = "create or replace table" if anew else "create table if not exists"
    con.execute(f"{create} {KEPT_DELETED_ROWS} {columns}")
    con.execute("checkpoint")  # first: it drops the row groups whose rows are all deleted
    kept = dict(con.execute(f"from {KEPT_DELETED_ROWS}").fetchall())
    deleted = deleted_rows(con)
    due = [
        name
        for name, stored, count in deleted
        if count - kept.get(name, 0) >= max(COMPACT_AT_DELETED_SHARE * stored, ROW_GROUP_ROWS)
    ]
    if due:
        # emptied, which is also a change to write: DuckDB skips a checkpoint with none
        con.execute(f"create or replace table {KEPT_DELETED_ROWS} {columns}")
        ((configured,),) = con.execute("select current_setting('max_vacuum_tasks')").fetchall()
        con.execute(f"set max_vacuum_tasks = {DUCKDB_DEFAULT_VACUUM_TASKS}")
        try:
            con.execute("checkpoint")
        finally:
            con.execute(f"set max_vacuum_tasks = {configured}")
        left = [(name, count) for name, _, count in deleted_rows(con) if count]
    else:
        # fewer than noted where row groups left with no row were dropped
        left = [(name, min(count, kept[name])) for name, _, count in deleted if kept.get(name)]
        if dict(left) == kept:
            return due
        con.execute(f"delete from {KEPT_DELETED_ROWS}")
    if left:
        con.executemany(f"insert into {KEPT_DELETED_ROWS} values (?, ?)", left)
    con.execute("checkpoint")
    return due


def deleted_rows(con: duckdb.DuckDBPyConnection) -> list[tuple[str, int, int]]:
    """Each table's name, the rows it stores, and how many of them are deleted."""
    found = []
    tables = con.execute(
        "select schema_name, table_name, estimated_size from duckdb_tables() "
        "where not temporary and estimated_size > 0"
    ).fetchall()
    for schema, table, stored in tables:  # estimated_size counts deleted rows, count(*) not
        ((live,),) = con.execute(f'select count(*) from "{schema}"."{table}"').fetchall()
        found.append((f"{schema}.{table}", stored, stored - live))
    return found


def read_ahead(path: Path) -> None:
    """Have the kernel read a file into its cache, for what reads it next: a build file made by
    the last publish (written past the cache) or left for a week comes from the disk, and a
    weekly build reads much of it. Not a file larger than a quarter of the memory; a file the
    kernel cannot be asked about is left as it is."""
    if not hasattr(os, "posix_fadvise"):  # macOS: the cache fills as DuckDB reads
        return
    try:
        descriptor = os.open(path, os.O_RDONLY)
        try:
            stat = os.fstat(descriptor)
            if stat.st_size > os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 4:
                return
            step = _read_ahead_window(stat.st_dev)
            for offset in range(0, stat.st_size, step):
                os.posix_fadvise(descriptor, offset, step, os.POSIX_FADV_WILLNEED)
        finally:
            os.close(descriptor)
    except OSError:
        return


def _read_ahead_window(device: int) -> int:
    """The most the kernel reads for one request to read ahead on this disk: the larger of its
    readahead window and its largest transfer (128 KiB, the kernel's default window, when its
    settings cannot be read)."""
    disk = Path(f"/sys/dev/block/{os.major(device)}:{os.minor(device)}")
    for queue in (disk / "queue", disk.resolve().parent / "queue"):  # a disk; a partition's
        try:
            kib = [int((queue / name).read_text()) for name in ("read_ahead_kb", "max_sectors_kb")]
            return max(4, *kib) << 10  # a page at least
        except (OSError, ValueError):
            continue
    return 128 << 10


@contextmanager
def run_lock(settings: Settings) -> Iterator[None]:
    """Allow one run per home at a time; a second run is refused instead of corrupting the first."""
    settings.home.mkdir(parents=True, exist_ok=True)
    with open(settings.lock_path, "a+") as lock_file:
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WarehouseError(
                f"another dropscore run is using {settings.home}; try again when it has finished"
            ) from None
        try:
            _recover_from_a_killed_run(settings)
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _recover_from_a_killed_run(settings: Settings) -> None:
    """Delete what a run killed while publishing leaves behind, and give the home its build
    file back if the kill came between the publish and the next build file being ready.

    Only a run holding the lock publishes, so once we hold it every copy is a dead run's. Left
    alone, each would keep a warehouse's worth of disk.
    """
    for copy in settings.home.glob(".warehouse.*.tmp"):
        copy.unlink(missing_ok=True)
    if settings.warehouse_path.exists() and not settings.build_path.exists():
        try:
            with _held_against_writers(settings.warehouse_path) as warehouse:
                _next_build_file(settings, warehouse, replaced=None)
        except OSError as error:
            raise WarehouseError(
                f"cannot make {settings.build_path} from {settings.warehouse_path}: {error}"
            ) from None


class BuildFileNotMade(WarehouseError):
    """The warehouse is published, but the next build file could not be made (the next run
    makes it). `alongside` is what `publish` was asked to run alongside, done."""

    def __init__(self, message: str, alongside: Future | None) -> None:
        super().__init__(message)
        self.alongside = alongside


def publish(settings: Settings, alongside: Callable[[Path], object] | None = None) -> Future | None:
    """Make the build file the published warehouse in one atomic rename, then make a build
    file again, the same bytes, for the next run to build on.

    The replaced warehouse becomes that next build file when no one has it open: only the
    chunks the run changed are written into it (a weekly run changes a few percent of the
    file). Otherwise the warehouse is copied whole.

    `alongside`, when given, is called on a thread with the published warehouse as soon as it
    is in place, while the next build file is made; its future is returned, done.
    """
    if not settings.build_path.exists():
        raise WarehouseError(f"nothing to publish: {settings.build_path} does not exist")
    replaced = _keep_replaced_warehouse(settings)
    with ExitStack() as stack:
        try:
            warehouse = stack.enter_context(_held_against_writers(settings.build_path))
            os.fsync(warehouse)  # a no-op after DuckDB's own checkpoint, unless it was not
            os.replace(settings.build_path, settings.warehouse_path)
        except BaseException as error:
            if replaced is not None:
                replaced.unlink(missing_ok=True)
            if isinstance(error, OSError):
                raise WarehouseError(
                    f"cannot publish to {settings.warehouse_path}: {error}"
                ) from None
            raise
        started = None
        if alongside is not None:
            started = meanwhile("alongside-publish", alongside, settings.warehouse_path)
            stack.callback(wait, [started])  # before the hold is let go: it reads the file
        try:
            # The rename on disk before the replaced file is written: after a power cut, the
            # warehouse must not be the replaced file half brought up to date.
            _fsync(settings.home)
            _next_build_file(settings, warehouse, replaced)
        except OSError as error:
            raise BuildFileNotMade(
                f"published {settings.warehouse_path}, but cannot make the next build file: "
                f"{error}; the next run makes it",
                started,
            ) from None
    return started


@contextmanager
def _held_against_writers(path: Path) -> Iterator[int]:
    """The file, open, with a shared lock that keeps DuckDB writers out (a read-write session
    of the DuckDB CLI, say) while readers come and go: what is copied from it cannot change
    under the copy. An open file description lock, so this process closing another descriptor
    of the file does not let it go; where there is none (macOS), no lock."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        if hasattr(fcntl, "F_OFD_SETLK"):
            whole_file = struct.pack("hhqqi4x", fcntl.F_RDLCK, os.SEEK_SET, 0, 0, 0)
            try:
                fcntl.fcntl(descriptor, fcntl.F_OFD_SETLK, whole_file)
            except OSError as error:
                if error.errno in (errno.EAGAIN, errno.EACCES):
                    raise WarehouseError(
                        f"{path} is open for writing elsewhere (a read-write DuckDB session?); "
                        "close it and try again"
                    ) from None
                # otherwise a file system without such locks (NFS without lockd): go on
        yield descriptor
    finally:
        os.close(descriptor)


def _keep_replaced_warehouse(settings: Settings) -> Path | None:
    """A second name for the warehouse about to be replaced, so that it outlives the rename
    (None when there is none yet, or the file system has no hard links)."""
    replaced = settings.home / ".warehouse.replaced.tmp"
    replaced.unlink(missing_ok=True)
    try:
        os.link(settings.warehouse_path, replaced)
    except OSError:
        return None
    return replaced


def _next_build_file(settings: Settings, warehouse: int, replaced: Path | None) -> None:
    """Make `build.duckdb` a copy of the published `warehouse` (open, held against writers),
    and note its chunks' digests for the next publish."""
    try:
        published = os.fstat(warehouse)
        digests = chunk_digests(warehouse)
        if replaced is not None and _update_in_place(replaced, warehouse, digests, settings):
            os.replace(replaced, settings.build_path)
            _fsync(settings.home)
        else:
            if replaced is not None:  # its space, for the copy
                _delete_in_background(replaced)
            _copy_into_place(warehouse, settings.build_path)
        _save_digests(settings, published, digests)
    finally:
        if replaced is not None:  # still there after an error: neither renamed nor freed
            _delete_in_background(replaced)


def _delete_in_background(path: Path) -> None:
    """Freeing a 3 GB file's blocks takes ~0.5 s: held open while its name goes, it is freed
    when closed, in the background while the caller goes on."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        path.unlink()
    finally:
        meanwhile("free-old-warehouse", os.close, descriptor)


def _copy_into_place(source: int, target: Path) -> None:
    staging = target.parent / f".warehouse.{os.getpid()}.tmp"
    try:
        copy_durably(source, staging)
        os.replace(staging, target)
        _fsync(target.parent)
    finally:
        staging.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


# --- bringing the replaced warehouse up to date ---------------------------------------------


def _update_in_place(replaced: Path, source: int, digests: bytes, settings: Settings) -> bool:
    """Write into the replaced warehouse the chunks in which the published one differs from it.

    Only when no one has it open, in any process, this one included (a DuckDB reader, a
    backup): Linux grants a write lease only then. DuckDB's shared lock cannot tell: a process
    loses its lock on a file when it closes any descriptor of it, as when one of two
    connections attaching it closes. After the check no one can open it by the warehouse's
    name, which is no longer its own. And only when the digests noted at the last publish are
    of this very file, unchanged since (same inode, size and modification time). False when it
    cannot be done, having written nothing.
    """
    try:
        descriptor = os.open(replaced, os.O_RDWR)
    except OSError:  # made read-only by its owner, say: a copy does without writing it
        return False
    try:
        if not _only_descriptor(descriptor):
            return False
        previous = _saved_digests(settings, os.fstat(descriptor))
        if previous is None:
            return False
        size = os.fstat(source).st_size
        for start, end in _changed_ranges(previous, digests, size):
            _copy_range(source, descriptor, start, end)
        os.ftruncate(descriptor, size)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    return True


def _only_descriptor(descriptor: int) -> bool:
    """Whether this is the only open descriptor (or mapping) of its file, in any process.

    A write lease is granted only then (Linux), and given back at once. Anyone opening the
    file while it is held waits for that, and this process is told by a signal: SIGIO unless
    set otherwise, which would end it; SIGURG is ignored unless handled. Not available
    (macOS, NFS, a file of another user): False.
    """
    if not hasattr(fcntl, "F_SETLEASE"):
        return False
    try:
        fcntl.fcntl(descriptor, fcntl.F_SETSIG, signal.SIGURG)
        fcntl.fcntl(descriptor, fcntl.F_SETLEASE, fcntl.F_WRLCK)
    except OSError:  # EAGAIN: open elsewhere; EACCES, EINVAL: no lease to be had here
        return False
    fcntl.fcntl(descriptor, fcntl.F_SETLEASE, fcntl.F_UNLCK)
    return True


def _changed_ranges(previous: bytes, digests: bytes, size: int) -> Iterator[tuple[int, int]]:
    """Byte ranges, runs of adjacent chunks, where `digests` differs from `previous`."""
    start = None
    for index in range(0, len(digests), DIGEST_BYTES):
        changed = digests[index : index + DIGEST_BYTES] != previous[index : index + DIGEST_BYTES]
        offset = index // DIGEST_BYTES * CHUNK_BYTES
        if changed and start is None:
            start = offset
        elif not changed and start is not None:
            yield start, offset
            start = None
    if start is not None:
        yield start, size


def _copy_range(source: int, target: int, start: int, end: int) -> None:
    while start < end:
        data = os.pread(source, min(end - start, _DIRECT_CHUNK), start)
        if not data:
            raise OSError(errno.EIO, "the published warehouse ended early")
        _write_fully(target, memoryview(data), start)
        start += len(data)


def _identity(stat: os.stat_result) -> str:
    return f"{CHUNK_BYTES} {stat.st_ino} {stat.st_size} {stat.st_mtime_ns}"


def _save_digests(settings: Settings, published: os.stat_result, digests: bytes) -> None:
    """Note the published warehouse's digests with what identifies its file (`published`,
    taken before they were worked out, while no writer could open it)."""
    staging = settings.home / f".warehouse.{os.getpid()}.digests.tmp"
    try:
        staging.write_bytes(_identity(published).encode() + b"\n" + digests)
        os.replace(staging, settings.digests_path)
    except OSError:  # the next publish then copies the warehouse whole, as without digests
        staging.unlink(missing_ok=True)


def _saved_digests(settings: Settings, stat: os.stat_result) -> bytes | None:
    """The digests noted at the last publish, if they are of the file `stat` describes."""
    try:
        header, digests = settings.digests_path.read_bytes().split(b"\n", 1)
    except (OSError, ValueError):
        return None
    if header != _identity(stat).encode():
        return None
    if len(digests) != digests_length(stat.st_size):
        return None
    return digests


# O_DIRECT transfers must start, end and sit in memory on block boundaries; 4 KiB covers the
# logical block size of the disks and file systems that take it.
_DIRECT_ALIGNMENT = 4096
_DIRECT_CHUNK = 16 << 20


def _write_fully(target: int, data: memoryview, offset: int) -> None:
    """Write all of `data` at `offset`: a full disk writes short before it refuses."""
    written = 0
    while written < len(data):
        written += os.pwritev(target, [data[written:]], offset + written)


def copy_durably(source: int, target: Path) -> None:
    """Copy the open file `source` over `target`, on disk when this returns.

    Written with O_DIRECT where the file system takes it: the bytes go from the source's pages
    in the page cache straight to the disk, instead of into a second copy in the page cache
    that the kernel must first find memory for and then flush (a 2.9 GB build file: 1.6-2.0 s,
    against 2.3-4.4 s for a plain copy and its `fsync`). Elsewhere (macOS, or a file system
    that refuses O_DIRECT), a plain copy.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    if hasattr(os, "O_DIRECT"):
        try:
            _copy(source, target, flags | os.O_DIRECT, _DIRECT_ALIGNMENT)
            return
        except OSError as error:
            if error.errno != errno.EINVAL:  # EINVAL: a file system that refuses O_DIRECT
                raise
    _copy(source, target, flags, 1)


def _copy(source: int, target: Path, flags: int, alignment: int) -> None:
    target_fd = os.open(target, flags, 0o644)
    try:
        with (
            mmap.mmap(-1, _DIRECT_CHUNK) as buffer,
            memoryview(buffer) as chunk,  # page-aligned, as O_DIRECT needs
        ):
            offset = 0
            while read := read_fully(source, chunk, offset):
                whole_blocks = -(-read // alignment) * alignment
                chunk[read:whole_blocks] = bytes(whole_blocks - read)  # the last block, padded
                with chunk[:whole_blocks] as blocks:  # let go even when the write fails
                    _write_fully(target_fd, blocks, offset)
                offset += read
        os.ftruncate(target_fd, offset)  # the padding off again
        os.fsync(target_fd)
    finally:
        os.close(target_fd)


def warehouse_version(path: Path) -> str | None:
    """A key that changes whenever a new warehouse is published (None when there is none)."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return f"{stat.st_ino}-{stat.st_mtime_ns}-{stat.st_size}"
