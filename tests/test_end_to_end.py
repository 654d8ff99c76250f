"""The weekly job from generated exports to a dashboard page, with a reader open throughout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from dropscore.config import PROJECT_DIR
from dropscore.pipeline import BuildFailed, build, run
from dropscore.warehouse import publish, read_ahead
from ingest.errors import InputError
from tests.reliability import copy_home

FIXTURES = Path(__file__).parent / "fixtures"


def published(settings, sql: str):
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_every_supplier_gets_a_scorecard_row_with_a_verdict(built_settings, sample_exports):
    suppliers = {line.split(",")[0] for line in sample_exports.truth.read_text().splitlines()[1:]}
    rows = published(
        built_settings, "select supplier_id, verdict from marts.fct_supplier_scorecard"
    )
    assert {supplier for supplier, _ in rows} == suppliers
    assert {verdict for _, verdict in rows} <= {"avoid", "watch", "good", "insufficient_data"}
    assert {verdict for _, verdict in rows} >= {"avoid", "good"}


def test_the_published_warehouse_opens_in_the_duckdb_1_5_cli(built_settings):
    result = subprocess.run(
        ["duckdb", "-readonly", "-csv", str(built_settings.warehouse_path), "-c",
         "select count(*) > 0 as has_rows from marts.fct_supplier_scorecard;"
         # a view, over the intermediate tables, bound in a file now named `warehouse`
         "select count(*) = count(is_mature) as bound from marts.fct_order_lines"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert result.stdout.splitlines() == ["has_rows", "true", "bound", "true"]


def test_the_dashboard_lists_suppliers_with_verdicts(built_settings, monkeypatch):
    monkeypatch.setenv("DROPSCORE_HOME", str(built_settings.home))
    app = AppTest.from_file(str(PROJECT_DIR / "dashboards" / "app.py"), default_timeout=60)
    app.run()
    assert not app.exception
    assert app.title[0].value == "Overview"
    app.switch_page("app_pages/suppliers.py").run()
    assert not app.exception
    assert app.title[0].value == "Suppliers"
    table = app.dataframe[0].value
    assert (
        len(table)
        == published(built_settings, "select count(*) from marts.fct_supplier_scorecard")[0][0]
    )
    assert table["verdict"].iloc[0] == "avoid"


def test_the_dashboard_explains_how_to_load_data_when_nothing_is_published(settings, monkeypatch):
    monkeypatch.setenv("DROPSCORE_HOME", str(settings.home))
    app = AppTest.from_file(str(PROJECT_DIR / "dashboards" / "app.py"), default_timeout=60)
    app.run()
    assert not app.exception
    assert "dropscore run" in app.info[0].value


def test_a_run_succeeds_while_a_reader_holds_the_published_warehouse(settings, sample_exports):
    run(settings, [sample_exports.orders, sample_exports.disputes])
    reader = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        before = reader.execute("select count(*) from marts.fct_order_lines").fetchall()
        build(settings, {"maturity_days": 30})
        # the open reader keeps its snapshot; a new reader sees the new build
        assert reader.execute("select count(*) from marts.fct_order_lines").fetchall() == before
    finally:
        reader.close()
    assert published(settings, "select dbt_vars from meta.builds order by finished_at")[-1] == (
        '{"maturity_days": 30}',
    )


def test_before_publish_runs_on_a_thread_once_dbt_has_built_and_never_for_a_failed_build(
    settings, sample_exports
):
    calls = []

    def before_publish() -> None:
        calls.append(threading.current_thread().name)

    files = [sample_exports.orders, sample_exports.disputes]
    with pytest.raises(BuildFailed):
        run(settings, files, dbt_vars={"min_mature_lines": "x"}, before_publish=before_publish)
    assert calls == []
    run(settings, files, before_publish=before_publish)
    for thread in threading.enumerate():
        if thread.name == "when-built":
            thread.join()
    assert calls == ["when-built"]


def test_a_run_builds_from_the_parse_dbt_made_while_the_files_loaded(settings, sample_exports):
    run(settings, [sample_exports.orders, sample_exports.disputes])
    # dbt notes what each parse was made from, on the thread that parsed
    parses = [
        line
        for line in (settings.home / "logs" / "dbt.log").read_text().splitlines()
        if "checksum:" in line
    ]
    assert len(parses) == 1
    assert "[parse-dbt" in parses[0]


def test_a_run_reads_its_files_ahead_before_the_build_file(settings, sample_exports, monkeypatch):
    # An export the kernel no longer holds would wait behind the build file's gigabytes.
    asked = []

    def reading_ahead(path):
        asked.append(Path(path))
        read_ahead(path)

    monkeypatch.setattr("dropscore.pipeline.read_ahead", reading_ahead)
    run(settings, [sample_exports.orders, sample_exports.disputes])
    assert asked == [sample_exports.orders, sample_exports.disputes, settings.build_path]


def test_a_run_whose_files_are_refused_waits_for_dbts_parse_before_it_lets_go(settings, tmp_path):
    refused = tmp_path / "orders.csv"
    refused.write_text("not,an,export\n1,2,3\n", encoding="utf-8")
    with pytest.raises(InputError):
        run(settings, [refused])
    # the parse writes in the home, which the next run may take as soon as this one lets go
    assert (settings.dbt_target_path / "perf_info.json").is_file()  # the parse's last write


def test_publishing_lets_go_of_the_warehouse_it_replaced(built_settings, tmp_path):
    settings = copy_home(built_settings, tmp_path / "home")
    publish(settings)  # over the warehouse copied with the home
    for thread in threading.enumerate():
        if thread.name == "free-old-warehouse":
            thread.join()
    held = [os.readlink(fd) for fd in Path("/proc/self/fd").iterdir() if fd.is_symlink()]
    assert not [path for path in held if path.startswith(str(settings.home))]


def copy_of_the_project(checkout: Path) -> Path:
    """What dbt reads of the project, copied to `checkout`."""
    checkout.mkdir()
    for name in ("dbt_project.yml", "profiles.yml", "models", "macros", "seeds", "data-tests"):
        source = PROJECT_DIR / name
        if source.is_dir():
            shutil.copytree(source, checkout / name)
        else:
            shutil.copy(source, checkout / name)
    return checkout


def test_a_home_kept_across_a_new_checkout_of_dropscore_builds_with_the_new_one(
    settings, sample_exports, tmp_path, monkeypatch
):
    elsewhere = copy_of_the_project(tmp_path / "old-checkout")
    monkeypatch.setattr("dropscore.pipeline.PROJECT_DIR", elsewhere)
    run(settings, [sample_exports.orders, sample_exports.disputes])
    monkeypatch.undo()
    shutil.rmtree(elsewhere)  # the old checkout is gone; its parse stays in the home

    build(settings)
    assert published(settings, "select count(*) > 0 from seeds.dispute_categories") == [(True,)]


def test_a_failed_build_leaves_the_published_warehouse_as_it_was(settings, sample_exports):
    run(settings, [sample_exports.orders, sample_exports.disputes])
    before = settings.warehouse_path.read_bytes()
    with pytest.raises(BuildFailed, match="dbt build failed"):
        build(settings, {"min_mature_lines": "not_a_number"})
    assert settings.warehouse_path.read_bytes() == before


@pytest.mark.parametrize(
    ("table", "replacements", "failing_test"),
    [
        # data-tests/generic/relationships.sql with parent_is_larger, which looks up only the
        # child's keys: a disputed line the order lines lack
        (
            "int_disputes_matched_to_lines",
            "'no-such-line' as order_line_id, dispute_id || ':no-such-line' as dispute_line_id",
            "relationships_int_disputes_matched_to_lines_order_line_id",
        ),
        # data-tests/generic/accepted_values_columns.sql: an unknown value in the last of the
        # columns it checks
        (
            "int_order_lines_costed",
            "order_line_id || ':copy' as order_line_id, 'won''t say' as dispute_resolution",
            "accepted_values_columns_int_order_lines_costed_rebuilt_rows",
        ),
    ],
    ids=["relationships", "accepted_values_columns"],
)
def test_a_generic_test_of_the_rebuilt_rows_fails_the_build_on_a_bad_one(
    settings, sample_exports, table, replacements, failing_test
):
    run(settings, [sample_exports.orders, sample_exports.disputes])
    # a copy of one row, changed, that the next build counts as rebuilt
    with duckdb.connect(str(settings.build_path)) as con:
        con.execute(
            f"""
            insert into intermediate.{table}
            select * replace ({replacements}, 1000000 as built_through_load_id)
            from intermediate.{table}
            limit 1
            """
        )
    with pytest.raises(BuildFailed, match=rf"at test\.dropscore\.{failing_test}\b"):
        build(settings)


def test_a_build_drops_what_the_project_no_longer_builds(settings, sample_exports):
    # a model an upgrade renamed, and a table an interrupted run left behind
    run(settings, [sample_exports.orders])
    with duckdb.connect(str(settings.build_path)) as con:
        con.execute("create view marts.fct_renamed_since as select 1 as order_line_id")
        con.execute("create table intermediate.int_order_lines_costed__dbt_tmp as select 1 as x")
    build(settings)

    for path in (settings.build_path, settings.warehouse_path):
        with duckdb.connect(str(path), read_only=True) as con:
            relations = {
                f"{schema}.{name}"
                for schema, name in con.execute(
                    "select table_schema, table_name from information_schema.tables"
                ).fetchall()
            }
        assert "marts.fct_renamed_since" not in relations
        assert "intermediate.int_order_lines_costed__dbt_tmp" not in relations
        assert {"marts.fct_order_lines", "intermediate.int_order_lines_costed"} <= relations


def test_the_dbt_unit_tests_ran_and_passed_in_the_project_build(built_settings):
    results = json.loads((built_settings.dbt_target_path / "run_results.json").read_text())
    unit_tests = [r for r in results["results"] if r["unique_id"].startswith("unit_test.")]
    assert len(unit_tests) >= 18
    assert {r["status"] for r in unit_tests} == {"pass"}


def test_a_users_run_skips_the_unit_tests(settings, sample_exports):
    run(settings, [sample_exports.orders, sample_exports.disputes])
    results = json.loads((settings.dbt_target_path / "run_results.json").read_text())
    assert not [r for r in results["results"] if r["unique_id"].startswith("unit_test.")]


def test_a_weekly_build_leaves_the_views_and_seeds_and_tests_after_the_tables_they_read(
    settings, sample_exports
):
    run(settings, [sample_exports.orders])  # the first build makes them
    first = build_results(settings)
    manifest = json.loads((settings.dbt_target_path / "manifest.json").read_text())
    nodes = manifest["nodes"]
    left_as_they_are = {
        unique_id
        for unique_id, node in nodes.items()
        if node["resource_type"] == "seed" or node["config"]["materialized"] == "view"
    }
    assert left_as_they_are <= set(first)
    tests_of_tables = {
        unique_id
        for unique_id, node in nodes.items()
        if node["resource_type"] == "test"
        and any(
            nodes[parent]["config"]["materialized"] in ("table", "incremental")
            for parent in node["depends_on"]["nodes"]
            if parent in nodes
        )
    }
    assert tests_of_tables <= set(first)

    run(settings, [sample_exports.disputes])
    weekly = build_results(settings)
    assert not left_as_they_are & set(weekly)
    assert tests_of_tables <= set(weekly)
    assert {result["status"] for result in weekly.values()} <= {"success", "pass", "no-op"}

    def execute(node: str, moment: str) -> str:
        (timing,) = [step for step in weekly[node]["timing"] if step["name"] == "execute"]
        return timing[moment]

    # fct_order_lines, a view over int_order_lines_costed: its test runs on this week's lines
    (view_test,) = [
        node
        for node in weekly
        if node.startswith("test.dropscore.not_null_columns_fct_order_lines.")
    ]
    costed = "model.dropscore.int_order_lines_costed"
    assert execute(view_test, "started_at") >= execute(costed, "completed_at")
    assert published(settings, "select count(has_dispute) > 0 from marts.fct_order_lines") == [
        (True,)
    ]


def build_results(settings) -> dict[str, dict]:
    results = json.loads((settings.dbt_target_path / "run_results.json").read_text())
    return {result["unique_id"]: result for result in results["results"]}


def test_a_weekly_build_tests_only_the_data_a_load_changed(settings, sample_exports):
    def tests_ran() -> set[str]:
        return {node.split(".")[2] for node in build_results(settings) if node.startswith("test.")}

    # the seeds, the rates view over a seed, and views over sources no load below adds to
    never_changed = {
        "unique_dispute_categories_category",
        "not_null_columns_dispute_categories",
        "not_null_columns_dispute_reasons",
        "accepted_values_dispute_categories_category_group__defect__delivery_failure__buyer_remorse__other",
        "relationships_dispute_reasons_category__category__ref_dispute_categories_",
        "unique_exchange_rates_currency",
        "not_null_columns_exchange_rates",
        "columns_between_exchange_rates_1e_7_to_1e6",
        "unique_int_exchange_rates_rebased_currency",
        "not_null_columns_int_exchange_rates_rebased",
        "unique_stg_aliexpress__order_lines_order_line_id",
        "not_null_columns_stg_aliexpress__order_lines",
        "accepted_values_stg_aliexpress__order_lines_status__placed__shipped__delivered__cancelled",
        "unique_stg_order_links__links_order_link_id",
        "not_null_columns_stg_order_links__links",
        "unique_stg_shopify__transactions_transaction_id",
        "not_null_columns_stg_shopify__transactions",
        "accepted_values_columns_stg_shopify__transactions",
    }
    # views over the two tables a Shopify orders export adds to
    shopify_orders = {
        "unique_stg_shopify__orders_store_order",
        "not_null_columns_stg_shopify__orders",
        "accepted_values_stg_shopify__orders_financial_status__pending__authorized__partially_paid__paid__partially_refunded__refunded__voided__expired",
        "unique_stg_shopify__order_lines_store_order_line_id",
        "not_null_columns_stg_shopify__order_lines",
        "relationships_stg_shopify__order_lines_store_order__store_order__ref_stg_shopify__orders_",
    }
    run(settings, [sample_exports.orders, sample_exports.disputes])
    first = tests_ran()
    assert never_changed | shopify_orders <= first

    # A build that fails (on a planted row) leaves its load to the next one.
    planted = "dispute_id || ':planted' as dispute_line_id, 'no-such-line' as order_line_id"
    with duckdb.connect(str(settings.build_path)) as con:
        con.execute(
            f"""
            insert into intermediate.int_disputes_matched_to_lines
            select * replace ({planted}, 1000000 as built_through_load_id)
            from intermediate.int_disputes_matched_to_lines
            limit 1
            """
        )
    with pytest.raises(BuildFailed, match="relationships_int_disputes_matched_to_lines"):
        run(settings, [FIXTURES / "mixed" / "shopify_orders.csv"])
    with duckdb.connect(str(settings.build_path)) as con:
        con.execute(
            "delete from intermediate.int_disputes_matched_to_lines where order_line_id = 'no-such-line'"
        )
    build(settings)
    assert tests_ran() == first - never_changed

    # nothing loaded since the last successful build
    build(settings)
    assert tests_ran() == first - never_changed - shopify_orders


def test_a_new_test_runs_on_data_no_load_changed(settings, sample_exports, tmp_path, monkeypatch):
    checkout = copy_of_the_project(tmp_path / "checkout")
    monkeypatch.setattr("dropscore.pipeline.PROJECT_DIR", checkout)
    run(settings, [sample_exports.orders, sample_exports.disputes])
    # a test of a seed that no build has run yet, and that fails
    (checkout / "data-tests" / "every_rate_is_one.sql").write_text(
        "select * from {{ ref('exchange_rates') }} where rate_to_usd <> 1", encoding="utf-8"
    )
    with pytest.raises(BuildFailed, match=r"at test\.dropscore\.every_rate_is_one\b"):
        build(settings)


def test_an_incremental_build_with_the_unit_tests_runs_every_one(settings, sample_exports):
    run(settings, [sample_exports.orders])
    build(settings, unit_tests=True)
    results = json.loads((settings.dbt_target_path / "run_results.json").read_text())
    manifest = json.loads((settings.dbt_target_path / "manifest.json").read_text())
    ran = {r["unique_id"] for r in results["results"] if r["unique_id"].startswith("unit_test.")}
    assert ran == set(manifest["unit_tests"])
