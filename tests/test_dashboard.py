"""The dashboard, page by page, with Streamlit's AppTest on real warehouses built from generated
exports: what each page shows, its filters, the drill-down to a supplier, the SQL sandbox, the
empty and partial warehouse states, and names from a stranger's store shown as text."""

from __future__ import annotations

import ast
import csv
import json
import os
import re
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import vl_convert
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest

from dashboards import charts, queries, ui
from dropscore.config import PROJECT_DIR, Settings
from dropscore.controls import escape_controls
from dropscore.pipeline import build, run
from dropscore.safe_csv import dataframe_csv
from ingest.generate import generate

APP = PROJECT_DIR / "dashboards" / "app.py"
PAGES = {
    "overview": "app_pages/overview.py",
    "suppliers": "app_pages/suppliers.py",
    "supplier": "app_pages/supplier.py",
    "products": "app_pages/products.py",
    "deadlines": "app_pages/deadlines.py",
    "sql": "app_pages/sql.py",
    "health": "app_pages/health.py",
}
TITLES = {
    "overview": "Overview",
    "suppliers": "Suppliers",
    "supplier": "Supplier",
    "products": "Products",
    "deadlines": "Deadlines",
    "sql": "SQL",
    "health": "Data health",
}
HOSTILE_NAME = "<img src=x onerror=alert(1)>"
FORMULA_NAME = '=HYPERLINK("http://example.com/x","click")'
BIDI_NAME = "Bright Lighting \u202eOfficial Store"  # an unclosed right-to-left override
LINK_NAME = "Shop http://www.evil.example, user@example.com"
# What `escape_controls` writes as escapes, but line breaks: the dashboard's own texts have them
# (the SQL editor's example, the warehouse's descriptions).
CONTROLS = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufffe\uffff]")


