"""Shared fixtures: real generated exports and real warehouses built from them, in tmp dirs."""

from __future__ import annotations

from pathlib import Path

import pytest

from dropscore.config import Settings
from dropscore.pipeline import run
from ingest.generate import GeneratedExports, generate

SMALL_ORDERS = 3_000


@pytest.fixture(scope="session")
def sample_exports(tmp_path_factory) -> GeneratedExports:
    """A small generated store: a few thousand order lines over a year, with disputes."""
    return generate(tmp_path_factory.mktemp("exports"), orders=SMALL_ORDERS, seed=11)


@pytest.fixture(scope="session")
def built_settings(tmp_path_factory, sample_exports) -> Settings:
    """A home whose warehouse was built and published from `sample_exports`, with dbt's unit
    tests run too. Read only."""
    settings = Settings(home=tmp_path_factory.mktemp("home"))
    run(settings, [sample_exports.orders, sample_exports.disputes], unit_tests=True)
    return settings


@pytest.fixture
def settings(tmp_path) -> Settings:
    """An empty home of the test's own."""
    return Settings(home=tmp_path / "home")


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
