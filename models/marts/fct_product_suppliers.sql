-- One row per product per supplier over the analysis window. For a product with two or more
-- comparable suppliers (enough mature shipped lines of it), the recommended supplier is the one
-- with the lowest upper Wilson bound of the problem rate (the one we are surest is good).
-- Switching away from a supplier is supported only when a two-proportion z-test says its
-- problem rate differs from the recommended supplier's at the `confidence` level (two-sided:
-- at 95 %, at least 97.5 % sure it is the higher, for a switch has costs of its own); only then
-- is the expected saving per 100 orders shown, priced per unit: suppliers of one product sell
-- it in lines of different quantities (a 2-pack against a single), so their lines' amounts are
-- not comparable, their units' are. The test asks the question directly; requiring
-- non-overlapping intervals would be far stricter than the stated confidence (Schenker &
-- Gentleman 2001).
with

order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

product_suppliers as (

    select
        product_id,
        supplier_id,
        arg_max(product_title, ordered_at) as product_title,
        bool_or(has_dispute is not null) as has_dispute_data,
        count(*) as lines,
        count(*) filter (where is_mature) as mature_lines,
        count(*) filter (where is_mature and is_shipped) as mature_shipped_lines,
        count(*) filter (where is_mature and is_shipped and has_defect_dispute) as defect_lines,
        count(*) filter (where is_mature and is_shipped and has_delivery_failure_dispute)
            as not_received_lines,
        count(*) filter (
            where is_mature and is_shipped
            and (has_defect_dispute or has_delivery_failure_dispute)
        ) as problem_lines,
        coalesce(sum(line_amount) filter (where not is_cancelled), 0)::decimal(18, 2)
            as spend_amount,
        -- lines whose amount is not known (a currency without a rate) are left out of the
        -- sums, so out of what they are divided by too
        count(*) filter (where not is_cancelled and line_amount is not null) as paid_lines,
        coalesce(sum(quantity) filter (where not is_cancelled and line_amount is not null), 0)
            as units,
        sum(quantity) filter (where is_mature and loss_amount is not null) as mature_units,
        sum(loss_amount)::decimal(18, 2) as loss_amount,
        sum(loss_amount) filter (where is_mature)::decimal(18, 2) as mature_loss_amount,
        any_value(currency) as currency,
    from order_lines
    where is_in_analysis_window and product_id is not null
    group by product_id, supplier_id

),

rated as (

    select
        product_id || ':' || supplier_id as product_supplier_id,
        * exclude (
            has_dispute_data, defect_lines, not_received_lines, problem_lines, paid_lines,
            mature_units
        ),
        (spend_amount / nullif(paid_lines, 0))::decimal(18, 2) as average_line_amount,
        case when has_dispute_data then defect_lines end as defect_lines,
        case when has_dispute_data then not_received_lines end as not_received_lines,
        case when has_dispute_data then problem_lines end as problem_lines,
        case
            when has_dispute_data then {{ safe_rate('problem_lines', 'mature_shipped_lines') }}
        end as problem_rate,
        case
            when has_dispute_data then {{ wilson_lower('problem_lines', 'mature_shipped_lines') }}
        end as problem_rate_lower,
        case
            when has_dispute_data then {{ wilson_upper('problem_lines', 'mature_shipped_lines') }}
        end as problem_rate_upper,
        (mature_loss_amount / nullif(mature_lines, 0))::decimal(18, 4) as loss_per_mature_line,
        (spend_amount / nullif(units, 0))::decimal(18, 4) as average_unit_amount,
        (mature_loss_amount / nullif(mature_units, 0))::decimal(18, 4) as loss_per_mature_unit,
        -- unrounded, for the comparison: what one unit is expected to cost, and units per line
        spend_amount::double / nullif(units, 0)
        + coalesce(mature_loss_amount::double / nullif(mature_units, 0), 0)
            as expected_unit_cost,
        units::double / nullif(paid_lines, 0) as units_per_line,
        count(*) over (partition by product_id) as product_suppliers,
        has_dispute_data and mature_shipped_lines >= {{ var('min_mature_lines') }}
            as is_comparable,
    from product_suppliers

),

recommended as (

    -- Lowest upper bound, then lowest expected cost per unit, then store id: deterministic.
    select
        product_id,
        arg_min(
            supplier_id,
            {'upper': problem_rate_upper, 'cost': expected_unit_cost, 'supplier': supplier_id}
        ) as supplier_id,
    from rated
    where is_comparable
    group by product_id
    having count(*) >= 2

),

compared as (

    select
        rated.*,
        recommended.supplier_id as recommended_supplier_id,
        rated.supplier_id = recommended.supplier_id as is_recommended,
        best.problem_rate as recommended_problem_rate,
        best.average_unit_amount as recommended_unit_amount,
        (rated.problem_lines + best.problem_lines)::double
        / nullif(rated.mature_shipped_lines + best.mature_shipped_lines, 0) as pooled_rate,
        best.mature_shipped_lines as recommended_mature_shipped_lines,
        -- this supplier's lines, as you buy them, bought by the unit from the recommended one
        rated.units_per_line * (rated.expected_unit_cost - best.expected_unit_cost)
            as cost_difference_per_line,
    from rated
    left join recommended on rated.product_id = recommended.product_id
    left join rated as best
        on recommended.product_id = best.product_id
        and recommended.supplier_id = best.supplier_id

),

tested as (

    select
        * exclude (pooled_rate, recommended_mature_shipped_lines, cost_difference_per_line),
        case
            when is_comparable and not is_recommended then
                (problem_rate - recommended_problem_rate) / nullif(
                    sqrt(
                        pooled_rate * (1 - pooled_rate) * (
                            1.0 / mature_shipped_lines + 1.0 / recommended_mature_shipped_lines
                        )
                    ),
                    0
                )
        end as switch_z_score,
        cost_difference_per_line,
    from compared

),

final as (

    select
        * exclude (cost_difference_per_line, expected_unit_cost, units_per_line),
        coalesce(switch_z_score > {{ z_score(var('confidence')) }}, false)
            as is_switch_supported,
        case
            when switch_z_score > {{ z_score(var('confidence')) }}
                then (100 * cost_difference_per_line)::decimal(18, 2)
        end as saving_per_100_orders,
    from tested

)

select * from final
