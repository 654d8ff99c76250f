"""How long each dashboard page takes to render server-side, cold and warm.

    python benchmarks/dashboard.py --home /path/to/home
    python benchmarks/dashboard.py --home benchmarks/work/n10M/home --repeats 5

Every page of dashboards/app.py is rendered with Streamlit's AppTest over the published
warehouse in `--home`, the way a browser session would get it: *cold* right after
`queries.clear_caches()` (as after a new `dropscore run`: every query misses the cache) and then
*warm* (the next interaction). A few interactions that take other query paths are timed too (a
narrower window, a search, the SQL page running a query). Each is repeated `--repeats` times and
the median kept; the worst of the repeats is recorded beside it.

The target (issue 5): every page within 1 s server-side on a warehouse of 10 million order lines.
Results go to benchmarks/results/dashboard-<size>.json and .md, <size> being the warehouse's
order lines rounded (30k, 1M, 10M); the table is printed too.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))  # run as a script: the repository root is importable

RESULTS_DIR = PROJECT_DIR / "benchmarks" / "results"
APP = PROJECT_DIR / "dashboards" / "app.py"
TARGET_SECONDS = 1.0


def scenarios(riskiest: str, busiest: str) -> list[dict]:
    """What is rendered: a page, the query parameters and session state it is opened with, and
    an optional interaction timed after it (`act`, run against the AppTest)."""

    def run_sql(app) -> None:
        app.text_area(key="sql_text").input(
            "select verdict, count(*), sum(loss_amount) from marts.fct_supplier_scorecard "
            "group by all"
        )
        app.button(key="sql_run").click()

    return [
        {"name": "overview", "page": "app_pages/overview.py"},
        {"name": "overview, last 13 weeks", "page": "app_pages/overview.py", "window": "13w"},
        {"name": "suppliers", "page": "app_pages/suppliers.py"},
        {"name": "suppliers, last 4 weeks", "page": "app_pages/suppliers.py", "window": "4w"},
        {
            "name": "suppliers, name search",
            "page": "app_pages/suppliers.py",
            "act": lambda app: app.text_input(key="suppliers_search").input("store"),
        },
        {
            "name": "supplier (riskiest)",
            "page": "app_pages/supplier.py",
            "query": {"supplier": riskiest},
        },
        {
            "name": "supplier (most lines)",
            "page": "app_pages/supplier.py",
            "query": {"supplier": busiest},
        },
        {"name": "products", "page": "app_pages/products.py"},
        {"name": "deadlines", "page": "app_pages/deadlines.py"},
        {"name": "sql", "page": "app_pages/sql.py"},
        {"name": "sql, running a query", "page": "app_pages/sql.py", "act": run_sql},
        {"name": "data health", "page": "app_pages/health.py"},
    ]


def render(scenario: dict, cold: bool):
    """Seconds to render the scenario, and its exceptions (an AppTest, opened beforehand on
    the page so that the timed run is the page's own)."""
    from streamlit.testing.v1 import AppTest

    from dashboards import queries

    app = AppTest.from_file(str(APP), default_timeout=600)
    if "window" in scenario:
        app.session_state["window"] = scenario["window"]
    app.switch_page(scenario["page"])
    app.query_params.update(scenario.get("query", {}))
    app.run()  # opens the page; what is timed below is a run of the page itself
    if "act" in scenario:
        scenario["act"](app)
    if cold:
        queries.clear_caches()  # as right after a publish: every query misses the cache
    started = time.perf_counter()
    app.run()
    seconds = time.perf_counter() - started
    return seconds, [str(exception.value) for exception in app.exception]


def warehouse_facts(home: Path) -> dict:
    import duckdb

    path = home / "warehouse.duckdb"
    if not path.is_file():
        raise SystemExit(f"no published warehouse at {path}: run `dropscore run` first")
    with duckdb.connect(str(path), read_only=True) as connection:

        def one(sql: str):
            return connection.execute(sql).fetchone()[0]

        return {
            "path": str(path),
            "bytes": path.stat().st_size,
            "order_lines": one("select count(*) from marts.fct_order_lines"),
            "suppliers": one("select count(*) from marts.fct_supplier_scorecard"),
            "riskiest_supplier": one(
                "select supplier_id from marts.fct_supplier_scorecard "
                "order by verdict <> 'avoid', loss_amount desc nulls last limit 1"
            ),
            "busiest_supplier": one(
                "select supplier_id from marts.fct_supplier_scorecard order by lines desc limit 1"
            ),
        }


def size_label(lines: int) -> str:
    if lines >= 1_000_000:
        return f"{lines / 1_000_000:.0f}M"
    if lines >= 1_000:
        return f"{lines / 1_000:.0f}k"
    return str(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, required=True, help="a dropscore home, published")
    parser.add_argument("--repeats", type=int, default=3, help="renders per scenario and cache")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="where results go")
    args = parser.parse_args()

    home = args.home.expanduser().resolve()
    os.environ["DROPSCORE_HOME"] = str(home)
    # AppTest runs without a Streamlit server, which Streamlit warns about on every run.
    for name in ("streamlit", "streamlit.runtime.scriptrunner_utils.script_run_context"):
        logging.getLogger(name).setLevel(logging.ERROR)
    facts = warehouse_facts(home)
    plan = scenarios(str(facts["riskiest_supplier"]), str(facts["busiest_supplier"]))

    render(plan[0], cold=True)  # imports and first-run costs, paid once and not measured
    results = []
    for scenario in plan:
        timings = {"cold": [], "warm": []}
        errors: list[str] = []
        for _ in range(args.repeats):
            for cache in ("cold", "warm"):
                seconds, problems = render(scenario, cold=cache == "cold")
                timings[cache].append(seconds)
                errors.extend(problems)
        results.append(
            {
                "scenario": scenario["name"],
                "cold_seconds": statistics.median(timings["cold"]),
                "cold_worst_seconds": max(timings["cold"]),
                "warm_seconds": statistics.median(timings["warm"]),
                "warm_worst_seconds": max(timings["warm"]),
                "errors": sorted(set(errors)),
            }
        )
        print(
            f"{scenario['name']:<28} cold {results[-1]['cold_seconds']:6.3f} s   "
            f"warm {results[-1]['warm_seconds']:6.3f} s",
            flush=True,
        )

    slowest = max(results, key=lambda result: result["cold_seconds"])
    report = {
        "taken_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_1m": os.getloadavg()[0],
        },
        "versions": versions(),
        "warehouse": facts,
        "repeats": args.repeats,
        "target_seconds": TARGET_SECONDS,
        "met": all(
            result["cold_seconds"] <= TARGET_SECONDS and not result["errors"] for result in results
        ),
        "slowest": slowest["scenario"],
        "results": results,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"dashboard-{size_label(facts['order_lines'])}"
    (args.out / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / f"{name}.md").write_text(markdown(report))
    print(f"\nwrote {args.out / name}.json and .md")
    print(markdown(report))


