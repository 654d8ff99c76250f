"""The dashboard's Altair charts. They take frames the queries return and draw them; no data is
computed here beyond reshaping for the chart."""

from __future__ import annotations

import altair as alt
import pandas as pd

from dropscore.controls import escape_controls

VERDICT_COLOURS = {
    "avoid": "#d62728",
    "watch": "#ff9f1c",
    "insufficient_data": "#9e9e9e",
    "good": "#2ca02c",
}

HEIGHT = 240

RATE_NAMES = {"defect_ratio": "defect ratio", "not_received_rate": "not-received rate"}
SHORT_RATE_NAMES = {"defect_ratio": "defects", "not_received_rate": "not received"}
RATE_COLOURS = {"defect ratio": "#4c78a8", "not-received rate": "#9467bd"}


def weekly_lines(weeks: pd.DataFrame) -> alt.Chart:
    """Order lines per week, mature and provisional stacked: young weeks are mostly provisional,
    which is why their rates are not in the verdicts yet."""
    long = weeks.melt(
        id_vars="week_start",
        value_vars=["mature_lines", "provisional_lines"],
        var_name="kind",
        value_name="order_lines",
    )
    long["kind"] = long["kind"].map({"mature_lines": "mature", "provisional_lines": "provisional"})
    return (
        alt.Chart(long, height=HEIGHT, title="Order lines per week")
        .mark_bar()
        .encode(
            x=alt.X("week_start:T", title="Week ordered"),
            y=alt.Y("order_lines:Q", title="Order lines", stack="zero"),
            color=alt.Color(
                "kind:N",
                title=None,
                scale=alt.Scale(domain=["mature", "provisional"], range=["#4c78a8", "#bcd2ea"]),
                legend=alt.Legend(orient="top"),
            ),
            tooltip=[
                alt.Tooltip("week_start:T", title="Week of"),
                alt.Tooltip("kind:N", title="Lines"),
                alt.Tooltip("order_lines:Q", title="Count", format=","),
            ],
        )
    )


def weekly_rates(weeks: pd.DataFrame) -> alt.LayerChart:
    """Defect ratio and not-received rate per order week; weeks with provisional lines get
    hollow points, as their rates can still rise."""
    long = weeks.melt(
        id_vars=["week_start", "has_provisional_lines"],
        value_vars=["defect_ratio", "not_received_rate"],
        var_name="rate",
        value_name="value",
    ).dropna(subset=["value"])
    long["rate"] = long["rate"].map(SHORT_RATE_NAMES)
    colour = alt.Color(
        "rate:N",
        title=None,
        scale=alt.Scale(domain=list(SHORT_RATE_NAMES.values()), range=list(RATE_COLOURS.values())),
        legend=alt.Legend(orient="top"),
    )
    base = alt.Chart(height=HEIGHT).encode(
        x=alt.X("week_start:T", title="Week ordered"),
        y=alt.Y("value:Q", title="Of shipped lines", axis=alt.Axis(format="%")),
        color=colour,
    )
    points = base.mark_point(size=16, filled=True).encode(
        fill=alt.condition("datum.has_provisional_lines", alt.value("white"), colour),
        tooltip=[
            alt.Tooltip("week_start:T", title="Week of"),
            alt.Tooltip("rate:N", title="Rate"),
            alt.Tooltip("value:Q", title="Value", format=".1%"),
            alt.Tooltip("has_provisional_lines:N", title="Provisional"),
        ],
    )
    return alt.layer(base.mark_line(), points, data=long).properties(title="Rates per week")


def money_title(currency: str | None) -> str:
    """'Money lost (USD)'. The currency is text from the warehouse: escaped here as
    `queries.escaped` escapes it, so the title is safe whoever calls (escaping twice changes
    nothing)."""
    return f"Money lost ({escape_controls(currency)})" if currency else "Money lost"


