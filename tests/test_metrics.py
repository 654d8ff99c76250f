"""Metrics on real generated warehouses: what dbt unit tests on hand-made rows cannot reach.

The marts must agree with each other (the scorecard's numerators and denominators are counts of
fct_order_lines; money shared out over lines adds up to the disputes' money), the verdicts must
agree with the generator's truth in the clear cases, and a metric whose inputs are missing from
the exports must be NULL, never 0.
"""

from __future__ import annotations

import csv
import math
from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from dropscore.config import Settings
from dropscore.pipeline import run


def query(settings, sql: str, parameters=()) -> list[tuple]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(sql, list(parameters)).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def verdicts(built_settings, sample_exports) -> dict[str, tuple[str, str, int]]:
    """supplier_id -> (true band, verdict, mature lines)."""
    with sample_exports.truth.open() as truth_file:
        band = {row["supplier_id"]: row["band"] for row in csv.DictReader(truth_file)}
    rows = query(
        built_settings,
        "select supplier_id, verdict, mature_lines from marts.fct_supplier_scorecard",
    )
    return {supplier: (band[supplier], verdict, lines) for supplier, verdict, lines in rows}


def test_every_supplier_marked_avoid_is_truly_bad(verdicts):
    avoided = {
        supplier: band for supplier, (band, verdict, _) in verdicts.items() if verdict == "avoid"
    }
    assert avoided and set(avoided.values()) == {"bad"}


def test_no_truly_bad_supplier_is_marked_good_and_no_good_one_is_bad(verdicts):
    assert {band for band, verdict, _ in verdicts.values() if verdict == "good"} == {"fine"}


def test_bad_suppliers_with_50_mature_lines_are_marked_avoid(verdicts):
    large_bad = [
        verdict for band, verdict, lines in verdicts.values() if band == "bad" and lines >= 50
    ]
    assert large_bad and set(large_bad) == {"avoid"}


def test_suppliers_below_the_minimum_get_no_verdict(verdicts):
    assert {verdict for _, verdict, lines in verdicts.values() if lines < 20} == {
        "insufficient_data"
    }


def test_scorecard_numerators_and_denominators_reconcile_with_order_lines(built_settings):
    mismatches = query(
        built_settings,
        """
        with recounted as (
            select
                supplier_id,
                count(*) as lines,
                count(*) filter (where is_mature) as mature_lines,
                count(*) filter (where is_mature and is_shipped) as mature_shipped_lines,
                count(*) filter (where is_mature and is_shipped and has_defect_dispute)
                    as defect_lines,
                count(*) filter (where is_mature and is_shipped and has_delivery_failure_dispute)
                    as not_received_lines,
                count(*) filter (where is_mature and has_dispute) as disputed_lines,
                count(*) filter (where is_mature and is_seller_cancelled) as seller_cancelled_lines,
                sum(line_amount) filter (where not is_cancelled) as spend_amount,
                sum(loss_amount) as loss_amount,
            from marts.fct_order_lines
            where is_in_analysis_window
            group by supplier_id
        )
        select supplier_id
        from marts.fct_supplier_scorecard as scorecard
        inner join recounted using (supplier_id)
        where scorecard.lines <> recounted.lines
            or scorecard.mature_lines <> recounted.mature_lines
            or scorecard.mature_shipped_lines <> recounted.mature_shipped_lines
            or scorecard.defect_lines <> recounted.defect_lines
            or scorecard.not_received_lines <> recounted.not_received_lines
            or scorecard.disputed_lines <> recounted.disputed_lines
            or scorecard.seller_cancelled_lines <> recounted.seller_cancelled_lines
            or scorecard.spend_amount <> recounted.spend_amount
            or scorecard.loss_amount <> recounted.loss_amount
            or abs(scorecard.defect_ratio - recounted.defect_lines / recounted.mature_shipped_lines)
                > 1e-12
        """,
    )
    assert mismatches == []


def test_mature_and_provisional_lines_add_up_to_all_lines(built_settings):
    assert query(
        built_settings,
        """
        select count(*) from marts.fct_supplier_scorecard
        where mature_lines + provisional_lines <> lines
            or mature_shipped_lines + provisional_shipped_lines > lines
        """,
    ) == [(0,)]


