with

disputes as (

    select * from {{ ref('int_disputes_categorised') }}

),

line_disputes as (

    select * from {{ ref('int_disputes_matched_to_lines') }}

),

order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

covered_lines as (

    select
        line_disputes.dispute_id,
        any_value(line_disputes.supplier_id) as supplier_id,
        case
            when count(distinct order_lines.product_id) = 1 then any_value(order_lines.product_id)
        end as product_id,
        count(*) as lines_covered,
        sum(order_lines.line_amount)::decimal(18, 2) as covered_line_amount,
        min(order_lines.ordered_at) as ordered_at,
        bool_or(order_lines.is_in_analysis_window) as is_in_analysis_window,
        bool_and(order_lines.is_mature) as is_mature,
        -- A line's loss belongs to its first dispute not withdrawn, so that losses add up
        -- over disputes without counting a line twice.
        sum(order_lines.loss_amount) filter (
            where order_lines.first_dispute_id = line_disputes.dispute_id
        )::decimal(18, 2) as loss_amount,
    from line_disputes
    inner join order_lines on line_disputes.order_line_id = order_lines.order_line_id
    group by line_disputes.dispute_id

),

final as (

    select
        disputes.dispute_id,
        disputes.supplier_order_id,
        disputes.line_id,
        coalesce(disputes.product_id, covered_lines.product_id) as product_id,
        covered_lines.supplier_id,
        covered_lines.supplier_id is not null as is_matched,
        coalesce(covered_lines.lines_covered, 0) as lines_covered,
        covered_lines.covered_line_amount,
        covered_lines.ordered_at,
        coalesce(covered_lines.is_in_analysis_window, false) as is_in_analysis_window,
        coalesce(covered_lines.is_mature, false) as is_on_mature_lines,
        disputes.reason,
        disputes.category,
        disputes.category_group,
        disputes.is_defect,
        disputes.is_delivery_failure,
        disputes.is_counted,
        disputes.status,
        disputes.status = 'open' as is_open,
        disputes.resolution,
        disputes.opened_at,
        cast(disputes.opened_at as date) as opened_date,
        disputes.closed_at,
        case
            when disputes.closed_at is not null
                then date_diff('second', disputes.opened_at, disputes.closed_at) / 86400.0
        end as days_to_resolve,
        case
            when disputes.status = 'open'
                then date_diff('second', disputes.opened_at, as_of.as_of_at) / 86400.0
        end as days_open,
        disputes.opened_at + to_days({{ var('dispute_escalation_days') }}) as escalate_by_at,
        disputes.refund_amount::decimal(18, 2) as refund_amount,
        disputes.recovered_amount,
        disputes.currency,
        disputes.return_method,
        disputes.return_shipping_cost::decimal(18, 2) as return_shipping_cost,
        disputes.return_cost,
        coalesce(covered_lines.loss_amount, 0)::decimal(18, 2) as loss_amount,
    from disputes
    cross join as_of
    left join covered_lines on disputes.dispute_id = covered_lines.dispute_id

)

select * from final
