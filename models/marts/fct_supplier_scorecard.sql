{#- Every count rate of SPEC §5: its name, numerator and denominator. Each gets the rate, its
    Wilson bounds and an empirical-Bayes shrunk estimate with the prior fitted across suppliers. -#}
{%- set rates = [
    ('defect_ratio', 'defect_lines', 'mature_shipped_lines'),
    ('not_received_rate', 'not_received_lines', 'mature_shipped_lines'),
    ('dispute_rate', 'disputed_lines', 'mature_lines'),
    ('refund_rate', 'refunded_lines', 'mature_lines'),
    ('seller_cancel_rate', 'seller_cancelled_lines', 'mature_lines'),
    ('late_shipment_rate', 'late_shipment_lines', 'shipped_lines'),
    ('late_delivery_rate', 'late_delivery_lines', 'delivered_lines_with_promise'),
] -%}
{%- set defect_avoid = var('defect_avoid_threshold') -%}
{%- set not_received_avoid = var('not_received_avoid_threshold') -%}
{%- set defect_good = var('defect_good_threshold') -%}
{%- set not_received_good = var('not_received_good_threshold') -%}

with

order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

disputes as (

    select * from {{ ref('fct_disputes') }}

),

suppliers as (

    select * from {{ ref('dim_suppliers') }}

),

window_lines as (

    select * from order_lines where is_in_analysis_window

),

line_groups as (

    -- The window's lines counted per supplier and combination of the flags the counts below
    -- filter on: ~75,000 groups for 10M lines, so that each count filters groups, not lines
    -- (0.55 s instead of 1.3 s at 10M lines). Sums of parts: a sum of NULLs stays NULL.
    select
        supplier_id,
        is_mature,
        is_shipped,
        is_cancelled,
        is_seller_cancelled,
        is_late_shipment,
        is_late_delivery,
        has_dispute,
        has_defect_dispute,
        has_delivery_failure_dispute,
        has_refund,
        count(*) as lines,
        sum(line_amount) as line_amount,
        sum(recovered_amount) as recovered_amount,
        sum(customer_refund_amount) as customer_refund_amount,
        sum(return_cost) as return_cost,
        sum(resend_cost) as resend_cost,
        sum(loss_amount) as loss_amount,
        any_value(currency) as currency,
    from window_lines
    group by all

),

line_counts as (

    -- Rates count mature lines only; provisional lines are counted apart, never in a verdict.
    -- A count no group matches is NULL here, 0 in `counts`.
    select
        supplier_id,
        bool_or(has_dispute is not null) as has_dispute_data,
        sum(lines)::bigint as lines,
        sum(lines) filter (where is_mature)::bigint as mature_lines,
        sum(lines) filter (where not is_mature)::bigint as provisional_lines,
        sum(lines) filter (where is_mature and is_shipped)::bigint as mature_shipped_lines,
        sum(lines) filter (where is_mature and is_shipped and has_defect_dispute)::bigint
            as defect_lines,
        sum(lines) filter (
            where is_mature and is_shipped and has_delivery_failure_dispute
        )::bigint
            as not_received_lines,
        sum(lines) filter (where not is_mature and is_shipped)::bigint as provisional_shipped_lines,
        sum(lines) filter (where not is_mature and is_shipped and has_defect_dispute)::bigint
            as provisional_defect_lines,
        sum(lines) filter (
            where not is_mature and is_shipped and has_delivery_failure_dispute
        )::bigint
            as provisional_not_received_lines,
        sum(lines) filter (where is_mature and has_dispute)::bigint as disputed_lines,
        sum(lines) filter (where is_mature and has_refund)::bigint as refunded_lines,
        sum(lines) filter (where is_mature and is_seller_cancelled)::bigint
            as seller_cancelled_lines,
        sum(lines) filter (where is_mature and is_late_shipment)::bigint as late_shipment_lines,
        sum(lines) filter (where is_mature and is_late_shipment is not null)::bigint
            as shipped_lines,
        sum(lines) filter (where is_mature and is_late_delivery)::bigint as late_delivery_lines,
        sum(lines) filter (where is_mature and is_late_delivery is not null)::bigint
            as delivered_lines_with_promise,
        -- what was spent: a cancelled line was never paid for
        coalesce(
            sum(line_amount) filter (where is_mature and not is_cancelled), 0
        )::decimal(18, 2) as mature_line_amount,
        -- over the lines the refund value rate's denominator counts
        sum(recovered_amount) filter (where is_mature and not is_cancelled)::decimal(18, 2)
            as refund_amount,
        sum(customer_refund_amount) filter (where is_mature)::decimal(18, 2)
            as mature_customer_refund_amount,
        sum(recovered_amount) filter (where is_mature)::decimal(18, 2)
            as mature_recovered_amount,
        coalesce(sum(line_amount) filter (where not is_cancelled), 0)::decimal(18, 2)
            as spend_amount,
        sum(customer_refund_amount)::decimal(18, 2) as customer_refund_amount,
        sum(recovered_amount)::decimal(18, 2) as recovered_amount,
        sum(return_cost)::decimal(18, 2) as return_cost,
        sum(resend_cost)::decimal(18, 2) as resend_cost,
        sum(loss_amount)::decimal(18, 2) as loss_amount,
        any_value(currency) as currency,
    from line_groups
    group by supplier_id

),

line_quantiles as (

    -- Apart from the counts: in their aggregate, these took ~0.2 s more of its 1.3-1.4 s at
    -- 10M lines. Both quantiles of a column from one sort of it.
    select
        supplier_id,
        quantile_cont(handling_days, [0.5, 0.9]) as handling_days_q,
        quantile_cont(delivery_days, [0.5, 0.9]) as delivery_days_q,
        quantile_cont(order_to_delivery_days, [0.5, 0.9]) as order_to_delivery_days_q,
    from window_lines
    where is_mature
    group by supplier_id

),

resolution_times as (

    select
        supplier_id,
        count(*) as resolved_disputes,
        quantile_cont(days_to_resolve, 0.5) as resolution_days_median,
        quantile_cont(days_to_resolve, 0.9) as resolution_days_p90,
    from disputes
    where is_in_analysis_window and is_counted and days_to_resolve is not null
    group by supplier_id

),

counts as (

    -- Every supplier gets a row, also one with no lines in the analysis window. Counts that
    -- rest on disputes are NULL when no dispute has been loaded at all.
    select
        suppliers.supplier_id,
        suppliers.supplier_name,
        coalesce(line_counts.has_dispute_data, false) as has_dispute_data,
        coalesce(line_counts.lines, 0) as lines,
        coalesce(line_counts.mature_lines, 0) as mature_lines,
        coalesce(line_counts.provisional_lines, 0) as provisional_lines,
        coalesce(line_counts.mature_shipped_lines, 0) as mature_shipped_lines,
        coalesce(line_counts.provisional_shipped_lines, 0) as provisional_shipped_lines,
        {% for column in [
            'defect_lines', 'not_received_lines', 'provisional_defect_lines',
            'provisional_not_received_lines', 'disputed_lines', 'refunded_lines',
        ] %}
        case
            when line_counts.has_dispute_data then coalesce(line_counts.{{ column }}, 0)
        end as {{ column }},
        {% endfor %}
        coalesce(line_counts.seller_cancelled_lines, 0) as seller_cancelled_lines,
        coalesce(line_counts.late_shipment_lines, 0) as late_shipment_lines,
        coalesce(line_counts.shipped_lines, 0) as shipped_lines,
        coalesce(line_counts.late_delivery_lines, 0) as late_delivery_lines,
        coalesce(line_counts.delivered_lines_with_promise, 0) as delivered_lines_with_promise,
        line_quantiles.handling_days_q[1] as handling_days_median,
        line_quantiles.handling_days_q[2] as handling_days_p90,
        line_quantiles.delivery_days_q[1] as delivery_days_median,
        line_quantiles.delivery_days_q[2] as delivery_days_p90,
        line_quantiles.order_to_delivery_days_q[1] as order_to_delivery_days_median,
        line_quantiles.order_to_delivery_days_q[2] as order_to_delivery_days_p90,
        coalesce(resolution_times.resolved_disputes, 0) as resolved_disputes,
        resolution_times.resolution_days_median,
        resolution_times.resolution_days_p90,
        coalesce(line_counts.mature_line_amount, 0)::decimal(18, 2) as mature_line_amount,
        line_counts.refund_amount,
        line_counts.mature_customer_refund_amount,
        line_counts.mature_recovered_amount,
        coalesce(line_counts.spend_amount, 0)::decimal(18, 2) as spend_amount,
        line_counts.customer_refund_amount,
        line_counts.recovered_amount,
        line_counts.return_cost,
        line_counts.resend_cost,
        line_counts.loss_amount,
        line_counts.currency,
    from suppliers
    left join line_counts on suppliers.supplier_id = line_counts.supplier_id
    left join line_quantiles on suppliers.supplier_id = line_quantiles.supplier_id
    left join resolution_times on suppliers.supplier_id = resolution_times.supplier_id

),

moments as (

    -- One row: each rate's beta prior, fitted across suppliers by the method of moments.
    select
        {% for name, successes, trials in rates %}
        {{ beta_binomial_prior_mean(successes, trials) }} as {{ name }}_prior_mean,
        {{ beta_binomial_rho(successes, trials) }} as {{ name }}_rho,
        {% endfor %}
    from counts

),

priors as (

    select
        {% for name, successes, trials in rates %}
        {{ name }}_prior_mean,
        {{ beta_binomial_prior_strength(name ~ '_rho') }} as {{ name }}_prior_strength,
        {% endfor %}
    from moments

),

rates as (

    select
        counts.*,
        {% for name, successes, trials in rates %}
        {{ safe_rate('counts.' ~ successes, 'counts.' ~ trials) }} as {{ name }},
        {{ wilson_lower('counts.' ~ successes, 'counts.' ~ trials) }} as {{ name }}_lower,
        {{ wilson_upper('counts.' ~ successes, 'counts.' ~ trials) }} as {{ name }}_upper,
        {{ shrunk_rate(
            'counts.' ~ successes,
            'counts.' ~ trials,
            'priors.' ~ name ~ '_prior_mean',
            'priors.' ~ name ~ '_prior_strength'
        ) }} as {{ name }}_shrunk,
        priors.{{ name }}_prior_mean,
        priors.{{ name }}_prior_strength,
        {% endfor %}
        {{ safe_rate('counts.refund_amount', 'counts.mature_line_amount') }}
            as refund_value_rate,
        {{ safe_rate('counts.mature_recovered_amount', 'counts.mature_customer_refund_amount') }}
            as recovery_rate,
        (100 * counts.loss_amount / nullif(counts.spend_amount, 0))::decimal(18, 2)
            as loss_per_100_spent,
    from counts
    cross join priors

),

tests as (

    select
        *,
        defect_ratio_lower > {{ defect_avoid }}
        and defect_lines >= {{ var('min_defects') }} as is_defect_avoid,
        not_received_rate_lower > {{ not_received_avoid }}
        and not_received_lines >= {{ var('min_defects') }} as is_not_received_avoid,
        coalesce(defect_ratio_upper < {{ defect_good }}, false) as is_defect_good,
        coalesce(not_received_rate_upper < {{ not_received_good }}, false)
            as is_not_received_good,
        'defect ratio '
        || {{ format_rate_with_bounds('defect_ratio', 'defect_ratio_lower', 'defect_ratio_upper') }}
            as defect_ratio_text,
        'not-received rate '
        || {{ format_rate_with_bounds(
            'not_received_rate', 'not_received_rate_lower', 'not_received_rate_upper'
        ) }} as not_received_rate_text,
    from rates

),

verdicts as (

    select
        *,
        case
            when mature_lines < {{ var('min_mature_lines') }} then 'insufficient_data'
            when not has_dispute_data then 'insufficient_data'
            when coalesce(is_defect_avoid, false) or coalesce(is_not_received_avoid, false)
                then 'avoid'
            when is_defect_good and is_not_received_good then 'good'
            else 'watch'
        end as verdict,
    from tests

),

reasons as (

    select
        *,
        case
            when mature_lines < {{ var('min_mature_lines') }} then printf(
                'only %d of the %d mature lines a verdict needs (%d more provisional)',
                mature_lines, {{ var('min_mature_lines') }}, provisional_lines
            )
            when not has_dispute_data
                then 'no disputes in your data: defect ratio and not-received rate unknown'
            when verdict = 'avoid' then concat_ws(
                '; ',
                case
                    when is_defect_avoid then defect_ratio_text || printf(
                        ' on %d mature shipped lines, above the ', mature_shipped_lines
                    ) || {{ format_threshold(defect_avoid) }} || ' avoid line'
                end,
                case
                    when is_not_received_avoid then not_received_rate_text || printf(
                        ' on %d mature shipped lines, above the ', mature_shipped_lines
                    ) || {{ format_threshold(not_received_avoid) }} || ' avoid line'
                end
            )
            when verdict = 'good' then defect_ratio_text || ' and ' || not_received_rate_text
                || printf(' on %d mature shipped lines, below the ', mature_shipped_lines)
                || {{ format_threshold(defect_good) }} || ' and '
                || {{ format_threshold(not_received_good) }} || ' good lines'
            when mature_shipped_lines = 0 then 'no mature shipped lines to rate'
            else concat_ws(
                '; ',
                case
                    when defect_ratio_lower > {{ defect_avoid }} then defect_ratio_text
                        || ', above the ' || {{ format_threshold(defect_avoid) }}
                        || printf(
                            ' avoid line but on only %d defective lines (%d needed)',
                            defect_lines, {{ var('min_defects') }}
                        )
                    when is_defect_good then null
                    when defect_ratio_upper > {{ defect_avoid }} then defect_ratio_text
                        || ', could be above the ' || {{ format_threshold(defect_avoid) }}
                        || ' avoid line'
                    else defect_ratio_text
                        || ', not clearly below the ' || {{ format_threshold(defect_good) }}
                        || ' good line'
                end,
                case
                    when not_received_rate_lower > {{ not_received_avoid }}
                        then not_received_rate_text
                        || ', above the ' || {{ format_threshold(not_received_avoid) }}
                        || printf(
                            ' avoid line but on only %d lines not received (%d needed)',
                            not_received_lines, {{ var('min_defects') }}
                        )
                    when is_not_received_good then null
                    when not_received_rate_upper > {{ not_received_avoid }}
                        then not_received_rate_text
                        || ', could be above the ' || {{ format_threshold(not_received_avoid) }}
                        || ' avoid line'
                    else not_received_rate_text
                        || ', not clearly below the '
                        || {{ format_threshold(not_received_good) }} || ' good line'
                end
            ) || printf(' (%d mature shipped lines)', mature_shipped_lines)
        end as verdict_reason,
        -- How many times its avoid line the supplier's best estimate is, on its worse rate.
        greatest(
            defect_ratio_shrunk / {{ defect_avoid }},
            not_received_rate_shrunk / {{ not_received_avoid }}
        ) as risk_score,
    from verdicts

),

ranked as (

    select
        *,
        row_number() over (
            partition by verdict
            order by risk_score desc nulls last, mature_lines desc, supplier_id
        ) as verdict_rank,
        row_number() over (
            order by
                list_position(['avoid', 'watch', 'insufficient_data', 'good'], verdict),
                risk_score desc nulls last,
                mature_lines desc,
                supplier_id
        ) as risk_rank,
    from reasons

),

final as (

    select
        * exclude (
            is_defect_avoid,
            is_not_received_avoid,
            is_defect_good,
            is_not_received_good,
            defect_ratio_text,
            not_received_rate_text
        ),
    from ranked

)

select * from final