def test_ages_are_the_same_in_every_readers_time_zone(built_settings):
    # An analyst's DuckDB session runs in their own zone; calendar days would shift by one.
    ages = []
    with duckdb.connect(str(built_settings.warehouse_path), read_only=True) as con:
        for zone in ("UTC", "Pacific/Kiritimati", "America/Los_Angeles"):
            con.execute(f"set TimeZone = '{zone}'")
            ages.append(
                con.execute(
                    "select list(age_days order by order_line_id) from marts.fct_order_lines"
                ).fetchall()[0][0]
            )
    assert ages[0] and ages[0] == ages[1] == ages[2]


def test_money_shared_out_over_lines_adds_up_to_the_disputes_money(built_settings):
    [(lines_recovered, disputes_recovered, lines_loss, disputes_loss)] = query(
        built_settings,
        """
        select
            (select sum(recovered_amount) from marts.fct_order_lines),
            (select sum(recovered_amount) from marts.fct_disputes where is_matched),
            (select sum(loss_amount) from marts.fct_order_lines where first_dispute_id is not null),
            (select sum(loss_amount) from marts.fct_disputes),
        """,
    )
    assert lines_recovered == disputes_recovered
    assert lines_loss == disputes_loss


def test_money_is_decimal_in_every_mart(built_settings):
    not_decimal = query(
        built_settings,
        """
        select table_name || '.' || column_name || ' ' || data_type
        from information_schema.columns
        where table_schema = 'marts'
            and (column_name like '%\\_amount' escape '\\' or column_name like '%\\_cost' escape '\\'
                or column_name like '%per\\_100%' escape '\\' or column_name = 'unit_price')
            and data_type not like 'DECIMAL%'
        """,
    )
    assert not_decimal == []


def test_weekly_alerts_follow_the_p_chart(built_settings):
    weeks = query(
        built_settings,
        """
        select week_shipped_lines, week_defect_lines, week_defect_ratio, defect_ratio_centre,
            defect_ratio_upper_limit, is_defect_alert
        from marts.fct_supplier_weeks
        where week_shipped_lines > 0
        """,
    )
    assert weeks
    for shipped, defects, ratio, centre, upper, is_alert in weeks:
        expected_upper = min(1.0, centre + 3 * math.sqrt(centre * (1 - centre) / shipped))
        assert upper == pytest.approx(expected_upper, abs=1e-12)
        assert is_alert == (ratio > upper and defects >= 3)


def test_a_switch_saving_is_shown_only_where_the_test_supports_it(built_settings):
    rows = query(
        built_settings,
        """
        select is_switch_supported, switch_z_score, saving_per_100_orders, is_recommended,
            product_suppliers
        from marts.fct_product_suppliers
        """,
    )
    assert any(supported for supported, *_ in rows)
    for supported, z_score, saving, is_recommended, suppliers in rows:
        assert (saving is not None) == supported
        if supported:
            assert z_score > 1.959963 and not is_recommended and suppliers >= 2


@pytest.fixture(scope="module")
def orders_only_settings(tmp_path_factory, sample_exports):
    """A home built from the orders export alone, with its delivery promises blanked out."""
    folder = tmp_path_factory.mktemp("orders_only")
    with sample_exports.orders.open(newline="") as source:
        rows = list(csv.DictReader(source))
    for row in rows:
        row["promised_delivery_days"] = ""
    orders = folder / "orders.csv"
    with orders.open("w", newline="") as target:
        writer = csv.DictWriter(target, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    settings = Settings(home=folder / "home")
    run(settings, [orders])
    return settings


def test_metrics_without_their_inputs_are_null_not_zero(orders_only_settings):
    rows = query(
        orders_only_settings,
        """
        select verdict, verdict_reason, defect_ratio, not_received_rate, dispute_rate,
            late_delivery_rate, late_shipment_rate, loss_amount, mature_lines
        from marts.fct_supplier_scorecard
        where mature_lines >= 20
        """,
    )
    assert rows
    for (
        verdict,
        reason,
        defect,
        not_received,
        dispute,
        late_delivery,
        late_shipment,
        loss,
        _,
    ) in rows:
        assert verdict == "insufficient_data"
        assert reason == "no disputes in your data: defect ratio and not-received rate unknown"
        assert (defect, not_received, dispute, late_delivery, loss) == (
            None,
            None,
            None,
            None,
            None,
        )
        assert late_shipment is not None  # ship dates and handling promises are still there


def one_disputed_line(tmp_path, times: str, dispute: str) -> Settings:
    """A home built from one order line of 10.00 USD, its `times` (ordered, shipped, delivered),
    and one closed dispute on it (opened, closed, resolution, refund)."""
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "supplier_order_id,line_id,supplier_id,supplier_name,product_id,quantity,unit_price,"
        "currency,status,ordered_at,shipped_at,delivered_at,exported_at\n"
        f"100,1,s1,Store One,p1,1,10.00,USD,delivered,{times},2026-06-01T00:00:00Z\n"
    )
    disputes = tmp_path / "disputes.csv"
    disputes.write_text(
        "dispute_id,supplier_order_id,line_id,reason,status,currency,"
        "opened_at,closed_at,resolution,refund_amount\n"
        f"d1,100,1,Item damaged,closed,USD,{dispute}\n"
    )
    settings = Settings(home=tmp_path / "home")
    run(settings, [orders, disputes])
    return settings


