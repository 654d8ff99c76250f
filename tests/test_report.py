"""The weekly report: figures from the marts, verdict changes, a safe self-contained HTML file."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import duckdb
import pytest
from click.testing import CliRunner, Result
from playwright.sync_api import sync_playwright

from dropscore import pipeline
from dropscore.cli import cli
from dropscore.config import Settings
from dropscore.history import HISTORY_TABLE, record_verdicts
from dropscore.report import (
    ALERT_WEEKS,
    NO_DISPUTE_DATA,
    Report,
    ReportError,
    Section,
    Week,
    _axis_labels,
    _money_axis_title,
    build_report,
    charts,
    format_value,
    markdown_escape,
    render_html,
    render_markdown,
    write_report,
)
from dropscore.warehouse import WarehouseError, connect_build, publish
from ingest.generate import generate, generate_week

# A supplier name that is markup, then what a terminal would run (a bell, clearing the screen),
# an override reversing what follows, and a non-character the charts' renderer aborts on.
HOSTILE_NAME = "<script>alert(1)</script>\x07\x1b[2J\u202e\uffff"
SHOWN_CONTROLS = "\\x07\\x1b[2J\\u202e\\uffff"  # ... as the report shows them
RAW_CONTROLS = re.compile("[\x07\x1b\u202e\uffff]")
HOSTILE_TITLE = "*Bold* [link](javascript:alert(2)) | pipe & <b>"
GAP_WEEK = Week.parse("2026-W30")  # the hostile exports hold no order placed in this week
SPIKE_BEFORE = Week.parse("2026-W43")  # ... and a burst of damaged goods in a week before this
CHOSEN_WEEK = Week.parse("2026-W45")


def published(settings: Settings, sql: str, parameters: list | None = None) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as connection:
        return connection.execute(sql, parameters or []).fetchall()


def report_command(settings: Settings, *arguments: str):
    return CliRunner().invoke(cli, ["report", "--home", str(settings.home), *arguments])


# ── weeks ──────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        pytest.param("2026-11-22", "2026-W47", id="sunday-closes-its-own-week"),
        pytest.param("2026-11-23", "2026-W47", id="monday-reports-the-week-before"),
        pytest.param("2026-11-25", "2026-W47", id="midweek-reports-the-week-before"),
        pytest.param("2026-11-21", "2026-W46", id="saturday-week-is-not-over"),
        pytest.param("2027-01-03", "2026-W53", id="iso-year-with-53-weeks"),
    ],
)
def test_last_complete_week_is_relative_to_the_as_of_date(as_of, expected):
    assert Week.last_complete(dt.date.fromisoformat(as_of)).label == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-47", "expected an ISO week such as 2026-W47, got '2026-47'"),
        ("last week", "expected an ISO week such as 2026-W47, got 'last week'"),
        ("2025-W53", "2025 has no week 53"),
    ],
)
def test_a_malformed_week_is_a_usage_error(built_settings, text, message):
    result = report_command(built_settings, "--week", text)

    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == f"Error: Invalid value for '--week': {message}"


def test_week_names_parse_in_either_spelling():
    assert Week.parse("2026-W07") == Week.parse("2026w7") == Week(dt.date(2026, 2, 9))
    assert Week(dt.date(2026, 2, 9)).span == "09 Feb – 15 Feb 2026"


# ── figures checked against the marts ──────────────────────────────────────────────────────────


def week_bounds(week: Week) -> list[dt.date]:
    return [week.monday, week.shifted(1).monday]


def test_headline_figures_match_the_marts(built_settings):
    report = build_report(built_settings.warehouse_path, CHOSEN_WEEK)
    figures = {figure.label: figure for figure in report.headline}
    assert [figure.label for figure in report.headline if figure.unavailable] == []

    for week, attribute in ((CHOSEN_WEEK, "value"), (CHOSEN_WEEK.shifted(-1), "previous")):
        ((lines, orders, spend),) = published(
            built_settings,
            "select count(*), count(distinct supplier_order_id),"
            " sum(line_amount) filter (where not is_cancelled)"  # a cancelled line costs nothing
            " from marts.fct_order_lines where ordered_date >= ? and ordered_date < ?",
            week_bounds(week),
        )
        ((disputes, loss),) = published(
            built_settings,
            "select count(*), sum(loss_amount) from marts.fct_disputes"
            " where opened_date >= ? and opened_date < ?",
            week_bounds(week),
        )
        assert lines > 0 and disputes > 0
        assert getattr(figures["Order lines placed"], attribute) == lines
        assert getattr(figures["Supplier orders placed"], attribute) == orders
        assert getattr(figures["Spent with suppliers"], attribute) == spend
        assert getattr(figures["Disputes opened"], attribute) == disputes
        assert getattr(figures["Money lost on disputes opened"], attribute) == loss

    lines = figures["Order lines placed"]
    markdown = render_markdown(report)
    change = lines.value - lines.previous
    sign = "+" if change > 0 else "−" if change < 0 else "±"
    assert (
        f"| Order lines placed | {lines.value:,} | {lines.previous:,} | {sign}{abs(change):,} ("
        in (markdown)
    )


def test_costliest_suppliers_are_the_biggest_losses_on_disputes_opened_that_week(built_settings):
    report = build_report(built_settings.warehouse_path, CHOSEN_WEEK)
    section = next(section for section in report.sections if section.key == "costliest_suppliers")

    expected = published(
        built_settings,
        """
        select scorecard.supplier_name, count(*), sum(disputes.loss_amount)
        from marts.fct_disputes as disputes
        join marts.fct_supplier_scorecard as scorecard using (supplier_id)
        where opened_date >= ? and opened_date < ?
        group by all having sum(disputes.loss_amount) > 0
        order by 3 desc, 1 limit 10
        """,
        week_bounds(CHOSEN_WEEK),
    )
    assert expected
    assert [
        (row["supplier_name"], row["disputes"], row["loss_amount"]) for row in section.rows
    ] == expected
    html = render_html(report)
    assert f"{float(expected[0][2]):,.2f}" in html


def test_costliest_products_share_each_dispute_s_loss_over_its_lines(built_settings):
    report = build_report(built_settings.warehouse_path, CHOSEN_WEEK)
    products = next(section for section in report.sections if section.key == "costliest_products")

    expected = published(
        built_settings,
        """
        select lines.product_id, sum(lines.loss_amount)
        from marts.fct_disputes as disputes
        join marts.fct_order_lines as lines on lines.first_dispute_id = disputes.dispute_id
        where opened_date >= ? and opened_date < ?
        group by lines.product_id having sum(lines.loss_amount) > 0
        order by 2 desc limit 10
        """,
        week_bounds(CHOSEN_WEEK),
    )
    assert expected
    # ties in the loss may be listed in either order; the amounts may not
    assert [row["loss_amount"] for row in products.rows] == [loss for _, loss in expected]


def test_switches_only_name_suppliers_worse_than_the_recommended_one(built_settings):
    report = build_report(built_settings.warehouse_path, CHOSEN_WEEK)
    section = next(section for section in report.sections if section.key == "switches")

    savings = {
        (title, supplier, recommended): saving
        for title, supplier, recommended, saving in published(
            built_settings,
            """
            select choices.product_title, current.supplier_name, best.supplier_name,
                choices.saving_per_100_orders
            from marts.fct_product_suppliers as choices
            join marts.dim_suppliers as current on choices.supplier_id = current.supplier_id
            join marts.dim_suppliers as best on choices.recommended_supplier_id = best.supplier_id
            where choices.saving_per_100_orders > 0
            """,
        )
    }
    for row in section.rows:
        key = (row["product_title"], row["supplier_name"], row["recommended_supplier_name"])
        assert savings[key] == row["saving_per_100_orders"]


def test_deadlines_list_every_deadline_in_the_mart_overdue_first(built_settings):
    report = build_report(built_settings.warehouse_path, CHOSEN_WEEK)
    section = next(section for section in report.sections if section.key == "deadlines")

    ((deadlines,),) = published(built_settings, "select count(*) from marts.fct_dispute_deadlines")
    assert len(section.rows) == min(deadlines, 25)
    lefts = [row["days_left"] for row in section.rows]
    assert lefts == sorted(lefts)


@pytest.mark.parametrize(
    ("days_left", "shown"),
    [
        (-4.016, "overdue by 4 days"),  # the dashboard shows -4.0
        (-4.0, "overdue by 4 days"),
        (-1.249, "overdue by 1 day"),
        (-0.3, "overdue by less than a day"),
        (0.0, "overdue by less than a day"),  # as the mart's is_overdue: deadline_at <= as_of_at
        (0.5, "within a day"),
        (1.0, "in 1 day"),
        (2.7, "in 2 days"),
    ],
)
def test_deadlines_count_whole_days_elapsed_either_way(days_left, shown):
    assert format_value(days_left, "days_left") == shown


def test_data_health_shows_every_load(built_settings):
    report = build_report(built_settings.warehouse_path, CHOSEN_WEEK)
    sections = {section.key: section for section in report.sections}

    loads = published(built_settings, "select file_name, rows_loaded from raw.loads")
    assert sorted((row["file_name"], row["rows_loaded"]) for row in sections["loads"].rows) == (
        sorted(loads)
    )
    assert {row["status"] for row in sections["freshness"].rows} == {"fresh"}
    assert sections["rejects"].rows == []


# ── which week, and the errors ─────────────────────────────────────────────────────────────────


def test_report_defaults_to_the_last_complete_week_and_writes_both_files(built_settings, tmp_path):
    ((as_of,),) = published(
        built_settings, "select max(as_of_at at time zone 'UTC') from marts.fct_order_lines"
    )
    week = Week.last_complete(as_of.date())

    result = report_command(built_settings, "--out", str(tmp_path))

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        str(tmp_path / f"{week.label}.html"),
        str(tmp_path / f"{week.label}.md"),
    ]
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        f"{week.label}.html",
        f"{week.label}.md",
    ]


def test_format_md_writes_only_markdown(built_settings, tmp_path):
    result = report_command(
        built_settings, "--week", CHOSEN_WEEK.label, "--format", "md", "--out", str(tmp_path)
    )

    assert result.exit_code == 0, result.output
    assert [path.name for path in tmp_path.iterdir()] == [f"{CHOSEN_WEEK.label}.md"]
    text = (tmp_path / f"{CHOSEN_WEEK.label}.md").read_text()
    assert text.startswith(f"# Weekly supplier review — {CHOSEN_WEEK.label}\n")


def test_an_unknown_format_is_a_usage_error(built_settings):
    result = report_command(built_settings, "--format", "html,pdf")

    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        "Error: Invalid value for '--format': expected a comma-separated list of html, md,"
        " got 'html,pdf'"
    )


def test_a_week_before_the_first_order_is_a_one_line_error(built_settings):
    ((first_day,),) = published(
        built_settings, "select min(ordered_date) from marts.fct_order_lines"
    )
    before = Week.containing(first_day).shifted(-1)

    result = report_command(built_settings, "--week", before.label)

    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {before.label} is before the first order in the warehouse "
        f"({first_day:%Y-%m-%d}, week {Week.containing(first_day).label})\n"
    )
    assert result.stdout == ""


def test_a_week_after_the_newest_data_is_a_one_line_error(built_settings):
    ((as_of,),) = published(
        built_settings, "select max(as_of_at at time zone 'UTC') from marts.fct_order_lines"
    )
    after = Week.containing(as_of.date()).shifted(1)

    with pytest.raises(ReportError) as raised:
        build_report(built_settings.warehouse_path, after)

    assert str(raised.value) == (
        f"{after.label} is after the newest data in the warehouse (as of {as_of:%Y-%m-%d}, "
        f"week {Week.containing(as_of.date()).label})"
    )


def test_without_a_published_warehouse_the_report_says_to_run_first(settings):
    result = report_command(settings)

    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: no published warehouse at {settings.warehouse_path}; run `dropscore run` first\n"
    )


def test_a_report_that_cannot_be_written_is_a_one_line_error_even_when_cleanup_fails(
    built_settings, tmp_path
):
    # On a read-only disk, removing the half-written file fails as the write did. A directory
    # where the report writes its temporary file (named for this process) refuses both, as root
    # too.
    path = tmp_path / f"{CHOSEN_WEEK.label}.md"
    (tmp_path / f".{path.name}.{os.getpid()}.tmp").mkdir()

    result = report_command(
        built_settings, "--week", CHOSEN_WEEK.label, "--format", "md", "--out", str(tmp_path)
    )

    assert result.exit_code == 1
    assert result.stderr == f"Error: cannot write {path}: Is a directory\n"
    assert not path.exists()


# ── without dispute data ───────────────────────────────────────────────────────────────────────

DISPUTE_FIGURES = [
    "Disputes opened",
    "Money lost on disputes opened",
    f"Spike alerts in the last {ALERT_WEEKS} order weeks",
    "Suppliers rated avoid",
]
DISPUTE_SECTIONS = [
    "verdict_changes",
    "alerts",
    "costliest_suppliers",
    "costliest_products",
    "switches",
]


@pytest.fixture(scope="module")
def orders_only(tmp_path_factory, sample_exports) -> Settings:
    """A home built from the orders export alone: no dispute file was ever loaded."""
    settings = Settings(home=tmp_path_factory.mktemp("orders-only-home"))
    pipeline.run(settings, [sample_exports.orders])
    return settings


def test_without_dispute_data_what_needs_disputes_is_not_in_your_data_not_zero(orders_only):
    # the warehouse's own "not in your data": NULL, not false
    assert published(orders_only, "select count(has_dispute) from marts.fct_order_lines") == [(0,)]

    report = build_report(orders_only.warehouse_path)

    figures = {figure.label: figure for figure in report.headline}
    assert {label: figures[label].unavailable for label in DISPUTE_FIGURES} == dict.fromkeys(
        DISPUTE_FIGURES, NO_DISPUTE_DATA
    )
    assert figures["Order lines placed"].unavailable == ""
    sections = {section.key: section for section in report.sections}
    assert {key: sections[key].unavailable for key in DISPUTE_SECTIONS} == dict.fromkeys(
        DISPUTE_SECTIONS, NO_DISPUTE_DATA
    )
    assert "no open dispute is listed to escalate" in sections["deadlines"].note
    markdown, html = render_markdown(report), render_html(report)
    for label in DISPUTE_FIGURES:
        assert f"| {label} | {NO_DISPUTE_DATA} | | |" in markdown
        assert f'<td>{label}</td>\n  <td colspan="3" class="unavailable">{NO_DISPUTE_DATA}' in html
    for document in (markdown, html):
        assert "No dispute file has been loaded: disputes, money lost, spike alerts" in document
        for all_clear in (
            "No supplier is rated avoid.",
            "No supplier crossed a control limit",
            "No supplier lost money",
            "No product lost money",
            "No product ordered this week has a better supplier",
        ):
            assert all_clear not in document
    assert "Money lost on disputes opened in each" not in html  # no chart of zeros


# ── a hostile export: escaping, and a week without orders ──────────────────────────────────────


class Hostile(NamedTuple):
    settings: Settings
    run: Result
    spike_week: Week


def read_csv(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="") as file:
        reader = csv.DictReader(file)
        return list(reader.fieldnames or []), list(reader)


def write_csv(path: Path, fields: list[str], rows) -> Path:
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, sample_exports):
    """A home built by `dropscore run` from the sample exports, changed so that the bad supplier
    with the most lines is named <script>alert(1)</script>, had every line shipped in one week
    disputed as damaged (a spike) on products whose title is Markdown, and no order at all falls
    in GAP_WEEK."""
    folder = tmp_path_factory.mktemp("hostile-exports")
    _, truth = read_csv(sample_exports.truth)
    bad = {row["supplier_id"] for row in truth if row["is_bad"] == "true"}
    order_fields, orders = read_csv(sample_exports.orders)
    dispute_fields, disputes = read_csv(sample_exports.disputes)
    target = Counter(row["supplier_id"] for row in orders if row["supplier_id"] in bad).most_common(
        1
    )[0][0]

    def week_of(row: dict) -> Week:
        return Week.containing(dt.date.fromisoformat(row["ordered_at"][:10]))

    disputed = {(row["supplier_order_id"], row["line_id"]) for row in disputes}
    kept = [row for row in orders if week_of(row) != GAP_WEEK]
    dropped = {row["supplier_order_id"] for row in orders if week_of(row) == GAP_WEEK}
    undisputed = [
        row
        for row in kept
        if row["supplier_id"] == target
        and week_of(row) < SPIKE_BEFORE
        and row["shipped_at"]
        and (row["supplier_order_id"], row["line_id"]) not in disputed
    ]
    spike_week = Counter(week_of(row) for row in undisputed).most_common(1)[0][0]
    spike = [row for row in undisputed if week_of(row) == spike_week]
    assert len(spike) >= 3, "the spike needs at least 3 defects to raise an alert"
    spike_products = {row["product_id"] for row in spike}
    for row in kept:
        if row["supplier_id"] == target:
            row["supplier_name"] = HOSTILE_NAME
        if row["product_id"] in spike_products:  # whoever sells it, so every title source agrees
            row["product_title"] = HOSTILE_TITLE
    opened = spike_week.shifted(2).start
    spike_disputes = [
        dict.fromkeys(dispute_fields, "")
        | {
            "dispute_id": f"99{number:014d}",
            "supplier_order_id": row["supplier_order_id"],
            "line_id": row["line_id"],
            "opened_at": f"{opened:%Y-%m-%dT%H:%M:%SZ}",
            "closed_at": f"{opened + dt.timedelta(days=9):%Y-%m-%dT%H:%M:%SZ}",
            "reason": "Item damaged",
            "status": "closed",
            # refused, and sent back at the store's expense: the week's biggest losses
            "resolution": "rejected",
            "currency": row["currency"],
            "return_method": "own_expense",
            "return_shipping_cost": "25.00",
            "exported_at": row["exported_at"],
        }
        for number, row in enumerate(spike)
    ]
    write_csv(folder / "orders.csv", order_fields, kept)
    write_csv(
        folder / "disputes.csv",
        dispute_fields,
        [row for row in disputes if row["supplier_order_id"] not in dropped] + spike_disputes,
    )

    settings = Settings(home=tmp_path_factory.mktemp("hostile-home"))
    result = CliRunner().invoke(
        cli,
        [
            "run",
            str(folder / "orders.csv"),
            str(folder / "disputes.csv"),
            "--home",
            str(settings.home),
        ],
    )
    assert result.exit_code == 0, result.output
    return Hostile(settings, result, spike_week)


def test_run_writes_the_report_of_the_last_complete_week_and_prints_its_path(hostile):
    settings, result = hostile.settings, hostile.run
    ((as_of,),) = published(
        settings, "select max(as_of_at at time zone 'UTC') from marts.fct_order_lines"
    )
    week = Week.last_complete(as_of.date())
    html = settings.reports_path / f"{week.label}.html"

    assert result.stdout.splitlines()[-1] == f"report: {html}"
    assert html.is_file()
    assert (settings.reports_path / f"{week.label}.md").is_file()


def test_a_run_reports_on_the_warehouse_it_publishes_and_on_nothing_when_publish_fails(
    tmp_path, monkeypatch
):
    # `run` renders the report from the published warehouse while the next build file is made
    settings = Settings(home=tmp_path / "home")
    first = generate(tmp_path / "first", orders=600, weeks=10, seed=8)
    week_on = generate_week(tmp_path / "week-on", first, orders=600, weeks=10, seed=8)

    def run(exports) -> Result:
        return CliRunner().invoke(
            cli, ["run", str(exports.orders), str(exports.disputes), "--home", str(settings.home)]
        )

    first_html = Path(run(first).stdout.splitlines()[-1].removeprefix("report: "))
    result = run(week_on)
    assert result.exit_code == 0, result.output
    html = Path(result.stdout.splitlines()[-1].removeprefix("report: "))

    # the week the new exports close, not the one the warehouse it replaced would give
    assert Week.parse(html.stem) == Week.parse(first_html.stem).shifted(1)
    again = write_report(settings.warehouse_path, tmp_path / "again", Week.parse(html.stem))
    assert [path.name for path in again] == [html.name, html.with_suffix(".md").name]
    for path in again:
        assert (settings.reports_path / path.name).read_text() == path.read_text()

    def refused(settings, alongside=None):
        raise WarehouseError("cannot publish: the disk refused")

    monkeypatch.setattr("dropscore.pipeline.publish", refused)
    reports = {path.name: path.read_text() for path in settings.reports_path.iterdir()}
    later = generate_week(tmp_path / "later", [first, week_on], orders=600, weeks=10, seed=8)
    result = run(later)

    assert result.exit_code == 1
    assert "cannot publish: the disk refused" in result.output
    assert {path.name: path.read_text() for path in settings.reports_path.iterdir()} == reports


def test_html_is_self_contained_with_no_script_and_no_web_address(hostile):
    settings = hostile.settings
    html = next(settings.reports_path.glob("*.html")).read_text()

    assert "<script" not in html.lower()
    assert "http" not in html.lower()
    assert not re.search(r"""(?:src|href)=["'](?!data:image/png;base64,)""", html)
    assert len(re.findall(r'<img src="data:image/png;base64,', html)) >= 2
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert not RAW_CONTROLS.search(html)


