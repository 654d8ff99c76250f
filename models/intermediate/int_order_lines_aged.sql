-- One row per order line with its outcome from disputes and its maturity: whether its outcome
-- can still change much on the as-of date. Dispute outcomes are NULL ("not in your data"), not
-- false, when no dispute has been loaded at all.
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
        arg_min(category_group, opened_at) filter (where is_counted) as dispute_category_group,
        arg_min(resolution, opened_at) filter (where is_counted) as dispute_resolution,
        arg_min(dispute_id, opened_at) filter (where is_counted) as first_dispute_id,
        min(opened_at) filter (where is_counted) as first_dispute_opened_at,
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
        as_of.has_dispute_data,
        case when as_of.has_dispute_data then coalesce(dispute_outcomes.disputes, 0) end
            as disputes,
        case when as_of.has_dispute_data then coalesce(dispute_outcomes.disputes, 0) > 0 end
            as has_dispute,
        case
            when as_of.has_dispute_data
                then coalesce(dispute_outcomes.has_defect_dispute, false)
        end as has_defect_dispute,
        case
            when as_of.has_dispute_data
                then coalesce(dispute_outcomes.has_delivery_failure_dispute, false)
        end as has_delivery_failure_dispute,
        case
            when as_of.has_dispute_data
                then coalesce(dispute_outcomes.has_open_dispute, false)
        end as has_open_dispute,
        dispute_outcomes.dispute_category,
        dispute_outcomes.dispute_category_group,
        dispute_outcomes.dispute_resolution,
        dispute_outcomes.first_dispute_id,
        dispute_outcomes.first_dispute_opened_at,
        dispute_outcomes.last_dispute_closed_at,
        case
            when as_of.has_dispute_data
                then coalesce(dispute_outcomes.recovered_amount, 0)
        end::decimal(18, 2) as recovered_amount,
        case
            when as_of.has_dispute_data
                then coalesce(dispute_outcomes.return_cost, 0)
        end::decimal(18, 2) as return_cost,
        order_lines.shipped_at is not null
        or order_lines.delivered_at is not null
        or order_lines.status in ('shipped', 'delivered') as is_shipped,
        order_lines.status = 'delivered' or order_lines.delivered_at is not null as is_delivered,
        order_lines.status = 'cancelled' as is_cancelled,
    from order_lines
    cross join as_of
    left join dispute_outcomes on order_lines.order_line_id = dispute_outcomes.order_line_id

),

aged as (

    -- Mature: old enough that buyer protection has run out (maturity_days), or finished
    -- (delivered on a known date, or cancelled) with no dispute open and nothing happening for
    -- settled_days. A delivery without a date cannot show it settled, so it waits for age.
    select
        *,
        date_diff('day', ordered_at, as_of_at) as age_days,
        (
            ordered_at <= as_of_at - to_days({{ var('maturity_days') }})
            or (
                (delivered_at is not null or is_cancelled)
                and not coalesce(has_open_dispute, false)
                and greatest(
                    coalesce(delivered_at, ordered_at),
                    coalesce(last_dispute_closed_at, ordered_at)
                ) <= as_of_at - to_days({{ var('settled_days') }})
            )
        ) as is_mature,
    from outcomes

)

select * from aged
