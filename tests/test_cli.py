"""The command line: every command documents itself with an example; python -m works."""

from __future__ import annotations

import os
import subprocess
import sys

import duckdb
import pytest
from click.testing import CliRunner

from dropscore import __version__
from dropscore.cli import cli


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_command_has_help_with_an_example(command):
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output


def test_version_and_python_dash_m():
    result = subprocess.run(
        [sys.executable, "-m", "dropscore", "--version"], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert result.stdout == f"dropscore, version {__version__}\n"


def test_the_readme_demo_builds_a_warehouse_of_verdicts_and_a_report(tmp_path):
    # README command 1, without the dashboard (the browser tests serve one).
    result = subprocess.run(
        [sys.executable, "-m", "dropscore", "demo", "--orders", "3000", "--no-serve"],
        capture_output=True,
        text=True,
        env={**os.environ, "DROPSCORE_HOME": str(tmp_path)},
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    warehouse, reports = tmp_path / "warehouse.duckdb", sorted((tmp_path / "reports").glob("*"))
    assert f"warehouse: {warehouse}\n" in result.stdout
    assert f"report: {reports[0]}\n" in result.stdout
    with duckdb.connect(str(warehouse), read_only=True) as con:
        verdicts = dict(
            con.execute(
                "select verdict, count(*) from marts.fct_supplier_scorecard group by verdict"
            ).fetchall()
        )
    assert set(verdicts) <= {"avoid", "watch", "good", "insufficient_data"}
    assert sum(verdicts.values()) > 0 and "avoid" in verdicts


def test_ingest_lists_its_formats():
    result = CliRunner().invoke(cli, ["ingest", "--list-formats"])
    assert result.exit_code == 0
    assert [line.split()[0] for line in result.output.splitlines()] == [
        "dropscore-orders",
        "dropscore-disputes",
        "order-links",
        "shopify-orders",
        "shopify-transactions",
        "aliexpress-orders-csv",
        "aliexpress-orders-json",
        "aliexpress-ds-orders",
    ]


def test_a_malformed_var_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(cli, ["build", "--var", "oops", "--home", str(tmp_path)])
    assert result.exit_code == 2
    assert "expected NAME=VALUE, got 'oops'" in result.output