def published(settings: Settings, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def published_value(settings: Settings, sql: str, params: list | None = None):
    """The first column of the query's first row."""
    return published(settings, sql, params)[0][0]


def open_page(
    home: Path, page: str, monkeypatch, query: dict[str, str] | None = None, **state
) -> AppTest:
    """The app on `page`, run once, with `state` preset in the session (e.g. window="4w")."""
    monkeypatch.setenv("DROPSCORE_HOME", str(home))
    app = AppTest.from_file(str(APP), default_timeout=60)
    for key, value in state.items():
        app.session_state[key] = value
    app.run()
    if page != "overview":
        app.switch_page(PAGES[page])
    if query:
        app.query_params.update(query)
    app.run()
    assert not app.exception, [exception.value for exception in app.exception]
    return app


def frame_with(app: AppTest, *columns: str):
    """The first table on the page with all of `columns` (a table without selection carries no
    key AppTest can find it by)."""
    for frame in app.dataframe:
        if set(columns) <= set(frame.value.columns):
            return frame.value
    raise AssertionError(f"no table with columns {columns}")


def texts(app: AppTest) -> list[str]:
    return [element.value for element in app.text]


def captions(app: AppTest) -> str:
    return "\n".join(caption.value for caption in app.caption)


def metric(app: AppTest, label: str) -> str:
    values = [m.value for m in app.metric if m.label == label]
    assert values, f"no metric {label!r} in {[m.label for m in app.metric]}"
    return values[0]


def rename_supplier(
    orders_csv: Path, names: dict[str, str], ids: dict[str, str] | None = None
) -> None:
    """Give suppliers new names (and store ids) in a generated orders.csv, quoting as CSV
    needs."""
    with open(orders_csv, newline="", encoding="utf-8") as file:
        rows = list(csv.reader(file))
    column = rows[0].index("supplier_name")
    supplier = rows[0].index("supplier_id")
    for row in rows[1:]:
        row[column] = names.get(row[supplier], row[column])
        row[supplier] = (ids or {}).get(row[supplier], row[supplier])
    with open(orders_csv, "w", newline="", encoding="utf-8") as file:
        csv.writer(file, lineterminator="\n").writerows(rows)


def worst_suppliers(truth_csv: Path, count: int) -> list[str]:
    """The suppliers the generator made worst: bound for `avoid` with enough lines."""
    with open(truth_csv, newline="") as file:
        truth = list(csv.DictReader(file))
    bad = [row for row in truth if row["band"] == "bad"]
    bad.sort(key=lambda row: -float(row["defect_probability"]))
    return [row["supplier_id"] for row in bad[:count]]


@pytest.fixture(scope="module")
def hostile_settings(tmp_path_factory) -> Settings:
    """A warehouse where suppliers are named by an attacker: with HTML, a spreadsheet formula,
    a right-to-left override and a link; and one whose store id holds an override."""
    exports = generate(tmp_path_factory.mktemp("hostile-exports"), orders=1_500, seed=5)
    worst = worst_suppliers(exports.truth, 3)
    html_supplier, formula_supplier, bidi_supplier = worst
    with open(exports.truth, newline="") as file:
        others = sorted({row["supplier_id"] for row in csv.DictReader(file)} - set(worst))
    link_supplier, odd_supplier = others[:2]
    rename_supplier(
        exports.orders,
        {
            html_supplier: HOSTILE_NAME,
            formula_supplier: FORMULA_NAME,
            bidi_supplier: BIDI_NAME,
            link_supplier: LINK_NAME,
        },
        ids={odd_supplier: odd_store_id(odd_supplier)},
    )
    settings = Settings(home=tmp_path_factory.mktemp("hostile-home"))
    run(settings, [exports.orders, exports.disputes])
    return settings


def odd_store_id(supplier: str) -> str:
    """A store id with a right-to-left override in it: shown as is, 1103\u202e095897 would read
    1103798590."""
    return f"{supplier[:4]}\u202e{supplier[4:]}"


@pytest.fixture(scope="module")
def orders_only_settings(tmp_path_factory, sample_exports) -> Settings:
    """A home built from the orders export alone: no dispute has been loaded."""
    settings = Settings(home=tmp_path_factory.mktemp("orders-only-home"))
    run(settings, [sample_exports.orders])
    return settings


def copy_home(source: Settings, target: Path) -> Settings:
    target.mkdir(parents=True)
    shutil.copyfile(source.warehouse_path, target / "warehouse.duckdb")
    return Settings(home=target)


# --- every page ------------------------------------------------------------------------------


@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_renders_its_title_without_an_exception(built_settings, monkeypatch, page):
    app = open_page(built_settings.home, page, monkeypatch)
    assert app.title[0].value == TITLES[page]
    assert not app.error


@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_explains_how_to_load_data_when_nothing_is_published(
    settings, monkeypatch, page
):
    app = open_page(settings.home, page, monkeypatch)
    assert app.title[0].value == TITLES[page]
    assert "dropscore run" in app.info[0].value
    assert not app.dataframe
    assert not app.error


@pytest.fixture(scope="module")
def empty_settings(tmp_path_factory) -> Settings:
    """A home where a build ran before any file was loaded: published, but no order lines."""
    settings = Settings(home=tmp_path_factory.mktemp("empty-home"))
    build(settings)
    return settings


@pytest.mark.parametrize("page", list(PAGES))
def test_a_published_warehouse_without_order_lines_says_how_to_load_data(
    empty_settings, monkeypatch, page
):
    app = open_page(empty_settings.home, page, monkeypatch)
    assert app.title[0].value == TITLES[page]
    assert not app.error
    if page in ("sql", "health"):  # still useful: what was loaded, what the tables hold
        assert not app.info
    else:
        assert app.info[0].value.startswith("The published warehouse has no order lines yet.")
        assert "dropscore run" in app.info[0].value
        assert not app.dataframe


def test_every_widget_has_an_explicit_key(built_settings, monkeypatch):
    for page in PAGES:
        query = {"supplier": first_avoid(built_settings)} if page == "supplier" else None
        app = open_page(built_settings.home, page, monkeypatch, query)
        widgets = [
            *app.selectbox,
            *app.multiselect,
            *app.pills,
            *app.text_input,
            *app.text_area,
            *app.number_input,
            *app.button,
            *app.get("download_button"),
        ]
        for widget in widgets:
            # Streamlit makes an id from a user key as "$$ID-<hash>-<key>"; without a key there
            # is no user part.
            assert widget.key, f"{page}: widget {widget.label!r} has no key"


WIDGETS = {
    "altair_chart",
    "button",
    "checkbox",
    "data_editor",
    "dataframe",
    "date_input",
    "download_button",
    "form",
    "form_submit_button",
    "multiselect",
    "number_input",
    "pills",
    "radio",
    "segmented_control",
    "selectbox",
    "slider",
    "tabs",
    "text_area",
    "text_input",
    "toggle",
}


def test_every_widget_call_in_the_dashboard_code_passes_a_key():
    """Also the widgets no test happens to render (an error branch, a rare state)."""
    missing = []
    for path in sorted((PROJECT_DIR / "dashboards").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in WIDGETS
                and not any(keyword.arg == "key" for keyword in node.keywords)
            ):
                missing.append(f"{path.relative_to(PROJECT_DIR)}:{node.lineno} {node.func.attr}")
    assert missing == []


# --- overview --------------------------------------------------------------------------------


def test_overview_headline_figures_match_the_warehouse(built_settings, monkeypatch):
    app = open_page(built_settings.home, "overview", monkeypatch)
    lines, loss, recovered = published(
        built_settings,
        """
        select count(*), sum(loss_amount), sum(recovered_amount)
        from marts.fct_order_lines where is_in_analysis_window
        """,
    )[0]
    verdicts = dict(
        published(
            built_settings, "select verdict, count(*) from marts.fct_supplier_scorecard group by 1"
        )
    )
    assert metric(app, "Order lines") == f"{lines:,}"
    assert metric(app, "Money lost") == f"{loss:,.0f}"
    assert metric(app, "Recovered") == f"{recovered:,.0f}"
    helps = {m.label: m.help for m in app.metric}
    assert f"Exactly {loss:,.2f} USD" in helps["Money lost"]
    assert f"Exactly {recovered:,.2f} USD" in helps["Recovered"]
    assert metric(app, "Suppliers: avoid") == f"{verdicts.get('avoid', 0):,}"
    assert metric(app, "Defect ratio").endswith(" %")
    assert metric(app, "Refund rate").endswith(" %")
    assert len(app.get("vega_lite_chart")) == 3


def test_overview_lists_the_five_costliest_suppliers_to_avoid(built_settings, monkeypatch):
    app = open_page(built_settings.home, "overview", monkeypatch)
    expected = published(
        built_settings,
        """
        select supplier_id from marts.fct_supplier_scorecard
        where verdict = 'avoid' order by loss_amount desc, supplier_id limit 5
        """,
    )
    costliest = app.dataframe[0].value
    assert list(costliest["supplier_id"]) == [supplier for (supplier,) in expected]
    assert costliest["loss_amount"].is_monotonic_decreasing


def test_overview_new_alerts_come_from_the_newest_weeks(built_settings, monkeypatch):
    app = open_page(built_settings.home, "overview", monkeypatch)
    expected = published_value(
        built_settings,
        """
        select count(*) from marts.fct_supplier_weeks
        where is_alert
            and ordered_week > (select max(ordered_week) from marts.fct_supplier_weeks) - 28
        """,
    )
    if expected:
        assert len(app.dataframe[1].value) == expected
    else:
        assert any("No supplier had a week" in s.value for s in app.success)


def test_a_narrower_window_counts_fewer_lines(built_settings, monkeypatch):
    everything = open_page(built_settings.home, "overview", monkeypatch)
    recent = open_page(built_settings.home, "overview", monkeypatch, window="4w")
    as_of = queries_as_of(built_settings)
    start = as_of.fromordinal(as_of.toordinal() - as_of.weekday() - 21)
    lines = published_value(
        built_settings,
        "select count(*) from marts.fct_order_lines where is_in_analysis_window "
        "and ordered_date >= ?",
        [start],
    )
    assert metric(recent, "Order lines") == f"{lines:,}"
    assert int(metric(recent, "Order lines").replace(",", "")) < int(
        metric(everything, "Order lines").replace(",", "")
    )
    assert "Last 4 weeks" in captions(recent)


def queries_as_of(settings: Settings):
    return published(settings, "select cast(max(as_of_at) as date) from marts.fct_order_lines")[0][
        0
    ]


# --- suppliers -------------------------------------------------------------------------------


def first_avoid(settings: Settings) -> str:
    return published_value(
        settings,
        "select supplier_id from marts.fct_supplier_scorecard where verdict = 'avoid' "
        "order by risk_rank limit 1",
    )


def listed(app: AppTest) -> str:
    """The suppliers page's caption counting what the table lists."""
    (caption,) = [caption.value for caption in app.caption if " listed · " in caption.value]
    return caption


def test_suppliers_lists_every_supplier_worst_first(built_settings, monkeypatch):
    app = open_page(built_settings.home, "suppliers", monkeypatch)
    table = app.dataframe[0].value
    expected = published(
        built_settings, "select supplier_id from marts.fct_supplier_scorecard order by risk_rank"
    )
    assert list(table["supplier_id"]) == [supplier for (supplier,) in expected]
    assert table["verdict"].iloc[0] == "avoid"
    order = [queries.VERDICT_ORDER.index(verdict) for verdict in table["verdict"]]
    assert order == sorted(order)
    counts = dict(
        published(
            built_settings, "select verdict, count(*) from marts.fct_supplier_scorecard group by 1"
        )
    )
    assert listed(app) == (
        f"{len(table):,} suppliers listed · Scorecard period · "
        + " · ".join(
            f"{ui.VERDICT_LABELS[verdict].lower()} {counts.get(verdict, 0):,}"
            for verdict in queries.VERDICT_ORDER
        )
    )


def test_suppliers_filters_by_verdict(built_settings, monkeypatch):
    app = open_page(built_settings.home, "suppliers", monkeypatch)
    app.pills(key="suppliers_verdicts").set_value(["avoid", "watch"]).run()
    table = app.dataframe[0].value
    expected = published_value(
        built_settings,
        "select count(*) from marts.fct_supplier_scorecard where verdict in ('avoid', 'watch')",
    )
    assert len(table) == expected
    assert set(table["verdict"]) == {"avoid", "watch"}


def test_suppliers_filters_by_minimum_lines(built_settings, monkeypatch):
    app = open_page(built_settings.home, "suppliers", monkeypatch)
    app.number_input(key="suppliers_min_lines").set_value(100).run()
    table = app.dataframe[0].value
    expected = published_value(
        built_settings, "select count(*) from marts.fct_supplier_scorecard where lines >= 100"
    )
    assert expected > 0
    assert len(table) == expected
    assert (table["window_lines"] >= 100).all()


def test_suppliers_searches_names_case_insensitively(built_settings, monkeypatch):
    app = open_page(built_settings.home, "suppliers", monkeypatch)
    word = published_value(
        built_settings, "select supplier_name from marts.fct_supplier_scorecard limit 1"
    ).split()[0]
    app.text_input(key="suppliers_search").input(word.upper()).run()
    table = app.dataframe[0].value
    assert len(table) >= 1
    assert all(word.lower() in name.lower() for name in table["supplier_name"])


def test_suppliers_search_with_no_match_says_so(built_settings, monkeypatch):
    app = open_page(built_settings.home, "suppliers", monkeypatch)
    app.text_input(key="suppliers_search").input("no such store %_").run()
    assert not app.exception
    assert not app.dataframe
    assert app.info[0].value == "No supplier matches these filters."


@pytest.mark.parametrize(
    ("sort", "column", "descending"),
    [
        ("loss", "window_loss_amount", True),
        ("defect_ratio", "defect_ratio", True),
        ("lines", "window_lines", True),
    ],
)
def test_suppliers_sorts(built_settings, monkeypatch, sort, column, descending):
    app = open_page(built_settings.home, "suppliers", monkeypatch)
    app.selectbox(key="suppliers_sort").set_value(sort).run()
    values = app.dataframe[0].value[column].dropna()
    assert values.is_monotonic_decreasing if descending else values.is_monotonic_increasing


def test_suppliers_window_lists_suppliers_with_lines_in_it(built_settings, monkeypatch):
    app = open_page(built_settings.home, "suppliers", monkeypatch, window="4w")
    table = app.dataframe[0].value
    everyone = published_value(built_settings, "select count(*) from marts.fct_supplier_scorecard")
    assert 0 < len(table) <= everyone
    assert (table["window_lines"] > 0).all()
    totals = published_value(
        built_settings,
        """
        select sum(week_lines) from marts.fct_supplier_weeks
        where ordered_week >= (select max(ordered_week) from marts.fct_supplier_weeks) - 21
        """,
    )
    assert table["window_lines"].sum() == totals


def test_suppliers_csv_neutralises_formulas(hostile_settings, monkeypatch):
    monkeypatch.setenv("DROPSCORE_HOME", str(hostile_settings.home))
    frame = queries.scorecard(None, search="hyperlink")
    assert list(frame["supplier_name"]) == [FORMULA_NAME]
    text = dataframe_csv(frame)
    assert "'=HYPERLINK(" in text
    assert ",=HYPERLINK(" not in text and "\n=HYPERLINK(" not in text


def test_suppliers_page_offers_the_csv_download(built_settings, monkeypatch):
    app = open_page(built_settings.home, "suppliers", monkeypatch)
    assert [button.label for button in app.get("download_button")] == ["Download CSV"]


# --- one supplier ----------------------------------------------------------------------------


def verdict_tile(app: AppTest):
    (tile,) = [tile for tile in app.metric if tile.label == "Verdict"]
    return tile


def test_supplier_detail_opens_from_the_query_parameter(built_settings, monkeypatch):
    supplier = first_avoid(built_settings)
    name, reason, mature = published(
        built_settings,
        "select supplier_name, verdict_reason, mature_lines "
        "from marts.fct_supplier_scorecard where supplier_id = ?",
        [supplier],
    )[0]
    app = open_page(built_settings.home, "supplier", monkeypatch, {"supplier": supplier})
    assert app.selectbox(key="supplier").value == supplier
    assert f"{name}  —  store id {supplier}" in texts(app)
    assert reason in texts(app)
    assert metric(app, "Verdict") == "Avoid"
    (rank,) = published(
        built_settings,
        "select risk_rank from marts.fct_supplier_scorecard where supplier_id = ?",
        [supplier],
    )[0]
    assert verdict_tile(app).delta == f"#{rank} by risk"
    assert metric(app, "Mature lines") == f"{mature:,}"
    assert app.query_params["supplier"] == supplier


def test_supplier_detail_shows_weekly_limits_reasons_products_and_disputes(
    built_settings, monkeypatch
):
    supplier = first_avoid(built_settings)
    app = open_page(built_settings.home, "supplier", monkeypatch, {"supplier": supplier})
    weekly, reasons, products, disputes = app.tabs
    assert [tab.label for tab in app.tabs] == ["Weekly", "Reasons", "Products", "Disputes"]
    assert len(weekly.get("vega_lite_chart")) == 2  # defect ratio, not received
    reason_rows = reasons.get("dataframe")[0].value
    expected = published(
        built_settings,
        "select category, count(*) from marts.fct_disputes "
        "where supplier_id = ? and is_counted group by 1 order by 2 desc, 1",
        [supplier],
    )
    assert list(zip(reason_rows["category"], reason_rows["disputes"], strict=True)) == expected
    product_rows = products.get("dataframe")[0].value
    assert len(product_rows) == min(
        queries.TABLE_ROWS,
        published_value(
            built_settings,
            "select count(*) from marts.fct_product_suppliers where supplier_id = ?",
            [supplier],
        ),
    )
    unit_costs = published(
        built_settings,
        "select product_id, average_unit_amount from marts.fct_product_suppliers "
        "where supplier_id = ?",
        [supplier],
    )
    shown = product_rows.set_index("product_id")["average_unit_amount"]
    expected_costs = pd.Series(
        {product: None if amount is None else float(amount) for product, amount in unit_costs},
        dtype="float64",
    )
    pd.testing.assert_series_equal(
        shown, expected_costs.reindex(shown.index), check_names=False, check_index_type=False
    )
    dispute_rows = disputes.get("dataframe")[0].value
    assert dispute_rows["opened_at"].is_monotonic_decreasing
    assert len(dispute_rows) == min(
        queries.TABLE_ROWS,
        published_value(
            built_settings,
            "select count(*) from marts.fct_disputes where supplier_id = ?",
            [supplier],
        ),
    )


def test_supplier_picker_changes_the_url(built_settings, monkeypatch):
    first, second = (
        row[0]
        for row in published(
            built_settings,
            "select supplier_id from marts.fct_supplier_scorecard order by supplier_id limit 2",
        )
    )
    app = open_page(built_settings.home, "supplier", monkeypatch, {"supplier": first})
    app.selectbox(key="supplier").set_value(second).run()
    assert not app.exception
    assert app.query_params["supplier"] == second
    assert any(text.endswith(f"store id {second}") for text in texts(app))


def test_supplier_detail_for_an_unknown_id_says_so(built_settings, monkeypatch):
    app = open_page(built_settings.home, "supplier", monkeypatch, {"supplier": "no-such-store"})
    assert app.warning[0].value == "There is no supplier with that store id in this warehouse."
    assert app.selectbox(key="supplier").value is None


def test_selecting_a_supplier_row_opens_its_page(built_settings, monkeypatch):
    """A row click sets the dataframe's selection state; the page then switches with the id in
    the URL. AppTest cannot click a canvas row, so the selection is set as the browser would."""
    app = open_page(built_settings.home, "suppliers", monkeypatch)
    app.selectbox(key="window").set_value("26w").run()
    table = app.dataframe[0].value
    app.session_state["suppliers_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    app.run()
    assert not app.exception
    assert app.title[0].value == "Supplier"
    assert app.selectbox(key="supplier").value == table["supplier_id"].iloc[0]
    assert app.query_params["supplier"] == table["supplier_id"].iloc[0]
    assert app.selectbox(key="window").value == "26w"  # the window survives the drill-down


# --- products and deadlines ------------------------------------------------------------------


def test_products_lists_the_supported_switches_biggest_saving_first(built_settings, monkeypatch):
    app = open_page(built_settings.home, "products", monkeypatch)
    expected = published_value(
        built_settings,
        "select count(*) from marts.fct_product_suppliers where is_switch_supported",
    )
    if expected == 0:
        assert app.success
        return
    switches = app.dataframe[0].value
    assert len(switches) == min(expected, queries.TABLE_ROWS)
    assert (switches["recommended_supplier_id"] != switches["supplier_id"]).all()
    assert switches["recommended_supplier_name"].notna().all()
    assert switches[["average_unit_amount", "recommended_unit_amount"]].notna().all().all()
    volume = switches["saving_per_100_orders"] * switches["lines"]
    assert volume.is_monotonic_decreasing


def test_products_with_several_suppliers_are_listed(built_settings, monkeypatch):
    app = open_page(built_settings.home, "products", monkeypatch)
    expected = published_value(
        built_settings,
        """
        select count(*) from (
            select product_id from marts.fct_product_suppliers
            group by 1 having count(distinct supplier_id) > 1
        )
        """,
    )
    products = app.dataframe[-1].value
    assert len(products) == min(expected, queries.TABLE_ROWS)
    assert (products["suppliers"] > 1).all()


def test_deadlines_lists_the_most_urgent_first(built_settings, monkeypatch):
    app = open_page(built_settings.home, "deadlines", monkeypatch)
    expected = published_value(built_settings, "select count(*) from marts.fct_dispute_deadlines")
    if expected == 0:
        assert app.success
        return
    rows = app.dataframe[0].value
    assert len(rows) == min(expected, queries.TABLE_ROWS)
    assert rows["deadline_at"].is_monotonic_increasing
    assert rows["action"].notna().all()


def test_deadlines_filter_by_kind(built_settings, monkeypatch):
    app = open_page(built_settings.home, "deadlines", monkeypatch)
    app.multiselect(key="deadlines_kinds").set_value(["escalate_dispute"]).run()
    assert not app.exception
    expected = published_value(
        built_settings,
        "select count(*) from marts.fct_dispute_deadlines where deadline_kind = 'escalate_dispute'",
    )
    if expected:
        assert set(app.dataframe[0].value["deadline_kind"]) == {"escalate_dispute"}
    else:
        assert app.success


# --- SQL -------------------------------------------------------------------------------------


def run_sql(app: AppTest, sql: str, max_rows: int | None = None) -> AppTest:
    app.text_area(key="sql_text").input(sql)
    if max_rows is not None:
        app.number_input(key="sql_max_rows").set_value(max_rows)
    app.button(key="sql_run").click().run()
    assert not app.exception
    return app


def test_sql_runs_a_read_query_and_offers_its_csv(built_settings, monkeypatch):
    app = open_page(built_settings.home, "sql", monkeypatch)
    run_sql(
        app, "select verdict, count(*) as suppliers from marts.fct_supplier_scorecard group by 1"
    )
    result = frame_with(app, "verdict", "suppliers")
    expected = dict(
        published(
            built_settings, "select verdict, count(*) from marts.fct_supplier_scorecard group by 1"
        )
    )
    assert dict(zip(result["verdict"], result["suppliers"], strict=True)) == expected
    assert "download_button" in [element.type for element in app.get("download_button")]


def test_sql_caps_the_rows_and_says_so(built_settings, monkeypatch):
    app = open_page(built_settings.home, "sql", monkeypatch)
    run_sql(app, "select * from marts.fct_order_lines", max_rows=25)
    assert len(frame_with(app, "order_line_id", "supplier_id")) == 25
    assert "capped at 25" in captions(app)


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            "delete from marts.fct_supplier_scorecard",
            "refused: the warehouse is read-only (DELETE)",
        ),
        (
            "create table marts.mine as select 1",
            "refused: the warehouse is read-only (CREATE)",
        ),
        (
            "select * from read_csv('/etc/passwd')",
            "refused: queries may not read or write files (/etc/passwd)",
        ),
        (
            "copy marts.fct_supplier_scorecard to '/tmp/out.csv'",
            "refused: queries may not read or write files (COPY)",
        ),
    ],
)
def test_sql_refuses_writes_and_file_access_in_one_error_line(
    built_settings, monkeypatch, sql, message
):
    before = built_settings.warehouse_path.stat().st_mtime_ns
    app = open_page(built_settings.home, "sql", monkeypatch)
    run_sql(app, sql)
    assert [error.value for error in app.error] == [ui.escape_markdown(message)]
    assert len(app.dataframe) == 1  # the schema browser's, and no result
    assert built_settings.warehouse_path.stat().st_mtime_ns == before


