-- One row per supplier per ISO week of order with lines in the analysis window: the week's
-- defect ratio and not-received rate on a p-chart. The centre line is the supplier's own
-- shrunk rate (its usual level, pulled towards the typical supplier when it has little data),
-- so the chart asks "is this week worse than this supplier usually is"; whether the usual is
-- bad enough is the verdict's question. The limits widen for weeks with few lines.
with

order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

scorecard as (

    select * from {{ ref('fct_supplier_scorecard') }}

),

weekly as (

    -- Every line of the week counts, mature or not: a recent week can only gain disputes, so
    -- a week already above its limit is an early warning, marked provisional.
    select
        supplier_id,
        ordered_week,
        any_value(ordered_iso_week) as ordered_iso_week,
        count(*) as week_lines,
        count(*) filter (where is_mature) as week_mature_lines,
        count(*) filter (where is_shipped) as week_shipped_lines,
        count(*) filter (where is_shipped and has_defect_dispute) as week_defect_lines,
        count(*) filter (where is_shipped and has_delivery_failure_dispute)
            as week_not_received_lines,
        bool_or(has_dispute is not null) as has_dispute_data,
        coalesce(sum(line_amount) filter (where not is_cancelled), 0)::decimal(18, 2)
            as week_spend_amount,
        sum(loss_amount)::decimal(18, 2) as week_loss_amount,
    from order_lines
    where is_in_analysis_window
    group by supplier_id, ordered_week

),

rates as (

    select
        weekly.supplier_id || ':' || weekly.ordered_iso_week as supplier_week_id,
        weekly.supplier_id,
        weekly.ordered_week,
        weekly.ordered_iso_week,
        weekly.week_lines,
        weekly.week_mature_lines,
        weekly.week_lines > weekly.week_mature_lines as has_provisional_lines,
        weekly.week_shipped_lines,
        case when weekly.has_dispute_data then weekly.week_defect_lines end
            as week_defect_lines,
        case when weekly.has_dispute_data then weekly.week_not_received_lines end
            as week_not_received_lines,
        weekly.week_spend_amount,
        weekly.week_loss_amount,
        case
            when weekly.has_dispute_data
                then {{ safe_rate('weekly.week_defect_lines', 'weekly.week_shipped_lines') }}
        end as week_defect_ratio,
        case
            when weekly.has_dispute_data
                then {{ safe_rate(
                    'weekly.week_not_received_lines', 'weekly.week_shipped_lines'
                ) }}
        end as week_not_received_rate,
        scorecard.defect_ratio_shrunk as defect_ratio_centre,
        scorecard.not_received_rate_shrunk as not_received_rate_centre,
    from weekly
    inner join scorecard on weekly.supplier_id = scorecard.supplier_id

),

limits as (

    select
        *,
        {% for rate in ['defect_ratio', 'not_received_rate'] %}
        case
            when week_shipped_lines > 0 and {{ rate }}_centre is not null then least(
                1.0,
                {{ rate }}_centre + {{ var('control_limit_sigmas') }} * sqrt(
                    {{ rate }}_centre * (1 - {{ rate }}_centre) / week_shipped_lines
                )
            )
        end as {{ rate }}_upper_limit,
        case
            when week_shipped_lines > 0 and {{ rate }}_centre is not null then greatest(
                0.0,
                {{ rate }}_centre - {{ var('control_limit_sigmas') }} * sqrt(
                    {{ rate }}_centre * (1 - {{ rate }}_centre) / week_shipped_lines
                )
            )
        end as {{ rate }}_lower_limit,
        {% endfor %}
    from rates

),

alerts as (

    select
        *,
        coalesce(
            week_defect_ratio > defect_ratio_upper_limit
            and week_defect_lines >= {{ var('alert_min_defects') }},
            false
        ) as is_defect_alert,
        coalesce(
            week_not_received_rate > not_received_rate_upper_limit
            and week_not_received_lines >= {{ var('alert_min_defects') }},
            false
        ) as is_not_received_alert,
    from limits

),

final as (

    select
        *,
        is_defect_alert or is_not_received_alert as is_alert,
    from alerts

)

select * from final
