"""The command line: every command documents itself with an example; python -m works."""

from __future__ import annotations

import subprocess
import sys

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