def test_sql_reports_a_broken_query(built_settings, monkeypatch):
    app = open_page(built_settings.home, "sql", monkeypatch)
    run_sql(app, "select no_such_column from marts.fct_supplier_scorecard")
    assert app.error[0].value.startswith(ui.escape_markdown("query failed: "))


def test_sql_shows_a_join_s_repeated_columns_and_integers_wider_than_64_bits(
    built_settings, monkeypatch
):
    app = open_page(built_settings.home, "sql", monkeypatch)
    run_sql(
        app,
        "select s.supplier_id, c.supplier_id, 170141183460469231731687303715884105727::hugeint"
        " as widest from marts.dim_suppliers as s join marts.fct_supplier_scorecard as c"
        " using (supplier_id) order by 1 limit 3",
    )
    result = frame_with(app, "supplier_id", "supplier_id_1", "widest")
    assert len(result) == 3 and list(result["supplier_id"]) == list(result["supplier_id_1"])
    assert set(result["widest"]) == {"170141183460469231731687303715884105727"}
    assert not app.error


def test_sql_schema_browser_shows_columns_and_descriptions(built_settings, monkeypatch):
    app = open_page(built_settings.home, "sql", monkeypatch)
    assert app.selectbox(key="sql_table").options[0].startswith("marts.")
    app.selectbox(key="sql_table").set_value("marts.fct_supplier_scorecard").run()
    columns = frame_with(app, "column_name", "description")
    described = dict(zip(columns["column_name"], columns["description"], strict=True))
    assert "verdict" in described
    comment = published_value(
        built_settings,
        "select comment from duckdb_columns() where schema_name = 'marts' "
        "and table_name = 'fct_supplier_scorecard' and column_name = 'defect_ratio'",
    )
    assert comment and described["defect_ratio"] == comment
    assert any(text.startswith("One row per supplier") for text in texts(app))


