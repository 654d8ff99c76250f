"""A 200 MB export loads with its progress shown and memory bounded by the warehouse's limit.

The file is made in the test's tmp dir from the real Shopify orders sample (79 columns,
continuation rows, personal data), renumbering its orders. The load runs in a child process so
that its peak resident memory can be measured alone (`ru_maxrss` of the children of a wrapper
that starts nothing else). Measured on the development machine (4 cores): ~21 s and ~400 MB
at a 256 MB DuckDB limit; ~16 s and ~600 MB at the default 3 GB.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from dropscore.config import PROJECT_DIR

SAMPLE = Path(__file__).parent / "fixtures" / "real" / "shopify_orders_export_devstore.csv"
SIZE = 200 * 1024 * 1024
MEMORY_LIMIT = "256MB"
PEAK_RSS_BOUND_MB = 700  # the DuckDB limit plus Python, DuckDB and pyarrow themselves (~100 MB)

MEASURE = """
import json, resource, subprocess, sys
finished = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(json.dumps({
    "returncode": finished.returncode,
    "stdout": finished.stdout,
    "stderr": finished.stderr,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
}))
"""


def make_large_export(path: Path, size: int) -> int:
    """Copies of the sample, each with its own order names, until `size` bytes; orders made."""
    header, *rows = SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)
    copies = 0
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write(header)
        written = len(header)
        while written < size:
            offset = 100_000 + copies * 100
            chunk = "".join(
                re.sub(r"^#10(\d\d),", lambda m, o=offset: f"#{o + int(m[1])},", row)
                for row in rows
            )
            out.write(chunk)
            written += len(chunk.encode("utf-8"))
            copies += 1
    return copies


@pytest.mark.large
@pytest.mark.timeout(600)
def test_a_200_mb_shopify_export_loads_with_progress_in_bounded_memory(tmp_path):
    export = tmp_path / "orders_export.csv"
    copies = make_large_export(export, SIZE)
    home = tmp_path / "home"
    command = [sys.executable, "-m", "dropscore", "ingest", str(export), "--home", str(home)]
    measured = subprocess.run(
        [sys.executable, "-c", MEASURE, *command],
        capture_output=True,
        text=True,
        check=True,
        cwd=PROJECT_DIR,
        env={**_environment(), "DROPSCORE_MEMORY_LIMIT": MEMORY_LIMIT},
    )
    result = json.loads(measured.stdout)
    assert result["returncode"] == 0, result["stderr"]
    rows = 40 * copies  # the sample's 40 line-item rows, 19 orders, per copy
    assert result["stdout"] == f"{rows:,} rows loaded from 1 file(s) into {home / 'build.duckdb'}\n"
    progress = result["stderr"].splitlines()
    assert progress[0] == "orders_export.csv: reading"
    # Shopify writes its times with offsets such as -0400, which the typed read refuses.
    again = "orders_export.csv: reading again as text"
    assert again in progress
    assert any(re.fullmatch(rf"{again} \d+%", line) for line in progress)
    assert "orders_export.csv: checking" in progress
    assert "orders_export.csv: loading" in progress
    assert progress[-1] == f"{export}: {rows:,} rows loaded as shopify-orders"
    assert result["peak_rss_mb"] < PEAK_RSS_BOUND_MB, result["peak_rss_mb"]
    con = duckdb.connect(str(home / "build.duckdb"), read_only=True)
    try:
        assert con.execute(
            "select (select count(*) from raw.shopify_orders), "
            "(select count(*) from raw.shopify_order_lines)"
        ).fetchall() == [(19 * copies, rows)]
    finally:
        con.close()


def _environment() -> dict[str, str]:
    import os

    return {name: value for name, value in os.environ.items() if name != "DROPSCORE_HOME"}
