"""benchmarks/dashboard.py on the small test warehouse: it renders every scenario without an
error and writes its JSON and Markdown. No timing is asserted here; the figures at 20,000 orders
and 10 million order lines are in benchmarks/results/dashboard-*.md."""

from __future__ import annotations

import json
import subprocess
import sys

from dropscore.config import PROJECT_DIR

SCRIPT = PROJECT_DIR / "benchmarks" / "dashboard.py"
PAGES = sorted(p.stem for p in (PROJECT_DIR / "dashboards" / "app_pages").glob("[!_]*.py"))


def test_the_dashboard_benchmark_times_every_page_and_writes_its_results(built_settings, tmp_path):
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "--home", str(built_settings.home), "--repeats", "1",
         "--out", str(tmp_path)],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    (json_file,) = tmp_path.glob("dashboard-*.json")
    report = json.loads(json_file.read_text())
    markdown = json_file.with_suffix(".md").read_text()
    assert markdown in completed.stdout
    assert report["warehouse"]["order_lines"] > 0
    scenarios = [result["scenario"] for result in report["results"]]
    for page in ("overview", "suppliers", "supplier", "products", "deadlines", "sql", "health"):
        assert any(
            scenario.replace("data health", "health").startswith(page) for scenario in scenarios
        )
    assert len(PAGES) == 7  # a new page needs a scenario in benchmarks/dashboard.py
    for result in report["results"]:
        assert result["errors"] == [], result
        assert result["warm_seconds"] > 0 and result["cold_seconds"] > 0
        assert f"| {result['scenario']} |" in markdown
