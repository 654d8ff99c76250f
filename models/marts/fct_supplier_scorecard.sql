with

order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

suppliers as (

    select * from {{ ref('dim_suppliers') }}

),

counts as (

    select
        supplier_id,
        count(*) as lines,
        count(*) filter (where is_mature) as mature_lines,
        count(*) filter (where not is_mature) as provisional_lines,
        count(*) filter (where is_mature and is_shipped) as mature_shipped_lines,
        count(*) filter (where is_mature and is_shipped and has_defect_dispute) as defect_lines,
        count(*) filter (where is_mature and is_shipped and has_delivery_failure_dispute)
            as not_received_lines,
        count(*) filter (where is_mature and has_dispute) as disputed_lines,
        count(*) filter (where is_mature and has_refund) as refunded_lines,
        count(*) filter (where is_seller_cancelled) as seller_cancelled_lines,
        count(*) filter (where is_late_shipment) as late_shipment_lines,
        count(is_late_shipment) as shipped_lines,
        count(*) filter (where is_late_delivery) as late_delivery_lines,
        count(is_late_delivery) as delivered_lines_with_promise,
        sum(line_amount) as spend_amount,
        sum(line_amount) filter (where is_mature) as mature_line_amount,
        sum(recovered_amount) filter (where is_mature) as refund_amount,
        sum(customer_refund_amount) as customer_refund_amount,
        sum(recovered_amount) as recovered_amount,
        sum(return_cost) as return_cost,
        sum(loss_amount) as loss_amount,
        any_value(currency) as currency,
    from order_lines
    group by supplier_id

),

rates as (

    select
        *,
        {{ safe_rate('defect_lines', 'mature_shipped_lines') }} as defect_ratio,
        {{ wilson_lower('defect_lines', 'mature_shipped_lines') }} as defect_ratio_lower,
        {{ wilson_upper('defect_lines', 'mature_shipped_lines') }} as defect_ratio_upper,
        {{ safe_rate('not_received_lines', 'mature_shipped_lines') }} as not_received_rate,
        {{ wilson_lower('not_received_lines', 'mature_shipped_lines') }}
            as not_received_rate_lower,
        {{ wilson_upper('not_received_lines', 'mature_shipped_lines') }}
            as not_received_rate_upper,
        {{ safe_rate('disputed_lines', 'mature_lines') }} as dispute_rate,
        {{ safe_rate('refunded_lines', 'mature_lines') }} as refund_rate,
        {{ safe_rate('refund_amount', 'mature_line_amount') }} as refund_value_rate,
        {{ safe_rate('recovered_amount', 'customer_refund_amount') }} as recovery_rate,
        {{ safe_rate('seller_cancelled_lines', 'lines') }} as seller_cancel_rate,
        {{ safe_rate('late_shipment_lines', 'shipped_lines') }} as late_shipment_rate,
        {{ safe_rate('late_delivery_lines', 'delivered_lines_with_promise') }}
            as late_delivery_rate,
        100 * {{ safe_rate('loss_amount', 'spend_amount') }} as loss_per_100_spent,
    from counts

),

verdicts as (

    select
        *,
        case
            when mature_lines < {{ var('min_mature_lines') }} then 'insufficient_data'
            when (
                defect_ratio_lower > {{ var('defect_avoid_threshold') }}
                and defect_lines >= {{ var('min_defects') }}
            ) or (
                not_received_rate_lower > {{ var('not_received_avoid_threshold') }}
                and not_received_lines >= {{ var('min_defects') }}
            ) then 'avoid'
            when defect_ratio_upper < {{ var('defect_good_threshold') }}
                and not_received_rate_upper < {{ var('not_received_good_threshold') }}
                then 'good'
            else 'watch'
        end as verdict,
    from rates

),

final as (

    select
        verdicts.supplier_id,
        suppliers.supplier_name,
        verdicts.* exclude (supplier_id),
    from verdicts
    inner join suppliers on verdicts.supplier_id = suppliers.supplier_id

)

select * from final
