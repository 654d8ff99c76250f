-- One row per dispute per order line it applies to. A dispute names its line, or only its
-- product, or neither (then it covers the whole order); its money is shared out over the lines
-- it covers in proportion to their value.
with

disputes as (

    select * from {{ ref('int_disputes_categorised') }}

),

order_lines as (

    select * from {{ ref('int_order_lines_unioned') }}

),

matched as (

    select
        disputes.*,
        order_lines.order_line_id,
        order_lines.line_amount,
    from disputes
    inner join order_lines
        on disputes.supplier_order_id = order_lines.supplier_order_id
        and (
            disputes.line_id = order_lines.line_id
            or (disputes.line_id is null and disputes.product_id = order_lines.product_id)
            or (disputes.line_id is null and disputes.product_id is null)
        )

),

shared_out as (

    select
        *,
        coalesce(
            line_amount / nullif(sum(line_amount) over (partition by dispute_id), 0),
            1.0 / count(*) over (partition by dispute_id)
        ) as line_share,
    from matched

),

final as (

    select
        dispute_id,
        order_line_id,
        category,
        category_group,
        is_defect,
        is_delivery_failure,
        is_counted,
        status,
        resolution,
        opened_at,
        closed_at,
        line_share,
        recovered_amount * line_share as recovered_amount,
        return_cost * line_share as return_cost,
    from shared_out

)

select * from final
