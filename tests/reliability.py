"""Shared by the reliability tests (crash safety, concurrency, disk full, properties): what a
warehouse holds, homes copied from a built one, and `dropscore run` as a watched subprocess.

Not a test module: pytest collects only test_*.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from dropscore.config import PROJECT_DIR, Settings


def _normalised(value: object) -> object:
    # DuckDB may add doubles up in a different order on another run (parallel aggregation), which
    # changes the last bits; 12 significant digits is far finer than any metric is read at.
    if isinstance(value, float):
        return float(f"{value:.12g}")
    return value


def marts_digest(warehouse: Path) -> dict[str, str]:
    """A digest of every mart's rows, in a stable order: equal digests, equal marts."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = [
            name
            for (name,) in con.execute(
                # tables and views: fct_order_lines is a view
                "select table_name from information_schema.tables "
                "where table_schema = 'marts' order by 1"
            ).fetchall()
        ]
        digest = {}
        for table in tables:
            rows = con.execute(f'select * from marts."{table}" order by all').fetchall()
            text = repr([tuple(_normalised(value) for value in row) for row in rows])
            digest[table] = f"{len(rows)} rows {hashlib.sha256(text.encode()).hexdigest()[:16]}"
    assert "fct_supplier_scorecard" in digest, f"no scorecard in {warehouse}"
    return digest


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def copy_home(source: Settings, home: Path) -> Settings:
    """A home of the test's own holding what `source` built: build file, published warehouse,
    dbt's parse cache and the customer-key salt (not its logs or reports)."""
    home.mkdir(parents=True)
    for name in ("build.duckdb", "warehouse.duckdb", "customer-key.salt"):
        if (source.home / name).exists():
            shutil.copy2(source.home / name, home / name)
    if source.dbt_target_path.exists():
        shutil.copytree(source.dbt_target_path, home / source.dbt_target_path.name)
    return Settings(home=home)


def split_csv(path: Path, parts: int, out_dir: Path) -> list[Path]:
    """The CSV file as `parts` files with its header each, rows in order."""
    header, *rows = path.read_text(encoding="utf-8").splitlines(keepends=True)
    size = -(-len(rows) // parts)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for part in range(parts):
        piece = out_dir / f"{path.stem}-{part + 1}{path.suffix}"
        piece.write_text(header + "".join(rows[part * size : (part + 1) * size]), encoding="utf-8")
        written.append(piece)
    return written


@dataclass
class WatchedRun:
    """`python ARGUMENTS` in its own process group, its output lines timed as they come.

    Progress lines on stderr mark the phases: one line per input file once it is loaded, dbt's
    one line per node, `publishing …` just before the publish. Ingest starting has no line, so
    it is seen in /proc: the moment the process opens the build file.
    """

    arguments: Sequence[str]
    environment: dict[str, str] | None = None
    process: subprocess.Popen = field(init=False)
    started: float = field(init=False)
    lines: list[tuple[float, str]] = field(init=False, default_factory=list)
    stdout: list[tuple[float, str]] = field(init=False, default_factory=list)
    changed: threading.Condition = field(init=False, default_factory=threading.Condition)

    def __post_init__(self) -> None:
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, *self.arguments],
            cwd=PROJECT_DIR,
            env={**os.environ, **(self.environment or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # a kill takes dbt's helper processes with it
        )
        self._readers = [
            threading.Thread(
                target=self._read, args=(self.process.stderr, self.lines), daemon=True
            ),
            threading.Thread(
                target=self._read, args=(self.process.stdout, self.stdout), daemon=True
            ),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream, timed: list) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            with self.changed:
                timed.append((time.monotonic() - self.started, line))
                self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def seconds(self) -> float:
        return time.monotonic() - self.started

    def wait_for_line(
        self, matches: Callable[[str], bool], timeout: float = 300, *, stdout: bool = False
    ) -> float | None:
        """Seconds since start when a stderr (or stdout) line matched; None if the process
        ended first."""
        lines = self.stdout if stdout else self.lines
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for at, line in lines:
                    if matches(line):
                        return at
                if self.process.poll() is not None and not any(r.is_alive() for r in self._readers):
                    return None
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no matching line in {timeout} s: {self.lines[-5:]}")
                self.changed.wait(0.05)

    def has_open(self, path: Path, timeout: float = 120) -> float | None:
        """Seconds since start when the process had `path` open; None if it ended first."""
        wanted = str(path)
        fds = Path(f"/proc/{self.process.pid}/fd")
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            try:
                for fd in fds.iterdir():
                    try:
                        if os.readlink(fd) == wanted:
                            return self.seconds()
                    except OSError:
                        continue  # closed while we looked
            except OSError:
                return None
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path} never opened")
            time.sleep(0.001)
        return None

    def kill(self) -> None:
        """SIGKILL the whole process group, as a power cut or the OOM killer would."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def finish(self, timeout: float = 600) -> int:
        code = self.process.wait(timeout)
        for reader in self._readers:
            reader.join(timeout)
        return code

    @property
    def stderr_text(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def line_seen(self, matches: Callable[[str], bool], *, stdout: bool = False) -> bool:
        with self.changed:
            return any(matches(line) for _, line in (self.stdout if stdout else self.lines))


def run_arguments(settings: Settings, files: Sequence[Path], *extra: str) -> list[str]:
    """`python -m dropscore run FILES --home HOME`, as WatchedRun takes it."""
    return [
        "-m", "dropscore", "run", *(str(path) for path in files), "--home", str(settings.home),
        *extra,
    ]  # fmt: skip
