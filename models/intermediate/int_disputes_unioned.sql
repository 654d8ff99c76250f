-- One row per dispute from every source, in one shape: the columns of stg_dropscore__disputes,
-- with money converted to the reporting currency and the original amounts and currency kept.
--
-- Sources: the disputes users record (dropscore-disputes), and the disputes AliExpress's
-- end_reason reveals: an order ended by `seller_accept_issue_no_goods_return` or
-- `seller_response_issue_timeout` had a dispute that ended in a refund, recorded or not. Those
-- count only for orders with no recorded dispute (a recorded one says more). The export gives
-- neither the reason (so the category is `other`), nor the dates (the order date stands in
-- for the opening), nor the amount: the order ended with the line's money refunded in full.
--
-- Incremental (see macros/incremental.sql): a run rebuilds the disputes of the supplier orders
-- its new loads name, every dispute of each such order, and leaves the rest.
{{
    config(
        materialized='incremental',
        incremental_strategy='replace_supplier_orders',
        on_schema_change='fail',
    )
}}

with

{% if is_incremental() %}
changed_supplier_orders as (

    {{ supplier_orders_loaded_since_built(with_disputes=true) }}

),
{% endif %}

dropscore_disputes as (

    {% if is_incremental() %}
    -- stg_dropscore__disputes of the changed orders, filtered before the versions are ranked
    -- (see the macro)
    {{ newest_dropscore_disputes('select supplier_order_id from changed_supplier_orders') }}
    {% else %}
    select * from {{ ref('stg_dropscore__disputes') }}
    {% endif %}

),

aliexpress_order_lines as (

    select * from {{ ref('stg_aliexpress__order_lines') }}
    {% if is_incremental() %}
    where supplier_order_id in (select supplier_order_id from changed_supplier_orders)
    {% endif %}

),

order_lines as (

    select * from {{ ref('int_order_lines_unioned') }}

),

exchange_rates as (

    select * from {{ ref('int_exchange_rates_rebased') }}

),

from_dropscore as (

    select
        dispute_id,
        supplier_order_id,
        line_id,
        product_id,
        opened_at,
        closed_at,
        reason,
        reason_key,
        status,
        resolution,
        refund_amount,
        currency,
        return_method,
        return_shipping_cost,
        exported_at,
        load_id,
        source_line,
    from dropscore_disputes

),

from_end_reason as (

    select
        'end_reason:' || order_line_id as dispute_id,
        supplier_order_id,
        line_id,
        product_id,
        ordered_at as opened_at,
        cast(null as timestamptz) as closed_at,
        end_reason as reason,
        trim(regexp_replace(lower(end_reason), '[^a-z0-9]+', ' ', 'g')) as reason_key,
        'closed' as status,
        'full_refund' as resolution,
        line_amount as refund_amount,
        currency,
        'none' as return_method,
        cast(null as decimal(18, 2)) as return_shipping_cost,
        exported_at,
        load_id,
        source_line,
    from aliexpress_order_lines
    where has_refunded_dispute
        and supplier_order_id not in (select supplier_order_id from dropscore_disputes)

),

unioned as (

    select * from from_dropscore
    union all by name
    select * from from_end_reason

),

order_currencies as (

    -- a dispute recorded without a currency is in the currency its order was paid in (only
    -- those orders are looked up: grouping every line costs more than the rest of the model)
    select
        supplier_order_id,
        min(original_currency) as currency,
    from order_lines
    where supplier_order_id in (select supplier_order_id from unioned where currency is null)
    group by supplier_order_id

),

converted as (

    select
        unioned.dispute_id,
        unioned.supplier_order_id,
        unioned.line_id,
        unioned.product_id,
        unioned.opened_at,
        unioned.closed_at,
        unioned.reason,
        unioned.reason_key,
        unioned.status,
        unioned.resolution,
        cast(unioned.refund_amount * exchange_rates.rate_to_reporting as decimal(18, 2))
            as refund_amount,
        upper('{{ var("reporting_currency") }}') as currency,
        unioned.return_method,
        cast(unioned.return_shipping_cost * exchange_rates.rate_to_reporting as decimal(18, 2))
            as return_shipping_cost,
        unioned.exported_at,
        unioned.load_id,
        unioned.source_line,
        coalesce(unioned.currency, order_currencies.currency) as original_currency,
        unioned.refund_amount as original_refund_amount,
        unioned.return_shipping_cost as original_return_shipping_cost,
        exchange_rates.rate_to_reporting is null
        and coalesce(unioned.refund_amount, unioned.return_shipping_cost) is not null
            as is_missing_exchange_rate,
        {{ built_through_load_id() }} as built_through_load_id,
    from unioned
    left join order_currencies on unioned.supplier_order_id = order_currencies.supplier_order_id
    left join exchange_rates
        on upper(coalesce(unioned.currency, order_currencies.currency)) = exchange_rates.currency

)

select * from converted
