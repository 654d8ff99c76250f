"""The command line: every command documents itself with an example; python -m works."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import duckdb
import pytest
from click.testing import CliRunner

from dropscore import __version__
from dropscore.cli import _var_value, cli, parse_vars


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


def test_a_var_reads_null_true_and_false_as_dbt_would_in_yaml():
    assert [_var_value(text) for text in ("null", "NULL", "~", "true", "False", "7", "0.5")] == [
        None,
        None,
        None,
        True,
        False,
        7,
        0.5,
    ]
    assert parse_vars(
        ("analysis_weeks=null", "maturity_days=45", "confidence=0.9", "as_of_date=2026-03-05")
    ) == {
        "analysis_weeks": None,
        "maturity_days": 45,
        "confidence": 0.9,
        "as_of_date": "2026-03-05",
    }
    assert parse_vars(
        ("reporting_currency=EUR", "control_limit_sigmas=2.5", "as_of_date=2026-06-01T10:00:00Z")
    ) == {
        "reporting_currency": "EUR",
        "control_limit_sigmas": 2.5,
        "as_of_date": "2026-06-01T10:00:00Z",
    }


@pytest.mark.parametrize(
    ("pair", "message"),
    [
        # dbt would build with the default and say nothing
        ("maturity_day=10", "no var named 'maturity_day': did you mean maturity_days?"),
        ("colour=red", "no var named 'colour': one of alert_min_defects, analysis_weeks,"),
        # ... and fail deep in a model on these
        ("maturity_days=abc", "maturity_days must be a whole number from 0 to 36,500, got 'abc'"),
        ("maturity_days=-5", "maturity_days must be a whole number from 0 to 36,500, got -5"),
        ("maturity_days=1e9", "maturity_days must be a whole number from 0 to 36,500"),
        ("min_mature_lines=2.5", "min_mature_lines must be a whole number from 0 to 36,500"),
        ("analysis_weeks=0", "analysis_weeks must be a whole number from 1 to 36,500, got 0"),
        ("defect_avoid_threshold=5", "defect_avoid_threshold must be a number from 0 to 1, got 5"),
        ("confidence=1", "confidence must be a level such as 0.95, got 1"),
        ("control_limit_sigmas=0", "control_limit_sigmas must be a number above 0, up to 10"),
        ("as_of_date=2026-13-01", "as_of_date must be a date such as 2026-11-22"),
        ("as_of_date=20260601", "as_of_date must be a date such as 2026-11-22"),
        ("as_of_date=2026-06-01' or 1=1", "as_of_date must be a date such as 2026-11-22"),
        # every amount would be NULL: no rate converts to it
        ("reporting_currency=XYZ", "reporting_currency must be a currency of seeds/exchange_rates"),
        ("reporting_currency=eur", "reporting_currency must be a currency of seeds/exchange_rates"),
    ],
)
def test_a_var_the_project_does_not_have_or_cannot_take_is_a_usage_error(tmp_path, pair, message):
    result = CliRunner().invoke(cli, ["build", "--var", pair, "--home", str(tmp_path)])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_analysis_weeks_null_counts_every_line_as_the_docs_say(tmp_path, sample_exports):
    home = tmp_path / "home"
    files = [str(sample_exports.orders), str(sample_exports.disputes)]
    arguments = ["run", *files, "--home", str(home), "--var", "analysis_weeks=null"]
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 0, result.output
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        ((lines, in_window),) = con.execute(
            "select count(*), count(*) filter (where is_in_analysis_window) "
            "from marts.fct_order_lines"
        ).fetchall()
        window_starts = con.execute(
            "select analysis_window_after_at from intermediate.int_as_of_date"
        ).fetchall()
    assert lines == in_window > 0
    assert window_starts == [(None,)]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _serving(port: int) -> bool:
    with socket.socket() as client:
        return client.connect_ex(("127.0.0.1", port)) == 0


def test_a_dashboard_stopped_with_kill_leaves_nothing_serving_and_a_taken_port_is_refused(
    tmp_path,
):
    port = _free_port()
    command = [sys.executable, "-m", "dropscore", "dashboard", "--port", str(port)]
    server = subprocess.Popen(
        [*command, "--home", str(tmp_path / "one")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not _serving(port):
            assert server.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        # a second dashboard on the same port: one line and exit 1, not a silent exit 0
        second = subprocess.run(
            [*command, "--home", str(tmp_path / "two")], capture_output=True, text=True
        )
        assert second.returncode == 1
        assert second.stderr.startswith(f"Error: cannot serve on 127.0.0.1:{port}: ")
        server.terminate()  # SIGTERM, as `kill` sends
        server.wait(timeout=30)
        deadline = time.monotonic() + 10
        while _serving(port):  # no child of the command left serving the port
            assert time.monotonic() < deadline, "the port is still served after kill"
            time.sleep(0.2)
    finally:
        server.kill()
        server.wait()
