with

order_lines as (

    select * from {{ ref('int_order_lines_aged') }}

),

customer_refunds as (

    select * from {{ ref('int_customer_refunds_allocated') }}

),

reorders as (

    -- A later supplier order line for the same store order and product is the dropshipper
    -- buying the goods again to replace what failed: its cost is the failed line's resend cost.
    select
        order_line_id,
        lead(line_amount) over same_goods as next_line_amount,
        lead(ordered_at) over same_goods as next_ordered_at,
    from order_lines
    where store_order is not null and product_id is not null
    window same_goods as (
        partition by store_order, product_id order by ordered_at, order_line_id
    )

),

flagged as (

    select
        order_lines.order_line_id,
        order_lines.supplier_order_id,
        order_lines.line_id,
        order_lines.supplier_id,
        order_lines.product_id,
        order_lines.product_title,
        order_lines.sku_id,
        order_lines.store_order,
        order_lines.ordered_at,
        cast(order_lines.ordered_at as date) as ordered_date,
        cast(date_trunc('week', order_lines.ordered_at) as date) as ordered_week,
        strftime(order_lines.ordered_at, '%G-W%V') as ordered_iso_week,
        order_lines.shipped_at,
        order_lines.delivered_at,
        order_lines.status,
        order_lines.cancelled_by,
        order_lines.quantity,
        cast(order_lines.unit_price as decimal(18, 2)) as unit_price,
        cast(order_lines.shipping_fee as decimal(18, 2)) as shipping_fee,
        cast(order_lines.line_amount as decimal(18, 2)) as line_amount,
        order_lines.currency,
        order_lines.ship_to_country,
        order_lines.as_of_at,
        order_lines.age_days,
        order_lines.is_mature,
        not order_lines.is_mature as is_provisional,
        {% if var('analysis_weeks') %}
        order_lines.ordered_at > order_lines.as_of_at - to_days(7 * {{ var('analysis_weeks') }})
        {% else %}
        true
        {% endif %} as is_in_analysis_window,
        order_lines.is_shipped,
        order_lines.is_delivered,
        order_lines.is_cancelled,
        order_lines.is_cancelled
        and coalesce(order_lines.cancelled_by, 'seller') <> 'buyer'
        and not order_lines.is_shipped as is_seller_cancelled,
        order_lines.ordered_at
        + to_days(coalesce(order_lines.promised_ship_days, {{ var('handling_days') }}))
            as promised_ship_by_at,
        order_lines.ordered_at + to_days(order_lines.promised_delivery_days)
            as promised_delivery_by_at,
        case
            when order_lines.shipped_at is not null
                then order_lines.shipped_at > order_lines.ordered_at + to_days(
                    coalesce(order_lines.promised_ship_days, {{ var('handling_days') }})
                )
        end as is_late_shipment,
        case
            when order_lines.delivered_at is not null
                and order_lines.promised_delivery_days is not null
                then order_lines.delivered_at
                > order_lines.ordered_at + to_days(order_lines.promised_delivery_days)
        end as is_late_delivery,
        date_diff('second', order_lines.ordered_at, order_lines.shipped_at) / 86400.0
            as handling_days,
        date_diff('second', order_lines.shipped_at, order_lines.delivered_at) / 86400.0
            as delivery_days,
        date_diff('second', order_lines.ordered_at, order_lines.delivered_at) / 86400.0
            as order_to_delivery_days,
        order_lines.disputes,
        order_lines.has_dispute,
        order_lines.has_defect_dispute,
        order_lines.has_delivery_failure_dispute,
        order_lines.has_open_dispute,
        order_lines.dispute_category,
        order_lines.dispute_category_group,
        order_lines.dispute_resolution,
        order_lines.first_dispute_id,
        order_lines.first_dispute_opened_at,
        order_lines.recovered_amount,
        order_lines.return_cost,
        case
            when order_lines.has_defect_dispute or order_lines.has_delivery_failure_dispute
                then coalesce(
                    case
                        when reorders.next_ordered_at > order_lines.ordered_at
                            then reorders.next_line_amount
                    end,
                    0
                )
            when order_lines.has_dispute is not null then 0
        end::decimal(18, 2) as resend_cost,
        customer_refunds.customer_refund_amount as linked_customer_refund_amount,
    from order_lines
    left join reorders on order_lines.order_line_id = reorders.order_line_id
    left join customer_refunds on order_lines.order_line_id = customer_refunds.order_line_id

),

costed as (

    select
        *,
        -- Without the store's own refunds, a line that failed is taken to be refunded to the
        -- customer at what it cost, unless the supplier or the dropshipper sent it again.
        coalesce(
            linked_customer_refund_amount,
            case
                when has_defect_dispute or has_delivery_failure_dispute
                    then case
                        when dispute_resolution = 'resend' or resend_cost > 0 then 0
                        else line_amount
                    end
                when has_dispute is not null then 0
            end
        )::decimal(18, 2) as customer_refund_amount,
        linked_customer_refund_amount is null as is_customer_refund_estimated,
        recovered_amount > 0 as has_refund,
    from flagged

),

final as (

    select
        *,
        (customer_refund_amount + return_cost + resend_cost - recovered_amount)::decimal(18, 2)
            as loss_amount,
    from costed

)

select * from final
