"""The Monday review: what changed in one ISO week, as a self-contained HTML file and Markdown.

The report only reads a warehouse, through the read-only sandbox of `dropscore.sql`, on one
connection so that every figure comes from the same version: the published one, or, after a
run, the build file while it is being published (the same bytes).
It never computes a rate: rates, limits, verdicts and savings come from the marts; the report
counts and sums rows within a week and compares two weeks.

Which week: by default the last complete ISO week before the warehouse's as-of date (the newest
date in the loaded exports), never the wall clock. The same warehouse then gives the same
report on any day, a late Monday run still reports the week the exports cover, and a report is
never written for a week whose orders the exports cannot hold yet.

Marts land over time; a section whose mart or column is missing says so instead of failing, and
`Report.missing` lists what it expected. A figure whose inputs were never loaded (no dispute
file) says "not in your data" the same way, never 0.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import io
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import duckdb
import jinja2

from dropscore import __version__
from dropscore.controls import escape_controls
from dropscore.history import HISTORY_TABLE
from dropscore.sql import read_only

REPORT_FORMATS = ("html", "md")
TREND_WEEKS = 12
# Disputes arrive weeks after the order, so a spike in an order week shows up late: the report
# lists alerts on the order weeks still maturing, not only on the week reported.
ALERT_WEEKS = 8
TOP_ROWS = 10
DEADLINE_ROWS = 25
STALE_AFTER_DAYS = 8  # a weekly job that has not seen a file type for more than a week
TEMPLATES = Path(__file__).parent / "templates"

VERDICT_LABELS = {
    "avoid": "avoid",
    "watch": "watch",
    "good": "good",
    "insufficient_data": "not enough data",
}
VERDICT_SEVERITY = {"avoid": 0, "watch": 1, "insufficient_data": 2, "good": 3}
# What a figure or section built on disputes says when no dispute file was ever loaded: the
# marts then count no dispute, and zero would read as "nothing went wrong".
NO_DISPUTE_DATA = "Not in your data: no dispute file has been loaded."


class ReportError(Exception):
    """No report can be written for the week asked; the message is one line for the user."""


# ── weeks ──────────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True, order=True)
class Week:
    """An ISO week (Monday to Sunday, UTC), named like 2026-W47."""

    monday: dt.date

    @classmethod
    def parse(cls, text: str) -> Week:
        match = re.fullmatch(r"(\d{4})-?[Ww](\d{1,2})", text.strip())
        if not match:
            raise ValueError(f"expected an ISO week such as 2026-W47, got {text!r}")
        try:
            return cls(dt.date.fromisocalendar(int(match[1]), int(match[2]), 1))
        except ValueError:
            raise ValueError(f"{match[1]} has no week {int(match[2])}") from None

    @classmethod
    def containing(cls, day: dt.date) -> Week:
        return cls(day - dt.timedelta(days=day.weekday()))

    @classmethod
    def last_complete(cls, as_of: dt.date) -> Week:
        """The newest week whose Sunday the exports reach: the as-of date's own week when the
        as-of date is a Sunday (exports taken at the end of the week), else the week before."""
        return cls.containing(as_of + dt.timedelta(days=1)).shifted(-1)

    def shifted(self, weeks: int) -> Week:
        return Week(self.monday + dt.timedelta(weeks=weeks))

    @property
    def sunday(self) -> dt.date:
        return self.monday + dt.timedelta(days=6)

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.combine(self.monday, dt.time(), dt.UTC)

    @property
    def end(self) -> dt.datetime:
        """The first moment after the week (exclusive bound)."""
        return self.start + dt.timedelta(weeks=1)

    @property
    def label(self) -> str:
        year, number, _ = self.monday.isocalendar()
        return f"{year}-W{number:02d}"

    @property
    def span(self) -> str:
        return f"{self.monday:%d %b} – {self.sunday:%d %b %Y}"

    def __str__(self) -> str:
        return self.label


# ── what a report holds ────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str = "text"  # text, count, money, rate, number, date, verdict


@dataclass
class Section:
    key: str
    title: str
    note: str = ""
    columns: list[Column] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)
    empty: str = "Nothing this week."
    unavailable: str = ""  # why the section cannot be shown from this warehouse


@dataclass(frozen=True)
class Figure:
    label: str
    kind: str
    value: float | int | Decimal | None
    previous: float | int | Decimal | None
    unavailable: str = ""

    @property
    def change(self):
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous

    @property
    def relative_change(self) -> float | None:
        if self.change is None or not self.previous:
            return None
        return float(self.change) / float(self.previous)


@dataclass(frozen=True)
class Chart:
    title: str
    description: str  # the alt text: what the chart shows, in words
    png: bytes
    width: int
    height: int

    @property
    def data_uri(self) -> str:
        encoded = base64.b64encode(self.png).decode("ascii")
        # Base64 can spell any four letters; a newline splits them without changing the image
        # (URL parsers drop ASCII newlines), so the file never holds the letters of a web
        # address, even by chance.
        encoded = re.sub(r"(?i)(htt)(?=p)", "\\1\n", encoded)
        return f"data:image/png;base64,{encoded}"


@dataclass
class Report:
    week: Week
    as_of: dt.date
    data_from: dt.date
    currencies: list[str]
    lines_this_week: int
    headline: list[Figure]
    sections: list[Section]
    trend: list[dict]  # one entry per week for the TREND_WEEKS weeks to `week`
    missing: list[str]  # marts and columns the report expected but the warehouse lacks
    has_dispute_data: bool = True  # False when no dispute file was ever loaded
    version: str = __version__

    @property
    def is_complete(self) -> bool:
        return self.as_of >= self.week.sunday

    @property
    def currency(self) -> str:
        return self.currencies[0] if self.currencies else ""


# ── reading the warehouse ──────────────────────────────────────────────────────────────────────


class Catalog:
    """The relations and columns this warehouse has, so a section can tell what is missing."""

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self.columns: dict[str, set[str]] = {}
        for schema_name, table_name, column_name in connection.execute(
            """
            select schema_name, table_name, column_name from duckdb_columns()
            where database_name = current_database()
            """
        ).fetchall():
            self.columns.setdefault(f"{schema_name}.{table_name}", set()).add(column_name)
        self.missing: list[str] = []

    def has(self, relation: str, *columns: str) -> bool:
        return relation in self.columns and set(columns) <= self.columns[relation]

    def require(self, relation: str, *columns: str) -> str:
        """'' when the relation has every column, else a sentence for the reader (and a note in
        `missing` for the developers)."""
        if relation not in self.columns:
            self._note(relation)
            return f"Not available yet: this warehouse has no {relation}."
        absent = [column for column in columns if column not in self.columns[relation]]
        if not absent:
            return ""
        for column in absent:
            self._note(f"{relation}.{column}")
        return f"Not available yet: {relation} has no {', '.join(absent)}."

    def _note(self, item: str) -> None:
        if item not in self.missing:
            self.missing.append(item)


class _Reader:
    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self.connection = connection
        self.catalog = Catalog(connection)
        self._no_disputes: str | None = None

    @property
    def no_disputes(self) -> str:
        """NO_DISPUTE_DATA when no dispute file was ever loaded (as the scorecard says, and the
        dashboard asks it), else ''. A warehouse without the column cannot tell: its dispute
        figures are shown as the marts hold them."""
        if self._no_disputes is None:
            loaded = not self.catalog.has("marts.fct_supplier_scorecard", "has_dispute_data") or (
                self.value(
                    "select coalesce(bool_or(has_dispute_data), false) "
                    "from marts.fct_supplier_scorecard"
                )
            )
            self._no_disputes = "" if loaded else NO_DISPUTE_DATA
        return self._no_disputes

    def require_disputes(self, relation: str, *columns: str) -> str:
        """As `Catalog.require`, for a figure built on disputes: also why it cannot be shown
        when none were loaded (zero would read as "nothing went wrong")."""
        return self.catalog.require(relation, *columns) or self.no_disputes

    def rows(self, sql: str, parameters: Sequence = ()) -> list[dict]:
        cursor = self.connection.execute(sql, list(parameters))
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def value(self, sql: str, parameters: Sequence = ()):
        row = self.connection.execute(sql, list(parameters)).fetchone()
        return row[0] if row else None


def build_report(warehouse: Path, week: Week | None = None) -> Report:
    """Gather every figure of the report for `week` (default: the last complete week)."""
    with read_only(warehouse) as connection:
        reader = _Reader(connection)
        _require_order_lines(reader)
        as_of = _as_of_date(reader)
        first_day, currencies = _data_span(reader)
        if week is None:
            week = Week.last_complete(as_of)
            if week.sunday < first_day:
                raise ReportError(
                    f"no complete week of data yet: the orders run from {first_day:%Y-%m-%d} "
                    f"to {as_of:%Y-%m-%d}; name a week with --week"
                )
        if week.sunday < first_day:
            raise ReportError(
                f"{week} is before the first order in the warehouse "
                f"({first_day:%Y-%m-%d}, week {Week.containing(first_day)})"
            )
        if week.monday > as_of:
            raise ReportError(
                f"{week} is after the newest data in the warehouse (as of {as_of:%Y-%m-%d}, "
                f"week {Week.containing(as_of)})"
            )

        trend = _weekly_trend(reader, week)
        verdicts = _verdict_snapshots(reader, week, as_of)
        this_week, last_week = trend[-1], trend[-2]
        headline = _headline(reader, this_week, last_week, verdicts)
        sections = [
            _verdict_changes(verdicts, reader.no_disputes),
            _alerts(reader, week),
            _costliest_suppliers(reader, week),
            _costliest_products(reader, week),
            _switches(reader, week),
            _deadlines(reader, as_of),
            *_data_health(reader, as_of),
        ]
        return Report(
            week=week,
            as_of=as_of,
            data_from=first_day,
            currencies=currencies,
            lines_this_week=this_week["lines"],
            headline=headline,
            sections=sections,
            trend=trend,
            missing=reader.catalog.missing,
            has_dispute_data=not reader.no_disputes,
        )


def _require_order_lines(reader: _Reader) -> None:
    if not reader.catalog.has("marts.fct_order_lines", "ordered_date"):
        raise ReportError("the warehouse has no marts.fct_order_lines; run `dropscore build`")
    if not reader.value("select count(*) from marts.fct_order_lines"):
        raise ReportError("the warehouse holds no order lines yet; nothing to report")


def _as_of_date(reader: _Reader) -> dt.date:
    """The as-of date every mart was built against (UTC), falling back to the newest order."""
    for relation in ("marts.fct_order_lines", "intermediate.int_as_of_date"):
        if reader.catalog.has(relation, "as_of_at"):
            moment = reader.value(f"select max(as_of_at at time zone 'UTC') from {relation}")
            if moment is not None:
                return moment.date()
    reader.catalog.require("marts.fct_order_lines", "as_of_at")
    return reader.value("select max(ordered_date) from marts.fct_order_lines")


def _data_span(reader: _Reader) -> tuple[dt.date, list[str]]:
    first_day = reader.value("select min(ordered_date) from marts.fct_order_lines")
    currencies = [
        row["currency"]
        for row in reader.rows(
            """
            select currency, count(*) as lines from marts.fct_order_lines
            where currency is not null
            group by currency order by lines desc, currency
            """
        )
    ]
    return first_day, currencies


# ── headline and trend ─────────────────────────────────────────────────────────────────────────


def _weekly_trend(reader: _Reader, week: Week) -> list[dict]:
    """One row per week for the TREND_WEEKS weeks ending with `week`, zeros where nothing
    happened: order lines and spend by order date; disputes and money lost by dispute date
    (None when no dispute data was loaded)."""
    first = week.shifted(1 - TREND_WEEKS)
    weeks = {first.shifted(offset).monday: offset for offset in range(TREND_WEEKS)}
    trend = [
        {
            "week": first.shifted(offset),
            "lines": 0,
            "orders": 0,
            "spend": Decimal(0),
            "disputes": None,
            "loss": None,
        }
        for offset in range(TREND_WEEKS)
    ]
    for row in reader.rows(
        """
        select
            cast(date_trunc('week', ordered_date) as date) as monday,
            count(*) as lines,
            count(distinct supplier_order_id) as orders,
            coalesce(sum(line_amount) filter (where not is_cancelled), 0) as spend,
        from marts.fct_order_lines
        where ordered_date >= ? and ordered_date < ?
        group by monday
        """,
        [first.monday, week.shifted(1).monday],
    ):
        trend[weeks[row["monday"]]].update(row)
    if not reader.no_disputes and reader.catalog.has(
        "marts.fct_disputes", "opened_date", "loss_amount"
    ):
        for entry in trend:
            entry["disputes"], entry["loss"] = 0, Decimal(0)
        for row in reader.rows(
            """
            select
                cast(date_trunc('week', opened_date) as date) as monday,
                count(*) as disputes,
                coalesce(sum(loss_amount), 0) as loss,
            from marts.fct_disputes
            where opened_date >= ? and opened_date < ?
            group by monday
            """,
            [first.monday, week.shifted(1).monday],
        ):
            trend[weeks[row["monday"]]].update(row)
    return trend


def _headline(
    reader: _Reader, this_week: dict, last_week: dict, verdicts: _Verdicts
) -> list[Figure]:
    disputes_missing = reader.require_disputes("marts.fct_disputes", "opened_date", "loss_amount")
    # without disputes, no rate can cross its limit and no supplier can be rated avoid
    alerts_missing = reader.require_disputes("marts.fct_supplier_weeks", "ordered_week", "is_alert")
    alerts = (None, None)
    if not alerts_missing:
        alerts = tuple(
            reader.value(
                """
                select count(*) from marts.fct_supplier_weeks
                where ordered_week > ? and ordered_week <= ? and is_alert
                """,
                [week["week"].shifted(-ALERT_WEEKS).monday, week["week"].monday],
            )
            for week in (this_week, last_week)
        )
    current_avoid = verdicts.count("avoid", verdicts.current)
    previous_avoid = verdicts.count("avoid", verdicts.previous)
    return [
        Figure("Order lines placed", "count", this_week["lines"], last_week["lines"]),
        Figure("Supplier orders placed", "count", this_week["orders"], last_week["orders"]),
        Figure("Spent with suppliers", "money", this_week["spend"], last_week["spend"]),
        Figure(
            "Disputes opened",
            "count",
            this_week["disputes"],
            last_week["disputes"],
            disputes_missing,
        ),
        Figure(
            "Money lost on disputes opened",
            "money",
            this_week["loss"],
            last_week["loss"],
            disputes_missing,
        ),
        Figure(
            f"Spike alerts in the last {ALERT_WEEKS} order weeks",
            "count",
            alerts[0],
            alerts[1],
            alerts_missing,
        ),
        Figure("Suppliers rated avoid", "count", current_avoid, previous_avoid, reader.no_disputes),
    ]


# ── verdicts and their changes ─────────────────────────────────────────────────────────────────


@dataclass
class _Verdicts:
    current: dict[str, dict] | None
    current_as_of: dt.date | None
    previous: dict[str, dict] | None
    previous_as_of: dt.date | None
    note: str = ""

    @staticmethod
    def count(verdict: str, snapshot: dict[str, dict] | None) -> int | None:
        if snapshot is None:
            return None
        return sum(1 for row in snapshot.values() if row["verdict"] == verdict)


def _verdict_snapshots(reader: _Reader, week: Week, as_of: dt.date) -> _Verdicts:
    """The verdicts in force for `week` and the ones a week earlier.

    Every build's verdicts are kept in meta.verdict_history (see dropscore.history), and each
    snapshot counts for the week a report would have covered on its as-of date. The verdicts
    for `week` are the newest snapshot counting for it or earlier (the live scorecard when that
    is the newest); the previous ones are the newest snapshot counting for an earlier week than
    that.
    """
    snapshots: dict[dt.date, Week] = {}  # as-of date -> the report week it counts for
    if reader.catalog.has(HISTORY_TABLE, "as_of_at", "verdict"):
        for row in reader.rows(
            f"select distinct cast(as_of_at at time zone 'UTC' as date) as as_of_date"
            f" from {HISTORY_TABLE}"
        ):
            snapshots[row["as_of_date"]] = Week.last_complete(row["as_of_date"])
    live_week = Week.last_complete(as_of)
    current, current_as_of = None, None
    if live_week <= week:
        current, current_as_of = _live_verdicts(reader), as_of
        current_week = live_week
    else:
        candidates = [day for day, counts_for in snapshots.items() if counts_for <= week]
        if candidates:
            current_as_of = max(candidates)
            current = _snapshot(reader, current_as_of)
            current_week = snapshots[current_as_of]
    if current is None:
        return _Verdicts(
            None,
            None,
            None,
            None,
            f"No verdicts were recorded for {week}: verdict history starts "
            f"{min(snapshots):%Y-%m-%d}."
            if snapshots
            else f"No verdicts were recorded for {week}.",
        )
    earlier = [day for day, counts_for in snapshots.items() if counts_for < current_week]
    if not earlier:
        return _Verdicts(current, current_as_of, None, None)
    previous_as_of = max(earlier)
    return _Verdicts(current, current_as_of, _snapshot(reader, previous_as_of), previous_as_of)


def _live_verdicts(reader: _Reader) -> dict[str, dict]:
    reason = (
        "verdict_reason"
        if reader.catalog.has("marts.fct_supplier_scorecard", "verdict_reason")
        else "null"
    )
    if reason == "null":
        reader.catalog.require("marts.fct_supplier_scorecard", "verdict_reason")
    rows = reader.rows(
        f"""
        select
            supplier_id, supplier_name, verdict, mature_lines, defect_ratio, not_received_rate,
            {reason} as verdict_reason,
        from marts.fct_supplier_scorecard
        """
    )
    return {row["supplier_id"]: row for row in rows}


def _snapshot(reader: _Reader, as_of_date: dt.date) -> dict[str, dict]:
    rows = reader.rows(
        f"""
        select
            supplier_id, supplier_name, verdict, mature_lines, defect_ratio, not_received_rate,
            null as verdict_reason,
        from {HISTORY_TABLE}
        where cast(as_of_at at time zone 'UTC' as date) = ?
        qualify row_number() over (partition by supplier_id order by as_of_at desc) = 1
        """,
        [as_of_date],
    )
    return {row["supplier_id"]: row for row in rows}


_VERDICT_COLUMNS = [
    Column("supplier_name", "Supplier"),
    Column("was", "Was", "verdict"),
    Column("verdict", "Now", "verdict"),
    Column("defect_ratio", "Defect ratio", "rate"),
    Column("not_received_rate", "Not received", "rate"),
    Column("mature_lines", "Mature lines", "count"),
    Column("verdict_reason", "Why"),
]


def _verdict_changes(verdicts: _Verdicts, no_disputes: str) -> Section:
    section = Section(
        "verdict_changes",
        "Verdict changes",
        columns=_VERDICT_COLUMNS,
        empty="No supplier's verdict changed.",
    )
    if verdicts.current is None or no_disputes:
        # without disputes every verdict is insufficient_data: no change would mean anything
        section.unavailable = verdicts.note or no_disputes
        return section
    if verdicts.previous is None:
        section.note = (
            f"No earlier verdicts are recorded (history starts with the build as of "
            f"{verdicts.current_as_of:%Y-%m-%d}), so nothing can be compared yet; "
            "these are the suppliers rated avoid now."
        )
        section.empty = "No supplier is rated avoid."
        section.rows = sorted(
            (
                {**row, "was": None}
                for row in verdicts.current.values()
                if row["verdict"] == "avoid"
            ),
            key=lambda row: (-(row["defect_ratio"] or 0), row["supplier_name"] or ""),
        )
        return section
    section.note = (
        f"Verdicts as of {verdicts.current_as_of:%Y-%m-%d} compared with "
        f"{verdicts.previous_as_of:%Y-%m-%d}; new avoid first."
    )
    changes = []
    for supplier_id, row in verdicts.current.items():
        before = verdicts.previous.get(supplier_id)
        was = before["verdict"] if before else None
        if was == row["verdict"] or (was is None and row["verdict"] == "insufficient_data"):
            continue
        changes.append({**row, "was": was})
    section.rows = sorted(
        changes,
        key=lambda row: (
            row["verdict"] != "avoid",
            row["was"] != "avoid",
            VERDICT_SEVERITY.get(row["verdict"], 9),
            row["supplier_name"] or "",
        ),
    )
    return section


# ── sections from the marts ────────────────────────────────────────────────────────────────────


def _alerts(reader: _Reader, week: Week) -> Section:
    section = Section(
        "alerts",
        "Spike alerts",
        note=(
            f"Suppliers whose defect ratio or not-received rate on lines ordered in one of the "
            f"{ALERT_WEEKS} weeks to {week} is above the upper limit of their p-chart, with "
            "enough such lines. Disputes arrive weeks after the order, so recent order weeks "
            "count every line, mature or not: they can only get worse."
        ),
        columns=[
            Column("ordered_iso_week", "Order week"),
            Column("supplier_name", "Supplier"),
            Column("problem", "Spike in"),
            # the rate's denominator: a line not shipped can be neither defective nor lost
            Column("week_shipped_lines", "Shipped lines", "count"),
            Column("problem_lines", "Problem lines", "count"),
            Column("rate", "Rate", "rate"),
            Column("upper_limit", "Upper limit", "rate"),
            Column("verdict", "Verdict", "verdict"),
        ],
        empty=f"No supplier crossed a control limit in the {ALERT_WEEKS} order weeks to {week}.",
    )
    section.unavailable = reader.require_disputes(
        "marts.fct_supplier_weeks",
        "supplier_id",
        "ordered_week",
        "week_shipped_lines",
        "week_defect_lines",
        "week_defect_ratio",
        "defect_ratio_upper_limit",
        "is_defect_alert",
        "week_not_received_lines",
        "week_not_received_rate",
        "not_received_rate_upper_limit",
        "is_not_received_alert",
    )
    if section.unavailable:
        return section
    section.rows = reader.rows(
        """
        with week as (
            select * from marts.fct_supplier_weeks where ordered_week > ? and ordered_week <= ?
        ),

        spikes as (
            select
                ordered_week, supplier_id, 'defects' as problem, week_shipped_lines,
                week_defect_lines as problem_lines, week_defect_ratio as rate,
                defect_ratio_upper_limit as upper_limit,
            from week
            where is_defect_alert
            union all
            select
                ordered_week, supplier_id, 'not received' as problem, week_shipped_lines,
                week_not_received_lines as problem_lines, week_not_received_rate as rate,
                not_received_rate_upper_limit as upper_limit,
            from week
            where is_not_received_alert
        )

        select
            strftime(spikes.ordered_week, '%G-W%V') as ordered_iso_week,
            scorecard.supplier_name, spikes.problem, spikes.week_shipped_lines,
            spikes.problem_lines, spikes.rate, spikes.upper_limit, scorecard.verdict,
        from spikes
        left join marts.fct_supplier_scorecard as scorecard using (supplier_id)
        order by
            spikes.ordered_week desc, spikes.rate - spikes.upper_limit desc,
            scorecard.supplier_name, spikes.problem
        """,
        [week.shifted(-ALERT_WEEKS).monday, week.monday],
    )
    return section


def _product_titles(reader: _Reader) -> str:
    """A CTE body giving each product_id its title, from whichever mart carries titles."""
    if reader.catalog.has("marts.dim_products", "product_id", "product_title"):
        return "select product_id, product_title from marts.dim_products"
    if reader.catalog.has("marts.fct_product_suppliers", "product_id", "product_title", "lines"):
        return """
            select product_id, arg_max(product_title, lines) as product_title,
            from marts.fct_product_suppliers
            group by product_id
        """
    if reader.catalog.has("marts.fct_order_lines", "product_title"):
        return """
            select product_id, arg_max(product_title, ordered_at) as product_title,
            from marts.fct_order_lines
            group by product_id
        """
    reader.catalog.require("marts.fct_order_lines", "product_title")
    return "select distinct product_id, null as product_title from marts.fct_order_lines"


def _costliest(reader: _Reader, week: Week, key: str) -> Section:
    by_supplier = key == "supplier"
    section = Section(
        f"costliest_{key}s",
        "Suppliers that cost the most" if by_supplier else "Products that cost the most",
        note=(
            "Money lost (customer refunds + return shipping + resends − money recovered) on "
            "disputes opened this week."
        ),
        columns=[
            Column("supplier_name", "Supplier")
            if by_supplier
            else Column("product_title", "Product"),
            Column("disputes", "Disputes", "count"),
            Column("loss_amount", "Lost", "money"),
            Column("verdict", "Verdict", "verdict")
            if by_supplier
            else Column("suppliers", "Suppliers", "count"),
        ],
        # disputes may have been opened, and cost nothing or been more than made good
        empty=f"No {key} lost money on the disputes opened this week.",
    )
    section.unavailable = reader.require_disputes(
        "marts.fct_disputes", "opened_date", "supplier_id", "product_id", "loss_amount"
    )
    if section.unavailable:
        return section
    if by_supplier:
        sql = """
            select
                disputes.supplier_id,
                any_value(scorecard.supplier_name) as supplier_name,
                count(*) as disputes,
                sum(disputes.loss_amount) as loss_amount,
                any_value(scorecard.verdict) as verdict,
            from marts.fct_disputes as disputes
            left join marts.fct_supplier_scorecard as scorecard using (supplier_id)
            where disputes.opened_date >= ? and disputes.opened_date < ?
            group by disputes.supplier_id
            having sum(disputes.loss_amount) > 0
            order by loss_amount desc, supplier_name
            limit ?
        """
    elif reader.catalog.has("marts.fct_order_lines", "first_dispute_id", "loss_amount"):
        # A dispute can cover lines of several products: its loss is shared out by line, the
        # same way fct_disputes adds it up (each line's loss belongs to its first dispute).
        sql = f"""
            with titles as ({_product_titles(reader)})
            select
                coalesce(any_value(titles.product_title), lines.product_id) as product_title,
                count(distinct disputes.dispute_id) as disputes,
                sum(lines.loss_amount) as loss_amount,
                count(distinct lines.supplier_id) as suppliers,
            from marts.fct_disputes as disputes
            inner join marts.fct_order_lines as lines
                on disputes.dispute_id = lines.first_dispute_id
            left join titles on lines.product_id = titles.product_id
            where disputes.opened_date >= ? and disputes.opened_date < ?
            group by lines.product_id
            having sum(lines.loss_amount) > 0
            order by loss_amount desc, product_title
            limit ?
        """
    else:
        reader.catalog.require("marts.fct_order_lines", "first_dispute_id")
        sql = f"""
            with titles as ({_product_titles(reader)})
            select
                coalesce(any_value(titles.product_title), disputes.product_id) as product_title,
                count(*) as disputes,
                sum(disputes.loss_amount) as loss_amount,
                count(distinct disputes.supplier_id) as suppliers,
            from marts.fct_disputes as disputes
            left join titles on disputes.product_id = titles.product_id
            where disputes.opened_date >= ? and disputes.opened_date < ?
                and disputes.product_id is not null
            group by disputes.product_id
            having sum(disputes.loss_amount) > 0
            order by loss_amount desc, product_title
            limit ?
        """
    section.rows = reader.rows(sql, [week.monday, week.shifted(1).monday, TOP_ROWS])
    return section


def _costliest_suppliers(reader: _Reader, week: Week) -> Section:
    return _costliest(reader, week, "supplier")


def _costliest_products(reader: _Reader, week: Week) -> Section:
    return _costliest(reader, week, "product")


def _switches(reader: _Reader, week: Week) -> Section:
    section = Section(
        "switches",
        "Recommended switches",
        note=(
            "Products ordered this week from a supplier that is significantly worse than the "
            "product's recommended supplier, where switching saves money: the expected saving "
            "per 100 orders. A better supplier that costs more than the losses it saves is on "
            "the dashboard's Products page, not here."
        ),
        columns=[
            Column("product_title", "Product"),
            Column("supplier_name", "From"),
            Column("recommended_supplier_name", "To"),
            Column("lines", "Lines this week", "count"),
            Column("saving_per_100_orders", "Saving per 100 orders", "money"),
        ],
        empty="No product ordered this week has a better supplier that would save money.",
    )
    # a supplier is better than another by its dispute rates
    section.unavailable = reader.require_disputes(
        "marts.fct_product_suppliers",
        "product_id",
        "supplier_id",
        "recommended_supplier_id",
        "saving_per_100_orders",
    )
    if section.unavailable:
        return section
    section.rows = reader.rows(
        f"""
        with ordered as (
            select product_id, supplier_id, count(*) as lines,
            from marts.fct_order_lines
            where ordered_date >= ? and ordered_date < ?
            group by product_id, supplier_id
        ),

        titles as ({_product_titles(reader)})

        select
            coalesce(titles.product_title, ordered.product_id) as product_title,
            current_supplier.supplier_name,
            recommended.supplier_name as recommended_supplier_name,
            ordered.lines,
            choices.saving_per_100_orders,
        from ordered
        inner join marts.fct_product_suppliers as choices
            on ordered.product_id = choices.product_id
            and ordered.supplier_id = choices.supplier_id
        left join titles on ordered.product_id = titles.product_id
        left join marts.dim_suppliers as current_supplier
            on ordered.supplier_id = current_supplier.supplier_id
        left join marts.dim_suppliers as recommended
            on choices.recommended_supplier_id = recommended.supplier_id
        where choices.recommended_supplier_id <> ordered.supplier_id
            and choices.saving_per_100_orders > 0
        order by choices.saving_per_100_orders * ordered.lines desc, product_title
        limit ?
        """,
        [week.monday, week.shifted(1).monday, TOP_ROWS],
    )
    return section


def _deadlines(reader: _Reader, as_of: dt.date) -> Section:
    section = Section(
        "deadlines",
        "Deadlines coming up",
        note=(
            f"What to do before a deadline, as of {as_of:%Y-%m-%d}: overdue first, then the "
            "nearest."
        ),
        columns=[
            Column("deadline_date", "By", "date"),
            Column("days_left", "When", "days_left"),
            Column("supplier_name", "Supplier"),
            Column("action", "What to do"),
            Column("amount_at_stake", "At stake", "money"),
        ],
        empty="No deadline is coming up.",
    )
    section.unavailable = reader.catalog.require(
        "marts.fct_dispute_deadlines",
        "supplier_id",
        "deadline_at",
        "days_left",
        "is_overdue",
        "action",
        "amount_at_stake",
    )
    if section.unavailable:
        return section
    if reader.no_disputes:
        # the late orders still need a dispute opened; only which already have one is unknown
        section.note += (
            " No dispute file has been loaded: a late order is listed even if you have opened "
            "its dispute, and no open dispute is listed to escalate."
        )
    section.rows = reader.rows(
        """
        select
            cast(deadlines.deadline_at at time zone 'UTC' as date) as deadline_date,
            deadlines.days_left,
            suppliers.supplier_name,
            deadlines.action,
            deadlines.amount_at_stake,
        from marts.fct_dispute_deadlines as deadlines
        left join marts.dim_suppliers as suppliers using (supplier_id)
        order by deadlines.is_overdue desc, deadlines.deadline_at, suppliers.supplier_name
        limit ?
        """,
        [DEADLINE_ROWS],
    )
    total = reader.value("select count(*) from marts.fct_dispute_deadlines")
    if total > len(section.rows):
        section.note += f" The first {len(section.rows)} of {total:,}."
    return section


def _data_health(reader: _Reader, as_of: dt.date) -> list[Section]:
    loads = Section(
        "loads",
        "Data health: files loaded",
        note=f"The {TOP_ROWS} newest files loaded into the warehouse, newest first.",
        columns=[
            Column("loaded_at", "Loaded", "date"),
            Column("file_name", "File"),
            Column("format", "Format"),
            Column("outcome", "Outcome"),
            Column("rows_loaded", "Rows", "count"),
            Column("rows_rejected", "Rejected", "count"),
        ],
        empty="No file has been loaded.",
    )
    freshness = Section(
        "freshness",
        "Data health: freshness",
        columns=[
            Column("format", "Input"),
            Column("files", "Files", "count"),
            Column("last_loaded_at", "Last loaded", "date"),
            Column("status", "Status"),
        ],
        empty="No file has been loaded.",
    )
    rejects = Section(
        "rejects",
        "Data health: rejected rows",
        columns=[
            Column("file_name", "File"),
            Column("column_name", "Column"),
            Column("reason", "Reason"),
            Column("rows", "Rows", "count"),
        ],
        empty="No row was rejected.",
    )
    loads.unavailable = reader.catalog.require(
        "raw.loads",
        "file_name",
        "format",
        "outcome",
        "rows_loaded",
        "rows_rejected",
        "loaded_at",
    )
    freshness.unavailable = loads.unavailable
    rejects.unavailable = reader.catalog.require("raw.rejects", "load_id", "column_name", "reason")
    newest_build = None
    if reader.catalog.has("meta.builds", "finished_at"):
        newest_build = reader.value("select max(finished_at) from meta.builds")
    if newest_build is not None:
        freshness.note = (
            f"Newest build finished {newest_build.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC; the "
            f"data runs to {as_of:%Y-%m-%d}. A file type not loaded for more than "
            f"{STALE_AFTER_DAYS} days before the newest build is stale."
        )
    else:
        freshness.note = f"The data runs to {as_of:%Y-%m-%d}."
    if not loads.unavailable:
        loads.rows = reader.rows(
            """
            select loaded_at, file_name, format, outcome, rows_loaded, rows_rejected,
            from raw.loads
            order by loaded_at desc, load_id desc
            limit ?
            """,
            [TOP_ROWS],
        )
        freshness.rows = reader.rows(
            """
            select
                coalesce(format, 'unrecognised') as format,
                count(*) filter (where outcome = 'loaded') as files,
                max(loaded_at) filter (where outcome = 'loaded') as last_loaded_at,
                count(*) filter (where outcome <> 'loaded') as failed,
            from raw.loads
            group by all
            order by format
            """
        )
        reference = newest_build or max(
            (row["last_loaded_at"] for row in freshness.rows if row["last_loaded_at"]),
            default=None,
        )
        for row in freshness.rows:
            row["status"] = _freshness(row, reference)
    if not rejects.unavailable:
        rejects.rows = reader.rows(
            """
            select loads.file_name, rejects.column_name, rejects.reason, count(*) as rows,
            from raw.rejects as rejects
            left join raw.loads as loads using (load_id)
            group by all
            order by rows desc, loads.file_name, rejects.column_name
            limit ?
            """,
            [TOP_ROWS],
        )
    return [freshness, loads, rejects]


def _freshness(row: dict, reference: dt.datetime | None) -> str:
    failed = f"; {row['failed']} failed load(s)" if row["failed"] else ""
    if row["last_loaded_at"] is None:
        return "never loaded" + failed
    if reference is not None:
        age = (reference - row["last_loaded_at"]).days
        if age > STALE_AFTER_DAYS:
            return f"stale: last loaded {age} days before the newest build" + failed
    return "fresh" + failed


# ── charts ─────────────────────────────────────────────────────────────────────────────────────


def charts(report: Report) -> list[Chart]:
    """The HTML report's charts, as PNG. vl-convert's SVG declares its XML namespaces with http
    URLs, which a report that must hold no web address cannot carry, so charts are PNG data URIs.
    Rendered only for HTML: Markdown has no images."""
    import altair

    trend, week, currency = report.trend, report.week, report.currency

    rendered = []
    weeks = [
        {
            "week": entry["week"].label,
            "lines": entry["lines"],
            "loss": float(entry["loss"]) if entry["loss"] is not None else None,
            "this week": entry["week"] == week,
        }
        for entry in trend
    ]
    highlight = altair.condition(
        "datum['this week']", altair.value("#c0392b"), altair.value("#7f8c8d")
    )
    order = [entry["week"] for entry in weeks]
    lines = (
        altair.Chart(altair.Data(values=weeks))
        .mark_bar()
        .encode(
            x=altair.X("week:O", title=None, sort=order),
            y=altair.Y("lines:Q", title="order lines"),
            color=highlight,
        )
        .properties(width=520, height=160, title="Order lines per week (by order date)")
    )
    rendered.append(
        _render(
            lines,
            "Order lines per week",
            f"Order lines placed in each of the {TREND_WEEKS} weeks to {week}: "
            + ", ".join(f"{entry['week']} {entry['lines']}" for entry in weeks),
        )
    )
    if all(entry["loss"] is not None for entry in weeks):
        loss = (
            altair.Chart(altair.Data(values=weeks))
            .mark_bar()
            .encode(
                x=altair.X("week:O", title=None, sort=order),
                # The currency on the axis only: Vega-Lite copies a field's title into the
                # description's expression without escaping backslashes, which turns an escaped
                # `\x07` back into the character, and vl-convert then cannot draw the chart.
                y=altair.Y(
                    "loss:Q", title="lost", axis=altair.Axis(title=_money_axis_title(currency))
                ),
                color=highlight,
            )
            .properties(width=520, height=160, title="Money lost per week (by dispute date)")
        )
        rendered.append(
            _render(
                loss,
                "Money lost per week",
                f"Money lost on disputes opened in each of the {TREND_WEEKS} weeks to {week}: "
                + ", ".join(f"{entry['week']} {entry['loss']:,.2f}" for entry in weeks),
            )
        )
    costliest = next(section for section in report.sections if section.key == "costliest_suppliers")
    if costliest.rows:
        labels = _axis_labels(
            [(row["supplier_name"] or "", row["supplier_id"]) for row in costliest.rows]
        )
        bars = [
            {"supplier": label, "loss": float(row["loss_amount"])}
            for label, row in zip(labels, costliest.rows, strict=True)
        ]
        chart = (
            altair.Chart(altair.Data(values=bars))
            .mark_bar(color="#c0392b")
            .encode(
                # labels cut here, not by Vega: it cuts UTF-16 code units, and half an emoji
                # aborts vl-convert
                y=altair.Y("supplier:N", title=None, sort="-x", axis=altair.Axis(labelLimit=0)),
                x=altair.X(
                    "loss:Q", title="lost", axis=altair.Axis(title=_money_axis_title(currency))
                ),
            )
            .properties(width=420, title="Suppliers that cost the most this week")
        )
        rendered.append(
            _render(
                chart,
                "Suppliers that cost the most this week",
                "Money lost this week per supplier: "
                + ", ".join(f"{bar['supplier']} {bar['loss']:,.2f}" for bar in bars),
            )
        )
    return [chart for chart in rendered if chart is not None]


def _money_axis_title(currency: str) -> str:
    """'lost (USD)'. The currency comes from the marts, so it is escaped as every string from
    the data drawn on a chart is: vl-convert aborts the process on a control character."""
    return f"lost ({escape_controls(currency)})" if currency else "lost"


# A chart's axis label: characters, not the pixels Vega would cut at.
AXIS_LABEL_CHARACTERS = 32


def _axis_labels(named: list[tuple[str, str]]) -> list[str]:
    """One label per (name, id) bar. The chart groups bars by label, so two suppliers whose
    names are alike up to the cut (or alike whole) are told apart by their store ids."""
    labels = [_axis_label(name) for name, _ in named]
    return [
        f"{label} ({escape_controls(key)})" if labels.count(label) > 1 else label
        for label, (_, key) in zip(labels, named, strict=True)
    ]


def _axis_label(text: str) -> str:
    text = escape_controls(text)
    if len(text) <= AXIS_LABEL_CHARACTERS:
        return text
    return text[: AXIS_LABEL_CHARACTERS - 1].rstrip() + "…"


def prepare_charts() -> None:
    """Import the chart libraries and start vl-convert's engine on a chart of one bar: the
    first chart a process renders waits for them (~0.5 s; 1.3 s on a slow machine). A run
    calls this while DuckDB writes the build file out, before the report is rendered."""
    import altair  # noqa: F401  (for the time its import takes)
    import vl_convert

    with contextlib.suppress(ImportError):  # as in `_compact`
        from PIL import Image  # noqa: F401
    bar = {
        "data": {"values": [{"week": "W1", "lines": 1}]},
        "mark": "bar",
        "encoding": {
            "x": {"field": "week", "type": "ordinal"},
            "y": {"field": "lines", "type": "quantitative", "title": "order lines"},
        },
    }
    vl_convert.vegalite_to_png(bar)


def _render(chart, title: str, description: str, scale: float = 2) -> Chart | None:
    """The chart as PNG; None when vl-convert cannot draw it (some text from an export it
    cannot take): the report goes without that chart, its numbers are in the tables."""
    import vl_convert

    spec = chart.to_dict()
    spec.pop("$schema", None)  # a web address, and vl-convert needs no schema to render
    try:
        png = _compact(vl_convert.vegalite_to_png(spec, scale=scale))
    except ValueError:
        return None
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    return Chart(title, description, png, round(width / scale), round(height / scale))


def _compact(png: bytes) -> bytes:
    """The PNG with a 64-colour palette: a tenth of the bytes for flat charts, which keeps the
    report small enough for a mail. Unchanged when Pillow is not installed."""
    try:
        from PIL import Image
    except ImportError:
        return png
    image = Image.open(io.BytesIO(png)).convert("RGB")
    palette = image.quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    compacted = io.BytesIO()
    palette.save(compacted, "PNG", optimize=True)
    return compacted.getvalue()


# ── rendering ──────────────────────────────────────────────────────────────────────────────────


class Plain(str):
    """Text dropscore wrote itself (a formatted number, a label), not a string from the data."""


# The characters that start Markdown syntax anywhere in a line: emphasis, code, links and images,
# table cells, raw HTML, entities, strikethrough, maths ($, in GitHub and Obsidian). Data never
# starts a line in the template, so the line-start ones (#, -, +, 1.) cannot make a heading or a
# list and stay readable.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&$])")
# ... and what makes a link or hides text without them: a bare `https://`, `www.` or e-mail
# address (GitHub links them), `%%` (an Obsidian comment, hiding all up to the next) and `==`
# (a highlight).
_MARKDOWN_SEQUENCES = re.compile(r"(?i)(?<=[a-z]):(?=//)|(?<=www)\.|(?<=\S)@(?=\w)|%(?=%)|=(?==)")


def markdown_escape(value: object) -> str:
    """A data string made literal in Markdown: specials backslash-escaped, on one line."""
    if value is None:
        return ""
    if isinstance(value, Plain):
        return value
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(value).split()))
    return _MARKDOWN_SEQUENCES.sub(lambda match: "\\" + match[0], text)


def format_value(value: object, kind: str = "text") -> str:
    """How a value reads in the report; numbers and labels come back as Plain."""
    if value is None:
        return Plain("—")
    if kind == "count":
        return Plain(f"{value:,}")
    if kind == "money":
        return Plain(f"{float(value):,.2f}")
    if kind == "rate":
        return Plain(f"{float(value) * 100:.1f} %")
    if kind == "number":
        return Plain(f"{float(value):,.2f}")
    if kind == "date":
        return Plain(f"{value:%Y-%m-%d}")
    if kind == "days_left":
        # Whole days elapsed either way, as age_days counts them: 4.9 days past is overdue by
        # 4 days, as 2.7 days ahead is in 2 days.
        days = math.floor(abs(value))
        plural = "s" if days > 1 else ""
        if value <= 0:
            return Plain(f"overdue by {days} day{plural}" if days else "overdue by less than a day")
        return Plain(f"in {days} day{plural}" if days else "within a day")
    if kind == "verdict":
        label = VERDICT_LABELS.get(value)
        return Plain(label) if label else escape_controls(str(value))
    return escape_controls(str(value))


def format_change(figure: Figure) -> str:
    if figure.change is None:
        return Plain("—")
    change = figure.change
    sign = "+" if change > 0 else ("−" if change < 0 else "±")
    magnitude = format_value(abs(change), figure.kind)
    relative = figure.relative_change
    if relative is None:
        return Plain(f"{sign}{magnitude}")
    percent = abs(relative) * 100
    return Plain(f"{sign}{magnitude} ({sign}{percent:.{1 if percent < 10 else 0}f} %)")


def _environment(markdown: bool) -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=not markdown,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=markdown_escape if markdown else None,
    )
    environment.filters["value"] = format_value
    environment.filters["change"] = format_change
    # Labels, titles and notes written by this module, never data: no escapes to clutter them.
    environment.filters["own"] = Plain
    return environment


def render_html(report: Report) -> str:
    template = _environment(markdown=False).get_template("report.html.j2")
    return template.render(report=report, charts=charts(report))


def render_markdown(report: Report) -> str:
    return _environment(markdown=True).get_template("report.md.j2").render(report=report)


@dataclass(frozen=True)
class RenderedReport:
    """A report rendered in each format asked for, not yet written anywhere."""

    week: Week
    documents: dict[str, str]  # format -> text


def render_report(
    warehouse: Path, week: Week | None = None, formats: Iterable[str] = REPORT_FORMATS
) -> RenderedReport:
    """The report of `week` (default: the last complete week) from `warehouse`, in each format."""
    report = build_report(warehouse, week)
    renderers = {"html": render_html, "md": render_markdown}
    return RenderedReport(report.week, {fmt: renderers[fmt](report) for fmt in formats})


def save_report(rendered: RenderedReport, directory: Path) -> list[Path]:
    """Write `<directory>/<week>.<format>` for each format rendered; returns the paths written."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ReportError(f"cannot create {directory}: {error.strerror}") from None
    written = []
    for output_format, text in rendered.documents.items():
        path = directory / f"{rendered.week.label}.{output_format}"
        partial = directory / f".{path.name}.{os.getpid()}.tmp"
        try:
            partial.write_text(text, encoding="utf-8")
            os.replace(partial, path)
        except OSError as error:
            raise ReportError(f"cannot write {path}: {error.strerror}") from None
        finally:
            # where the write failed the cleanup may too (a read-only disk): the write's error
            # is the one to tell
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)
        written.append(path)
    return written


def write_report(
    warehouse: Path,
    directory: Path,
    week: Week | None = None,
    formats: Iterable[str] = REPORT_FORMATS,
) -> list[Path]:
    """Write `<directory>/<week>.html` and/or `.md`; returns the paths written."""
    return save_report(render_report(warehouse, week, formats), directory)
