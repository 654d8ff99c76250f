"""How fast and how big the weekly job is at N order lines, against the DuckDB floor and pandas.

    python benchmarks/pipeline.py --lines 1M
    python benchmarks/pipeline.py --lines 10M --profile --explain 6

One run measures, on the same generated files (N order lines with disputes, at the generator's
usual rates):

- generate: `ingest.generate.generate`, in lines per second;
- floor: one DuckDB statement over the same CSVs computing the scorecard's core per supplier
  (lines, defect lines, refund lines, refund amount) with the pipeline's DuckDB settings;
- full run: `dropscore run` from an empty home to a published warehouse (and its weekly report),
  split into phases by the moments its progress lines appear (the loader's stages, dbt's start
  and nodes, publish, report), with dbt's own per-node times from run_results.json;
- weekly run: `dropscore run` with the next weekly export (`ingest.generate.generate_week`: about
  N/52 new lines plus the previous week's lines again with newer statuses);
- pandas: the floor's aggregates computed with pandas from the same CSVs;
- with `--runs K`, K - 1 more pairs of the two runs, each full run from an empty home and each
  weekly run on its home: on a shared machine one pair's weekly share moves by several points,
  so the ratios are then medians, the full run's over the full runs and the weekly share over
  the pairs (the floor and pandas run once; the file sizes, the agreement check and dbt's
  node times are pair 1's, and serving runs on pair K's home);
- serving: each dashboard page rendered server-side (Streamlit AppTest over dashboards/app.py,
  cold cache and warm), and `dropscore sql` latency for a scorecard query.

Every step runs in a child process of its own, so its peak resident memory is its own: the
child's ru_maxrss from wait4 (which covers the child's own children too). Wall and CPU seconds
are both recorded because the machine may be shared: CPU seconds move less with other load.
Each step also records its user and system CPU, its own disk reads and writes and major page
faults, and what the rest of the machine did meanwhile (other processes' CPU, steal, iowait,
page-cache refaults), so that a slow step can be told from a busy machine.
The floor, pandas and the built warehouse are checked to agree per supplier, so the comparison
is of the same answer.

Results go to benchmarks/results/pipeline-n<N>.json and .md (N as 20k, 1M, 10M); the table is
printed with its ratios against the floor. `--profile` runs both `dropscore run`s under
pyinstrument and `--explain K` saves DuckDB's EXPLAIN ANALYZE of the K slowest dbt models, next
to the results.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))  # run as a script: the repository root is importable

RESULTS_DIR = PROJECT_DIR / "benchmarks" / "results"
WORK_DIR = PROJECT_DIR / "benchmarks" / "work"  # git-ignored
APP = PROJECT_DIR / "dashboards" / "app.py"
PAGES_DIR = PROJECT_DIR / "dashboards" / "app_pages"
LINES_PER_ORDER = 1.52  # ingest.generate.LINES_PER_ORDER_SHARES' mean, checked at run time
GIB = 1024**3

# Issue 7: what "fast at ten million order lines" means on a 2-core machine (at N = 10M).
TARGETS = {
    "full_over_floor": 2.5,  # full run at most this many times the floor
    "weekly_over_full": 0.20,  # weekly run at most this share of the full run
    "pandas_over_full": 5.0,  # full run at least this many times faster than pandas
    "peak_rss_bytes": 4 * GIB,  # any step
    "page_seconds": 1.0,  # every dashboard page, server-side
    "sql_seconds": 0.5,  # scorecard query via `dropscore sql`
    "generate_lines_per_second": 1_000_000,
}

SCORECARD_SQL = """
select supplier_id, supplier_name, verdict, mature_lines, defect_ratio, defect_ratio_lower,
    defect_ratio_upper, not_received_rate, loss_amount
from marts.fct_supplier_scorecard
order by risk_rank
""".strip()

# The scorecard's core per supplier: every order line, the lines with a counted defect dispute,
# the lines with money back from the supplier, and that money. A dispute covers its line, else
# its product's lines in the order, else the whole order (int_disputes_matched_to_lines).
FLOOR_SQL = """
with
order_lines as (
    select supplier_order_id, line_id, supplier_id, product_id
    from read_csv($orders, types = {'supplier_id': 'varchar'})
),
reasons as (
    select
        trim(regexp_replace(lower(reasons.reason), '[^a-z0-9]+', ' ', 'g')) as reason_key,
        bool_or(categories.category_group = 'defect') as is_defect,
    from read_csv($reasons) as reasons
    join read_csv($categories) as categories using (category)
    group by 1
),
disputes as (
    select
        disputes.dispute_id,
        disputes.supplier_order_id,
        disputes.line_id,
        disputes.product_id,
        coalesce(reasons.is_defect, false)
        and disputes.status <> 'withdrawn'
        and (disputes.status = 'open' or coalesce(disputes.resolution, '') <> 'withdrawn')
            as is_counted_defect,
        coalesce(disputes.refund_amount, 0) as refund_amount,
    from read_csv($disputes, types = {'refund_amount': 'decimal(18, 2)'}) as disputes
    left join reasons
        on trim(regexp_replace(lower(disputes.reason), '[^a-z0-9]+', ' ', 'g'))
        = reasons.reason_key
),
matched as (
    select
        disputes.*,
        order_lines.supplier_id,
        order_lines.line_id as matched_line_id,
    from disputes
    join order_lines
        on disputes.supplier_order_id = order_lines.supplier_order_id
        and (
            disputes.line_id = order_lines.line_id
            or (disputes.line_id is null and disputes.product_id = order_lines.product_id)
            or (disputes.line_id is null and disputes.product_id is null)
        )
),
line_outcomes as (
    select
        supplier_order_id,
        matched_line_id as line_id,
        bool_or(is_counted_defect) as has_defect,
        bool_or(refund_amount > 0) as has_refund,
    from matched
    group by all
),
line_counts as (
    select
        order_lines.supplier_id,
        count(*) as lines,
        count(*) filter (where line_outcomes.has_defect) as defect_lines,
        count(*) filter (where line_outcomes.has_refund) as refund_lines,
    from order_lines
    left join line_outcomes using (supplier_order_id, line_id)
    group by all
),
money as (
    select supplier_id, sum(refund_amount) as refund_amount,
    from (select distinct on (dispute_id) supplier_id, refund_amount from matched)
    group by all
)
select
    line_counts.supplier_id,
    line_counts.lines,
    line_counts.defect_lines,
    line_counts.refund_lines,
    coalesce(money.refund_amount, 0)::decimal(18, 2) as refund_amount,
