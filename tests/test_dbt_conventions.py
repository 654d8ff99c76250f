"""House conventions of the dbt project, checked on the manifest of a real build.

dbt-bouncer would do this, but it pins duckdb < 2 while dropscore runs on DuckDB 2, so the
handful of rules lives here: layer naming, a tested primary key and a description on every
model, NULLs, ranges and accepted values tested a model at a time, a description on every mart
column (every column the built table really has), one meaning per column name across the
marts, and exposures for the dashboard and the report.
"""

from __future__ import annotations

import json
import re

import duckdb
import pytest

NAMING = {
    "staging": re.compile(r"^stg_[a-z0-9]+(_[a-z0-9]+)*__[a-z0-9_]+s$"),
    "intermediate": re.compile(r"^int_[a-z0-9_]+$"),
    "marts": re.compile(r"^(fct|dim)_[a-z0-9_]+$"),
}


@pytest.fixture(scope="module")
def manifest(built_settings) -> dict:
    return json.loads((built_settings.dbt_target_path / "manifest.json").read_text())


@pytest.fixture(scope="module")
def models(manifest) -> dict[str, dict]:
    return {
        node["name"]: node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["package_name"] == "dropscore"
    }


@pytest.fixture(scope="module")
def mart_columns(built_settings) -> dict[str, list[str]]:
    con = duckdb.connect(str(built_settings.warehouse_path), read_only=True)
    try:
        rows = con.execute(
            """
            select table_name, list(column_name order by ordinal_position)
            from information_schema.columns where table_schema = 'marts' group by table_name
            """
        ).fetchall()
    finally:
        con.close()
    return dict(rows)


def layer(node: dict) -> str:
    return node["original_file_path"].split("/")[1]


def test_every_model_is_named_for_its_layer(models):
    misnamed = [
        f"{name} ({layer(node)})"
        for name, node in models.items()
        if not NAMING[layer(node)].match(name)
    ]
    assert misnamed == []


def test_every_model_says_what_a_row_is(models):
    assert [name for name, node in models.items() if not node["description"].strip()] == []


def test_every_mart_description_states_its_grain(models):
    marts = {name: node for name, node in models.items() if layer(node) == "marts"}
    assert [
        name for name, node in marts.items() if "one row per" not in node["description"].lower()
    ] == []


# Views whose key is tested where their rows are stored: testing the view would recompute it
# over every row on every run. Each maps to the table that stores its rows.
KEY_TESTED_WHERE_STORED = {
    "stg_dropscore__order_lines": "int_order_lines_unioned",
    "stg_dropscore__disputes": "int_disputes_unioned",
    "fct_order_lines": "int_order_lines_costed",
    "fct_disputes": "int_disputes_costed",
}


def test_every_model_has_a_unique_and_not_null_key(manifest, models):
    tests_by_column: dict[tuple[str, str], set[str]] = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] != "test" or not node.get("attached_node"):
            continue
        model = manifest["nodes"][node["attached_node"]]["name"]
        metadata = node.get("test_metadata") or {}
        if metadata.get("name") == "not_null_columns":  # a model's columns, in one test
            for column in metadata["kwargs"]["columns"]:
                tests_by_column.setdefault((model, column), set()).add("not_null")
        else:
            tests_by_column.setdefault((model, node.get("column_name")), set()).add(
                metadata.get("name")
            )

    def has_key(name: str) -> bool:
        return any(
            {"unique", "not_null"} <= tests
            for (model, column), tests in tests_by_column.items()
            if model == name and column
        )

    keyless = [name for name in models if not has_key(name)]
    assert sorted(keyless) == sorted(KEY_TESTED_WHERE_STORED)
    for view, table in KEY_TESTED_WHERE_STORED.items():
        assert has_key(table)
        # the table reads the view, or the view the table
        assert models[view]["unique_id"] in models[table]["depends_on"]["nodes"] or (
            models[table]["unique_id"] in models[view]["depends_on"]["nodes"]
        )


def test_columns_are_checked_a_model_at_a_time(manifest):
    """NULLs and ranges are tested by one node per model, not one per column: dbt's own cost
    per node is most of a test's time in a weekly run."""
    per_column = sorted(
        node["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "test"
        and (node.get("test_metadata") or {}).get("name") in ("not_null", "value_between")
    )
    assert per_column == []


def test_a_model_has_one_node_testing_accepted_values(manifest):
    """Several columns' accepted values go in one accepted_values_columns test, for the same
    reason; dbt's accepted_values is for a model with one such column."""
    value_tests: dict[tuple[tuple[str, ...], str | None], list[str]] = {}
    for node in manifest["nodes"].values():
        kind = (node.get("test_metadata") or {}).get("name")
        if kind in ("accepted_values", "accepted_values_columns"):
            key = (tuple(node["depends_on"]["nodes"]), node["config"].get("where"))
            value_tests.setdefault(key, []).append(node["name"])
    assert value_tests  # the project does test accepted values
    assert {key: names for key, names in value_tests.items() if len(names) > 1} == {}


def test_every_mart_column_is_described(models, mart_columns):
    undescribed = [
        f"{table}.{column}"
        for table, columns in mart_columns.items()
        for column in columns
        if not models[table]["columns"].get(column, {}).get("description", "").strip()
    ]
    assert undescribed == []


def test_a_column_name_means_one_thing_across_the_marts(models):
    descriptions: dict[str, set[str]] = {}
    for node in models.values():
        if layer(node) != "marts":
            continue
        for column, spec in node["columns"].items():
            descriptions.setdefault(column, set()).add(spec["description"].strip())
    assert {column: d for column, d in descriptions.items() if len(d) > 1} == {}


def test_the_dashboard_and_the_report_are_exposures_on_marts(manifest, models):
    exposures = {node["name"]: node for node in manifest["exposures"].values()}
    assert {"dropscore_dashboard", "weekly_report"} <= set(exposures)
    for exposure in exposures.values():
        parents = [manifest["nodes"][node]["name"] for node in exposure["depends_on"]["nodes"]]
        assert parents and all(layer(models[name]) == "marts" for name in parents)
