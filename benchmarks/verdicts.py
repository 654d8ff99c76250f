"""How good are dropscore's verdicts? Generated stores whose suppliers' true quality is known.

For each scenario (seed, order count, weeks of history) this generates exports, runs the weekly
job (ingest, dbt build, publish) and compares the scorecard's verdicts with truth.csv:

- precision and recall of `avoid` among suppliers with at least 50 mature lines (a "bad"
  supplier is the truth's `bad` band; `borderline` and `fine` count as not bad);
- the share of `fine` suppliers, of any size, wrongly marked `avoid`.

The naive method a dropshipper would use without dropscore is scored the same way: rank
suppliers by their raw problem rate (lines with a defect or not-received dispute / all lines,
any age, no interval) and flag as many as dropscore flags `avoid`.

Nothing here tunes dropscore: the verdict rule and thresholds are SPEC §6's defaults.

    python -m benchmarks.verdicts            # every scenario; writes benchmarks/results/
    python -m benchmarks.verdicts --quick    # the first two scenarios only
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb

from dropscore.config import Settings
from dropscore.pipeline import run
from ingest.generate import generate

ROOT = Path(__file__).resolve().parent
WORK = ROOT / "work"
RESULTS = ROOT / "results"
MIN_MATURE_LINES = 50


@dataclass(frozen=True)
class Scenario:
    name: str
    seed: int
    orders: int
    weeks: int = 52


# The generator's knobs are the seed, the order count (suppliers = orders / 80, between 20 and
# 3000) and the weeks of history; supplier size skew and base rates are fixed inside it.
SCENARIOS = (
    Scenario("20k orders, 1 year", seed=42, orders=20_000),
    Scenario("5k orders, 1 year", seed=7, orders=5_000),
    Scenario("80k orders, 1 year", seed=3, orders=80_000),
    Scenario("20k orders, 6 months", seed=11, orders=20_000, weeks=26),
    Scenario("40k orders, 2 years", seed=5, orders=40_000, weeks=104),
    Scenario("2k orders, 1 year", seed=19, orders=2_000),
)


@dataclass
class Score:
    flagged: int
    flagged_large: int
    true_positive_large: int
    bad_large: int
    fine: int
    fine_flagged: int
    not_bad_flagged: int

    @property
    def precision(self) -> float | None:
        return self.true_positive_large / self.flagged_large if self.flagged_large else None

    @property
    def recall(self) -> float | None:
        return self.true_positive_large / self.bad_large if self.bad_large else None

    @property
    def false_avoid_share(self) -> float | None:
        return self.fine_flagged / self.fine if self.fine else None

    def __add__(self, other: Score) -> Score:
        return Score(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))


def astuple(score: Score) -> tuple[int, ...]:
    return tuple(asdict(score).values())


SUPPLIERS_SQL = """
with problems as (
    select
        supplier_id,
        count(*) filter (where has_defect_dispute or has_delivery_failure_dispute)::double
            / count(*) as raw_problem_rate,
    from marts.fct_order_lines
    group by supplier_id
)
select scorecard.supplier_id, scorecard.mature_lines, scorecard.verdict,
    coalesce(problems.raw_problem_rate, 0) as raw_problem_rate,