from line_counts
left join money using (supplier_id)
order by supplier_id
"""

# The same four numbers from the warehouse the full run built.
WAREHOUSE_CORE_SQL = """
select
    supplier_id,
    count(*) as lines,
    count(*) filter (where has_defect_dispute) as defect_lines,
    count(*) filter (where has_refund) as refund_lines,
    coalesce(sum(recovered_amount), 0)::decimal(18, 2) as refund_amount,
from marts.fct_order_lines
group by all
order by supplier_id
"""


# --- measuring a child process ------------------------------------------------------------------


@dataclass
class Measured:
    """One step: a child process, its wall and CPU time, its peak memory, its output."""

    name: str
    command: list[str]
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    user_seconds: float = 0.0
    system_seconds: float = 0.0
    major_faults: int = 0  # pages the child waited for the disk to bring in
    read_bytes: int = 0  # from the disk, not from the page cache
    written_bytes: int = 0
    peak_rss_bytes: int = 0
    exit_code: int = 0
    load_average: float = 0.0  # 1-minute load average when the step started
    # What the rest of the machine did while the step ran (see `machine_counters`).
    meanwhile: dict = field(default_factory=dict)
    result: dict = field(default_factory=dict)  # what the step itself reported (RESULT line)
    lines: list[tuple[float, str]] = field(default_factory=list)  # (seconds from start, text)

    def summary(self) -> dict:
        data = asdict(self)
        data.pop("lines")
        return data


def machine_counters() -> dict[str, float]:
    """The machine's CPU time by kind since boot (seconds, every core) and its page-cache refaults.

    Sampled around a step, they tell what else the machine was doing meanwhile: CPU time
    other processes used, time the hypervisor gave this machine's cores to other guests
    (steal), time cores sat idle while a process (the step's own included) waited for the disk,
    and file pages read again after the kernel had evicted them (refaults, the step's own
    included: a reclaimer may page out memory left untouched for a while, page cache too).
    """
    with open("/proc/stat") as stat:
        ticks = [int(value) for value in stat.readline().split()[1:9]]
    user, nice, system, _idle, iowait, irq, softirq, steal = ticks
    with open("/proc/vmstat") as vmstat:
        counters = dict(line.split() for line in vmstat)
    tick = os.sysconf("SC_CLK_TCK")
    return {
        "busy_seconds": (user + nice + system + irq + softirq) / tick,
        "steal_seconds": steal / tick,
        "iowait_seconds": iowait / tick,
        "refaulted_bytes": int(counters.get("workingset_refault_file", 0))
        * os.sysconf("SC_PAGE_SIZE"),
    }


def measure(name: str, command: list[str], env: dict[str, str], log: Path) -> Measured:
    """Run `command`, stamping each output line with its time, and read its rusage by wait4."""
    step = Measured(name, command, load_average=os.getloadavg()[0])
    before = machine_counters()
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    with open(log, "a", encoding="utf-8") as log_file:
        log_file.write(f"\n### {name}: {' '.join(command)}\n")
        for line in process.stdout:
            elapsed = time.perf_counter() - started
            text = line.rstrip("\n")
            step.lines.append((elapsed, text))
            log_file.write(f"{elapsed:9.3f}  {text}\n")
            if text.startswith("RESULT "):
                step.result = json.loads(text[len("RESULT ") :])
    process.stdout.close()
    # wait4 rather than Popen.wait: it returns this child's rusage, whose ru_maxrss is the
    # largest resident set of the child or of any of its own children it waited for.
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    step.wall_seconds = time.perf_counter() - started
    after = machine_counters()
    step.user_seconds, step.system_seconds = usage.ru_utime, usage.ru_stime
    step.cpu_seconds = usage.ru_utime + usage.ru_stime
    step.major_faults = usage.ru_majflt
    step.read_bytes, step.written_bytes = usage.ru_inblock * 512, usage.ru_oublock * 512
    step.peak_rss_bytes = usage.ru_maxrss * 1024  # KiB on Linux
    meanwhile = {counter: after[counter] - before[counter] for counter in before}
    # Clock ticks count CPU time in hundredths: a step alone on the machine can come out a
    # tick or two above the machine's own busy time.
    meanwhile["other_cpu_seconds"] = max(0.0, meanwhile.pop("busy_seconds") - step.cpu_seconds)
    step.meanwhile = meanwhile
    step.exit_code = process.returncode
    if step.exit_code != 0:
        tail = "\n".join(text for _, text in step.lines[-15:])
        raise SystemExit(f"step {name} failed with exit code {step.exit_code}:\n{tail}")
    return step


def report_result(data: dict) -> None:
    """What a child step tells the parent: one line, read by `measure`."""
    print("RESULT " + json.dumps(data, default=str), flush=True)


# --- the steps, each run as `pipeline.py --step NAME` in a child process ------------------------


def step_generate(args) -> None:
    from ingest.generate import generate

    started = time.perf_counter()
    # with the disputes opened after the export, which the weekly export reveals
    exports = generate(args.out, orders=args.orders, seed=args.seed, later_disputes=True)
    seconds = time.perf_counter() - started
    report_result(
        {
            "lines": exports.lines,
            "orders": args.orders,
            "disputes": _count_lines(exports.disputes) - 1,
            "seconds": seconds,
            "lines_per_second": exports.lines / seconds,
            "bytes": exports.orders.stat().st_size + exports.disputes.stat().st_size,
        }
    )


def step_generate_week(args) -> None:
    from ingest.generate import LATER_DISPUTES_FILE, GeneratedExports, generate_week

    previous = GeneratedExports(
        *(args.previous / name for name in ("orders.csv", "disputes.csv", "truth.csv")),
        lines=0,
        later_disputes=args.previous / LATER_DISPUTES_FILE,
    )
    started = time.perf_counter()
    week = generate_week(args.out, previous, orders=args.orders, seed=args.seed)
    report_result(
        {
            "seconds": time.perf_counter() - started,
            "new_lines": week.new_lines,
            "updated_lines": week.updated_lines,
            "new_disputes": week.new_disputes,
            "updated_disputes": week.updated_disputes,
            "bytes": week.orders.stat().st_size + week.disputes.stat().st_size,
        }
    )


def step_floor(args) -> None:
    import duckdb

    from dropscore.config import Settings

    settings = Settings.from_env(args.out)  # the pipeline's memory limit and threads
    connection = duckdb.connect(config=settings.duckdb_config())
    started = time.perf_counter()
    connection.execute(
        FLOOR_SQL,
        {
            "orders": str(args.orders_csv),
            "disputes": str(args.disputes_csv),
            "reasons": str(PROJECT_DIR / "seeds" / "dispute_reasons.csv"),
            "categories": str(PROJECT_DIR / "seeds" / "dispute_categories.csv"),
        },
    )
    rows = connection.fetchall()
    seconds = time.perf_counter() - started
    _write_core(args.out / "floor.json", rows)
    report_result({"seconds": seconds, "suppliers": len(rows), "totals": _totals(rows)})


def step_pandas(args) -> None:
    import pandas as pd

    started = time.perf_counter()
    # What a pandas user would write: read the columns needed (default C parser), merge, group.
    lines = pd.read_csv(
        args.orders_csv,
        usecols=["supplier_order_id", "line_id", "supplier_id", "product_id"],
        dtype={"supplier_id": str},
    )
    disputes = pd.read_csv(
        args.disputes_csv,
        usecols=[
            "dispute_id", "supplier_order_id", "line_id", "product_id",
            "reason", "status", "resolution", "refund_amount",
        ],
        dtype={"line_id": "Int64", "product_id": "Int64"},
    )  # fmt: skip
    reasons = pd.read_csv(PROJECT_DIR / "seeds" / "dispute_reasons.csv").merge(
        pd.read_csv(PROJECT_DIR / "seeds" / "dispute_categories.csv"), on="category"
    )

    def reason_key(texts: pd.Series) -> pd.Series:
        return texts.str.lower().str.replace(r"[^a-z0-9]+", " ", regex=True).str.strip()

    reasons["reason_key"] = reason_key(reasons["reason"])
    defect_keys = reasons.groupby("reason_key")["category_group"].agg(
        lambda groups: (groups == "defect").any()
    )
    is_defect = reason_key(disputes["reason"]).map(defect_keys).fillna(False).astype(bool)
    counted = (disputes["status"] != "withdrawn") & (
        (disputes["status"] == "open") | (disputes["resolution"].fillna("") != "withdrawn")
    )
    disputes["is_counted_defect"] = is_defect & counted
    disputes["refund_amount"] = disputes["refund_amount"].fillna(0.0)

    wanted = ["dispute_id", "supplier_order_id", "line_id", "supplier_id"]
    wanted += ["is_counted_defect", "refund_amount"]
    named_line = disputes["line_id"].notna()
    named_product = ~named_line & disputes["product_id"].notna()
    whole_order = ~named_line & ~named_product
    lines_keyed = lines.astype({"line_id": "Int64", "product_id": "Int64"})
    matched = pd.concat(
        [
            disputes[named_line]
            .drop(columns="product_id")
            .merge(lines_keyed, on=["supplier_order_id", "line_id"])[wanted],
            disputes[named_product]
            .drop(columns="line_id")
            .merge(lines_keyed, on=["supplier_order_id", "product_id"])[wanted],
            disputes[whole_order]
            .drop(columns=["line_id", "product_id"])
            .merge(lines_keyed, on="supplier_order_id")[wanted],
        ]
    )
    matched["has_refund"] = matched["refund_amount"] > 0
    outcomes = (
        matched.groupby(["supplier_order_id", "line_id"])[["is_counted_defect", "has_refund"]]
        .any()
        .reset_index()
    )
    per_line = lines_keyed.merge(outcomes, on=["supplier_order_id", "line_id"], how="left")
    counts = per_line.groupby("supplier_id").agg(
        lines=("line_id", "size"),
        defect_lines=("is_counted_defect", lambda values: int(values.fillna(False).sum())),
        refund_lines=("has_refund", lambda values: int(values.fillna(False).sum())),
    )
    money = matched.drop_duplicates("dispute_id").groupby("supplier_id")["refund_amount"].sum()
    core = counts.join(money).fillna({"refund_amount": 0.0}).sort_index()
    seconds = time.perf_counter() - started
    rows = [
        (supplier, int(row.lines), int(row.defect_lines), int(row.refund_lines), row.refund_amount)
        for supplier, row in core.iterrows()
    ]
    _write_core(args.out / "pandas.json", rows)
    report_result({"seconds": seconds, "suppliers": len(rows), "totals": _totals(rows)})


def step_serve(args) -> None:
    """Render every dashboard page with AppTest (cold cache, then warm) and time `dropscore sql`."""
    os.environ["DROPSCORE_HOME"] = str(args.home)
    import duckdb
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from dropscore.config import Settings
    from dropscore.sql import run_query

    warehouse = Settings.from_env(args.home).warehouse_path
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        riskiest = connection.execute(
            "select supplier_id from marts.fct_supplier_scorecard order by risk_rank limit 1"
        ).fetchone()[0]
    # Pages that show nothing until something is chosen get what a user would choose.
    query_params = {"supplier.py": {"supplier": str(riskiest)}}

    def app_on(page: Path | None) -> AppTest:
        app = AppTest.from_file(str(APP), default_timeout=600)
        app.run()  # the default page; also what registers the navigation
        if page is not None:
            app.switch_page(str(page.relative_to(APP.parent)))
            app.query_params.update(query_params.get(page.name, {}))
        return app

    app_on(None)  # imports and first-run costs, paid once, not by the first page measured
    pages = sorted(path for path in PAGES_DIR.glob("*.py") if path.name != "__init__.py")
    rendered = {}
    for page in pages:
        app = app_on(page)
        st.cache_data.clear()  # a page right after a publish: every query is a cache miss
        started = time.perf_counter()
        app.run()
        cold = time.perf_counter() - started
        started = time.perf_counter()
        app.run()
        warm = time.perf_counter() - started
        rendered[page.stem] = {
            "cold_seconds": cold,
            "warm_seconds": warm,
            "errors": [str(exception.value) for exception in app.exception],
            "elements": len(list(app.main)),
        }

    cli = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "dropscore", "sql", SCORECARD_SQL, "--format", "csv"],
            cwd=PROJECT_DIR,
            env={**os.environ, "DROPSCORE_HOME": str(args.home)},
            check=True,
            capture_output=True,
        )
        cli.append(time.perf_counter() - started)
    in_process = [run_query(warehouse, SCORECARD_SQL).elapsed_seconds for _ in range(args.repeats)]
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    interpreter = time.perf_counter() - started
    report_result(
        {
            "pages": rendered,
            "sql_cli_seconds": cli,
            "sql_query_seconds": in_process,
            "python_startup_seconds": interpreter,
        }
    )


def step_explain(args) -> None:
    """EXPLAIN ANALYZE of the slowest dbt models' compiled SQL, on the build file."""
    import duckdb

    from dropscore.config import Settings

    settings = Settings.from_env(args.home)
    run_results = json.loads((settings.dbt_target_path / "run_results.json").read_text())
    manifest = json.loads((settings.dbt_target_path / "manifest.json").read_text())
    models = [
        result
        for result in run_results["results"]
        if result["unique_id"].startswith("model.") and result["status"] == "success"
    ]
    models.sort(key=lambda result: -result["execution_time"])
    connection = duckdb.connect(str(settings.build_path), read_only=True)
    connection.execute("set TimeZone = 'UTC'")
    connection.execute(f"set memory_limit = '{settings.memory_limit}'")
    connection.execute(f"set threads = {settings.threads}")
    explained = []
    with open(args.out, "w", encoding="utf-8") as out:
        for result in models[: args.top]:
            node = manifest["nodes"][result["unique_id"]]
            compiled = (
                settings.dbt_target_path / "compiled" / node["package_name"]
                / node["original_file_path"]
            ).read_text()  # fmt: skip
            started = time.perf_counter()
            plan = connection.execute("explain (analyze, format json) " + compiled).fetchall()
            seconds = time.perf_counter() - started
            profile = json.loads(plan[0][1])
            query, system = profile["query"], profile["system"]
            explained.append({"model": node["name"], "seconds": seconds})
            out.write(
                f"## {node['name']}: dbt {result['execution_time']:.2f} s; its select alone "
                f"{seconds:.2f} s, CPU {query['cpu_time']:.2f} s, peak buffer memory "
                f"{system['peak_buffer_memory'] / 2**20:.0f} MiB, spilled "
                f"{system['total_bytes_spilled'] / 2**20:.0f} MiB\n\n"
                "operator  rows  seconds (summed over threads)  details\n"
            )
            for operator in profile["operator"]:
                out.writelines(_plan_lines(operator))
            out.write("\n")
    report_result({"explained": explained})


PLAN_DETAILS = (
    "Table",
    "Join Type",
    "Conditions",
    "Groups",
    "Aggregates",
    "Expression",
    "CTE Name",
)


def _plan_lines(operator: dict, depth: int = 0) -> list[str]:
    """One line per operator of an EXPLAIN ANALYZE profile, indented by depth."""
    lines = []
    if operator["type"] not in ("RESULT_COLLECTOR", "EXPLAIN_ANALYZE"):
        info = operator.get("extra_info", {})
        details = [f"{key}: {info[key]}" for key in PLAN_DETAILS if info.get(key)]
        if operator["type"] == "WINDOW":
            details.append(str(info.get("Projections", "")))
        text = " ".join(" ".join(map(str, details)).split())[:150]
        rows = operator.get("operator_cardinality", operator.get("intermediate_rows", 0))
        lines.append(
            f"{'  ' * depth}{operator['name']}  {rows:,}  {operator['timing']:.2f}  {text}\n"
        )
        depth += 1
    for child in operator.get("children", []):
        lines += _plan_lines(child, depth)
    return lines


def _count_lines(path: Path) -> int:
    with open(path, "rb") as file:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: file.read(1 << 24), b""))


