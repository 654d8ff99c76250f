-- One row per order line with everything about it that does not depend on the as-of date: its
-- dispute outcome, late flags, when it is mature and what it cost (customer refund, return,
-- resend, loss). fct_order_lines adds what does (age, whether it is mature yet, the analysis
-- window) when it is read, so that a weekly run need not rewrite every line because a week has
-- passed, and the times in days, cheaper to work out than to store.
--
-- Dispute outcomes are NULL ("not in your data"), not false, when no dispute has been loaded
-- at all.
--
-- Incremental (see macros/incremental.sql): a run rebuilds the lines of every supplier order
-- and store order its new loads name. A line's outcome depends on its supplier order's
-- disputes, its store order's refund (shared over every supplier order linked to the store
-- order) and the other purchases of the same goods for the same store order (a resend, and
-- the failed lines that could claim it), so the lines of all of these are rebuilt.
{{
    config(
        materialized='incremental',
        unique_key='order_line_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}

with

all_order_lines as not materialized (

    select * from {{ ref('int_order_lines_unioned') }}

),

line_disputes as (

    select * from {{ ref('int_disputes_matched_to_lines') }}

),

customer_refunds as (

    select * from {{ ref('int_customer_refunds_allocated') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

order_links as (

    select * from {{ ref('stg_order_links__links') }}

),

{% if is_incremental() %}
changed_supplier_orders as (

    {{ supplier_orders_loaded_since_built(with_disputes=true) }}

),

changed_store_orders as (

    {{ store_orders_loaded_since_built() }}
    union
    -- the store orders the changed supplier orders fulfil, now and as last built
    select store_order_key
    from all_order_lines
    where supplier_order_id in (select supplier_order_id from changed_supplier_orders)
    union
    select {{ store_order_key('store_order') }}
    from {{ this }}
    where supplier_order_id in (select supplier_order_id from changed_supplier_orders)
    union
    select {{ store_order_key('store_order') }}
    from order_links
    where supplier_order_id in (select supplier_order_id from changed_supplier_orders)

),

refund_groups as (

    -- every supplier order sharing a changed store order's refund: linked by an order-links
    -- file or by one of its lines naming the store order
    select supplier_order_id from changed_supplier_orders
    union
    select supplier_order_id
    from order_links
    where {{ store_order_key('store_order') }} in (select store_order_key from changed_store_orders)
    union
    select supplier_order_id
    from all_order_lines
    where store_order_key in (select store_order_key from changed_store_orders)

),

lines_to_rebuild as (

    -- The refund groups' lines, every line of a changed store order among them. Each condition
    -- in a branch of its own, not joined by `or`: DuckDB then narrows each scan to the keys
    -- sought instead of testing every line against every set (here and below; a line's key,
    -- order_line_id, is never NULL and names one line, as the unioned lines' tests check).
    select order_line_id, store_order_key
    from all_order_lines
    where supplier_order_id in (select supplier_order_id from refund_groups)
    union
    -- every line when dispute data first arrives: its outcomes stop being "not in your data"
    select order_line_id, store_order_key
    from all_order_lines
    where (select has_dispute_data from as_of) is distinct from (
        select has_dispute is not null from {{ this }} limit 1
    )

),

lines_to_rebuild_store_orders as (

    -- Not the changed store orders: through refund_groups, lines_to_rebuild holds their every
    -- line already. Usually none is left, and DuckDB then skips the scan below, which reads
    -- every line's key otherwise (0.3-0.5 s at ten million lines).
    select distinct store_order_key
    from lines_to_rebuild
    where store_order_key is not null
        and store_order_key not in (
            select store_order_key from changed_store_orders where store_order_key is not null
        )

),

lines_to_rebuild_with_their_store_orders as (

    -- ... with every line of their store orders, so that reorders below finds every later
    -- purchase of the same goods
    select order_line_id from lines_to_rebuild
    union
    select order_line_id
    from all_order_lines
    where store_order_key in (select store_order_key from lines_to_rebuild_store_orders)

),

order_lines as materialized (

    -- worked out once: outcomes and reorders both read it
    select *
    from all_order_lines
    where order_line_id in (select order_line_id from lines_to_rebuild_with_their_store_orders)

),
{% else %}
order_lines as not materialized (

    select * from all_order_lines

),
{% endif %}

dispute_outcomes as (

    select
        order_line_id,
        count(*) filter (where is_counted) as disputes,
        bool_or(is_counted and is_defect) as has_defect_dispute,
        bool_or(is_counted and is_delivery_failure) as has_delivery_failure_dispute,
        bool_or(status = 'open') as has_open_dispute,
        -- the first dispute opened tells what went wrong
        arg_min(category, opened_at) filter (where is_counted) as dispute_category,
        arg_min(category_group, opened_at) filter (where is_counted) as dispute_category_group,
        arg_min(resolution, opened_at) filter (where is_counted) as dispute_resolution,
        arg_min(dispute_id, opened_at) filter (where is_counted) as first_dispute_id,
        min(opened_at) filter (where is_counted) as first_dispute_opened_at,
        max(closed_at) as last_dispute_closed_at,
        -- NULL when one of them is not known (a currency without an exchange rate)
        case when bool_and(recovered_amount is not null) then sum(recovered_amount) end
            as recovered_amount,
        case when bool_and(return_cost is not null) then sum(return_cost) end as return_cost,
        bool_or(recovered_amount is null) as has_refund_of_unknown_amount,
    from line_disputes
    {% if is_incremental() %}
    where order_line_id in (select order_line_id from order_lines)
    {% endif %}
    group by order_line_id

),

outcomes as (

    select
        order_lines.*,
        case when as_of.has_dispute_data then coalesce(dispute_outcomes.disputes, 0) end
            as disputes,
        case when as_of.has_dispute_data then coalesce(dispute_outcomes.disputes, 0) > 0 end
            as has_dispute,
        case
            when as_of.has_dispute_data
                then coalesce(dispute_outcomes.has_defect_dispute, false)
        end as has_defect_dispute,
        case
            when as_of.has_dispute_data
                then coalesce(dispute_outcomes.has_delivery_failure_dispute, false)
        end as has_delivery_failure_dispute,
        case
            when as_of.has_dispute_data
                then coalesce(dispute_outcomes.has_open_dispute, false)
        end as has_open_dispute,
        dispute_outcomes.dispute_category,
        dispute_outcomes.dispute_category_group,
        dispute_outcomes.dispute_resolution,
        dispute_outcomes.first_dispute_id,
        dispute_outcomes.first_dispute_opened_at,
        dispute_outcomes.last_dispute_closed_at,
        case
            when as_of.has_dispute_data
                then case
                    when dispute_outcomes.order_line_id is null then 0  -- no dispute
                    else dispute_outcomes.recovered_amount
                end
        end::decimal(18, 2) as recovered_amount,
        case
            when as_of.has_dispute_data
                then case
                    when dispute_outcomes.order_line_id is null then 0  -- no dispute
                    else dispute_outcomes.return_cost
                end
        end::decimal(18, 2) as return_cost,
        case
            when as_of.has_dispute_data
                then coalesce(
                    dispute_outcomes.recovered_amount > 0
                    or dispute_outcomes.has_refund_of_unknown_amount,
                    false
                )
        end as has_refund,
        order_lines.shipped_at is not null
        or order_lines.delivered_at is not null
        or order_lines.status in ('shipped', 'delivered')
        -- A line its buyer disputes as defective or not received counts as shipped whatever the
        -- export says (the supplier's status may lag, or it took the money and never sent it):
        -- the defect and not-received rates count every such line (SPEC §5), and a supplier
        -- is not rated better for never shipping. Not a cancelled one: a seller cancel.
        or (
            order_lines.status is distinct from 'cancelled'
            and coalesce(
                dispute_outcomes.has_defect_dispute
                or dispute_outcomes.has_delivery_failure_dispute,
                false
            )
        ) as is_shipped,
        order_lines.status = 'delivered' or order_lines.delivered_at is not null as is_delivered,
        order_lines.status = 'cancelled' as is_cancelled,
    from order_lines
    cross join as_of
    left join dispute_outcomes on order_lines.order_line_id = dispute_outcomes.order_line_id

),

failed_lines as (

    -- The lines a resend could replace, as reorders below needs them: most lines have no
    -- dispute, so a join from these few finds the later purchases instead of a window
    -- sorting every line.
    select
        order_lines.order_line_id,
        order_lines.store_order_key,
        order_lines.product_id,
        order_lines.sku_id,
        order_lines.ordered_at,
    from order_lines
    semi join dispute_outcomes
        on order_lines.order_line_id = dispute_outcomes.order_line_id
        and (dispute_outcomes.has_defect_dispute or dispute_outcomes.has_delivery_failure_dispute)
    where order_lines.status <> 'cancelled'

),

failed_goods as (

    -- how many failed lines each store order has of each product
    select store_order_key, product_id, count(*) as failed_lines
    from failed_lines
    group by store_order_key, product_id

),

resend_pairs as not materialized (

    -- A later purchase of the same goods for the same store order, ordered after a failed line,
    -- is the dropshipper buying them again to replace what failed. The store order by its key
    -- (`#1001` and `1001` are one order); a cancelled purchase replaced nothing and cost
    -- nothing; a line of the same product bought with the failed one (another variant) is not
    -- a resend. Each pair comes with the key that ranks it: the earliest purchase first, of its
    -- lines the same variant (SKU) first, then by the lines' keys, so that every build pairs
    -- the same lines. Not materialized: read twice, and kept it would hold every pair at once
    -- (a store order key repeated on every line makes millions).
    select
        failed_lines.order_line_id,
        failed_lines.store_order_key,
        failed_lines.product_id,
        later.order_line_id as resend_line_id,
        later.line_amount as resend_line_amount,
        struct_pack(
            ordered_at := later.ordered_at,
            other_variant := later.sku_id is distinct from failed_lines.sku_id,
            failed_at := failed_lines.ordered_at,
            failed_line_id := failed_lines.order_line_id,
            resend_line_id := later.order_line_id
        ) as rank_key,
        failed_goods.failed_lines,
    from failed_lines
    inner join failed_goods
        on failed_lines.store_order_key = failed_goods.store_order_key
        and failed_lines.product_id = failed_goods.product_id
    inner join order_lines as later
        on failed_lines.store_order_key = later.store_order_key
        and failed_lines.product_id = later.product_id
        and later.ordered_at > failed_lines.ordered_at
    where later.status <> 'cancelled'

),

first_resends as (

    -- each failed line's first candidate, its amount NULL when not known (a currency without a
    -- rate), never another line's: its resend unless another failed line contests it
    select
        order_line_id,
        any_value(store_order_key) as store_order_key,
        any_value(product_id) as product_id,
        arg_min_null(resend_line_amount, rank_key) as resend_line_amount,
    from resend_pairs
    group by order_line_id

),

resend_candidates as materialized (

    -- The pairs of the goods that two to 20 failed lines share. Of n failed lines, each is
    -- replaced by one of its first n candidates (the others take n - 1 at most): the rest are
    -- never needed. More than 20 failed lines of one product: no store order holds so many, so
    -- the key is shared by orders it cannot tell apart (a constant in the export's store order
    -- column), and each failed line takes its first.
    select *
    from resend_pairs
    where failed_lines between 2 and 20
    qualify row_number() over (partition by order_line_id order by rank_key) <= failed_lines

),

contested_goods as (

    -- the goods where one purchase could replace two failed lines
    select distinct store_order_key, product_id
    from resend_candidates
    qualify count(*) over (partition by resend_line_id) > 1

),

contested_resends as (

    -- One purchase replaces one failed line: the pairs taken best first, each unless one of its
    -- lines is taken already. Walked pair by pair, keeping one row per store order and product.
    with recursive ranked as (
        select
            resend_candidates.*,
            row_number() over (
                partition by store_order_key, product_id order by rank_key
            ) as pair_rank,
        from resend_candidates
        semi join contested_goods using (store_order_key, product_id)
    ),

    matching (store_order_key, product_id, pairs_seen, failed_line_ids, resend_line_ids)
    using key (store_order_key, product_id) as (
        select distinct store_order_key, product_id, 0::bigint, []::varchar[], []::varchar[]
        from ranked
        union
        select
            store_order_key,
            product_id,
            pairs_seen + 1,
            case
                when is_free then list_append(failed_line_ids, order_line_id)
                else failed_line_ids
            end,
            case
                when is_free then list_append(resend_line_ids, resend_line_id)
                else resend_line_ids
            end,
        from (
            select
                matching.*,
                ranked.order_line_id,
                ranked.resend_line_id,
                not list_contains(matching.failed_line_ids, ranked.order_line_id)
                and not list_contains(matching.resend_line_ids, ranked.resend_line_id)
                    as is_free,
            from matching
            inner join ranked
                on matching.store_order_key = ranked.store_order_key
                and matching.product_id = ranked.product_id
                and ranked.pair_rank = matching.pairs_seen + 1
        )
    ),

    matched as (
        select unnest(failed_line_ids) as order_line_id, unnest(resend_line_ids) as resend_line_id
        from matching
    )

    select matched.order_line_id, ranked.resend_line_amount
    from matched
    inner join ranked
        on matched.order_line_id = ranked.order_line_id
        and matched.resend_line_id = ranked.resend_line_id

),

reorders as (

    select order_line_id, resend_line_amount
    from first_resends
    anti join contested_goods using (store_order_key, product_id)
    union all
    select order_line_id, resend_line_amount
    from contested_resends

),

flagged as (

    select
        outcomes.order_line_id,
        outcomes.supplier_order_id,
        outcomes.line_id,
        outcomes.supplier_id,
        outcomes.product_id,
        outcomes.product_title,
        outcomes.sku_id,
        outcomes.store_order,
        outcomes.ordered_at,
        cast(outcomes.ordered_at as date) as ordered_date,
        cast(date_trunc('week', outcomes.ordered_at) as date) as ordered_week,
        strftime(outcomes.ordered_at, '%G-W%V') as ordered_iso_week,
        outcomes.shipped_at,
        outcomes.delivered_at,
        outcomes.status,
        outcomes.cancelled_by,
        outcomes.quantity,
        cast(outcomes.unit_price as decimal(18, 2)) as unit_price,
        cast(outcomes.shipping_fee as decimal(18, 2)) as shipping_fee,
        cast(outcomes.line_amount as decimal(18, 2)) as line_amount,
        outcomes.currency,
        outcomes.ship_to_country,
        outcomes.is_shipped,
        outcomes.is_delivered,
        outcomes.is_cancelled,
        outcomes.is_cancelled
        and coalesce(outcomes.cancelled_by, 'seller') <> 'buyer'
        and not outcomes.is_shipped as is_seller_cancelled,
        -- A promise of n days is kept through the whole of the n-th day after the order's
        -- (days in UTC): delivered on the promised date is on time, whatever the hour.
        {{ end_of_day_after('outcomes.ordered_at',
            "coalesce(outcomes.promised_ship_days, " ~ var('handling_days') ~ ")") }}
            as promised_ship_by_at,
        {{ end_of_day_after('outcomes.ordered_at', 'outcomes.promised_delivery_days') }}
            as promised_delivery_by_at,
        case
            when outcomes.shipped_at is not null
                then outcomes.shipped_at >= {{ end_of_day_after('outcomes.ordered_at',
                    "coalesce(outcomes.promised_ship_days, " ~ var('handling_days') ~ ")") }}
        end as is_late_shipment,
        case
            when outcomes.delivered_at is not null
                and outcomes.promised_delivery_days is not null
                then outcomes.delivered_at
                >= {{ end_of_day_after('outcomes.ordered_at', 'outcomes.promised_delivery_days') }}
        end as is_late_delivery,
        -- Mature from: once buyer protection has run out (maturity_days after the order), or
        -- once finished (delivered on a known date, or cancelled) with no dispute open and
        -- nothing happening for settled_days. A delivery without a date cannot show it
        -- settled, so it waits for age. The views compare it with the as-of date.
        least(
            outcomes.ordered_at + to_days({{ var('maturity_days') }}),
            case
                when (outcomes.delivered_at is not null or outcomes.is_cancelled)
                    and not coalesce(outcomes.has_open_dispute, false)
                    then greatest(
                        coalesce(outcomes.delivered_at, outcomes.ordered_at),
                        coalesce(outcomes.last_dispute_closed_at, outcomes.ordered_at)
                    ) + to_days({{ var('settled_days') }})
            end
        ) as matures_at,
        outcomes.disputes,
        outcomes.has_dispute,
        outcomes.has_defect_dispute,
        outcomes.has_delivery_failure_dispute,
        outcomes.has_open_dispute,
        outcomes.dispute_category,
        outcomes.dispute_category_group,
        outcomes.dispute_resolution,
        outcomes.first_dispute_id,
        outcomes.first_dispute_opened_at,
        outcomes.last_dispute_closed_at,
        outcomes.recovered_amount,
        outcomes.return_cost,
        outcomes.has_refund,
        case
            when outcomes.has_defect_dispute or outcomes.has_delivery_failure_dispute
                then case
                    when reorders.order_line_id is null then 0  -- not bought again
                    else reorders.resend_line_amount
                end
            when outcomes.has_dispute is not null then 0
        end::decimal(18, 2) as resend_cost,
        customer_refunds.customer_refund_amount as linked_customer_refund_amount,
    from outcomes
    left join reorders on outcomes.order_line_id = reorders.order_line_id
    left join customer_refunds on outcomes.order_line_id = customer_refunds.order_line_id

),

refund_estimates as (

    select
        *,
        -- Without the store's own refunds, a line that failed is taken to be refunded to the
        -- customer at what it cost, unless the supplier or the dropshipper sent it again (a
        -- resend cost not known is a resend all the same).
        case
            when has_defect_dispute or has_delivery_failure_dispute
                then case
                    when dispute_resolution = 'resend' or resend_cost is distinct from 0 then 0
                    else line_amount
                end
            when has_dispute is not null then 0
        end as failure_refund_estimate,
    from flagged

),

costed as (

    select
        * exclude (failure_refund_estimate),
        -- ... and at no less than the supplier refunded on it, which went back to the customer
        -- (a buyer's change of mind, a dispute AliExpress shows only as the order's end): money
        -- back from the supplier is never taken for a gain without the store's refunds to show
        -- it. Not known when either is not (an amount in a currency without a rate).
        coalesce(
            linked_customer_refund_amount,
            case
                when failure_refund_estimate is not null and recovered_amount is not null
                    then greatest(failure_refund_estimate, recovered_amount)
            end
        )::decimal(18, 2) as customer_refund_amount,
        linked_customer_refund_amount is null as is_customer_refund_estimated,
    from refund_estimates

),

final as (

    select
        *,
        (customer_refund_amount + return_cost + resend_cost - recovered_amount)::decimal(18, 2)
            as loss_amount,
        {{ built_through_load_id() }} as built_through_load_id,
    from costed

)

select * from final
