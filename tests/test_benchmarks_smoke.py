"""benchmarks/pipeline.py at a small size: every step runs and lands in the results, no timings
asserted (the figures at 1M and 10M are in benchmarks/results/ and docs/performance.md)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import duckdb
import pytest

from dropscore.config import PROJECT_DIR
from ingest.generate import generate, generate_week

SCRIPT = PROJECT_DIR / "benchmarks" / "pipeline.py"
STEPS = [
    "generate", "floor", "pandas", "full_run", "generate_week", "weekly_run", "full_run_2",
    "weekly_run_2", "serve",
]  # fmt: skip
RUNS = ["full_run", "weekly_run", "full_run_2", "weekly_run_2"]
PAGES = sorted(p.stem for p in (PROJECT_DIR / "dashboards" / "app_pages").glob("[!_]*.py"))


def load_script():
    spec = importlib.util.spec_from_file_location("benchmark_pipeline", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def benchmarked(tmp_path_factory):
    """One benchmark run at 20,000 order lines, two pairs of runs, with its results in a tmp
    dir."""
    root = tmp_path_factory.mktemp("benchmark")
    completed = run_benchmark(SCRIPT, root, "--lines", "20000", "--repeats", "1", "--runs", "2")
    return root, completed


def run_benchmark(script, root, *arguments) -> subprocess.CompletedProcess:
    """A benchmark script at a small size, its work and results under `root`; it succeeded."""
    completed = subprocess.run(
        [
            sys.executable, str(script), *arguments,
            "--workdir", str(root / "work"),
            "--results", str(root / "results"),
        ],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=900,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed


def test_the_benchmark_writes_json_and_markdown_and_prints_the_table(benchmarked):
    root, completed = benchmarked
    markdown = (root / "results" / "pipeline-n20k.md").read_text()
    assert (root / "results" / "pipeline-n20k.json").exists()
    assert markdown in completed.stdout
    assert "| step | user s | system s | read from disk |" in markdown
    for label in ("floor (one DuckDB statement)", "full run", "weekly run", "pandas baseline"):
        assert label in markdown
    assert "| full run, pair 2 |" in markdown and "| weekly run, pair 2 |" in markdown
    assert "Ratios (wall, median of 2 pairs of runs): full/floor" in markdown
    assert "| phase of `dropscore run` | full run s | full run 2 s | weekly run s | " in markdown


def test_every_step_is_measured_with_its_time_and_peak_memory(benchmarked):
    root, _ = benchmarked
    report = json.loads((root / "results" / "pipeline-n20k.json").read_text())
    assert list(report["steps"]) == STEPS
    for name, step in report["steps"].items():
        assert step["exit_code"] == 0, name
        assert step["wall_seconds"] > 0, name
        assert step["cpu_seconds"] > 0, name
        assert step["peak_rss_bytes"] > 10 * 1024**2, name  # a Python process at least
        assert step["user_seconds"] + step["system_seconds"] == step["cpu_seconds"], name
        assert min(step["major_faults"], step["read_bytes"], step["written_bytes"]) >= 0, name
        assert set(step["meanwhile"]) == {
            "other_cpu_seconds", "steal_seconds", "iowait_seconds", "refaulted_bytes"
        }, name  # fmt: skip
        assert min(step["meanwhile"].values()) >= 0, name
    assert report["steps"]["generate"]["result"]["lines"] == pytest.approx(20_000, rel=0.05)
    week = report["steps"]["generate_week"]["result"]
    assert week["new_lines"] > 0 and week["updated_lines"] > 0
    assert list(report["phases"]) == RUNS
    for run in RUNS:
        phases = report["phases"][run]
        assert {"dbt_start", "dbt_nodes", "publish", "report", "exit"} <= set(phases)
        assert any(phase.startswith("ingest") for phase in phases)
        assert sum(phases.values()) == pytest.approx(report["steps"][run]["wall_seconds"])
    for run in ("full_run", "weekly_run"):
        assert report["dbt"][run]["nodes"] > 0
    assert set(report["ratios"]) == {"full_over_floor", "weekly_over_full", "pandas_over_full"}
    assert all(value > 0 for value in report["ratios"].values())
    # Medians, of two their mean: each pair's weekly share, and the full runs
    runs = {run: report["steps"][run]["wall_seconds"] for run in RUNS}
    assert report["ratios"]["weekly_over_full"] == pytest.approx(
        (runs["weekly_run"] / runs["full_run"] + runs["weekly_run_2"] / runs["full_run_2"]) / 2
    )
    assert report["ratios"]["full_over_floor"] == pytest.approx(
        (runs["full_run"] + runs["full_run_2"]) / 2 / report["steps"]["floor"]["wall_seconds"]
    )
    assert all(target["value"] is not None for target in report["targets"])
    assert report["machine"]["cores"] >= 1 and report["machine"]["memory_bytes"] > 0
    assert {"python", "duckdb", "dbt-core", "dropscore"} <= set(report["versions"])


def test_one_pair_or_three_the_ratios_are_the_median_pairs(benchmarked):
    """The report of two pairs cut to one, and grown to three with a slower third."""
    root, _ = benchmarked
    script = load_script()
    report = json.loads((root / "results" / "pipeline-n20k.json").read_text())
    steps = report["steps"]

    def with_pairs(*pairs: tuple[dict, dict]) -> dict:
        """The report with these (full run, weekly run) pairs instead of its own."""
        runs = {}
        for number, (full, weekly) in enumerate(pairs, 1):
            suffix = "" if number == 1 else f"_{number}"
            runs[f"full_run{suffix}"], runs[f"weekly_run{suffix}"] = full, weekly
        others = {name: step for name, step in steps.items() if name not in RUNS}
        phases = dict.fromkeys(runs, report["phases"]["full_run"])
        return {**report, "steps": {**others, **runs}, "phases": phases, "runs": len(pairs)}

    def wall(step: dict) -> float:
        return step["wall_seconds"]

    first = (steps["full_run"], steps["weekly_run"])
    second = (steps["full_run_2"], steps["weekly_run_2"])
    one = with_pairs(first)
    one["ratios"], one["targets"] = script.evaluate(one)
    assert one["ratios"]["weekly_over_full"] == wall(first[1]) / wall(first[0])
    table = script.markdown(one)
    assert "Ratios (wall): full/floor" in table and "pair" not in table

    third = tuple({**step, "wall_seconds": wall(step) * 3} for step in (first[0], second[1]))
    ratios, targets = script.evaluate(with_pairs(first, second, third))
    fulls = sorted(wall(pair[0]) for pair in (first, second, third))
    shares = sorted(wall(pair[1]) / wall(pair[0]) for pair in (first, second, third))
    assert ratios["full_over_floor"] == fulls[1] / wall(steps["floor"])
    assert ratios["weekly_over_full"] == shares[1]
    assert "(median of 3 pairs of runs)" in targets[1]["target"]


def test_every_dashboard_page_renders_without_an_error(benchmarked):
    root, _ = benchmarked
    report = json.loads((root / "results" / "pipeline-n20k.json").read_text())
    pages = report["steps"]["serve"]["result"]["pages"]
    assert sorted(pages) == PAGES
    assert {page: timing["errors"] for page, timing in pages.items()} == dict.fromkeys(PAGES, [])
    assert report["steps"]["serve"]["result"]["sql_cli_seconds"]


def test_the_floor_pandas_and_the_warehouse_agree_on_every_supplier(benchmarked):
    root, _ = benchmarked
    agreement = json.loads((root / "results" / "pipeline-n20k.json").read_text())["agreement"]
    assert agreement["suppliers"] > 0
    assert {
        name: found["suppliers_differing"] for name, found in agreement["versus_floor"].items()
    } == {
        "pandas": 0,
        "warehouse": 0,
    }


def test_the_scratch_files_are_removed_unless_kept(benchmarked):
    root, _ = benchmarked
    assert not (root / "work" / "n20k").exists()


@pytest.mark.parametrize(
    ("text", "count", "label"),
    [("20000", 20_000, "20k"), ("20_000", 20_000, "20k"), ("1M", 1_000_000, "1M"),
     ("1.5m", 1_500_000, "1.5M"), ("10M", 10_000_000, "10M"), ("1e6", 1_000_000, "1M"),
     ("12345", 12_345, "12345")],
)  # fmt: skip
def test_line_counts_read_and_label_as_people_write_them(text, count, label):
    script = load_script()
    assert script.parse_count(text) == count
    assert script.count_label(count) == label


def test_the_weekly_export_overlaps_the_previous_one_as_real_weekly_exports_do(tmp_path):
    previous = generate(tmp_path / "previous", orders=3_000, seed=3)
    week = generate_week(tmp_path / "week", previous, orders=3_000, seed=3)
    again = generate_week(tmp_path / "again", previous, orders=3_000, seed=3)
    assert week.orders.read_bytes() == again.orders.read_bytes()
    assert week.disputes.read_bytes() == again.disputes.read_bytes()

    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    for name, path in [
        ("before", previous.orders),
        ("after", week.orders),
        ("disputes_before", previous.disputes),
        ("disputes_after", week.disputes),
    ]:
        con.execute(
            f"create table {name} as select * from read_csv(?, all_varchar = true)", [str(path)]
        )

    def one(sql: str):
        return con.execute(sql).fetchone()[0]

    # Every line ordered in the week before the previous export comes again, and only those.
    assert one("select count(*) from before where ordered_at > '2026-11-15T23:59:59Z'") == (
        week.updated_lines
    )
    assert one(
        "select count(*) from after semi join before using (supplier_order_id, line_id)"
    ) == (week.updated_lines)
    # New lines have new order, line and store order numbers, and were ordered in the new week.
    assert one(
        "select count(*) from after anti join before using (supplier_order_id, line_id)"
    ) == (week.new_lines)
    assert week.new_lines == pytest.approx(3_000 * 1.52 / 52, rel=0.3)
    assert one(
        "select count(*) from after where store_order in (select store_order from before)"
    ) == (week.updated_lines)
    new_orders = "select * from after anti join before using (supplier_order_id, line_id)"
    assert one(f"select min(ordered_at) > '2026-11-22T23:59:59Z' from ({new_orders})")
    assert one("select count(*) = count(distinct (supplier_order_id, line_id)) from after")
    assert one("select bool_and(exported_at = '2026-11-29T23:59:59Z') from after")
    # Statuses only move forward: placed -> shipped or cancelled; shipped -> delivered.
    moves = con.execute(
        """
        select before.status, after.status, count(*)
        from before join after using (supplier_order_id, line_id)
        group by all order by all
        """
    ).fetchall()
    forward = {
        ("placed", "placed"), ("placed", "shipped"), ("placed", "cancelled"),
        ("shipped", "shipped"), ("shipped", "delivered"),
        ("delivered", "delivered"), ("cancelled", "cancelled"),
    }  # fmt: skip
    assert {(old, new) for old, new, _ in moves} <= forward
    assert any(old != new for old, new, _ in moves)
    # Disputes open at the previous export come again, some of them closed now.
    assert one(
        "select count(*) from disputes_after semi join disputes_before using (dispute_id)"
    ) == one("select count(*) from disputes_before where status = 'open'")
    assert one("select count(*) from disputes_after where status <> 'open'") > 0


def test_weekly_runs_in_a_row_give_one_answer_merged_or_not(tmp_path):
    completed = run_benchmark(
        PROJECT_DIR / "benchmarks" / "weeks.py", tmp_path, "--lines", "20000", "--weeks", "2"
    )
    report = json.loads((tmp_path / "results" / "weeks-n20k-w2.json").read_text())
    assert [week["week"] for week in report["by_week"]] == [1, 2]
    for week in report["by_week"]:
        for kind in ("shipped", "merging"):
            assert week[kind]["wall_seconds"] > 0 and week[kind]["build_bytes"] > 0
    # Both homes' warehouses hold the same marts, row for row, whichever merges.
    differing = report["summary"]["marts_rows_differing"]
    assert "fct_supplier_scorecard" in differing and set(differing.values()) == {0}
    markdown = (tmp_path / "results" / "weeks-n20k-w2.md").read_text()
    assert "| 2 |" in markdown and markdown in completed.stdout
    assert not (tmp_path / "work").exists()  # not kept