def _totals(rows: list[tuple]) -> dict:
    return {
        "lines": sum(row[1] for row in rows),
        "defect_lines": sum(row[2] for row in rows),
        "refund_lines": sum(row[3] for row in rows),
        "refund_amount": round(float(sum(row[4] for row in rows)), 2),
    }


def _write_core(path: Path, rows: list[tuple]) -> None:
    path.write_text(
        json.dumps({str(row[0]): [row[1], row[2], row[3], round(float(row[4]), 2)] for row in rows})
    )


# --- the benchmark -------------------------------------------------------------------------------


def parse_count(text: str) -> int:
    """20000, 20_000, 20k, 1M, 1.5M, 1e6 -> an integer."""
    match = re.fullmatch(r"([0-9_.eE+]+)\s*([kKmM]?)", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"expected a count such as 1M or 20000, got {text!r}")
    scale = {"": 1, "k": 1_000, "m": 1_000_000}[match[2].lower()]
    return int(float(match[1].replace("_", "")) * scale)


def count_label(count: int) -> str:
    for scale, suffix in ((1_000_000, "M"), (1_000, "k")):
        if count >= scale and count % (scale // 10) == 0:
            return f"{count / scale:g}{suffix}"
    return str(count)


def machine() -> dict:
    with open("/proc/meminfo") as meminfo:
        total_kib = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal"))
    return {
        "cores": os.cpu_count(),
        "memory_bytes": total_kib * 1024,
        "cpu": _cpu_model(),
        "platform": platform.platform(),
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            return next(
                line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")
            )
    except (OSError, StopIteration):
        return platform.processor()


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    import dropscore

    found = {"python": platform.python_version(), "dropscore": dropscore.__version__}
    for package in ("duckdb", "dbt-core", "dbt-duckdb", "pandas", "pyarrow", "streamlit"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_DIR, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
    ).stdout.strip()
    found["git"] = commit + ("+uncommitted" if dirty else "")
    return found


# The loader's progress lines: "orders.csv: reading", "orders.csv: checking 40%", ...
INGEST_STAGE = re.compile(r"^[^\s/][^:]*\.\w+: (?P<stage>[a-z][a-z ]*?)(?: \d+%)?$")
LOADED = re.compile(r": [\d,]+ rows loaded as |: already loaded, unchanged")


def run_phases(step: Measured) -> dict[str, float]:
    """Where a `dropscore run` spent its time, from the moments its progress lines appeared.

    The phases add up to the step's wall time: start (interpreter, imports), ingest_<stage> for
    each stage the loader reports (reading, checking, loading — loading runs to the file's
    "rows loaded" line, so it holds the commit), ingest_other (checksums, detection, files
    without stages), dbt_start (what is left of dbt's import and parse after ingest, which
    they overlap, and its connection: up to its first finished node), dbt_nodes, publish,
    report (the weekly report after publishing) and exit.
    """
    phases: dict[str, float] = {}
    current, since = "start", 0.0

    def close(at: float, name: str) -> None:
        phases[name] = phases.get(name, 0.0) + at - since

    for moment, text in step.lines:
        if text.startswith("dbt "):
            new = "dbt_nodes"
        elif text.startswith("publishing "):
            new = "publish"
        elif text.startswith("published "):
            new = "report"
        elif text.startswith(("report: ", "no weekly report")):
            new = "exit"
        elif LOADED.search(text):
            new = "loaded"
        elif stage := INGEST_STAGE.match(text):
            new = f"ingest_{stage['stage']}"
        else:
            continue
        if new == current and new != "loaded":
            continue
        if current == "loaded":  # between a file's load and what comes next
            name = "dbt_start" if new == "dbt_nodes" else "ingest_other"
        elif current == "start" and new == "loaded":
            name = "ingest_other"  # a loader that reports no stages
        else:
            name = current
        close(moment, name)
        current, since = new, moment
    close(step.wall_seconds, "ingest_other" if current == "loaded" else current)
    return phases


def dbt_timings(home: Path, top: int = 12) -> dict:
    """dbt's own per-node execution times from the run just made."""
    run_results = json.loads((home / "dbt-target" / "run_results.json").read_text())
    by_kind: dict[str, float] = {}
    nodes = []
    for result in run_results["results"]:
        kind = result["unique_id"].split(".", 1)[0]
        by_kind[kind] = by_kind.get(kind, 0.0) + result["execution_time"]
        nodes.append((result["execution_time"], result["unique_id"]))
    nodes.sort(reverse=True)
    return {
        "elapsed_seconds": run_results.get("elapsed_time"),
        "seconds_by_kind": by_kind,
        "nodes": len(nodes),
        "slowest": [{"node": node, "seconds": seconds} for seconds, node in nodes[:top]],
        "all": {node: round(seconds, 3) for seconds, node in nodes},
    }


def compare_core(work: Path, home: Path) -> dict:
    """Do the floor, pandas and the built warehouse give the same four numbers per supplier?"""
    import duckdb

    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as connection:
        rows = connection.execute(WAREHOUSE_CORE_SQL).fetchall()
    _write_core(work / "warehouse.json", rows)
    answers = {
        name: json.loads((work / f"{name}.json").read_text())
        for name in ("floor", "pandas", "warehouse")
        if (work / f"{name}.json").exists()
    }
    reference = answers["floor"]
    differences = {}
    for name, answer in answers.items():
        if name == "floor":
            continue
        differing = sorted(
            supplier
            for supplier in set(reference) | set(answer)
            if not _same_core(reference.get(supplier), answer.get(supplier))
        )
        differences[name] = {"suppliers_differing": len(differing), "examples": differing[:5]}
    return {"suppliers": len(reference), "versus_floor": differences}


def _same_core(left: list | None, right: list | None) -> bool:
    if left is None or right is None:
        return False
    return left[:3] == right[:3] and abs(left[3] - right[3]) < 0.005


def benchmark(options) -> dict:
    from ingest.generate import LINES_PER_ORDER_SHARES

    mean = sum((count + 1) * share for count, share in enumerate(LINES_PER_ORDER_SHARES))
    assert abs(mean - LINES_PER_ORDER) < 0.01, f"lines per order changed to {mean:.3f}"
    orders = max(1, round(options.lines / mean))
    label = count_label(options.lines)
    work = Path(options.workdir).resolve() / f"n{label}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    results_dir = Path(options.results).resolve()
    results_dir.mkdir(parents=True, exist_ok=True)
    exports, week, home = work / "exports", work / "week", work / "home"
    log = work / "steps.log"

    started_with = {"machine": machine(), "versions": versions()}  # the code the steps run
    env = {**os.environ, "PYTHONPATH": str(PROJECT_DIR), "PYTHONUNBUFFERED": "1"}
    env.pop("DROPSCORE_HOME", None)
    if options.memory_limit:
        env["DROPSCORE_MEMORY_LIMIT"] = options.memory_limit
    if options.threads:
        env["DROPSCORE_THREADS"] = str(options.threads)
    me = [sys.executable, str(Path(__file__).resolve())]
    seed = ["--seed", str(options.seed)]
    orders_csv, disputes_csv = exports / "orders.csv", exports / "disputes.csv"

    def dropscore_run(name: str, paths: list[Path]) -> list[str]:
        command = ["-m", "dropscore", "run", *map(str, paths), "--home", str(home)]
        if options.profile:
            profile = results_dir / f"profile-{name}-n{label}.txt"
            return [
                sys.executable,
                "-m",
                "pyinstrument",
                "-r",
                "text",
                "-o",
                str(profile),
                *command,
            ]
        return [sys.executable, *command]

    steps: dict[str, Measured] = {}

    def step(name: str, command: list[str]) -> Measured:
        print(f"[{time.strftime('%H:%M:%S')}] {name} ...", file=sys.stderr, flush=True)
        steps[name] = measure(name, command, env, log)
        print(
            f"[{time.strftime('%H:%M:%S')}] {name}: {steps[name].wall_seconds:.2f} s, "
            f"peak {steps[name].peak_rss_bytes / GIB:.2f} GiB",
            file=sys.stderr,
            flush=True,
        )
        return steps[name]

    core = ["--orders-csv", str(orders_csv), "--disputes-csv", str(disputes_csv)]
    step("generate", [*me, "--step", "generate", "--out", str(exports), "--orders", str(orders)])
    step("floor", [*me, "--step", "floor", *core, "--out", str(work)])
    if not options.skip_pandas:
        step("pandas", [*me, "--step", "pandas", *core, "--out", str(work)])
    step("full_run", dropscore_run("full", [orders_csv, disputes_csv]))
    full_dbt = dbt_timings(home)
    check = compare_core(work, home)  # before the weekly run changes the warehouse
    sizes = {
        "csv_bytes": orders_csv.stat().st_size + disputes_csv.stat().st_size,
        "build_bytes_after_full": (home / "build.duckdb").stat().st_size,
        "warehouse_bytes_after_full": (home / "warehouse.duckdb").stat().st_size,
    }
    if options.explain:
        explain_out = results_dir / f"explain-n{label}.txt"
        step("explain", [*me, "--step", "explain", "--home", str(home), "--top",
                         str(options.explain), "--out", str(explain_out)])  # fmt: skip
    step("generate_week", [*me, "--step", "generate-week", "--previous", str(exports),
                           "--out", str(week), "--orders", str(orders), *seed])  # fmt: skip
    weekly_export = [week / "orders.csv", week / "disputes.csv"]
    step("weekly_run", dropscore_run("weekly", weekly_export))
    weekly_dbt = dbt_timings(home)
    sizes["build_bytes_after_weekly"] = (home / "build.duckdb").stat().st_size
    for pair in range(2, options.runs + 1):
        shutil.rmtree(home)
        step(f"full_run_{pair}", dropscore_run(f"full_{pair}", [orders_csv, disputes_csv]))
        step(f"weekly_run_{pair}", dropscore_run(f"weekly_{pair}", weekly_export))
    step("serve", [*me, "--step", "serve", "--home", str(home), "--repeats",
                   str(options.repeats)])  # fmt: skip

    report = {
        "lines_requested": options.lines,
        "label": label,
        "taken_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **started_with,
        "settings": {
            "DROPSCORE_MEMORY_LIMIT": env.get("DROPSCORE_MEMORY_LIMIT", "3GB (default)"),
            "DROPSCORE_THREADS": env.get("DROPSCORE_THREADS", f"{os.cpu_count()} (default)"),
            "profiled": options.profile,
        },
        "sizes": sizes,
        "steps": {name: measured.summary() for name, measured in steps.items()},
        "runs": options.runs,
        "phases": {name: run_phases(steps[name]) for name in runs_of(steps)},
        "dbt": {"full_run": full_dbt, "weekly_run": weekly_dbt},
        "agreement": check,
    }
    report["ratios"], report["targets"] = evaluate(report)
    if not options.keep:
        shutil.rmtree(work, ignore_errors=True)
    return report


def evaluate(report: dict) -> tuple[dict, list[dict]]:
    steps = report["steps"]

    def ratios_of(seconds: str) -> dict:
        full = statistics.median(steps[run][seconds] for run in runs_of(steps, "full_run"))
        shares = [
            steps[weekly][seconds] / steps[full_run][seconds]
            for full_run, weekly in zip(
                runs_of(steps, "full_run"), runs_of(steps, "weekly_run"), strict=True
            )
        ]
        pandas = steps["pandas"][seconds] if "pandas" in steps else None
        return {
            "full_over_floor": full / steps["floor"][seconds],
            "weekly_over_full": statistics.median(shares),  # each pair's share: its own spell
            "pandas_over_full": pandas / full if pandas else None,
        }

    ratios = ratios_of("wall_seconds")
    report["cpu_ratios"] = ratios_of("cpu_seconds")
    generated = steps["generate"]["result"]
    serve = steps["serve"]["result"]
    slowest_page = max(serve["pages"].items(), key=lambda item: item[1]["cold_seconds"])
    peak = max(steps.values(), key=lambda measured: measured["peak_rss_bytes"])
    sql_cli = statistics.median(serve["sql_cli_seconds"])
    sql_query = statistics.median(serve["sql_query_seconds"])
    limit = TARGETS
    median = f" ({_median_of_pairs(report['runs'])})" if report["runs"] > 1 else ""
    targets = [
        _target(
            f"full run ≤ {limit['full_over_floor']:g} × floor{median}",
            ratios["full_over_floor"],
            "≤",
            limit["full_over_floor"],
            "{:.1f} ×",
        ),
        _target(
            f"weekly run ≤ {limit['weekly_over_full']:.0%} of full run{median}",
            ratios["weekly_over_full"],
            "≤",
            limit["weekly_over_full"],
            "{:.0%}",
        ),
        _target(
            f"full run ≥ {limit['pandas_over_full']:g} × faster than pandas{median}",
            ratios["pandas_over_full"],
            "≥",
            limit["pandas_over_full"],
            "{:.2f} ×",
        ),
        _target(
            f"peak memory of any step ≤ {limit['peak_rss_bytes'] / GIB:g} GiB ({peak['name']})",
            peak["peak_rss_bytes"] / GIB,
            "≤",
            limit["peak_rss_bytes"] / GIB,
            "{:.2f} GiB",
        ),
        _target(
            f"every dashboard page ≤ {limit['page_seconds']:g} s (slowest: {slowest_page[0]}, "
            "cold cache)",
            slowest_page[1]["cold_seconds"],
            "≤",
            limit["page_seconds"],
            "{:.2f} s",
        ),
        _target(
            f"scorecard via `dropscore sql` ≤ {limit['sql_seconds']:g} s (CLI, median)",
            sql_cli,
            "≤",
            limit["sql_seconds"],
            "{:.2f} s",
        ),
        _target(
            "  … the query alone (`run_query`, median)",
            sql_query,
            "≤",
            limit["sql_seconds"],
            "{:.3f} s",
        ),
        _target(
            f"generator ≥ {limit['generate_lines_per_second'] / 1e6:g}M lines/s",
            generated["lines_per_second"] / 1e6,
            "≥",
            limit["generate_lines_per_second"] / 1e6,
            "{:.2f} M lines/s",
        ),
    ]
    return ratios, targets


def runs_of(steps: dict, *kinds: str) -> list[str]:
    """The `dropscore run` steps of these kinds (default both, full_run and weekly_run) in their
    order, each pair's as pair 1's with its number: full_run, weekly_run, full_run_2, …"""
    pattern = "|".join(kinds or ("full_run", "weekly_run"))
    return [name for name in steps if re.fullmatch(rf"({pattern})(_\d+)?", name)]


def _median_of_pairs(pairs: int) -> str:
    return f"median of {pairs} pairs of runs"


def _target(name: str, value: float | None, sense: str, limit: float, shown: str) -> dict:
    met = None if value is None else (value <= limit if sense == "≤" else value >= limit)
    return {
        "target": name,
        "value": value,
        "shown": "not measured" if value is None else shown.format(value),
        "met": met,
    }


# --- output ---------------------------------------------------------------------------------------


def _meanwhile_table(steps: dict) -> list[str]:
    """Where each step's time went besides its own CPU, and what else the machine did."""
    out = [
        "| step | user s | system s | read from disk | major faults | written | other work's "
        "CPU s | steal s | iowait s | page cache refaulted |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, measured in steps.items():
        meanwhile = measured["meanwhile"]
        out.append(
            f"| {name} | {measured['user_seconds']:.2f} | {measured['system_seconds']:.2f} | "
            f"{measured['read_bytes'] / 1e6:,.0f} MB | {measured['major_faults']:,} | "
            f"{measured['written_bytes'] / 1e6:,.0f} MB | "
            f"{meanwhile['other_cpu_seconds']:.1f} | {meanwhile['steal_seconds']:.1f} | "
            f"{meanwhile['iowait_seconds']:.1f} | {meanwhile['refaulted_bytes'] / 1e6:,.0f} MB |"
        )
    out += [
        "",
        "Read and written are the step's own disk traffic, past the page cache; other work's "
        "CPU is every other process on the machine, steal the time the hypervisor gave the cores "
        "to other guests, iowait idle core time while anything waited for the disk, refaulted "
        "the file pages read again after the kernel evicted them (these three machine-wide).",
    ]
    return out


def markdown(report: dict) -> str:
    steps, ratios, phases, pairs = (
        report["steps"],
        report["ratios"],
        report["phases"],
        report["runs"],
    )
    floor = steps["floor"]["wall_seconds"]
    generated = steps["generate"]["result"]
    week = steps["generate_week"]["result"]
    machine_, versions_ = report["machine"], report["versions"]
    out = [
        f"## dropscore pipeline at {generated['lines']:,} order lines ({report['label']})",
        "",
        f"{report['taken_at']} · {machine_['cores']} cores, "
        f"{machine_['memory_bytes'] / GIB:.0f} GiB ({machine_['cpu']}) · "
        + ", ".join(f"{name} {version}" for name, version in versions_.items())
        + f" · DuckDB memory limit {report['settings']['DROPSCORE_MEMORY_LIMIT']}, threads "
        f"{report['settings']['DROPSCORE_THREADS']}"
        + (" · profiled with pyinstrument" if report["settings"]["profiled"] else ""),
        "",
        f"Input: {generated['lines']:,} order lines and {generated['disputes']:,} disputes "
        f"({report['sizes']['csv_bytes'] / 1e6:,.0f} MB of CSV). Weekly export: "
        f"{week['new_lines']:,} new lines + {week['updated_lines']:,} lines again, "
        f"{week['new_disputes'] + week['updated_disputes']:,} disputes.",
        "",
        "| step | wall s | CPU s | peak RSS | wall ÷ floor | CPU ÷ floor | load | notes |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    floor_cpu = steps["floor"]["cpu_seconds"]

    def row(name: str, label: str, notes: str = "") -> None:
        if name not in steps:
            out.append(f"| {label} | — | — | — | — | — | — | not run |")
            return
        measured = steps[name]
        out.append(
            f"| {label} | {measured['wall_seconds']:.2f} | {measured['cpu_seconds']:.2f} | "
            f"{measured['peak_rss_bytes'] / GIB:.2f} GiB | "
            f"{measured['wall_seconds'] / floor:.1f} × | "
            f"{measured['cpu_seconds'] / floor_cpu:.1f} × | "
            f"{measured['load_average']:.1f} | {notes} |"
        )

    row("generate", "generate", f"{generated['lines_per_second'] / 1e6:.2f} M lines/s")
    row("floor", "floor (one DuckDB statement)", "the reference")

    def share(weekly: str) -> str:
        full = weekly.replace("weekly", "full")
        return (
            f"; {steps[weekly]['wall_seconds'] / steps[full]['wall_seconds']:.1%} of its full run"
        )

    row("full_run", "full run (`dropscore run`, empty home)", "phases below")
    row("generate_week", "generate the weekly export", "not a target")
    row("weekly_run", "weekly run (`dropscore run`, +1 week)", "phases below" + share("weekly_run"))
    for name in runs_of(steps)[2:]:
        kind, pair = name.rsplit("_", 1)
        notes = "phases below" + (share(name) if kind == "weekly_run" else "")
        row(name, f"{kind.replace('_', ' ')}, pair {pair}", notes)
    row("pandas", "pandas baseline", "read_csv (C parser) + merge + groupby")
    on_home = f", on pair {pairs}'s home" if pairs > 1 else ""
    row("serve", "serving (all pages + `dropscore sql`)", f"one process{on_home}; pages below")
    if "explain" in steps:
        row("explain", "EXPLAIN ANALYZE (profiling only)", "not a target")

    def shown(ratio: dict) -> str:
        pandas_ratio = ratio["pandas_over_full"]
        return (
            f"full/floor **{ratio['full_over_floor']:.1f} ×** · weekly/full "
            f"**{ratio['weekly_over_full']:.0%}** · pandas/full **"
            + ("—" if pandas_ratio is None else f"{pandas_ratio:.2f} ×")
            + "**"
        )

    columns = [*runs_of(phases, "full_run"), *runs_of(phases, "weekly_run")]
    out += [
        "",
        f"Ratios (wall{', ' + _median_of_pairs(pairs) if pairs > 1 else ''}): {shown(ratios)}. "
        "On CPU seconds: "
        f"{shown(report['cpu_ratios'])}. Load is the 1-minute load average as the step started "
        "(other work on the machine).",
        "",
        *_meanwhile_table(steps),
        "",
        "| phase of `dropscore run` | "
        + " | ".join(f"{name.replace('_', ' ')} s" for name in columns)
        + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for phase in dict.fromkeys(phase for name in columns for phase in phases[name]):
        out.append(
            f"| {phase} | "
            + " | ".join(f"{phases[name].get(phase, 0.0):.1f}" for name in columns)
            + " |"
        )
    out += [
        "",
        "| target (issue 7, at N = 10M) | measured | met |",
        "|---|---:|:---:|",
    ]
    for target in report["targets"]:
        met = {True: "yes", False: "**no**", None: "—"}[target["met"]]
        out.append(f"| {target['target']} | {target['shown']} | {met} |")

    serve = steps["serve"]["result"]
    out += ["", "| page (server-side render) | cold s | warm s | errors |", "|---|---:|---:|---|"]
    for page, timing in serve["pages"].items():
        errors = "; ".join(timing["errors"]) or "none"
        out.append(
            f"| {page} | {timing['cold_seconds']:.2f} | {timing['warm_seconds']:.2f} | {errors} |"
        )
    out += [
        "",
        f"`dropscore sql` scorecard query: CLI median "
        f"{statistics.median(serve['sql_cli_seconds']):.2f} s (Python start alone "
        f"{serve['python_startup_seconds']:.2f} s), query alone median "
        f"{statistics.median(serve['sql_query_seconds']) * 1000:.0f} ms.",
    ]

    for run in ("full_run", "weekly_run"):
        dbt = report["dbt"][run]
        kinds = ", ".join(
            f"{kind}s {seconds:.1f} s" for kind, seconds in sorted(dbt["seconds_by_kind"].items())
        )
        out += [
            "",
            f"dbt in the {run.replace('_', ' ')}"
            + (" of the first pair" if pairs > 1 else "")
            + f": {dbt['nodes']} nodes, "
            f"{dbt['elapsed_seconds']:.1f} s elapsed ({kinds}). Slowest nodes:",
            "",
            "| node | s |",
            "|---|---:|",
        ]
        out += [f"| {node['node']} | {node['seconds']:.2f} |" for node in dbt["slowest"]]

    agreement = report["agreement"]
    out += [
        "",
        f"Agreement with the floor{' (pair 1)' if pairs > 1 else ''} over "
        f"{agreement['suppliers']:,} suppliers: ",
    ]
    out[-1] += "; ".join(
        f"{name} differs on {found['suppliers_differing']} suppliers"
        for name, found in agreement["versus_floor"].items()
    )
    sizes = report["sizes"]
    out += [
        "",
        f"Files{' (pair 1)' if pairs > 1 else ''}: build.duckdb "
        f"{sizes['build_bytes_after_full'] / 1e6:,.0f} MB after the full run, "
        f"{sizes['build_bytes_after_weekly'] / 1e6:,.0f} MB after the weekly run; "
        f"warehouse.duckdb {sizes['warehouse_bytes_after_full'] / 1e6:,.0f} MB.",
        "",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=parse_count, default=1_000_000, help="order lines (1M)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", default=str(WORK_DIR), help="scratch space (git-ignored)")
    parser.add_argument("--results", default=str(RESULTS_DIR), help="where JSON and .md go")
    parser.add_argument("--keep", action="store_true", help="keep the generated files and home")
    parser.add_argument("--memory-limit", help="DROPSCORE_MEMORY_LIMIT for every step")
    parser.add_argument("--threads", type=int, help="DROPSCORE_THREADS for every step")
    parser.add_argument("--repeats", type=int, default=5, help="`dropscore sql` repetitions")
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--profile", action="store_true", help="pyinstrument every run")
    parser.add_argument("--explain", type=int, default=0, metavar="K", help="EXPLAIN K models")
    parser.add_argument(
        "--runs",
        type=int,
        default=1,
        metavar="K",
        help="K pairs of full and weekly runs; the ratios are then medians",
    )
    # The child steps (internal).
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--orders", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--previous", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--orders-csv", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--disputes-csv", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--top", type=int, default=5, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.runs < 1:
        parser.error("--runs takes 1 or more")

    if options.step:
        {
            "generate": step_generate,
            "generate-week": step_generate_week,
            "floor": step_floor,
            "pandas": step_pandas,
            "serve": step_serve,
            "explain": step_explain,
        }[options.step](options)
        return

    report = benchmark(options)
    save_report(Path(options.results), f"pipeline-n{report['label']}", report, markdown(report))


def save_report(results_dir: Path, name: str, report: dict, table: str) -> None:
    """Write a benchmark's figures as `<name>.json` and its table as `<name>.md`; print the
    table."""
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / f"{name}.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (results_dir / f"{name}.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
