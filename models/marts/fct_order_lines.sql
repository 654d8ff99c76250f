-- One row per supplier order line: its outcome and cost (int_order_lines_costed) and what
-- depends on the as-of date, computed as it is read: its age, whether it is mature (old enough
-- that its outcome can no longer change much) and whether it is in the analysis window; and
-- its handling, transit and order-to-door times in days.
-- A view: the as-of date moves every week, and these few expressions cost far less to compute
-- when read than rewriting every line to store them.
{{ config(materialized='view') }}

with

order_lines as (

    select * from {{ ref('int_order_lines_costed') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

aged as (

    -- Maturity and the window compare moments worked out beforehand (the line's matures_at, the
    -- as-of row's window start): calendar arithmetic here would run for every line each time it
    -- is read. Ages are elapsed days, not calendar days, which would depend on the time zone
    -- of whoever reads the view.
    select
        order_lines.*,
        as_of.as_of_at,
        floor({{ days_between('order_lines.ordered_at', 'as_of.as_of_at') }})::integer
            as age_days,
        order_lines.matures_at <= as_of.as_of_at as is_mature,
        -- Times in days: a subtraction when read; stored, they took 18 % of the costed lines.
        {{ days_between('order_lines.ordered_at', 'order_lines.shipped_at') }}
            as handling_days,
        {{ days_between('order_lines.shipped_at', 'order_lines.delivered_at') }}
            as delivery_days,
        {{ days_between('order_lines.ordered_at', 'order_lines.delivered_at') }}
            as order_to_delivery_days,
        -- not after the as-of moment: an as_of_date before the newest data leaves later lines out
        (
            order_lines.ordered_at <= as_of.as_of_at
            {% if var('analysis_weeks') %}
            and order_lines.ordered_at > as_of.analysis_window_after_at
            {% endif %}
        ) as is_in_analysis_window,
    from order_lines
    cross join as_of

),

final as (

    select
        order_line_id,
        supplier_order_id,
        line_id,
        supplier_id,
        product_id,
        product_title,
        sku_id,
        store_order,
        ordered_at,
        ordered_date,
        ordered_week,
        ordered_iso_week,
        shipped_at,
        delivered_at,
        status,
        cancelled_by,
        quantity,
        unit_price,
        shipping_fee,
        line_amount,
        currency,
        ship_to_country,
        as_of_at,
        age_days,
        matures_at,
        is_mature,
        not is_mature as is_provisional,
        is_in_analysis_window,
        is_shipped,
        is_delivered,
        is_cancelled,
        is_seller_cancelled,
        promised_ship_by_at,
        promised_delivery_by_at,
        is_late_shipment,
        is_late_delivery,
        handling_days,
        delivery_days,
        order_to_delivery_days,
        disputes,
        has_dispute,
        has_defect_dispute,
        has_delivery_failure_dispute,
        has_open_dispute,
        dispute_category,
        dispute_category_group,
        dispute_resolution,
        first_dispute_id,
        first_dispute_opened_at,
        recovered_amount,
        return_cost,
        resend_cost,
        linked_customer_refund_amount,
        customer_refund_amount,
        is_customer_refund_estimated,
        has_refund,
        loss_amount,
    from aged

)

select * from final