def test_a_supplier_refund_larger_than_its_line_is_published_not_a_failed_build(tmp_path):
    # An amount the dispute log allows (a mistyped one, or the shipping of a whole order): the
    # refund value rate goes above 1, and no check of the build may stop every later run on it.
    settings = one_disputed_line(
        tmp_path,
        "2026-01-01T10:00:00Z,2026-01-03T10:00:00Z,2026-01-20T10:00:00Z",
        "2026-01-22T10:00:00Z,2026-01-30T10:00:00Z,full_refund,2000000000.00",
    )
    assert query(
        settings,
        "select refund_value_rate from marts.fct_supplier_scorecard where supplier_id = 's1'",
    ) == [(200_000_000.0,)]


def test_a_date_alone_on_the_day_of_the_event_before_it_is_that_event_not_a_negative_time(
    tmp_path,
):
    # A dispute log filled in by hand: closed on the day it was opened, with no time. Midnight
    # would come before the opening and fail the build's checks; refused, the file could not
    # be loaded at all.
    settings = one_disputed_line(
        tmp_path,
        "2026-01-01T15:00:00Z,2026-01-01,2026-01-01",
        "2026-01-22T10:00:00Z,2026-01-22,full_refund,10.00",
    )
    assert query(
        settings,
        "select handling_days, delivery_days, order_to_delivery_days from marts.fct_order_lines",
    ) == [(0.0, 0.0, 0.0)]
    assert query(settings, "select days_to_resolve from marts.fct_disputes") == [(0.0,)]


def test_one_store_order_named_on_every_line_is_costed_without_pairing_them_one_by_one(tmp_path):
    # An export whose store order column holds one value on every line: 1,000 failed lines of
    # one product "in one store order", each followed by a purchase of it. Paired one by one,
    # the build took a step per candidate pair and kept every step (18.7 GB at 1,600 lines);
    # each failed line now takes the first purchase after it, well within 400 MB.
    lines, start = 2000, datetime(2026, 1, 1, tzinfo=UTC)
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "supplier_order_id,line_id,supplier_id,supplier_name,product_id,quantity,unit_price,"
        "currency,status,ordered_at,store_order,exported_at\n"
        + "".join(
            f"{1000 + i},1,s1,Store One,p1,1,1.00,USD,delivered,"
            f"{start + timedelta(minutes=i):%Y-%m-%dT%H:%M:%SZ},#1,2026-06-01T00:00:00Z\n"
            for i in range(lines)
        )
    )
    disputes = tmp_path / "disputes.csv"
    disputes.write_text(
        "dispute_id,supplier_order_id,line_id,reason,status,currency,"
        "opened_at,closed_at,resolution,refund_amount\n"
        + "".join(
            f"d{i},{1000 + i},1,Item damaged,closed,USD,"
            "2026-03-01T00:00:00Z,2026-03-05T00:00:00Z,rejected,0.00\n"
            for i in range(0, lines, 2)
        )
    )
    settings = Settings(home=tmp_path / "home", memory_limit="400MB")
    run(settings, [orders, disputes])
    assert query(
        settings,
        "select count(*), sum(resend_cost) from marts.fct_order_lines where resend_cost > 0",
    ) == [(lines // 2, 1000)]
