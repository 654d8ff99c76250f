from concurrent.futures import Future
from datetime import date

import duckdb
import pytest

import ingest.generate as generate_module
from ingest.generate import generate, generate_week

END_DATE = date(2026, 11, 22)
ORDER_COLUMNS = [
    "supplier_order_id",
    "line_id",
    "ordered_at",
    "supplier_id",
    "supplier_name",
    "product_id",
    "sku_id",
    "product_title",
    "quantity",
    "unit_price",
    "currency",
    "shipping_fee",
    "status",
    "cancelled_by",
    "shipped_at",
    "delivered_at",
    "promised_ship_days",
    "promised_delivery_days",
    "tracking_number",
    "carrier",
    "ship_to_country",
    "store_order",
    "exported_at",
]
DISPUTE_COLUMNS = [
    "dispute_id",
    "supplier_order_id",
    "line_id",
    "product_id",
    "opened_at",
    "closed_at",
    "reason",
    "status",
    "resolution",
    "refund_amount",
    "currency",
    "return_method",
    "return_shipping_cost",
    "exported_at",
]
# SPEC §4: raw reasons of the defect categories.
DEFECT_REASONS = [
    "Not as described",
    "Size not as described",
    "Color not as described",
    "Material not as described",
    "Quality problem",
    "Doesn't work",
    "Damaged",
    "Item damaged",
    "Wrong item",
    "Quantity shortage",
    "Empty package",
    "Counterfeit",
]
DELIVERY_FAILURE_REASONS = [
    "Item not received",
    "Delivered but not received",
    "Shipment delay",
    "Still in transit",
    "Tracking not updating",
    "Tracking not found",
    "Package returned to sender",
    "Held at customs",
]


def load(exports) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    for table, path in (
        ("orders", exports.orders),
        ("disputes", exports.disputes),
        ("truth", exports.truth),
    ):
        connection.execute(f"create table {table} as select * from read_csv('{path}')")
    return connection


def scalar(connection: duckdb.DuckDBPyConnection, sql: str):
    return connection.execute(sql).fetchone()[0]


def test_same_arguments_give_identical_bytes_and_another_seed_differs(tmp_path):
    first = generate(tmp_path / "first", orders=3000, weeks=20)
    again = generate(tmp_path / "again", orders=3000, weeks=20)
    other = generate(tmp_path / "other", orders=3000, weeks=20, seed=43)
    for name in ("orders", "disputes", "truth"):
        assert getattr(first, name).read_bytes() == getattr(again, name).read_bytes()
        assert getattr(first, name).read_bytes() != getattr(other, name).read_bytes()
    assert first.lines == again.lines


class InOrder:
    """An executor that runs each task as it is submitted: every stage of a chunk, in turn."""

    def __init__(self, max_workers: int) -> None:
        pass

    def __enter__(self) -> "InOrder":
        return self

    def __exit__(self, *exception: object) -> None:
        return None

    def submit(self, task, *arguments) -> Future:
        future = Future()
        try:
            future.set_result(task(*arguments))
        except BaseException as error:  # handed over as a thread would
            future.set_exception(error)
        return future


def test_the_threads_change_no_byte_of_the_files(tmp_path, monkeypatch):
    # Six chunks: drawing one overlaps building and writing those before it. A draw made while
    # building would come out of the generator in another order than when run one after the other.
    monkeypatch.setattr(generate_module, "CHUNK_ORDERS", 500)
    threaded = generate(tmp_path / "threaded", orders=3000, weeks=20)
    monkeypatch.setattr(generate_module, "ThreadPoolExecutor", InOrder)
    in_order = generate(tmp_path / "in_order", orders=3000, weeks=20)
    for name in ("orders", "disputes"):
        assert getattr(threaded, name).read_bytes() == getattr(in_order, name).read_bytes()


