"""The dashboard in a real browser: `dropscore dashboard` serving a generated warehouse, every page
opened in headless Chromium, its key content checked, no Streamlit exception on it, and a
screenshot of each kept under test-artifacts/browser/ (git-ignored).

One supplier is named `<img src=x onerror=alert(1)>` in the orders export before the run: it
must show as literal text and never run. Another is named like a spreadsheet formula: the CSV
download must defuse it. A third holds an unclosed right-to-left override, which must show as
the escape `\u202e` instead of reversing what follows it; a fourth holds a link and an e-mail
address, which an error message quoting it must not make clickable.

Chromium is the Debian package (/usr/bin/chromium, or DROPSCORE_CHROMIUM); without it this test
fails rather than skips, so a missing browser cannot pass CI silently.
"""

from __future__ import annotations

import csv
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from dropscore.config import PROJECT_DIR, Settings
from dropscore.pipeline import run
from ingest.generate import generate

CHROMIUM = Path(os.environ.get("DROPSCORE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = PROJECT_DIR / "test-artifacts" / "browser"
HOSTILE_NAME = "<img src=x onerror=alert(1)>"
FORMULA_NAME = '=HYPERLINK("http://example.com/x","click")'
BIDI_NAME = "Bright Lighting \u202eOfficial Store"
LINK_NAME = "Shop http://www.evil.example, user@example.com"
TIMEOUT_MS = 30_000


def rename_suppliers(orders_csv: Path, names: dict[str, str]) -> None:
    with open(orders_csv, newline="", encoding="utf-8") as file:
        rows = list(csv.reader(file))
    name, supplier = rows[0].index("supplier_name"), rows[0].index("supplier_id")
    for row in rows[1:]:
        row[name] = names.get(row[supplier], row[name])
    with open(orders_csv, "w", newline="", encoding="utf-8") as file:
        csv.writer(file, lineterminator="\n").writerows(rows)


def busiest_suppliers(orders_csv: Path, count: int) -> list[str]:
    with open(orders_csv, newline="", encoding="utf-8") as file:
        lines: dict[str, int] = {}
        for row in csv.DictReader(file):
            lines[row["supplier_id"]] = lines.get(row["supplier_id"], 0) + 1
    return sorted(lines, key=lambda supplier: (-lines[supplier], supplier))[:count]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_healthy(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the dashboard exited with {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read() == b"ok":
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"the dashboard did not come up in 60 s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def hostile_home(tmp_path_factory) -> tuple[Settings, str, str]:
    exports = generate(tmp_path_factory.mktemp("browser-exports"), orders=800, seed=5)
    html_supplier, formula_supplier, bidi_supplier, link_supplier = busiest_suppliers(
        exports.orders, 4
    )
    rename_suppliers(
        exports.orders,
        {
            html_supplier: HOSTILE_NAME,
            formula_supplier: FORMULA_NAME,
            bidi_supplier: BIDI_NAME,
            link_supplier: LINK_NAME,
        },
    )
    settings = Settings(home=tmp_path_factory.mktemp("browser-home"))
    run(settings, [exports.orders, exports.disputes])
    return settings, html_supplier, formula_supplier


@pytest.fixture(scope="module")
def dashboard_url(hostile_home, tmp_path_factory) -> Iterator[str]:
    settings = hostile_home[0]
    port = free_port()
    log = tmp_path_factory.mktemp("browser-log") / "dashboard.log"
    with open(log, "w") as output:
        # Its own session, so the streamlit process the CLI starts is stopped with it.
        server = subprocess.Popen(
            [sys.executable, "-m", "dropscore", "dashboard", "--port", str(port)],
            cwd=PROJECT_DIR,
            env={**os.environ, "DROPSCORE_HOME": str(settings.home)},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, server, log)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


MISSING_CHROMIUM = (
    f"Chromium not found at {CHROMIUM}: install the Debian package `chromium` or set "
    "DROPSCORE_CHROMIUM to its path (the browser test never downloads one)"
)


def test_chromium_is_installed():
    assert CHROMIUM.is_file(), MISSING_CHROMIUM


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(MISSING_CHROMIUM)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 1600}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    yield page
    context.close()
    assert dialogs == [], f"a page opened a dialog: {dialogs}"


def open_page(page: Page, url: str, title: str) -> Page:
    page.goto(url)
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    settle(page)
    return page


def settle(page: Page) -> None:
    """Wait until the script run is over: Streamlit shows its status widget while running."""
    page.wait_for_load_state("networkidle")
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)
    page.wait_for_timeout(300)


def finish(page: Page, name: str) -> None:
    expect(page.get_by_test_id("stException")).to_have_count(0)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")


def grid_cells(page: Page) -> list[str]:
    """The visible cells of the page's tables (the grid draws on a canvas and mirrors the cells
    in an accessible table, filled in once the canvas has drawn)."""
    cells = page.get_by_test_id("stDataFrame").locator('[role="gridcell"]')
    cells.first.wait_for(state="attached")
    return cells.all_inner_texts()


def search_suppliers(page: Page, text: str, listed: str) -> None:
    page.get_by_label("Name contains").fill(text)
    page.get_by_label("Name contains").press("Enter")
    expect(page.get_by_text(listed)).to_be_visible()
    settle(page)


def test_overview(page, dashboard_url):
    open_page(page, dashboard_url, "Overview")
    for label in ("Order lines", "Defect ratio", "Refund rate", "Money lost", "Recovered"):
        expect(page.get_by_test_id("stMetricLabel").filter(has_text=label)).to_have_count(1)
    expect(page.get_by_test_id("stVegaLiteChart")).to_have_count(3)
    expect(page.get_by_role("heading", name="Costliest suppliers to avoid")).to_be_visible()
    expect(page.get_by_role("heading", name="New alerts")).to_be_visible()
    finish(page, "1-overview")


def test_suppliers_filter_and_drill_down(page, dashboard_url, hostile_home):
    settings, html_supplier, _ = hostile_home
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        (worst,) = con.execute(
            "select verdict from marts.fct_supplier_scorecard order by risk_rank limit 1"
        ).fetchone()
    open_page(page, f"{dashboard_url}/suppliers", "Suppliers")
    expect(page.get_by_test_id("stDataFrame")).to_have_count(1)
    assert grid_cells(page)[0] == worst  # worst first
    expect(page.get_by_role("button", name="Download CSV")).to_be_visible()
    finish(page, "2-suppliers")

    search_suppliers(page, "onerror", "1 supplier listed")
    assert HOSTILE_NAME in grid_cells(page)
    assert page.locator('img[src="x"]').count() == 0

    # Clicking the row's selection box opens the supplier, with its id in the URL.
    table = page.get_by_test_id("stDataFrame").bounding_box()
    page.mouse.click(table["x"] + 15, table["y"] + 35 + 17)
    page.wait_for_url(f"**/supplier?supplier={html_supplier}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Supplier")
    settle(page)
    expect(page.get_by_test_id("stText").first).to_have_text(
        f"{HOSTILE_NAME}  —  store id {html_supplier}"
    )


def test_supplier_page_shows_a_hostile_name_as_text(page, dashboard_url, hostile_home):
    _, html_supplier, _ = hostile_home
    open_page(page, f"{dashboard_url}/supplier?supplier={html_supplier}", "Supplier")
    expect(page.get_by_test_id("stText").first).to_have_text(
        f"{HOSTILE_NAME}  —  store id {html_supplier}"
    )
    expect(page.get_by_role("combobox", name="Supplier")).to_have_value(
        re.compile("^" + re.escape(HOSTILE_NAME))
    )
    assert page.locator('img[src="x"]').count() == 0
    for label in ("Verdict", "Defect ratio", "Not received", "Mature lines"):
        expect(page.get_by_test_id("stMetricLabel").filter(has_text=label)).to_have_count(1)
    expect(page.get_by_text("Why this verdict")).to_be_visible()
    for tab in ("Weekly", "Reasons", "Products", "Disputes"):
        expect(page.get_by_role("tab", name=tab)).to_be_visible()
    page.get_by_role("tab", name="Disputes").click()
    finish(page, "3-supplier")


def test_supplier_page_shows_a_bidi_override_as_an_escape(page, dashboard_url, hostile_home):
    settings = hostile_home[0]
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        (supplier,) = con.execute(
            "select supplier_id from marts.dim_suppliers where supplier_name = ?", [BIDI_NAME]
        ).fetchone()
    open_page(page, f"{dashboard_url}/supplier?supplier={supplier}", "Supplier")
    escaped = BIDI_NAME.replace("\u202e", "\\u202e")
    expect(page.get_by_test_id("stText").first).to_have_text(f"{escaped}  —  store id {supplier}")
    expect(page.get_by_role("combobox", name="Supplier")).to_have_value(
        re.compile("^" + re.escape(f"{escaped}  ·  "))
    )
    finish(page, "3-supplier-bidi")


def test_products(page, dashboard_url):
    open_page(page, f"{dashboard_url}/products", "Products")
    expect(page.get_by_role("heading", name="Switches worth making")).to_be_visible()
    expect(page.get_by_role("heading", name="Products with more than one supplier")).to_be_visible()
    finish(page, "4-products")


def test_deadlines(page, dashboard_url):
    open_page(page, f"{dashboard_url}/deadlines", "Deadlines")
    table_or_nothing_due = page.get_by_test_id("stDataFrame").or_(page.get_by_text("Nothing due"))
    expect(table_or_nothing_due.first).to_be_visible()
    finish(page, "5-deadlines")


def test_sql_runs_a_query_and_refuses_a_write(page, dashboard_url, hostile_home):
    settings = hostile_home[0]
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        (suppliers,) = con.execute("select count(*) from marts.fct_supplier_scorecard").fetchone()
    open_page(page, f"{dashboard_url}/sql", "SQL")
    expect(page.get_by_text("Tables and columns")).to_be_visible()
    editor = page.get_by_role("textbox", name="One read-only statement")
    editor.fill("select count(*) as suppliers from marts.fct_supplier_scorecard")
    page.get_by_role("button", name="Run").click()
    settle(page)
    expect(page.get_by_text("1 rows in")).to_be_visible()
    # the result grid can draw after the schema browser's: wait for the count itself
    expect(
        page.get_by_test_id("stDataFrame").locator(
            '[role="gridcell"]', has_text=re.compile(rf"^{suppliers}$")
        )
    ).not_to_have_count(0)
    finish(page, "6-sql")

    editor.fill("drop table marts.fct_supplier_scorecard")
    page.get_by_role("button", name="Run").click()
    settle(page)
    expect(page.get_by_test_id("stAlertContentError").get_by_role("paragraph")).to_have_text(
        "refused: the warehouse is read-only (DROP)"
    )


def test_sql_error_quoting_a_link_or_an_address_makes_no_link(page, dashboard_url):
    open_page(page, f"{dashboard_url}/sql", "SQL")
    page.get_by_role("textbox", name="One read-only statement").fill(
        "select cast(supplier_name as integer) from marts.dim_suppliers "
        "where supplier_name like 'Shop http%'"
    )
    page.get_by_role("button", name="Run").click()
    settle(page)
    error = page.get_by_test_id("stAlertContentError")
    expect(error).to_contain_text("Could not convert string 'Shop http:")
    expect(error.locator("a")).to_have_count(0)
    finish(page, "6-sql-error")


def test_data_health(page, dashboard_url):
    open_page(page, f"{dashboard_url}/health", "Data health")
    for heading in ("Warehouse", "Freshness of each input", "Loads", "Rejected rows", "Builds"):
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    assert "orders.csv" in grid_cells(page)
    finish(page, "7-health")


def test_csv_download_defuses_a_formula_name(page, dashboard_url):
    open_page(page, f"{dashboard_url}/suppliers", "Suppliers")
    search_suppliers(page, "hyperlink", "1 supplier listed")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    rows = list(csv.reader(text.splitlines()))
    names = [row[rows[0].index("supplier_name")] for row in rows[1:]]
    assert names == ["'" + FORMULA_NAME]
    # ... and the table's own toolbar offers no download, which would write it as it is
    page.get_by_test_id("stDataFrame").hover()
    expect(page.get_by_test_id("stElementToolbar").first).to_be_visible()
    expect(page.get_by_role("button", name="Download as CSV")).to_have_count(0)