# Long enough, unbroken, to widen an unwrapped table to thousands of pixels.
LONG_NAME = "Shenzhen" + "Gadget" * 102


@pytest.fixture
def long_name_home(built_settings, tmp_path) -> Settings:
    """A copy of the built warehouse in which a supplier rated avoid, listed under Verdict
    changes, is named LONG_NAME."""
    settings = Settings(home=tmp_path / "home")
    settings.home.mkdir()
    shutil.copyfile(built_settings.warehouse_path, settings.build_path)
    connection = connect_build(settings)
    try:
        for mart in ("marts.fct_supplier_scorecard", "marts.dim_suppliers"):
            connection.execute(
                f"update {mart} set supplier_name = ? where supplier_id = ("
                " select min(supplier_id) from marts.fct_supplier_scorecard"
                " where verdict = 'avoid')",
                [LONG_NAME],
            )
    finally:
        connection.close()
    publish(settings)
    return settings


def test_a_long_supplier_name_wraps_instead_of_widening_the_mailed_page(long_name_home):
    html = render_html(build_report(long_name_home.warehouse_path))
    assert f'<td class="text">{LONG_NAME}</td>' in html
    assert "overflow-wrap: anywhere" in html

    window = 1024
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=os.environ.get("DROPSCORE_CHROMIUM", "/usr/bin/chromium"),
            args=["--no-sandbox", "--disable-gpu"],
        )
        try:
            page = browser.new_page(viewport={"width": window, "height": 800})
            page.set_content(html)
            width = page.evaluate("document.documentElement.scrollWidth")
        finally:
            browser.close()
    assert width <= window


