-- One row per supplier order line fulfilling a Shopify order that dropscore has loaded (from
-- the orders or the transactions export): the money the store refunded its customer for the
-- line, in the reporting currency, and when. 0 when the order was not refunded, so a known
-- "no refund" overrides the estimate fct_order_lines makes without the store's data.
--
-- How an order's refund is found: the successful `refund` transactions (dated), or the orders
-- export's Refunded Amount (order-level, from the order's first row; undated). Refunds only
-- grow, so when both exports know an order the larger figure is the newer one.
--
-- How it is linked: a supplier order fulfils a store order when an order-links file pairs them
-- or the supplier line names the store order (`store_order`; `#1001` and `1001` are the same).
--
-- How it is allocated: Shopify refunds are per order, not per supplier line. The refund goes
-- to the order's linked supplier lines that have a dispute (the customer's complaint and the
-- supplier dispute are the same problem), or to all its linked lines when none has; among
-- those, in proportion to their value (equally when they have none). Shares are rounded to the
-- cent so that they add up to the refund exactly: each line gets round(refund × running
-- share) minus what the lines before it got. Money refunded for items not bought on
-- AliExpress cannot be told apart and is allocated too.
with

shopify_orders as (

    select * from {{ ref('stg_shopify__orders') }}

),

transactions as (

    select * from {{ ref('stg_shopify__transactions') }}

),

order_links as (

    select * from {{ ref('stg_order_links__links') }}

),

order_lines as not materialized (

    -- read twice, each time for a few orders: a copy of every line would cost more
    select * from {{ ref('int_order_lines_unioned') }}

),

line_disputes as (

    select * from {{ ref('int_disputes_matched_to_lines') }}

),

exchange_rates as (

    select * from {{ ref('int_exchange_rates_rebased') }}

),

transaction_refunds as (

    select
        transactions.store_order,
        case
            when not bool_or(exchange_rates.rate_to_reporting is null)
                then sum(transactions.amount * exchange_rates.rate_to_reporting)
        end as refunded_amount,
        max(transactions.created_at) as last_refunded_at,
    from transactions
    left join exchange_rates on upper(transactions.currency) = exchange_rates.currency
    where transactions.kind = 'refund' and transactions.status = 'success'
    group by transactions.store_order

),

order_export_refunds as (

    select
        shopify_orders.store_order,
        shopify_orders.refunded_amount * exchange_rates.rate_to_reporting as refunded_amount,
    from shopify_orders
    left join exchange_rates on upper(shopify_orders.currency) = exchange_rates.currency

),

store_orders as (

    select store_order from shopify_orders
    union
    select store_order from transactions

),

order_refunds as (

    select
        store_orders.store_order,
        {{ store_order_key('store_orders.store_order') }} as store_order_key,
        cast(
            greatest(transaction_refunds.refunded_amount, order_export_refunds.refunded_amount)
            as decimal(18, 2)
        ) as refunded_amount,
        transaction_refunds.last_refunded_at as refunded_at,
    from store_orders
    left join transaction_refunds on store_orders.store_order = transaction_refunds.store_order
    left join order_export_refunds on store_orders.store_order = order_export_refunds.store_order

),

store_order_links as (

    -- only the refunded orders' links: most stores refund few orders, and every line names one
    select distinct
        store_order_key,
        supplier_order_id,
    from (
        select
            {{ store_order_key('store_order') }} as store_order_key,
            supplier_order_id,
        from order_links
        union all
        select
            store_order_key,
            supplier_order_id,
        from order_lines
    )
    where store_order_key in (select store_order_key from order_refunds)

),

disputed_lines as (

    select
        order_line_id,
        bool_or(is_counted) as is_disputed,
    from line_disputes
    group by order_line_id

),

linked_lines as (

    select
        order_refunds.store_order,
        order_refunds.refunded_amount,
        order_refunds.refunded_at,
        order_lines.order_line_id,
        coalesce(order_lines.line_amount, 0) as line_amount,
        coalesce(disputed_lines.is_disputed, false) as is_disputed,
    from order_refunds
    inner join store_order_links
        on order_refunds.store_order_key = store_order_links.store_order_key
    inner join order_lines on store_order_links.supplier_order_id = order_lines.supplier_order_id
    left join disputed_lines on order_lines.order_line_id = disputed_lines.order_line_id

),

sharing_lines as (

    select
        *,
        not bool_or(is_disputed) over store_order or is_disputed as takes_share,
    from linked_lines
    window store_order as (partition by store_order)

),

weights as (

    select
        *,
        case when takes_share then line_amount else 0 end as weight,
        case when takes_share then 1 else 0 end as taker,
    from sharing_lines

),

running_shares as (

    select
        *,
        sum(weight) over store_order as total_weight,
        sum(taker) over store_order as takers,
        sum(weight) over running as running_weight,
        sum(taker) over running as running_takers,
    from weights
    window
        store_order as (partition by store_order),
        running as (
            partition by store_order order by order_line_id
            rows between unbounded preceding and current row
        )

),

shares as (

    select
        *,
        case
            when total_weight > 0 then running_weight::double / total_weight
            else running_takers::double / takers
        end as running_share,
        case
            when total_weight > 0 then (running_weight - weight)::double / total_weight
            else (running_takers - taker)::double / takers
        end as previous_running_share,
    from running_shares

),

allocated as (

    select
        store_order,
        order_line_id,
        refunded_at,
        cast(round(refunded_amount * running_share, 2) as decimal(18, 2))
        - cast(round(refunded_amount * previous_running_share, 2) as decimal(18, 2))
            as customer_refund_amount,
    from shares

),

final as (

    -- a supplier line fulfilling two store orders gets its share of both
    select
        order_line_id,
        cast(sum(customer_refund_amount) as decimal(18, 2)) as customer_refund_amount,
        max(refunded_at) as customer_refunded_at,
        min(store_order) as store_order,
    from allocated
    group by order_line_id

)

select * from final