# --- data health -----------------------------------------------------------------------------


def test_health_shows_loads_freshness_builds_and_the_warehouse(built_settings, monkeypatch):
    app = open_page(built_settings.home, "health", monkeypatch)
    loads = frame_with(app, "file_name", "outcome")
    assert set(loads["file_name"]) == {"orders.csv", "disputes.csv"}
    assert (loads["outcome"] == "loaded").all()
    freshness = frame_with(app, "format", "last_loaded_at")
    assert set(freshness["format"]) == {"dropscore-orders", "dropscore-disputes"}
    builds = frame_with(app, "nodes", "finished_at")
    assert len(builds) == published_value(built_settings, "select count(*) from meta.builds")
    assert metric(app, "Built by dropscore") == "0.1.0"
    version = queries.warehouse_version(built_settings.warehouse_path)
    assert f"Reading {built_settings.warehouse_path} (version {version})" in texts(app)
    newest = published_value(built_settings, "select max(ordered_at) from marts.fct_order_lines")
    assert metric(app, "Newest order") == f"{newest:%Y-%m-%d}"


def test_health_shows_the_last_dbt_build(built_settings, tmp_path, monkeypatch):
    app = open_page(built_settings.home, "health", monkeypatch)
    assert app.success[0].value.startswith("Last dbt build: finished ")
    assert " pass" in app.success[0].value

    failed = copy_home(built_settings, tmp_path / "failed")
    (failed.dbt_target_path).mkdir()
    (failed.dbt_target_path / "run_results.json").write_text(
        json.dumps(
            {
                "metadata": {"generated_at": "2026-11-23T08:00:00Z"},
                "elapsed_time": 12.5,
                "results": [
                    {"unique_id": "model.dropscore.fct_order_lines", "status": "success"},
                    {
                        "unique_id": "test.dropscore.not_null_fct_order_lines_supplier_id",
                        "status": "fail",
                        "message": "Got 3 results, configured to fail if != 0\nmore detail",
                    },
                ],
            }
        )
    )
    app = open_page(failed.home, "health", monkeypatch)
    assert app.error[0].value.startswith("The last dbt build failed, so it published nothing")
    assert "1 fail, 1 success" in app.error[0].value
    problems = frame_with(app, "node", "status", "message")
    assert list(problems.itertuples(index=False, name=None)) == [
        (
            "test.dropscore.not_null_fct_order_lines_supplier_id",
            "fail",
            "Got 3 results, configured to fail if != 0",
        )
    ]