def test_markdown_escapes_what_the_data_says(hostile):
    settings = hostile.settings
    markdown = next(settings.reports_path.glob("*.md")).read_text()

    assert "\\<script\\>alert(1)\\</script\\>" in markdown
    assert not re.search(r"(?<!\\)<", markdown)
    assert not RAW_CONTROLS.search(markdown)
    assert "http" not in markdown.lower()


def test_the_hostile_product_title_is_escaped_where_it_costs_the_most(hostile):
    settings = hostile.settings
    # the spike's disputes were opened two weeks after the orders
    report = build_report(settings.warehouse_path, hostile.spike_week.shifted(2))
    products = next(section for section in report.sections if section.key == "costliest_products")
    html, markdown = render_html(report), render_markdown(report)

    assert HOSTILE_TITLE in [row["product_title"] for row in products.rows]
    assert "*Bold* [link](javascript:alert(2)) | pipe &amp; &lt;b&gt;</td>" in html
    assert f"| {markdown_escape(HOSTILE_TITLE)} |" in markdown
    assert "\\*Bold\\* \\[link\\](javascript:alert(2)) \\| pipe \\& \\<b\\>" in markdown
    assert "<b>" not in html
    assert not re.search(r"(?<!\\)<", markdown)


def test_alerts_are_the_supplier_weeks_over_their_control_limit_in_recent_order_weeks(hostile):
    settings = hostile.settings
    week = hostile.spike_week.shifted(3)  # the spike is in the window, not at its end
    report = build_report(settings.warehouse_path, week)
    section = next(section for section in report.sections if section.key == "alerts")
    window = [week.shifted(-ALERT_WEEKS).monday, week.monday]

    expected = published(
        settings,
        """
        select ordered_iso_week, supplier_id, 'defects', week_defect_ratio
        from marts.fct_supplier_weeks
        where ordered_week > ? and ordered_week <= ? and is_defect_alert
        union all
        select ordered_iso_week, supplier_id, 'not received', week_not_received_rate
        from marts.fct_supplier_weeks
        where ordered_week > ? and ordered_week <= ? and is_not_received_alert
        """,
        window + window,
    )
    assert (hostile.spike_week.label, "defects") in {(row[0], row[2]) for row in expected}
    assert sorted(
        (row["ordered_iso_week"], row["problem"], row["rate"]) for row in section.rows
    ) == (sorted((iso_week, problem, rate) for iso_week, _, problem, rate in expected))
    for row in section.rows:  # the lines shown are the rate's denominator
        assert row["problem_lines"] / row["week_shipped_lines"] == pytest.approx(row["rate"])
    ((alerting_supplier_weeks,),) = published(
        settings,
        "select count(*) from marts.fct_supplier_weeks"
        " where ordered_week > ? and ordered_week <= ? and is_alert",
        window,
    )
    figures = {figure.label: figure for figure in report.headline}
    assert figures[f"Spike alerts in the last {ALERT_WEEKS} order weeks"].value == (
        alerting_supplier_weeks
    )

    spike = next(row for row in section.rows if row["ordered_iso_week"] == hostile.spike_week.label)
    assert spike["supplier_name"] == HOSTILE_NAME
    assert f"&lt;script&gt;alert(1)&lt;/script&gt;{SHOWN_CONTROLS}</td>" in render_html(report)


