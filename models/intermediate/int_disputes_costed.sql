-- One row per dispute with what the order lines it covers add up to: everything about it that
-- does not depend on the as-of date. fct_disputes adds what does (days open, the analysis
-- window, whether its lines are mature yet) when it is read.
--
-- Incremental (see macros/incremental.sql): a run rebuilds the disputes of every supplier order
-- its new loads name, and of every supplier order with a line int_order_lines_costed rebuilt
-- (a refund reaching a line changes the loss its dispute is booked). A dispute covers lines of
-- its own supplier order only. Both sets of orders are found from the rows the parents
-- rebuilt, which skips their older row groups: int_disputes_categorised rebuilt the disputes
-- of the orders the loads name.
{{
    config(
        materialized='incremental',
        incremental_strategy='replace_supplier_orders',
        on_schema_change='fail',
    )
}}

with

{% if is_incremental() %}
supplier_orders_to_rebuild as (

    select supplier_order_id
    from {{ ref('int_disputes_categorised') }}
    where {{ rebuilt_since_last_build() }}
    union
    select supplier_order_id
    from {{ ref('int_order_lines_costed') }}
    where {{ rebuilt_since_last_build() }}

),
{% endif %}

disputes as (

    select * from {{ ref('int_disputes_categorised') }}
    {% if is_incremental() %}
    where supplier_order_id in (select supplier_order_id from supplier_orders_to_rebuild)
    {% endif %}

),

line_disputes as (

    select * from {{ ref('int_disputes_matched_to_lines') }}
    {% if is_incremental() %}
    where supplier_order_id in (select supplier_order_id from supplier_orders_to_rebuild)
    {% endif %}

),

order_lines as (

    -- Every line, in an increment too: the inner join below keeps the lines the disputes
    -- cover, which DuckDB finds faster than a filter on every line's supplier order. Not the
    -- lines rebuilt: int_order_lines_costed does not always rebuild every line of an order.
    select * from {{ ref('int_order_lines_costed') }}

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
        -- the dispute is in the analysis window when any of its lines is, and on mature lines
        -- once all of them are
        max(order_lines.ordered_at) as last_ordered_at,
        max(order_lines.matures_at) as matures_at,
        -- A line's loss belongs to its first dispute not withdrawn, so that losses add up
        -- over disputes without counting a line twice; not known when one line's is not (an
        -- amount in a currency without an exchange rate).
        case
            when not coalesce(bool_or(order_lines.loss_amount is null) filter (
                where order_lines.first_dispute_id = line_disputes.dispute_id
            ), false)
                then coalesce(sum(order_lines.loss_amount) filter (
                    where order_lines.first_dispute_id = line_disputes.dispute_id
                ), 0)
        end::decimal(18, 2) as loss_amount,
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
        covered_lines.last_ordered_at,
        covered_lines.matures_at,
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
                then {{ days_between('disputes.opened_at', 'disputes.closed_at') }}
        end as days_to_resolve,
        disputes.opened_at + to_days({{ var('dispute_escalation_days') }}) as escalate_by_at,
        disputes.refund_amount::decimal(18, 2) as refund_amount,
        disputes.recovered_amount,
        disputes.currency,
        disputes.return_method,
        disputes.return_shipping_cost::decimal(18, 2) as return_shipping_cost,
        disputes.return_cost,
        case
            when covered_lines.dispute_id is null then 0  -- no line loaded
            else covered_lines.loss_amount
        end::decimal(18, 2) as loss_amount,
        {{ built_through_load_id() }} as built_through_load_id,
    from disputes
    left join covered_lines on disputes.dispute_id = covered_lines.dispute_id

)

select * from final