def test_health_shows_rejected_rows(built_settings, tmp_path, monkeypatch):
    home = copy_home(built_settings, tmp_path / "rejects")
    con = duckdb.connect(str(home.warehouse_path))
    try:
        con.execute(
            """
            insert into raw.loads values (
                99, 'late.csv', '/exports/late.csv', 'abc', 'dropscore-orders', 'rejected',
                0, 2, 'line 3, column quantity: expected a whole number of at least 1', now()
            )
            """
        )
        con.execute(
            "insert into raw.rejects values (99, 3, 'quantity', 'expected a whole number'), "
            "(99, 7, 'currency', 'expected a 3-letter ISO 4217 code')"
        )
    finally:
        con.close()
    app = open_page(home.home, "health", monkeypatch)
    rejects = frame_with(app, "source_line", "reason")
    assert list(zip(rejects["file_name"], rejects["source_line"], strict=True)) == [
        ("late.csv", 3),
        ("late.csv", 7),
    ]
    assert "2 rejected rows" in captions(app)
    loads = frame_with(app, "file_name", "outcome")
    assert loads["file_name"].iloc[0] == "late.csv"


# --- partial and changing warehouses ---------------------------------------------------------


def test_a_warehouse_without_the_newer_marts_shows_not_in_your_data(
    built_settings, tmp_path, monkeypatch
):
    old = copy_home(built_settings, tmp_path / "old")
    con = duckdb.connect(str(old.warehouse_path))
    try:
        for relation in (
            "table marts.fct_supplier_weeks",
            "table marts.fct_product_suppliers",
            "table marts.fct_dispute_deadlines",
            "view marts.fct_disputes",
        ):
            con.execute(f"drop {relation} cascade")
        con.execute("alter table marts.fct_supplier_scorecard drop column verdict_reason")
        con.execute("alter table marts.fct_supplier_scorecard drop column resend_cost")
        con.execute("alter table marts.fct_supplier_scorecard drop column risk_rank")
    finally:
        con.close()
    supplier = first_avoid_by_bounds(old)
    for page in PAGES:
        app = open_page(old.home, page, monkeypatch, {"supplier": supplier})
        shown = "\n".join(
            [
                captions(app),
                *texts(app),
                *(i.value for i in app.info),
                *(m.value for m in app.metric),
            ]
        )
        if page in ("overview", "supplier", "products", "deadlines"):
            assert ui.NOT_IN_DATA in shown, page
    health = open_page(old.home, "health", monkeypatch)
    missing = frame_with(health, "table", "column")
    assert ("marts.fct_supplier_weeks", "(the whole table)") in set(
        zip(missing["table"], missing["column"], strict=True)
    )
    assert ("marts.fct_supplier_scorecard", "verdict_reason") in set(
        zip(missing["table"], missing["column"], strict=True)
    )


