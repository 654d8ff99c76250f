"""Weekly runs in a row: what each costs once the deleted rows of the weeks before pile up.

A weekly run rebuilds, in each incremental table, the rows its exports name: it deletes them
and appends them again. DuckDB's checkpoint can merge the row groups those deletes thin; the
build does so only once a table's deleted rows reach `COMPACT_AT_DELETED_SHARE` of its rows
(`dropscore.warehouse.checkpoint_compacting_when_due`). This benchmark measures that choice
against the baseline of merging at every checkpoint, on the same exports, in one run:

1. generate N order lines, and K weekly exports in a row after them (each the previous week's
   lines again, the new week's orders, the disputes still open again and those newly opened);
2. `dropscore run` the full export into a home, and copy the home;
3. each week, `dropscore run` its export on both homes: one as dropscore builds, one merging
   at every checkpoint (DROPSCORE_MAX_VACUUM_TASKS); after each, the build file's size and its
   tables' deleted rows; at the end, whether both homes' marts hold the same rows.

    python benchmarks/weeks.py --lines 10M --weeks 8      # ~10 min here
    python benchmarks/weeks.py --lines 20k --weeks 2      # the smoke test's size
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.pipeline import (  # noqa: E402
    LINES_PER_ORDER,
    RESULTS_DIR,
    WORK_DIR,
    count_label,
    machine,
    measure,
    parse_count,
    save_report,
    versions,
)
from dropscore import warehouse  # noqa: E402

# The baseline: every checkpoint on the build file merges thinned row groups, as DuckDB's does
# unless told otherwise (dropscore before it compacted only when due).
MERGING_AT_EVERY_CHECKPOINT = {
    warehouse.MAX_VACUUM_TASKS_VARIABLE: str(warehouse.DUCKDB_DEFAULT_VACUUM_TASKS)
}
KINDS = ("shipped", "merging")


def generate_exports(out: Path, orders: int, weeks: int, seed: int) -> list[Path]:
    """The full export's directory, then each weekly export's, in order."""
    from ingest.generate import generate, generate_week

    history = [generate(out / "full", orders=orders, seed=seed, later_disputes=True)]
    for week in range(1, weeks + 1):
        history.append(generate_week(out / f"week-{week}", history, orders=orders, seed=seed))
    return [export.orders.parent for export in history]


def deleted_rows(build_file: Path) -> dict:
    """Per table with deleted rows still stored: how many, and their share of its rows."""
    connection = duckdb.connect(str(build_file), read_only=True)
    try:
        return {
            name: {"rows": count, "share": count / stored}
            for name, stored, count in warehouse.deleted_rows(connection)
            if count
        }
    finally:
        connection.close()


def differing_rows(home: Path, other: Path) -> dict[str, int]:
    """Per mart, the rows of one home's published warehouse the other does not hold. Doubles
    equal to 1e-9 of their size: sums over rows stored in another order differ in their last
    bits; the other columns name the row."""
    connection = duckdb.connect()
    try:
        connection.execute(f"attach '{home / 'warehouse.duckdb'}' as one (read_only)")
        connection.execute(f"attach '{other / 'warehouse.duckdb'}' as other (read_only)")
        columns = connection.execute(
            "select table_name, column_name, data_type in ('DOUBLE', 'FLOAT') "
            "from duckdb_columns() join duckdb_tables() using (database_name, schema_name, "
            "table_name) where database_name = 'one' and schema_name = 'marts' "
            "order by table_name, column_index"
        ).fetchall()
        differing = {}
        for mart in dict.fromkeys(table for table, _, _ in columns):
            same = [
                f'(one."{name}" is not distinct from other."{name}" or abs(one."{name}" '
                f'- other."{name}") <= 1e-9 * greatest(1, abs(one."{name}")))'
                if is_double
                else f'one."{name}" is not distinct from other."{name}"'
                for table, name, is_double in columns
                if table == mart
            ]
            naming = " and ".join(
                f'one."{name}" is not distinct from other."{name}"'
                for table, name, is_double in columns
                if table == mart and not is_double
            )
            ((count,),) = connection.execute(
                f'select count(*) from one.marts."{mart}" as one '
                f'full join other.marts."{mart}" as other on {naming} '
                f"where not coalesce({' and '.join(same)}, false)"
            ).fetchall()
            differing[mart] = count
        return differing
    finally:
        connection.close()


def week_summary(step, home: Path) -> dict:
    dead = deleted_rows(home / "build.duckdb")
    return {
        "wall_seconds": step.wall_seconds,
        "cpu_seconds": step.cpu_seconds,
        "other_cpu_seconds": step.meanwhile.get("other_cpu_seconds"),
        "compacted": any(text.startswith("compacted ") for _, text in step.lines),
        "build_bytes": (home / "build.duckdb").stat().st_size,
        "deleted_rows": sum(table["rows"] for table in dead.values()),
        "largest_deleted_share": max((table["share"] for table in dead.values()), default=0.0),
        "deleted_by_table": dead,
    }


def benchmark(options) -> dict:
    orders = max(1, round(options.lines / LINES_PER_ORDER))
    label = count_label(options.lines)
    work = Path(options.workdir or WORK_DIR / f"weeks-n{label}")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    log = work / "benchmark.log"
    env = dict(os.environ)
    shipped, baseline = work / "home-shipped", work / "home-merging"
    started = time.perf_counter()
    exports = generate_exports(work / "exports", orders, options.weeks, options.seed)
    generated_seconds = time.perf_counter() - started

    def run(name: str, home: Path, export: Path, merging: bool):
        files = [str(export / "orders.csv"), str(export / "disputes.csv")]
        command = [sys.executable, "-m", "dropscore", "run", *files, "--home", str(home)]
        print(f"[{time.strftime('%H:%M:%S')}] {name} ...", file=sys.stderr, flush=True)
        return measure(name, command, env | (MERGING_AT_EVERY_CHECKPOINT if merging else {}), log)

    full = run("full_run", shipped, exports[0], merging=False)
    shutil.copytree(shipped, baseline)
    weeks = []
    for week, export in enumerate(exports[1:], start=1):
        # Alternating which goes first, so that neither always runs on a cache the other warmed.
        order = [(shipped, False), (baseline, True)]
        results = {}
        for home, merging in order if week % 2 else reversed(order):
            step = run(f"week_{week}_{'merging' if merging else 'shipped'}", home, export, merging)
            results["merging" if merging else "shipped"] = week_summary(step, home)
        weeks.append({"week": week, **results})
    differing = differing_rows(shipped, baseline)
    if not options.keep:
        shutil.rmtree(work, ignore_errors=True)

    def mean(kind: str, key: str) -> float:
        return statistics.mean(week[kind][key] for week in weeks)

    summary = {
        "full_run_seconds": full.wall_seconds,
        "mean_weekly_seconds": {kind: mean(kind, "wall_seconds") for kind in KINDS},
        "mean_weekly_cpu_seconds": {kind: mean(kind, "cpu_seconds") for kind in KINDS},
        "shipped_over_merging": mean("shipped", "wall_seconds") / mean("merging", "wall_seconds"),
        "mean_weekly_share": mean("shipped", "wall_seconds") / full.wall_seconds,
        "largest_weekly_share": max(week["shipped"]["wall_seconds"] for week in weeks)
        / full.wall_seconds,
        "weeks_compacted": [week["week"] for week in weeks if week["shipped"]["compacted"]],
        "final_build_bytes": {kind: weeks[-1][kind]["build_bytes"] for kind in KINDS},
        # the same answer either way: rows of the marts in one home's warehouse, not the other's
        "marts_rows_differing": differing,
    }
    return {
        "lines_requested": options.lines,
        "label": label,
        "weeks": options.weeks,
        "taken_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": versions(),
        "generate_seconds": generated_seconds,
        "full_run": {"wall_seconds": full.wall_seconds, "cpu_seconds": full.cpu_seconds},
        "by_week": weeks,
        "summary": summary,
    }


def markdown(report: dict) -> str:
    summary = report["summary"]
    mib = 1024**2
    lines = [
        f"# {report['weeks']} weekly runs in a row at {report['label']} order lines",
        "",
        f"Taken {report['taken_at']} at `{report['versions']['git']}` on "
        f"{report['machine']['cores']} cores ({report['machine']['cpu']}); full run "
        f"{report['full_run']['wall_seconds']:.1f} s. *shipped*: dropscore as it is, merging "
        "thinned row groups once a table's deleted rows are due; *merging*: at every checkpoint.",
        "",
        "| week | shipped s | merging s | shipped compacted | shipped deleted rows (largest "
        "share) | merging deleted rows | build file shipped / merging |",
        "|---:|---:|---:|:---:|---:|---:|---:|",
    ]
    for week in report["by_week"]:
        shipped, merging = week["shipped"], week["merging"]
        lines.append(
            f"| {week['week']} | {shipped['wall_seconds']:.2f} | {merging['wall_seconds']:.2f} | "
            f"{'yes' if shipped['compacted'] else ''} | {shipped['deleted_rows']:,} "
            f"({shipped['largest_deleted_share']:.1%}) | {merging['deleted_rows']:,} | "
            f"{shipped['build_bytes'] / mib:,.0f} / {merging['build_bytes'] / mib:,.0f} MiB |"
        )
    lines += [
        "",
        f"- mean weekly run: shipped {summary['mean_weekly_seconds']['shipped']:.2f} s, merging "
        f"{summary['mean_weekly_seconds']['merging']:.2f} s "
        f"(×{summary['shipped_over_merging']:.2f}); CPU "
        f"{summary['mean_weekly_cpu_seconds']['shipped']:.1f} / "
        f"{summary['mean_weekly_cpu_seconds']['merging']:.1f} s",
        f"- weekly share of the full run: mean {summary['mean_weekly_share']:.1%}, largest "
        f"{summary['largest_weekly_share']:.1%}",
        f"- weeks the shipped build compacted: {summary['weeks_compacted'] or 'none'}",
        f"- marts' rows differing between the two warehouses: "
        f"{sum(summary['marts_rows_differing'].values())}",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=parse_count, default=parse_count("10M"))
    parser.add_argument("--weeks", type=int, default=8)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, help="default: benchmarks/work/weeks-n<N>")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR)
    parser.add_argument("--keep", action="store_true", help="keep the exports and homes")
    options = parser.parse_args(argv)
    if options.weeks < 1:
        parser.error("--weeks must be at least 1")
    report = benchmark(options)
    save_report(
        options.results, f"weeks-n{report['label']}-w{options.weeks}", report, markdown(report)
    )


if __name__ == "__main__":
    main()