def test_a_chunk_that_fails_stops_the_files_at_the_last_whole_chunk(tmp_path, monkeypatch):
    monkeypatch.setattr(generate_module, "CHUNK_ORDERS", 500)
    draw = generate_module._draw_chunk
    line_totals = []

    def failing_third(*arguments):
        chunk, waiting = draw(*arguments)
        line_totals.append(chunk.line_total)
        if len(line_totals) == 3:
            return chunk._replace(tables=lambda: 1 / 0), waiting
        return chunk, waiting

    monkeypatch.setattr(generate_module, "_draw_chunk", failing_third)
    with pytest.raises(ZeroDivisionError):
        generate(tmp_path, orders=3000, weeks=20)
    assert len(line_totals) > 3  # later chunks were drawn, and not written
    written = (tmp_path / "orders.csv").read_text().splitlines()
    assert len(written) == 1 + line_totals[0] + line_totals[1]


def test_a_week_on_from_an_export_with_no_dispute_open(tmp_path):
    previous = generate(tmp_path / "previous", orders=2, weeks=8, seed=3)
    week = generate_week(tmp_path / "week", previous, orders=2, weeks=8, seed=3)
    assert week.updated_disputes == 0 and week.new_lines > 0


def test_chunks_are_written_in_the_order_they_are_drawn(tmp_path):
    # Four chunks, drawn, built and written on three threads: ids follow time down each file
    # (a line bought again is written at the end of the chunk whose orders reach its time).
    exports = generate(tmp_path, orders=160_000, weeks=8)
    connection = load(exports)
    first_purchases = """
        select line_id, rowid as row from orders
        qualify supplier_order_id = min(supplier_order_id) over (partition by store_order)
    """
    every_dispute = "select dispute_id, rowid as row from disputes"
    for rows, key in ((first_purchases, "line_id"), (every_dispute, "dispute_id")):
        going_back = f"""
            select count(*)
            from (select {key} < lag({key}) over (order by row) as back from ({rows}))
            where back
        """
        assert scalar(connection, going_back) == 0, key
    assert scalar(connection, "select count(*) from orders") == exports.lines


@pytest.mark.parametrize(
    ("export", "columns"),
    [
        ("orders", ORDER_COLUMNS),
        ("disputes", DISPUTE_COLUMNS),
        (
            "truth",
            ["supplier_id", "defect_probability", "not_received_probability", "band", "is_bad"],
        ),
    ],
)
def test_header_is_exactly_the_documented_columns_and_nothing_is_quoted(tmp_path, export, columns):
    exports = generate(tmp_path, orders=2000, weeks=20)
    text = getattr(exports, export).read_text()
    assert text.splitlines()[0] == ",".join(columns)
    assert '"' not in text


def test_line_count_is_reported_and_orders_have_one_to_four_lines(tmp_path):
    exports = generate(tmp_path, orders=5000, weeks=20)
    connection = load(exports)
    assert scalar(connection, "select count(*) from orders") == exports.lines
    per_order = connection.execute(
        "select min(n), max(n), avg(n)"
        " from (select count(*) as n from orders group by supplier_order_id)"
    ).fetchone()
    assert per_order[0] == 1 and per_order[1] <= 4 and 1.4 < per_order[2] < 1.65
    assert scalar(connection, "select count(distinct store_order) from orders") == 5000
    assert scalar(connection, "select count(*) - count(distinct line_id) from orders") == 0