def test_metrics_the_exports_cannot_give_show_not_in_your_data(
    built_settings, tmp_path, monkeypatch
):
    """As for a store that loaded orders but no disputes: every dispute-based count is NULL."""
    home = copy_home(built_settings, tmp_path / "no-disputes")
    con = duckdb.connect(str(home.warehouse_path))
    try:
        con.execute(
            """
            update marts.fct_supplier_scorecard set
                defect_lines = null, not_received_lines = null, refunded_lines = null,
                defect_ratio = null, defect_ratio_lower = null, defect_ratio_upper = null,
                not_received_rate = null, not_received_rate_lower = null,
                not_received_rate_upper = null, refund_rate = null, dispute_rate = null
            """
        )
    finally:
        con.close()
    overview = open_page(home.home, "overview", monkeypatch)
    for label in ("Defect ratio", "Refund rate"):
        (tile,) = [m for m in overview.metric if m.label == label]
        assert (tile.value, tile.delta) == ("—", ui.NOT_IN_DATA)
    suppliers = open_page(home.home, "suppliers", monkeypatch)
    assert "Not in your data: Defect ratio, low, high, Not received" in captions(suppliers)
    assert "defect_ratio" in suppliers.dataframe[0].value  # still in the CSV, empty
    supplier = open_page(
        home.home, "supplier", monkeypatch, {"supplier": first_avoid(built_settings)}
    )
    (tile,) = [m for m in supplier.metric if m.label == "Defect ratio"]
    assert tile.delta == ui.NOT_IN_DATA


def first_avoid_by_bounds(settings: Settings) -> str:
    return published_value(
        settings,
        "select supplier_id from marts.fct_supplier_scorecard where verdict = 'avoid' "
        "order by supplier_id limit 1",
    )


def test_a_new_publish_shows_on_the_next_interaction(built_settings, tmp_path, monkeypatch):
    home = copy_home(built_settings, tmp_path / "live")
    app = open_page(home.home, "suppliers", monkeypatch)
    supplier = app.dataframe[0].value["supplier_id"].iloc[0]
    # A run publishes a new file by an atomic rename, as dropscore.warehouse.publish does.
    staged = tmp_path / "next.duckdb"
    shutil.copyfile(home.warehouse_path, staged)
    con = duckdb.connect(str(staged))
    try:
        con.execute(
            "update marts.fct_supplier_scorecard set supplier_name = 'Renamed Store' "
            "where supplier_id = ?",
            [supplier],
        )
    finally:
        con.close()
    os.replace(staged, home.warehouse_path)
    app.run()
    assert not app.exception
    assert app.dataframe[0].value["supplier_name"].iloc[0] == "Renamed Store"


# --- names from strangers --------------------------------------------------------------------


def test_a_hostile_supplier_name_is_only_ever_shown_as_text(hostile_settings, monkeypatch):
    (supplier,) = published(
        hostile_settings,
        "select supplier_id from marts.fct_supplier_scorecard where supplier_name = ?",
        [HOSTILE_NAME],
    )[0]
    for page in PAGES:
        app = open_page(hostile_settings.home, page, monkeypatch, {"supplier": supplier})
        markup = [
            *app.markdown,
            *app.caption,
            *app.title,
            *app.subheader,
            *app.info,
            *app.success,
            *app.warning,
            *app.error,
        ]
        assert not any(HOSTILE_NAME in element.value for element in markup), page
        assert not any(HOSTILE_NAME in m.label or HOSTILE_NAME in m.value for m in app.metric)
    app = open_page(hostile_settings.home, "supplier", monkeypatch, {"supplier": supplier})
    assert f"{HOSTILE_NAME}  —  store id {supplier}" in texts(app)


def test_escape_markdown_leaves_nothing_for_markdown_to_interpret():
    assert ui.escape_markdown("a *b* <i>c</i>\n:red[d] $e$ [f](g)") == (
        r"a \*b\* \<i\>c\</i\> \:red\[d\] \$e\$ \[f\]\(g\)"
    )


def on_screen(app: AppTest) -> list[str]:
    """Every string the page sends to the browser: texts, labels, options and help, table cells
    and headers, and the charts' specs and data."""
    strings: list[str] = []

    def collect(message) -> None:
        for field, value in message.ListFields():
            for item in value if field.is_repeated else [value]:
                if field.type == field.TYPE_MESSAGE:
                    collect(item)
                elif field.type == field.TYPE_STRING and field.name == "spec":
                    strings.extend(json_strings(json.loads(item)))
                elif field.type == field.TYPE_STRING:
                    strings.append(item)
                elif field.type == field.TYPE_BYTES and field.name == "data" and item:
                    frame = convert_arrow_bytes_to_pandas_df(item)
                    strings.extend(str(column) for column in frame.columns)
                    strings.extend(v for v in frame.to_numpy().ravel() if isinstance(v, str))

    def walk(node) -> None:
        if getattr(node, "proto", None) is not None:
            collect(node.proto)
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(app.main)
    walk(app.sidebar)
    return strings