def weekly_loss(weeks: pd.DataFrame, currency: str | None) -> alt.Chart:
    # The currency goes on the axis only: Vega-Lite copies a field's title into the tooltip's
    # and the description's expressions without escaping backslashes, which would turn an
    # escaped `\x1b` back into the character.
    return (
        alt.Chart(weeks, height=HEIGHT, title="Money lost per week")
        .mark_bar(color="#e45756")
        .encode(
            x=alt.X("week_start:T", title="Week ordered"),
            y=alt.Y(
                "loss_amount:Q", title="Money lost", axis=alt.Axis(title=money_title(currency))
            ),
            tooltip=[
                alt.Tooltip("week_start:T", title="Week of"),
                alt.Tooltip("loss_amount:Q", title="Money lost", format=",.2f"),
            ],
        )
    )


def control_chart(weeks: pd.DataFrame, rate: str) -> alt.LayerChart:
    """A p-chart of one rate (`defect_ratio` or `not_received_rate`): each week's rate against
    the supplier's centre line and upper control limit, which widens in weeks with few lines.
    Alert weeks are red; weeks still provisional have hollow points."""
    alert = "is_defect_alert" if rate == "defect_ratio" else "is_not_received_alert"
    frame = pd.DataFrame(
        {
            "week_start": weeks["ordered_week"],
            "value": weeks[f"week_{rate}"],
            "centre": weeks[f"{rate}_centre"],
            "upper_limit": weeks[f"{rate}_upper_limit"],
            "shipped_lines": weeks["week_shipped_lines"],
            "alert": weeks[alert]
            .fillna(False)
            .astype(bool)
            .map({True: "alert", False: "in control"}),
            "has_provisional_lines": weeks["has_provisional_lines"].fillna(False).astype(bool),
        }
    )
    name = RATE_NAMES[rate]
    # The data sits on the layer, not on each part: Altair would otherwise compare the parts'
    # data to merge it, which costs more than drawing.
    base = alt.Chart(height=HEIGHT).encode(x=alt.X("week_start:T", title="Week ordered"))
    limit = base.mark_line(interpolate="step-after", strokeDash=[4, 3], color="#d62728").encode(
        y=alt.Y("upper_limit:Q")
    )
    centre = base.mark_line(strokeDash=[2, 2], color="#555").encode(y=alt.Y("centre:Q"))
    line = base.mark_line(color=RATE_COLOURS[name]).encode(
        y=alt.Y("value:Q", title=name.capitalize(), axis=alt.Axis(format="%"))
    )
    colour = alt.Color(
        "alert:N",
        scale=alt.Scale(domain=["in control", "alert"], range=[RATE_COLOURS[name], "#d62728"]),
        legend=None,
    )
    points = base.mark_point(size=50, filled=True).encode(
        y=alt.Y("value:Q"),
        color=colour,
        fill=alt.condition("datum.has_provisional_lines", alt.value("white"), colour),
        tooltip=[
            alt.Tooltip("week_start:T", title="Week of"),
            alt.Tooltip("value:Q", title=name.capitalize(), format=".1%"),
            alt.Tooltip("upper_limit:Q", title="Upper limit", format=".1%"),
            alt.Tooltip("centre:Q", title="Usual level", format=".1%"),
            alt.Tooltip("shipped_lines:Q", title="Shipped lines"),
            alt.Tooltip("alert:N", title="Status"),
        ],
    )
    return alt.layer(limit, centre, line, points, data=frame).properties(
        title=f"{name.capitalize()} per week"
    )


def reasons(frame: pd.DataFrame) -> alt.Chart:
    return (
        alt.Chart(frame, height=max(120, 28 * len(frame)), title="Disputes by reason")
        .mark_bar(color="#e45756")
        .encode(
            x=alt.X("disputes:Q", title="Disputes"),
            y=alt.Y("category:N", title=None, sort="-x"),
            tooltip=[
                alt.Tooltip("category:N", title="Reason"),
                alt.Tooltip("category_group:N", title="Kind"),
                alt.Tooltip("disputes:Q", title="Disputes"),
            ],
        )
    )
