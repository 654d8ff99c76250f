"""`dropscore export --parquet`: every mart as a Parquet file, read-only on the warehouse."""

from __future__ import annotations

import hashlib

import duckdb
import pyarrow.parquet as parquet
from click.testing import CliRunner

from dropscore.cli import cli


def marts(settings) -> dict[str, int]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as connection:
        names = [
            name
            for (name,) in connection.execute(
                "select table_name from duckdb_tables() where schema_name = 'marts'"
                " union all"
                " select view_name from duckdb_views() where schema_name = 'marts'"
            ).fetchall()
        ]
        return {
            name: connection.execute(f"select count(*) from marts.{name}").fetchone()[0]
            for name in names
        }


def test_export_writes_one_parquet_per_mart_with_the_same_rows(built_settings, tmp_path):
    out = tmp_path / "parquet"
    before = hashlib.sha256(built_settings.warehouse_path.read_bytes()).hexdigest()

    result = CliRunner().invoke(
        cli, ["export", "--home", str(built_settings.home), "--parquet", str(out)]
    )

    assert result.exit_code == 0, result.output
    expected = marts(built_settings)
    assert {"fct_order_lines", "fct_supplier_scorecard", "dim_suppliers"} <= set(expected)
    assert sorted(path.name for path in out.iterdir()) == sorted(
        f"{name}.parquet" for name in expected
    )
    for name, rows in expected.items():
        assert parquet.read_metadata(out / f"{name}.parquet").num_rows == rows, name
    assert result.stdout.splitlines() == [
        f"marts.{name}: {rows:,} rows -> {out / f'{name}.parquet'}"
        for name, rows in sorted(expected.items())
    ]
    assert hashlib.sha256(built_settings.warehouse_path.read_bytes()).hexdigest() == before


def test_exported_parquet_keeps_column_names_and_values(built_settings, tmp_path):
    CliRunner().invoke(
        cli, ["export", "--home", str(built_settings.home), "--parquet", str(tmp_path)]
    )
    query = "select supplier_id, verdict, defect_ratio from {} order by supplier_id"

    with duckdb.connect() as connection:
        exported = connection.execute(
            query.format(f"read_parquet('{tmp_path / 'fct_supplier_scorecard.parquet'}')")
        ).fetchall()
    with duckdb.connect(str(built_settings.warehouse_path), read_only=True) as connection:
        original = connection.execute(query.format("marts.fct_supplier_scorecard")).fetchall()

    assert exported == original


def test_export_without_a_published_warehouse_is_one_line(settings, tmp_path):
    result = CliRunner().invoke(
        cli, ["export", "--home", str(settings.home), "--parquet", str(tmp_path / "out")]
    )

    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: no published warehouse at {settings.warehouse_path}; run `dropscore run` first\n"
    )
