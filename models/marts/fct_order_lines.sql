with

order_lines as (

    select * from {{ ref('int_order_lines_aged') }}

),

customer_refunds as (

    select * from {{ ref('int_customer_refunds_allocated') }}

),

flagged as (

    select
        order_line_id,
        supplier_order_id,
        line_id,
        supplier_id,
        product_id,
        sku_id,
        store_order,
        ordered_at,
        cast(ordered_at as date) as ordered_date,
        shipped_at,
        delivered_at,
        status,
        cancelled_by,
        quantity,
        unit_price,
        line_amount,
        currency,
        ship_to_country,
        age_days,
        is_mature,
        is_shipped,
        is_delivered,
        is_cancelled,
        is_cancelled and coalesce(cancelled_by, 'seller') <> 'buyer' and not is_shipped
            as is_seller_cancelled,
        case
            when shipped_at is not null then
                shipped_at > ordered_at + to_days(coalesce(promised_ship_days, {{ var('handling_days') }}))
        end as is_late_shipment,
        case
            when delivered_at is not null and promised_delivery_days is not null then
                delivered_at > ordered_at + to_days(promised_delivery_days)
        end as is_late_delivery,
        date_diff('hour', ordered_at, shipped_at) / 24.0 as handling_days,
        date_diff('hour', shipped_at, delivered_at) / 24.0 as delivery_days,
        disputes,
        has_dispute,
        has_defect_dispute,
        has_delivery_failure_dispute,
        has_open_dispute,
        dispute_category,
        dispute_resolution,
        recovered_amount,
        return_cost,
        customer_refunds.customer_refund_amount as linked_customer_refund_amount,
    from order_lines
    left join customer_refunds using (order_line_id)

),

costed as (

    select
        *,
        -- Without the store's own refunds, a line that failed is taken to be refunded to the
        -- customer at what it cost, unless the supplier resent it.
        coalesce(
            linked_customer_refund_amount,
            case
                when (has_defect_dispute or has_delivery_failure_dispute)
                    and dispute_resolution <> 'resend' then line_amount
                else 0
            end
        ) as customer_refund_amount,
        linked_customer_refund_amount is null as is_customer_refund_estimated,
        recovered_amount > 0 as has_refund,
    from flagged

),

final as (

    select
        *,
        customer_refund_amount + return_cost - recovered_amount as loss_amount,
    from costed

)

select * from final