def versions() -> dict:
    import altair
    import duckdb
    import pandas
    import streamlit

    return {
        "streamlit": streamlit.__version__,
        "duckdb": duckdb.__version__,
        "pandas": pandas.__version__,
        "altair": altair.__version__,
    }


def markdown(report: dict) -> str:
    facts = report["warehouse"]
    machine = report["machine"]
    lines = [
        f"## dashboard pages at {facts['order_lines']:,} order lines "
        f"({size_label(facts['order_lines'])})",
        "",
        f"{report['taken_at']} · {machine['cores']} cores · load {machine['load_average_1m']:.1f}"
        f" · python {machine['python']}, "
        + ", ".join(f"{name} {version}" for name, version in report["versions"].items()),
        "",
        f"Warehouse: {facts['suppliers']:,} suppliers, {facts['bytes'] / 1e6:,.0f} MB. "
        f"Server-side render with AppTest, median of {report['repeats']} (worst in brackets); "
        "cold = every cache cleared first, as after a new `dropscore run`.",
        "",
        "| page | cold s | warm s | ≤ 1 s cold | errors |",
        "|---|---:|---:|:---:|---|",
    ]
    for result in report["results"]:
        met = result["cold_seconds"] <= report["target_seconds"] and not result["errors"]
        lines.append(
            f"| {result['scenario']} | {result['cold_seconds']:.3f} "
            f"({result['cold_worst_seconds']:.3f}) | {result['warm_seconds']:.3f} "
            f"({result['warm_worst_seconds']:.3f}) | {'yes' if met else '**no**'} | "
            f"{'; '.join(result['errors']) or 'none'} |"
        )
    lines += [
        "",
        f"Every page within {report['target_seconds']:g} s cold: "
        f"**{'yes' if report['met'] else 'no'}** (slowest: {report['slowest']}).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
