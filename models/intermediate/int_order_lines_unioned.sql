-- One row per supplier order line from every supplier-side source, in one shape: the columns of
-- stg_dropscore__order_lines, with money converted to the reporting currency (the
-- `reporting_currency` var, through the exchange_rates seed) and the original amounts and
-- currency kept beside it. A line in a currency without a rate keeps NULL converted amounts
-- and `is_missing_exchange_rate`, never a 1:1 conversion.
--
-- Incremental (see macros/incremental.sql): a run rebuilds the lines of the supplier orders its
-- new loads name, every version of them, and leaves the rest.
{{
    config(
        materialized='incremental',
        unique_key='order_line_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}

with

{% if is_incremental() %}
changed_supplier_orders as (

    {{ supplier_orders_loaded_since_built() }}

),
{% endif %}

dropscore_order_lines as (

    {% if is_incremental() %}
    -- stg_dropscore__order_lines of the changed orders, filtered before its versions are
    -- counted (see the macro)
    {{ newest_dropscore_order_lines('select supplier_order_id from changed_supplier_orders') }}
    {% else %}
    select * from {{ ref('stg_dropscore__order_lines') }}
    {% endif %}

),

aliexpress_order_lines as (

    select * from {{ ref('stg_aliexpress__order_lines') }}
    {% if is_incremental() %}
    where supplier_order_id in (select supplier_order_id from changed_supplier_orders)
    {% endif %}

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
    -- the few AliExpress rows are ranked again, so that two rows of one line here never
    -- reach the pairing below
    qualify row_number() over (
        partition by order_line_id
        order by exported_at desc, load_id desc, source_line desc
    ) = 1

),

newest_version as (

    -- A line exported by two tools (an exporter file and the API) is one line: the newest
    -- export wins, as within a source (for the same time, the one loaded last). Each source's
    -- staging already keeps one row per line, so the line seen twice is one in both sources:
    -- pairing them by line takes one pass over the dropscore lines (the AliExpress side is
    -- small) instead of ranking every row again.
    select
        from_dropscore.order_line_id is null
        or (
            from_aliexpress.order_line_id is not null
            and (
                from_aliexpress.exported_at > from_dropscore.exported_at
                or (from_aliexpress.exported_at is not null and from_dropscore.exported_at is null)
                or (
                    from_aliexpress.exported_at is not distinct from from_dropscore.exported_at
                    and from_aliexpress.load_id > from_dropscore.load_id
                )
            )
        ) as is_aliexpress_newer,
        case
            when is_aliexpress_newer then from_aliexpress.order_line_id
            else from_dropscore.order_line_id
        end as order_line_id,
        case
            when is_aliexpress_newer then from_aliexpress.supplier_order_id
            else from_dropscore.supplier_order_id
        end as supplier_order_id,
        case
            when is_aliexpress_newer then from_aliexpress.line_id
            else from_dropscore.line_id
        end as line_id,
        case
            when is_aliexpress_newer then from_aliexpress.supplier_id
            else from_dropscore.supplier_id
        end as supplier_id,
        case
            when is_aliexpress_newer then from_aliexpress.supplier_name
            else from_dropscore.supplier_name
        end as supplier_name,
        case
            when is_aliexpress_newer then from_aliexpress.product_id
            else from_dropscore.product_id
        end as product_id,
        case
            when is_aliexpress_newer then from_aliexpress.sku_id
            else from_dropscore.sku_id
        end as sku_id,
        case
            when is_aliexpress_newer then from_aliexpress.product_title
            else from_dropscore.product_title
        end as product_title,
        case
            when is_aliexpress_newer then from_aliexpress.store_order
            else from_dropscore.store_order
        end as store_order,
        case
            when is_aliexpress_newer then from_aliexpress.quantity
            else from_dropscore.quantity
        end as quantity,
        case
            when is_aliexpress_newer then from_aliexpress.unit_price
            else from_dropscore.unit_price
        end as unit_price,
        case
            when is_aliexpress_newer then from_aliexpress.shipping_fee
            else from_dropscore.shipping_fee
        end as shipping_fee,
        case
            when is_aliexpress_newer then from_aliexpress.line_amount
            else from_dropscore.line_amount
        end as line_amount,
        case
            when is_aliexpress_newer then from_aliexpress.currency
            else from_dropscore.currency
        end as currency,
        case
            when is_aliexpress_newer then from_aliexpress.status
            else from_dropscore.status
        end as status,
        case
            when is_aliexpress_newer then from_aliexpress.cancelled_by
            else from_dropscore.cancelled_by
        end as cancelled_by,
        case
            when is_aliexpress_newer then from_aliexpress.ordered_at
            else from_dropscore.ordered_at
        end as ordered_at,
        case
            when is_aliexpress_newer then from_aliexpress.shipped_at
            else from_dropscore.shipped_at
        end as shipped_at,
        case
            when is_aliexpress_newer then from_aliexpress.delivered_at
            else from_dropscore.delivered_at
        end as delivered_at,
        case
            when is_aliexpress_newer then from_aliexpress.promised_ship_days
            else from_dropscore.promised_ship_days
        end as promised_ship_days,
        case
            when is_aliexpress_newer then from_aliexpress.promised_delivery_days
            else from_dropscore.promised_delivery_days
        end as promised_delivery_days,
        case
            when is_aliexpress_newer then from_aliexpress.tracking_number
            else from_dropscore.tracking_number
        end as tracking_number,
        case
            when is_aliexpress_newer then from_aliexpress.carrier
            else from_dropscore.carrier
        end as carrier,
        case
            when is_aliexpress_newer then from_aliexpress.ship_to_country
            else from_dropscore.ship_to_country
        end as ship_to_country,
        case
            when is_aliexpress_newer then from_aliexpress.exported_at
            else from_dropscore.exported_at
        end as exported_at,
        case
            when is_aliexpress_newer then from_aliexpress.load_id
            else from_dropscore.load_id
        end as load_id,
        case
            when is_aliexpress_newer then from_aliexpress.source_line
            else from_dropscore.source_line
        end as source_line,
    from from_dropscore
    full join from_aliexpress on from_dropscore.order_line_id = from_aliexpress.order_line_id

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
        {{ store_order_key('coalesce(newest_version.store_order, linked_store_orders.store_order)') }}
            as store_order_key,
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
        {{ built_through_load_id() }} as built_through_load_id,
    from newest_version
    left join exchange_rates on upper(newest_version.currency) = exchange_rates.currency
    left join linked_store_orders
        on newest_version.supplier_order_id = linked_store_orders.supplier_order_id

)

select * from converted
