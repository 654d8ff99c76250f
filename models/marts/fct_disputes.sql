-- One row per dispute: int_disputes_costed and what depends on the as-of date, computed as it
-- is read: how long an open dispute has been open, whether it is in the analysis window and
-- whether every line it covers is mature. A view, as fct_order_lines: the as-of date moves
-- every week.
{{ config(materialized='view') }}

with

disputes as (

    select * from {{ ref('int_disputes_costed') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

final as (

    select
        disputes.dispute_id,
        disputes.supplier_order_id,
        disputes.line_id,
        disputes.product_id,
        disputes.supplier_id,
        disputes.is_matched,
        disputes.lines_covered,
        disputes.covered_line_amount,
        disputes.ordered_at,
        -- on a line ordered in the window (none without lines), as for the lines
        coalesce(
            disputes.ordered_at <= as_of.as_of_at
            {% if var('analysis_weeks') %}
            and disputes.last_ordered_at > as_of.analysis_window_after_at
            {% endif %},
            false
        ) as is_in_analysis_window,
        coalesce(disputes.matures_at <= as_of.as_of_at, false) as is_on_mature_lines,
        disputes.reason,
        disputes.category,
        disputes.category_group,
        disputes.is_defect,
        disputes.is_delivery_failure,
        disputes.is_counted,
        disputes.status,
        disputes.is_open,
        disputes.resolution,
        disputes.opened_at,
        disputes.opened_date,
        disputes.closed_at,
        disputes.days_to_resolve,
        case
            when disputes.is_open
                then {{ days_between('disputes.opened_at', 'as_of.as_of_at') }}
        end as days_open,
        disputes.escalate_by_at,
        disputes.refund_amount,
        disputes.recovered_amount,
        disputes.currency,
        disputes.return_method,
        disputes.return_shipping_cost,
        disputes.return_cost,
        disputes.loss_amount,
    from disputes
    cross join as_of

)

select * from final
