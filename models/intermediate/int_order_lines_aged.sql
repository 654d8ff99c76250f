-- One row per order line with its outcome from disputes and its maturity: whether its outcome
-- can still change much on the as-of date.
with

order_lines as (

    select * from {{ ref('int_order_lines_unioned') }}

),

line_disputes as (

    select * from {{ ref('int_disputes_matched_to_lines') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

dispute_outcomes as (

    select
        order_line_id,
        count(*) filter (where is_counted) as disputes,
        bool_or(is_counted and is_defect) as has_defect_dispute,
        bool_or(is_counted and is_delivery_failure) as has_delivery_failure_dispute,
        bool_or(status = 'open') as has_open_dispute,
        -- the first dispute opened tells what went wrong
        arg_min(category, opened_at) filter (where is_counted) as dispute_category,
        arg_min(resolution, opened_at) filter (where is_counted) as dispute_resolution,
        max(closed_at) as last_dispute_closed_at,
        sum(recovered_amount) as recovered_amount,
        sum(return_cost) as return_cost,
    from line_disputes
    group by order_line_id

),

outcomes as (

    select
        order_lines.*,
        as_of.as_of_at,
        coalesce(dispute_outcomes.disputes, 0) as disputes,
        coalesce(dispute_outcomes.disputes, 0) > 0 as has_dispute,
        coalesce(dispute_outcomes.has_defect_dispute, false) as has_defect_dispute,
        coalesce(dispute_outcomes.has_delivery_failure_dispute, false)
            as has_delivery_failure_dispute,
        coalesce(dispute_outcomes.has_open_dispute, false) as has_open_dispute,
        dispute_outcomes.dispute_category,
        dispute_outcomes.dispute_resolution,
        dispute_outcomes.last_dispute_closed_at,
        coalesce(dispute_outcomes.recovered_amount, 0) as recovered_amount,
        coalesce(dispute_outcomes.return_cost, 0) as return_cost,
        order_lines.shipped_at is not null
        or order_lines.status in ('shipped', 'delivered') as is_shipped,
        order_lines.status = 'delivered' or order_lines.delivered_at is not null as is_delivered,
        order_lines.status = 'cancelled' as is_cancelled,
    from order_lines
    cross join as_of
    left join dispute_outcomes on order_lines.order_line_id = dispute_outcomes.order_line_id

),

aged as (

    select
        *,
        date_diff('day', ordered_at, as_of_at) as age_days,
        (
            ordered_at <= as_of_at - to_days({{ var('maturity_days') }})
            or (
                (is_delivered or is_cancelled)
                and not has_open_dispute
                and greatest(coalesce(delivered_at, ordered_at), coalesce(last_dispute_closed_at, ordered_at))
                <= as_of_at - to_days({{ var('settled_days') }})
            )
        ) as is_mature,
    from outcomes

)

select * from aged