def test_a_week_without_orders_says_so(hostile):
    settings = hostile.settings

    report = build_report(settings.warehouse_path, GAP_WEEK)

    figures = {figure.label: figure for figure in report.headline}
    assert figures["Order lines placed"].value == 0
    assert report.lines_this_week == 0
    expected = f"No order lines were placed in {GAP_WEEK.label}"
    assert expected in render_markdown(report)
    assert expected in render_html(report)
    # What the costliest lists say when empty is true whether or not disputes were opened:
    # those opened may have cost nothing, or been more than made good.
    costliest = [section for section in report.sections if section.key.startswith("costliest")]
    assert [section.empty for section in costliest] == [
        "No supplier lost money on the disputes opened this week.",
        "No product lost money on the disputes opened this week.",
    ]


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("<script>alert(1)</script>", "\\<script\\>alert(1)\\</script\\>"),
        ("*bold* _it_ `code`", "\\*bold\\* \\_it\\_ \\`code\\`"),
        ("[x](javascript:y)", "\\[x\\](javascript:y)"),
        ("a | b", "a \\| b"),
        ("&lt;", "\\&lt;"),
        ("$x$ $$y$$ S3", "\\$x\\$ \\$\\$y\\$\\$ S3"),  # maths in GitHub's Markdown
        ("two\nlines", "two lines"),
        ("Shenzhen Co., Ltd. #1 - best!", "Shenzhen Co., Ltd. #1 - best!"),
        # links GitHub makes without brackets, and what Obsidian hides or highlights
        (
            "see https://x.example, www.x.example or me@x.example",
            "see https\\://x.example, www\\.x.example or me\\@x.example",
        ),
        ("a %% hidden %% b ==marked==", "a \\%% hidden \\%% b \\==marked\\=="),
        ("20% off, a = b, @home", "20% off, a = b, @home"),
        ("Shop_www.x.example sales+@x.example", "Shop\\_www\\.x.example sales+\\@x.example"),
    ],
)
def test_markdown_escape(text, escaped):
    assert markdown_escape(text) == escaped