from marts.fct_supplier_scorecard as scorecard
left join problems using (supplier_id)
"""


def score_scenario(scenario: Scenario) -> dict:
    work = WORK / scenario.name.replace(" ", "_").replace(",", "")
    shutil.rmtree(work, ignore_errors=True)
    exports = generate(work / "exports", orders=scenario.orders, weeks=scenario.weeks,
                       seed=scenario.seed)  # fmt: skip
    started = time.perf_counter()
    settings = Settings(home=work / "home")
    build = run(settings, [exports.orders, exports.disputes])
    seconds = time.perf_counter() - started

    with exports.truth.open() as truth_file:
        band = {row["supplier_id"]: row["band"] for row in csv.DictReader(truth_file)}
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        rows = con.execute(SUPPLIERS_SQL).fetchall()
    finally:
        con.close()
    suppliers = [
        {"supplier_id": s, "mature_lines": m, "verdict": v, "raw": r, "band": band[s]}
        for s, m, v, r in rows
    ]
    dropscore_flags = {s["supplier_id"] for s in suppliers if s["verdict"] == "avoid"}
    # Naive: the same number of flags, worst raw rate first (store id breaks ties).
    by_raw = sorted(suppliers, key=lambda s: (-s["raw"], s["supplier_id"]))
    naive_flags = {s["supplier_id"] for s in by_raw[: len(dropscore_flags)]}
    result = {
        "scenario": asdict(scenario),
        "suppliers": len(suppliers),
        "lines": exports.lines,
        "build_seconds": round(seconds, 1),
        "dbt_nodes": build.nodes,
        "dropscore": asdict(score(suppliers, dropscore_flags)),
        "naive": asdict(score(suppliers, naive_flags)),
        "verdicts": {
            verdict: sum(s["verdict"] == verdict for s in suppliers)
            for verdict in ("avoid", "watch", "good", "insufficient_data")
        },
        "missed_bad_large": sorted(
            (s["mature_lines"], s["verdict"])
            for s in suppliers
            if s["band"] == "bad"
            and s["mature_lines"] >= MIN_MATURE_LINES
            and s["supplier_id"] not in dropscore_flags
        ),
        "false_avoid": sorted(
            (s["band"], s["mature_lines"])
            for s in suppliers
            if s["band"] != "bad" and s["supplier_id"] in dropscore_flags
        ),
    }
    shutil.rmtree(work, ignore_errors=True)
    return result


def score(suppliers: list[dict], flags: set[str]) -> Score:
    large = [s for s in suppliers if s["mature_lines"] >= MIN_MATURE_LINES]
    fine = [s for s in suppliers if s["band"] == "fine"]
    return Score(
        flagged=len(flags),
        flagged_large=sum(s["supplier_id"] in flags for s in large),
        true_positive_large=sum(s["supplier_id"] in flags and s["band"] == "bad" for s in large),
        bad_large=sum(s["band"] == "bad" for s in large),
        fine=len(fine),
        fine_flagged=sum(s["supplier_id"] in flags for s in fine),
        not_bad_flagged=sum(s["supplier_id"] in flags and s["band"] != "bad" for s in suppliers),
    )


def percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f} %"


def markdown(results: list[dict]) -> str:
    lines = [
        f"| scenario | suppliers | bad with ≥ {MIN_MATURE_LINES} mature lines | avoid flags "
        "| precision: dropscore / naive | recall: dropscore / naive "
        "| fine flagged (any size): dropscore / naive "
        "| not-bad flagged (any size): dropscore / naive |",
        "|---|---|---|---|---|---|---|---|",
    ]
    totals = None
    for result in results:
        ours, naive = Score(**result["dropscore"]), Score(**result["naive"])
        totals = (ours, naive) if totals is None else (totals[0] + ours, totals[1] + naive)
        lines.append(row(result["scenario"]["name"], result["suppliers"], ours, naive))
    if totals is not None:
        suppliers = sum(result["suppliers"] for result in results)
        lines.append(row("**all scenarios**", suppliers, *totals))
    return "\n".join(lines) + "\n"


def row(name: str, suppliers: int, ours: Score, naive: Score) -> str:
    return (
        f"| {name} | {suppliers} | {ours.bad_large} | {ours.flagged} "
        f"| {percent(ours.precision)} / {percent(naive.precision)} "
        f"| {percent(ours.recall)} / {percent(naive.recall)} "
        f"| {ours.fine_flagged} / {naive.fine_flagged} of {ours.fine} "
        f"| {ours.not_bad_flagged} / {naive.not_bad_flagged} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="run the first two scenarios only")
    arguments = parser.parse_args()
    scenarios = SCENARIOS[:2] if arguments.quick else SCENARIOS
    results = []
    for scenario in scenarios:
        print(f"scenario: {scenario.name} ...", flush=True)
        results.append(score_scenario(scenario))
    table = markdown(results)
    print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "verdicts.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "verdicts.md").write_text(
        "# Verdict quality on generated stores\n\n"
        "Written by `python -m benchmarks.verdicts`. Precision and recall of `avoid` count "
        f"suppliers with at least {MIN_MATURE_LINES} mature lines; the last two columns count "
        "`fine` suppliers of any size marked `avoid`. Naive = rank by raw problem rate (any "
        "age, no interval) and flag as many suppliers as dropscore flags.\n\n" + table
    )


if __name__ == "__main__":
    main()