def json_strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.items() for part in item for s in json_strings(part)]
    if isinstance(value, list):
        return [s for item in value for s in json_strings(item)]
    return []


# The reporting currency as a build through the library, which no --var check guards, takes it.
HOSTILE_CURRENCY = "<b>US\u202eD</b>\x1b[2J"


def test_the_currency_on_the_money_chart_is_escaped_as_text_from_the_data_is():
    """The chart escapes it whatever its caller passed, and draws it as text on the axis only:
    Vega-Lite copies a field's title into the tooltip's and description's expressions without
    escaping backslashes, which would turn the escape back into the character."""
    title = "Money lost (<b>US\\u202eD</b>\\x1b[2J)"
    assert charts.money_title(HOSTILE_CURRENCY) == title
    assert charts.money_title(None) == "Money lost"
    weeks = pd.DataFrame({"week_start": pd.to_datetime(["2026-11-16"]), "loss_amount": [12.5]})
    spec = charts.weekly_loss(weeks, HOSTILE_CURRENCY).to_dict()
    assert spec["encoding"]["y"]["axis"]["title"] == title
    assert [tooltip["title"] for tooltip in spec["encoding"]["tooltip"]] == [
        "Week of",
        "Money lost",
    ]
    drawn = vl_convert.vegalite_to_svg(spec)
    assert "Money lost (&lt;b&gt;US\\u202eD&lt;/b&gt;\\x1b[2J)</text>" in drawn
    assert not CONTROLS.search(drawn)


@pytest.mark.parametrize("page", list(PAGES))
def test_control_characters_and_bidi_overrides_from_the_data_are_shown_as_escapes(
    hostile_settings, monkeypatch, page
):
    """An unclosed right-to-left override in a name would reverse whatever follows it: the rest
    of the picker's label, the store id under it, a rate in the same row."""
    supplier = published_value(
        hostile_settings,
        "select supplier_id from marts.fct_supplier_scorecard where supplier_name = ?",
        [BIDI_NAME],
    )
    app = open_page(hostile_settings.home, page, monkeypatch, {"supplier": supplier})
    shown = on_screen(app)
    assert [text for text in shown if CONTROLS.search(text)] == [], page
    if page == "supplier":
        escaped = escape_controls(BIDI_NAME)
        assert f"{escaped}  —  store id {supplier}" in texts(app)
        stored = published_value(
            hostile_settings,
            "select verdict from marts.fct_supplier_scorecard where supplier_id = ?",
            [supplier],
        )
        verdict = ui.VERDICT_LABELS[stored]
        assert f"{escaped}  ·  {verdict}" in app.selectbox(key="supplier").options
    if page == "suppliers":
        assert escape_controls(BIDI_NAME) in list(app.dataframe[0].value["supplier_name"])


def test_a_dbt_message_quoting_data_shows_control_characters_as_escapes(
    hostile_settings, tmp_path, monkeypatch
):
    home = copy_home(hostile_settings, tmp_path / "failed")
    home.dbt_target_path.mkdir()
    (home.dbt_target_path / "run_results.json").write_text(
        json.dumps(
            {
                "metadata": {"generated_at": "2026-11-23T08:00:00Z"},
                "elapsed_time": 3.0,
                "results": [
                    {
                        "unique_id": "model.dropscore.dim_suppliers",
                        "status": "error",
                        "message": f"Could not convert string '{BIDI_NAME}' to INT32",
                    }
                ],
            }
        )
    )
    app = open_page(home.home, "health", monkeypatch)
    problems = frame_with(app, "node", "message")
    assert list(problems["message"]) == [
        f"Could not convert string '{escape_controls(BIDI_NAME)}' to INT32"
    ]
    assert [text for text in on_screen(app) if CONTROLS.search(text)] == []


def test_sql_results_and_errors_show_control_characters_as_escapes(hostile_settings, monkeypatch):
    app = open_page(hostile_settings.home, "sql", monkeypatch)
    run_sql(app, "select supplier_id, supplier_name from marts.dim_suppliers order by 1")
    assert escape_controls(BIDI_NAME) in list(frame_with(app, "supplier_name")["supplier_name"])
    run_sql(app, f'select 1 as "{BIDI_NAME}"')  # a column named with a pasted name
    assert len(frame_with(app, escape_controls(BIDI_NAME))) == 1
    run_sql(
        app,
        "select cast(supplier_name as integer) from marts.dim_suppliers "
        "where supplier_name like 'Bright Lighting%'",
    )
    assert escape_controls(BIDI_NAME) in rendered(app.error[0].value)
    assert [text for text in on_screen(app) if CONTROLS.search(text)] == []


def test_a_store_id_with_a_bidi_override_is_shown_escaped_and_still_opens_its_supplier(
    hostile_settings, monkeypatch
):
    """A store id is handed back to queries as stored, so it is escaped only where shown."""
    (supplier,) = published(
        hostile_settings,
        "select supplier_id from marts.fct_supplier_scorecard where supplier_id like '%\u202e%'",
    )[0]
    escaped = escape_controls(supplier)
    app = open_page(hostile_settings.home, "suppliers", monkeypatch)
    table = app.dataframe[0].value
    assert escaped in list(table["supplier_id"])
    assert [text for text in on_screen(app) if CONTROLS.search(text)] == []
    monkeypatch.setenv("DROPSCORE_HOME", str(hostile_settings.home))
    download = ui.download_csv(queries.scorecard(None))
    assert escaped in download and supplier not in download

    row = list(table["supplier_id"]).index(escaped)
    app.session_state["suppliers_table"] = {
        "selection": {"rows": [row], "columns": [], "cells": []}
    }
    app.run()
    assert not app.exception
    assert app.selectbox(key="supplier").value == supplier
    assert any(text.endswith(f"store id {escaped}") for text in texts(app))
    assert [text for text in on_screen(app) if CONTROLS.search(text)] == []


def test_csv_downloads_show_control_characters_as_the_tables_do(hostile_settings, monkeypatch):
    monkeypatch.setenv("DROPSCORE_HOME", str(hostile_settings.home))
    text = ui.download_csv(queries.scorecard(None, search="bright lighting"))
    rows = list(csv.DictReader(text.splitlines()))
    assert [row["supplier_name"] for row in rows] == [escape_controls(BIDI_NAME)]