# ── verdict changes from the verdict history ───────────────────────────────────────────────────


@pytest.fixture
def home_with_history(built_settings, tmp_path) -> tuple[Settings, dict[str, str]]:
    """A copy of the built warehouse whose verdict history holds the current verdicts and, a
    week earlier, made-up ones: one supplier newly avoid, one no longer avoid, one newly good."""
    settings = Settings(home=tmp_path / "home")
    settings.home.mkdir()
    shutil.copyfile(built_settings.warehouse_path, settings.build_path)
    connection = connect_build(settings)
    try:
        record_verdicts(connection)
        by_verdict = dict(
            connection.execute(
                f"select verdict, min(supplier_id) from {HISTORY_TABLE} group by verdict"
            ).fetchall()
        )
        changed = {
            by_verdict["avoid"]: "watch",  # was watch, now avoid
            by_verdict["watch"]: "avoid",  # was avoid, now watch
            by_verdict["good"]: "insufficient_data",
        }
        connection.execute(
            f"insert into {HISTORY_TABLE}"
            f" select * replace (as_of_at - interval 7 days as as_of_at) from {HISTORY_TABLE}"
        )
        for supplier_id, verdict in changed.items():
            connection.execute(
                f"update {HISTORY_TABLE} set verdict = ? where supplier_id = ?"
                f" and as_of_at = (select min(as_of_at) from {HISTORY_TABLE})",
                [verdict, supplier_id],
            )
    finally:
        connection.close()
    publish(settings)
    return settings, changed