def test_some_failed_lines_are_bought_again_for_the_same_store_order(tmp_path):
    connection = load(generate(tmp_path, orders=20_000, weeks=26))
    connection.execute(
        """
        create table purchases as
        select *, dense_rank() over (partition by store_order order by supplier_order_id) as nth
        from orders
        """
    )
    lines, again = connection.execute(
        "select count(*), count(*) filter (where nth > 1) from purchases"
    ).fetchone()
    assert 0.005 * lines < again < 0.03 * lines
    # Each is one line, the second and last purchase for its store order, of a line of the
    # first that failed (a defect or a lost parcel), from the same listing and variant, bought
    # after the customer's dispute opened.
    assert scalar(connection, "select max(nth) from purchases") == 2
    assert (
        scalar(
            connection,
            "select count(*) from purchases where nth = 2 group by supplier_order_id"
            " order by 1 desc limit 1",
        )
        == 1
    )
    reasons = ", ".join(
        "'" + reason.replace("'", "''") + "'"
        for reason in DEFECT_REASONS + DELIVERY_FAILURE_REASONS
    )
    unexplained = scalar(
        connection,
        f"""
        select count(*) from purchases as again
        where nth = 2 and not exists (
            select 1 from purchases as failed
            join disputes
                on disputes.supplier_order_id = failed.supplier_order_id
                and coalesce(disputes.line_id = failed.line_id, true)
            where failed.nth = 1
              and failed.store_order = again.store_order
              and failed.supplier_id = again.supplier_id
              and failed.sku_id = again.sku_id
              and failed.quantity = again.quantity
              and disputes.reason in ({reasons})
              and disputes.opened_at < again.ordered_at
        )
        """,
    )
    assert unexplained == 0
    # Numbered by their time, as AliExpress numbers orders: among the first purchases, none
    # placed a day after one has a smaller number, none placed a day before a larger one.
    out_of_time = scalar(
        connection,
        """
        select count(*) from purchases as again
        where nth = 2 and exists (
            select 1 from purchases as first
            where first.nth = 1 and (
                (first.ordered_at > again.ordered_at + interval 1 day
                    and first.supplier_order_id < again.supplier_order_id)
                or (first.ordered_at < again.ordered_at - interval 1 day
                    and first.supplier_order_id > again.supplier_order_id)
            )
        )
        """,
    )
    assert out_of_time == 0


def test_order_lines_and_purchases_again_never_share_an_id(tmp_path, monkeypatch):
    # Ids as dense as the generator ever packs them: each order's block holds its lines, then
    # the two numbers kept for buying one again, then the next order's block begins.
    monkeypatch.setattr(
        generate_module,
        "_order_id_gap",
        lambda orders: len(generate_module.LINES_PER_ORDER_SHARES) + 4,
    )
    connection = load(generate(tmp_path, orders=20_000, weeks=26))
    assert scalar(connection, "select count(*) - count(distinct line_id) from orders") == 0
    assert (
        scalar(
            connection,
            "select count(*) from (select supplier_order_id from orders group by 1"
            " having count(distinct store_order) > 1)",
        )
        == 0
    )
    assert (
        scalar(
            connection,
            "select count(*) from orders where line_id in (select supplier_order_id from orders)",
        )
        == 0
    )
    assert scalar(connection, "select count(distinct store_order) from orders") == 20_000


def test_default_size_has_over_200_suppliers_with_skewed_volume(tmp_path):
    connection = load(generate(tmp_path, weeks=8))
    assert scalar(connection, "select count(*) from truth") >= 200
    assert scalar(connection, "select count(distinct supplier_id) from orders") >= 200
    largest, median = connection.execute(
        "select max(n), median(n) from (select count(*) as n from orders group by supplier_id)"
    ).fetchone()
    assert largest > 10 * median


def test_every_dispute_points_at_an_existing_order_and_line(tmp_path):
    connection = load(generate(tmp_path, weeks=26))
    assert scalar(connection, "select count(*) from disputes") > 500
    unmatched = scalar(
        connection,
        """
        select count(*) from disputes as d
        where not exists (
            select 1 from orders as o
            where o.supplier_order_id = d.supplier_order_id
              and (d.line_id is null or o.line_id = d.line_id)
              and (d.product_id is null or o.product_id = d.product_id)
        )
        """,
    )
    assert unmatched == 0
    # Mostly by line, some by product only, a few for the whole order.
    by_line, by_product, whole_order = connection.execute(
        """
        select count(*) filter (where line_id is not null),
               count(*) filter (where line_id is null and product_id is not null),
               count(*) filter (where line_id is null and product_id is null)
        from disputes
        """
    ).fetchone()
    assert by_line > 5 * by_product > 0 and whole_order > 0