def rendered(markdown: str) -> str:
    """What Markdown shows of escaped text: the backslash escapes resolved."""
    return re.sub(r"\\(.)", r"\1", markdown)


# Where Streamlit's Markdown (remark-gfm) makes a link of bare text, after resolving backslash
# escapes: http(s)://, www. and e-mail addresses.
AUTOLINK = re.compile(r"(?i)(https?://|www\.)[-.\w]+|[-.\w+]+@[-\w]+(\.[-\w]+)+", re.ASCII)


def test_a_sql_error_quoting_a_link_or_an_address_makes_no_link(hostile_settings, monkeypatch):
    app = open_page(hostile_settings.home, "sql", monkeypatch)
    run_sql(
        app,
        "select cast(supplier_name as integer) from marts.dim_suppliers "
        "where supplier_name like 'Shop http%'",
    )
    (error,) = [rendered(error.value) for error in app.error]
    assert AUTOLINK.search(error) is None, error
    assert LINK_NAME in error.replace(ui.WORD_JOINER, "")  # still reads as it was


# --- no dispute data ---------------------------------------------------------------------------


def test_without_disputes_the_overview_says_not_in_your_data(orders_only_settings, monkeypatch):
    """No supplier can be judged, nothing can be lost or alerted on: not 0, not "no alerts"."""
    reasons = dict(
        published(
            orders_only_settings,
            "select verdict_reason like 'no disputes in your data%', count(*) "
            "from marts.fct_supplier_scorecard group by 1",
        )
    )
    assert reasons.get(True)  # the mart's reason for the well-ordered suppliers
    app = open_page(orders_only_settings.home, "overview", monkeypatch)
    tiles = {m.label: (m.value, m.delta) for m in app.metric}
    for verdict in ("avoid", "watch", "good"):
        assert tiles[f"Suppliers: {verdict}"] == ("—", ui.NOT_IN_DATA)
    assert tiles["Suppliers: too few lines"] == (f"{sum(reasons.values()):,}", ui.NO_DISPUTES)
    assert len(app.get("vega_lite_chart")) == 1  # order lines; no empty 0 % rates or money
    shown = captions(app)
    assert f"Rates per week: {ui.NOT_IN_DATA}." in shown
    assert f"Money lost per week: {ui.NOT_IN_DATA}." in shown
    assert ui.without_disputes("Suppliers to avoid") in shown
    assert ui.without_disputes("Weekly alerts") in shown
    assert not app.success


def test_without_disputes_products_recommend_no_switch_as_not_in_your_data(
    orders_only_settings, monkeypatch
):
    app = open_page(orders_only_settings.home, "products", monkeypatch)
    assert not app.success
    assert ui.without_disputes("Recommended switches") in captions(app)
    assert "Not in your data: Best source, Switches." in captions(app)


def test_without_disputes_a_supplier_has_no_disputes_reasons_or_alerts_to_speak_of(
    orders_only_settings, monkeypatch
):
    supplier = published_value(
        orders_only_settings,
        "select supplier_id from marts.fct_supplier_scorecard order by mature_lines desc limit 1",
    )
    app = open_page(orders_only_settings.home, "supplier", monkeypatch, {"supplier": supplier})
    shown = captions(app)
    for what in ("Alert weeks", "Reasons", "Better sources", "Disputes"):
        assert ui.without_disputes(what) in shown
    for claim in ("No disputes.", "No week above", "No switch away"):
        assert claim not in shown
    (products,) = app.tabs[2].get("dataframe")
    assert "is_switch_supported" not in products.proto.column_order  # no box left unticked


def test_without_disputes_deadlines_say_escalations_are_not_in_your_data(
    orders_only_settings, monkeypatch
):
    app = open_page(orders_only_settings.home, "deadlines", monkeypatch)
    assert ui.without_disputes("Disputes to escalate") in captions(app)
    app.multiselect(key="deadlines_kinds").set_value(["escalate_dispute"]).run()
    assert not app.success


def test_without_disputes_the_suppliers_count_none_as_avoid_watch_or_good(
    orders_only_settings, monkeypatch
):
    """Every supplier is too few lines for want of disputes: "good 0" would read as none of
    them being good, when none can be judged."""
    (suppliers,) = published(
        orders_only_settings, "select count(*) from marts.fct_supplier_scorecard"
    )[0]
    app = open_page(orders_only_settings.home, "suppliers", monkeypatch)
    assert listed(app) == (
        f"{suppliers:,} suppliers listed · Scorecard period · too few lines {suppliers:,} · "
        + ui.without_disputes("avoid, watch and good")
    )


def test_without_disputes_the_suppliers_are_not_sorted_worst_first(
    orders_only_settings, monkeypatch
):
    """The rates are not in the data and the risk rank orders by lines alone: neither is on
    offer, and the list comes busiest first, as it says."""
    app = open_page(orders_only_settings.home, "suppliers", monkeypatch)
    sort = app.selectbox(key="suppliers_sort")
    assert (sort.options, sort.value) == (["Order lines", "Name", "Money lost"], "lines")


def test_without_disputes_a_supplier_has_no_rank_by_risk(orders_only_settings, monkeypatch):
    """The mart still numbers every supplier, by lines alone: "#1 by risk" would name the
    busiest supplier the riskiest."""
    supplier = published_value(
        orders_only_settings,
        "select supplier_id from marts.fct_supplier_scorecard where risk_rank = 1",
    )
    app = open_page(orders_only_settings.home, "supplier", monkeypatch, {"supplier": supplier})
    tile = verdict_tile(app)
    assert (tile.value, tile.delta) == ("Too few lines", ui.NO_DISPUTES)
    assert tile.help == ui.without_disputes("Rank by risk")


def test_without_disputes_nothing_due_speaks_of_order_lines_only(
    orders_only_settings, tmp_path, monkeypatch
):
    """No open dispute can be known, so "no order line or dispute" would claim too much."""
    home = copy_home(orders_only_settings, tmp_path / "nothing-due")
    with duckdb.connect(str(home.warehouse_path)) as con:
        con.execute("delete from marts.fct_dispute_deadlines")
    nothing_due = ["Nothing due: no order line has a deadline coming up."]
    app = open_page(home.home, "deadlines", monkeypatch)
    assert [success.value for success in app.success] == nothing_due
    app.multiselect(key="deadlines_kinds").set_value(["open_dispute"]).run()
    assert [success.value for success in app.success] == nothing_due
    assert ui.without_disputes("Disputes to escalate") not in captions(app)