def test_verdict_changes_list_new_avoid_first(home_with_history):
    settings, changed = home_with_history

    report = build_report(settings.warehouse_path)

    section = next(section for section in report.sections if section.key == "verdict_changes")
    names = dict(
        published(
            settings,
            "select supplier_id, supplier_name from marts.fct_supplier_scorecard",
        )
    )
    new_avoid, left_avoid, new_good = changed
    assert [(row["supplier_name"], row["was"], row["verdict"]) for row in section.rows] == [
        (names[new_avoid], "watch", "avoid"),
        (names[left_avoid], "avoid", "watch"),
        (names[new_good], "insufficient_data", "good"),
    ]
    figures = {figure.label: figure for figure in report.headline}
    avoid = figures["Suppliers rated avoid"]
    assert avoid.previous == avoid.value  # one in, one out
    assert f"| {names[new_avoid]} | watch | avoid |" in render_markdown(report)


def test_recording_the_same_build_twice_keeps_one_snapshot(home_with_history):
    settings, _ = home_with_history
    connection = connect_build(settings)
    try:
        first = record_verdicts(connection)
        second = record_verdicts(connection)
        snapshots = connection.execute(
            f"select count(distinct as_of_at), count(*) from {HISTORY_TABLE}"
        ).fetchone()
        (suppliers,) = connection.execute(
            "select count(*) from marts.fct_supplier_scorecard"
        ).fetchone()
    finally:
        connection.close()

    assert first == second == suppliers
    assert snapshots == (2, 2 * suppliers)