def test_timestamps_are_ordered_and_never_after_the_export(tmp_path):
    connection = load(generate(tmp_path, orders=8000, weeks=26))
    end = "timestamptz '2026-11-22 23:59:59+00'"
    assert scalar(connection, f"select count(*) from orders where exported_at <> {end}") == 0
    assert scalar(connection, f"select count(*) from disputes where exported_at <> {end}") == 0
    out_of_order_lines = scalar(
        connection,
        f"""
        select count(*) from orders
        where not (ordered_at <= coalesce(shipped_at, ordered_at)
                   and shipped_at <= coalesce(delivered_at, shipped_at)
                   and coalesce(delivered_at, shipped_at, ordered_at) <= {end})
           or (delivered_at is not null and shipped_at is null)
        """,
    )
    assert out_of_order_lines == 0
    out_of_order_disputes = scalar(
        connection,
        f"""
        select count(*) from disputes as d
        join (select distinct supplier_order_id, ordered_at from orders) using (supplier_order_id)
        where not (ordered_at < opened_at and opened_at <= coalesce(closed_at, opened_at)
                   and coalesce(closed_at, opened_at) <= {end})
        """,
    )
    assert out_of_order_disputes == 0
    assert scalar(connection, "select count(*) from disputes where status = 'open'") > 0


def test_line_status_agrees_with_its_timeline(tmp_path):
    connection = load(generate(tmp_path, orders=8000, weeks=26))
    mismatches = scalar(
        connection,
        """
        select count(*) from orders
        where (status = 'delivered') <> (delivered_at is not null)
           or (status in ('placed', 'cancelled')) <> (shipped_at is null)
           or (status = 'cancelled') <> (cancelled_by is not null)
           or (tracking_number is null) <> (shipped_at is null)
        """,
    )
    assert mismatches == 0
    statuses = {
        row[0] for row in connection.execute("select distinct status from orders").fetchall()
    }
    assert statuses == {"placed", "shipped", "delivered", "cancelled"}


def test_bands_agree_with_probabilities_and_is_bad_marks_exactly_bad(tmp_path):
    connection = load(generate(tmp_path, weeks=8))
    rows = connection.execute(
        "select defect_probability, not_received_probability, band, is_bad from truth"
    ).fetchall()
    for defect, not_received, band, is_bad in rows:
        assert is_bad == (band == "bad")
        fine = defect <= 0.012 and not_received <= 0.018
        bad = defect >= 0.09 or not_received >= 0.13
        assert band == ("fine" if fine else "bad" if bad else "borderline")
    shares = {band: sum(row[2] == band for row in rows) / len(rows) for band in ("fine", "bad")}
    assert 0.6 < shares["fine"] < 0.8 and 0.1 < shares["bad"] < 0.2


def test_some_products_are_sold_by_several_suppliers(tmp_path):
    connection = load(generate(tmp_path, weeks=8))
    with_alternatives = scalar(
        connection,
        """
        select count(*) from (
            select product_id from orders group by product_id
            having count(distinct supplier_id) >= 2
        )
        """,
    )
    assert with_alternatives >= 100


def test_bad_suppliers_show_far_more_defect_and_not_received_disputes_than_fine_ones(tmp_path):
    connection = load(generate(tmp_path, weeks=26))
    defect_reasons, delivery_failure_reasons = (
        ", ".join("'" + reason.replace("'", "''") + "'" for reason in reasons)
        for reasons in (DEFECT_REASONS, DELIVERY_FAILURE_REASONS)
    )
    rates = dict(
        connection.execute(
            f"""
            with disputed_lines as (
                select o.line_id,
                       bool_or(d.reason in ({defect_reasons})) as is_defect,
                       bool_or(d.reason in ({delivery_failure_reasons})) as is_not_received
                from disputes as d
                join orders as o
                  on o.supplier_order_id = d.supplier_order_id
                 and coalesce(d.line_id, o.line_id) = o.line_id
                 and coalesce(d.product_id, o.product_id) = o.product_id
                group by o.line_id
            )
            select band,
                   [avg(coalesce(is_defect, false)::int),
                    avg(coalesce(is_not_received, false)::int)]
            from orders
            join truth using (supplier_id)
            left join disputed_lines using (line_id)
            where status <> 'cancelled' and ordered_at < timestamptz '2026-09-01 00:00:00+00'
            group by band
            """
        ).fetchall()
    )
    (fine_defects, fine_not_received), (bad_defects, bad_not_received) = rates["fine"], rates["bad"]
    assert fine_defects < 0.015 and bad_defects > 0.05 and bad_defects > 4 * fine_defects
    assert bad_not_received > 4 * fine_not_received


