-- One row per supplier order line from every supplier-side source, in one shape: the columns of
-- stg_dropscore__order_lines, with money converted to the reporting currency (the
-- `reporting_currency` var, through the exchange_rates seed) and the original amounts and
-- currency kept beside it. A line in a currency without a rate keeps NULL converted amounts
-- and `is_missing_exchange_rate`, never a 1:1 conversion.
with

dropscore_order_lines as (

    select * from {{ ref('stg_dropscore__order_lines') }}

),

aliexpress_order_lines as (

    select * from {{ ref('stg_aliexpress__order_lines') }}

),

order_links as (

    select * from {{ ref('stg_order_links__links') }}

),

exchange_rates as (

    select * from {{ ref('int_exchange_rates_rebased') }}

),

from_dropscore as (

    select
        order_line_id,
        supplier_order_id,
        line_id,
        supplier_id,
        supplier_name,
        product_id,
        sku_id,
        product_title,
        store_order,
        quantity,
        unit_price,
        shipping_fee,
        line_amount,
        currency,
        status,
        cancelled_by,
        ordered_at,
        shipped_at,
        delivered_at,
        promised_ship_days,
        promised_delivery_days,
        tracking_number,
        carrier,
        ship_to_country,
        exported_at,
        load_id,
        source_line,
    from dropscore_order_lines

),

from_aliexpress as (

    -- AliExpress exports carry no ship or delivery dates, promises or destination.
    select
        order_line_id,
        supplier_order_id,
        line_id,
        supplier_id,
        supplier_name,
        product_id,
        sku_id,
        product_title,
        store_order,
        quantity,
        unit_price,
        shipping_fee,
        line_amount,
        currency,
        status,
        cancelled_by,
        ordered_at,
        cast(null as timestamptz) as shipped_at,
        cast(null as timestamptz) as delivered_at,
        cast(null as integer) as promised_ship_days,
        cast(null as integer) as promised_delivery_days,
        tracking_number,
        carrier,
        cast(null as varchar) as ship_to_country,
        exported_at,
        load_id,
        source_line,
    from aliexpress_order_lines

),

unioned as (

    select * from from_dropscore
    union all by name
    select * from from_aliexpress

),

newest_version as (

    -- A line exported by two tools (an exporter file and the API) is one line: the newest
    -- export wins, as within a source.
    select *
    from unioned
    qualify row_number() over (
        partition by order_line_id order by exported_at desc, load_id desc
    ) = 1

),

linked_store_orders as (

    -- An order-links file names the store order a supplier order fulfils when the supplier
    -- export does not (one store order, the first by name, when several share it).
    select
        supplier_order_id,
        min(store_order) as store_order,
    from order_links
    group by supplier_order_id

),

converted as (

    select
        newest_version.order_line_id,
        newest_version.supplier_order_id,
        newest_version.line_id,
        newest_version.supplier_id,
        newest_version.supplier_name,
        newest_version.product_id,
        newest_version.sku_id,
        newest_version.product_title,
        coalesce(newest_version.store_order, linked_store_orders.store_order) as store_order,
        newest_version.quantity,
        cast(newest_version.unit_price * exchange_rates.rate_to_reporting as decimal(18, 2))
            as unit_price,
        cast(newest_version.shipping_fee * exchange_rates.rate_to_reporting as decimal(18, 2))
            as shipping_fee,
        cast(newest_version.line_amount * exchange_rates.rate_to_reporting as decimal(18, 2))
            as line_amount,
        upper('{{ var("reporting_currency") }}') as currency,
        newest_version.status,
        newest_version.cancelled_by,
        newest_version.ordered_at,
        newest_version.shipped_at,
        newest_version.delivered_at,
        newest_version.promised_ship_days,
        newest_version.promised_delivery_days,
        newest_version.tracking_number,
        newest_version.carrier,
        newest_version.ship_to_country,
        newest_version.exported_at,
        newest_version.load_id,
        newest_version.source_line,
        newest_version.currency as original_currency,
        newest_version.unit_price as original_unit_price,
        newest_version.shipping_fee as original_shipping_fee,
        newest_version.line_amount as original_line_amount,
        exchange_rates.rate_to_reporting is null as is_missing_exchange_rate,
    from newest_version
    left join exchange_rates on upper(newest_version.currency) = exchange_rates.currency
    left join linked_store_orders
        on newest_version.supplier_order_id = linked_store_orders.supplier_order_id

)

select * from converted