def test_without_earlier_verdicts_the_section_lists_who_is_avoid_now(built_settings):
    report = build_report(built_settings.warehouse_path)
    section = next(section for section in report.sections if section.key == "verdict_changes")
    avoid = published(
        built_settings,
        "select count(*) from marts.fct_supplier_scorecard where verdict = 'avoid'",
    )[0][0]

    assert section.note.startswith("No earlier verdicts are recorded")
    assert len(section.rows) == avoid
    assert {row["was"] for row in section.rows} == {None}


def test_prepare_charts_loads_what_the_first_chart_would_wait_for():
    # in a process of its own: dropscore.report imports neither library itself
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from dropscore.report import prepare_charts; prepare_charts(); "
            "print(' '.join(m for m in ('altair', 'vl_convert') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.split() == ["altair", "vl_convert"]


def test_a_supplier_name_of_any_length_with_emoji_is_drawn_on_the_costliest_chart():
    # Vega cut long labels by UTF-16 code units, and half an emoji aborted vl-convert: the
    # run then ended in a traceback with no report.
    week = Week.parse("2026-W47")
    names = [
        ("Shenzhen Gadget Official Flagship 🚀🚀 Store " * 3)[:length] for length in range(30, 61)
    ]
    costliest = Section(
        "costliest_suppliers",
        "Costliest suppliers",
        rows=[
            {"supplier_id": str(n), "supplier_name": name, "loss_amount": 10 + n}
            for n, name in enumerate(names)
        ],
    )
    report = Report(
        week=week,
        as_of=week.sunday,
        data_from=week.monday,
        currencies=["USD"],
        lines_this_week=1,
        headline=[],
        sections=[costliest],
        trend=[{"week": week, "lines": 1, "loss": 1.0}],
        missing=[],
    )
    drawn = [chart.title for chart in charts(report)]
    assert "Suppliers that cost the most this week" in drawn