def test_progress_is_reported_per_chunk_up_to_the_total(tmp_path):
    calls = []
    generate(tmp_path, orders=120_000, weeks=4, progress=lambda done, total: calls.append(done))
    assert len(calls) >= 2
    assert calls == sorted(calls) and calls[-1] == 120_000


WEEKS_IN_A_ROW = 6


def test_weekly_exports_in_a_row_continue_each_other_and_reveal_disputes_as_they_open(tmp_path):
    # A chain longer than the history it follows: the lines' indexes (tracking numbers, dispute
    # ids) of the weeks must stay clear of each other's and of the first export's.
    first = generate(tmp_path / "first", orders=3000, weeks=4, seed=3, later_disputes=True)
    plain = generate(tmp_path / "plain", orders=3000, weeks=4, seed=3)
    # The disputes opened later are drawn apart: the export is the same with them or without.
    for name in ("orders", "disputes"):
        assert getattr(first, name).read_bytes() == getattr(plain, name).read_bytes()
    history = [first]
    for week in range(1, WEEKS_IN_A_ROW + 1):
        history.append(generate_week(tmp_path / f"w{week}", history, orders=3000, weeks=4, seed=3))
    assert history[1].orders.read_bytes() == (
        generate_week(
            tmp_path / "w1-plain", plain, orders=3000, weeks=4, seed=3
        ).orders.read_bytes()
    )

    connection = duckdb.connect()
    connection.execute("set TimeZone = 'UTC'")
    for kind in ("orders", "disputes"):
        each = " union all ".join(
            f"select {index} as export, timestamptz '2026-11-22 23:59:59+00' "
            f"+ to_days(7 * {index}) as taken_at, * "
            f"from read_csv('{getattr(export, kind)}', all_varchar = true)"
            for index, export in enumerate(history)
        )
        connection.execute(f"create table {kind} as {each}")

    def count(sql: str) -> int:
        return scalar(connection, f"select count(*) from ({sql})")

    # Each week holds the lines its previous export shows ordered in that export's last week,
    # and its own new lines, ordered in its own week, with numbers no export has used.
    for week in range(1, WEEKS_IN_A_ROW + 1):
        last_week = "ordered_at::timestamptz > taken_at - interval 7 days"
        assert count(f"from orders where export = {week - 1} and {last_week}") == (
            history[week].updated_lines
        )
        assert count(
            f"from orders anti join orders as earlier on earlier.export < {week} "
            f"and earlier.line_id = orders.line_id where orders.export = {week}"
        ) == (history[week].new_lines)
    assert count("from orders where ordered_at::timestamptz > taken_at") == 0
    line_named_twice = "count(distinct (supplier_order_id, ordered_at, product_id, store_order))"
    assert count(f"select line_id from orders group by line_id having {line_named_twice} > 1") == 0
    # A dispute is the same in every export that shows it, about an order one of them holds; in
    # the export of the week it opens, it is open.
    dispute_named_twice = "count(distinct (supplier_order_id, line_id, opened_at, reason))"
    assert (
        count(
            f"select dispute_id from disputes group by dispute_id having {dispute_named_twice} > 1"
        )
        == 0
    )
    assert count("from disputes anti join orders using (supplier_order_id)") == 0
    tracking_named_twice = "count(distinct line_id)"
    assert (
        count(
            "select tracking_number from orders where tracking_number is not null "
            f"group by tracking_number having {tracking_named_twice} > 1"
        )
        == 0
    )
    # Every dispute opened by the last export's time is in an export.
    later = " union all ".join(
        f"from read_csv('{export.later_disputes}', all_varchar = true)" for export in history
    )
    last_taken = f"timestamptz '2026-11-22 23:59:59+00' + to_days(7 * {WEEKS_IN_A_ROW})"
    assert (
        count(
            f"from ({later}) where opened_at::timestamptz <= {last_taken} "
            "and dispute_id not in (select dispute_id from disputes)"
        )
        == 0
    )
    for week in range(1, WEEKS_IN_A_ROW + 1):
        opened = f"""
            from disputes
            where export = {week} and opened_at::timestamptz > taken_at - interval 7 days
        """
        assert count(opened) == history[week].new_disputes > 0
        assert count(f"{opened} and status <> 'open'") == 0