def test_suppliers_whose_names_are_alike_up_to_the_cut_keep_a_bar_each():
    # the chart groups bars by their label: two stores cut to one label were drawn as one bar
    named = [
        ("Shenzhen Smart Phone Accessories Official Store", "1101"),
        ("Shenzhen Smart Phone Accessories Factory Store", "1102"),
        ("Shenzhen Smart Phone Store", "1103"),
        ("Twin", "1104"),
        ("Twin", "1105"),
    ]
    labels = _axis_labels(named)
    assert len(set(labels)) == len(named)
    assert labels == [
        "Shenzhen Smart Phone Accessorie… (1101)",
        "Shenzhen Smart Phone Accessorie… (1102)",
        "Shenzhen Smart Phone Store",
        "Twin (1104)",
        "Twin (1105)",
    ]


def test_the_currency_is_escaped_wherever_the_report_shows_it(built_settings):
    """The currency is the reporting_currency var: `--var` keeps it to a code of the exchange-rate
    seed, but a build through the library takes any string, and the marts carry it as given. As
    a name, its markup stays text and its control characters show as escapes; on a chart, one
    of them aborted the renderer, and with it the run."""
    currency = "<b>US\u202eD</b>\x07\uffff"
    assert _money_axis_title(currency) == "lost (<b>US\\u202eD</b>\\x07\\uffff)"
    assert _money_axis_title("") == "lost"

    report = dataclasses.replace(build_report(built_settings.warehouse_path), currencies=[currency])
    assert "Money lost per week" in [chart.title for chart in charts(report)]
    html, markdown = render_html(report), render_markdown(report)
    assert "amounts in &lt;b&gt;US\\u202eD&lt;/b&gt;\\x07\\uffff</p>" in html
    assert "amounts in \\<b\\>US\\\\u202eD\\</b\\>\\\\x07\\\\uffff\n" in markdown
    assert not RAW_CONTROLS.search(html)
    assert not RAW_CONTROLS.search(markdown)
