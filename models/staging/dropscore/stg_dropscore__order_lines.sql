with

source as (

    select * from {{ source('raw', 'dropscore_order_lines') }}

),

newest_version as (

    -- Weekly exports overlap: the newest export of a line wins; for two exports of the same
    -- time, the one loaded last (a corrected file).
    select *
    from source
    qualify row_number() over (
        partition by supplier_order_id, line_id
        order by exported_at desc, load_id desc
    ) = 1

),

renamed as (

    select
        supplier_order_id || ':' || line_id as order_line_id,
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
        quantity * unit_price + coalesce(shipping_fee, 0) as line_amount,
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
        upper(ship_to_country) as ship_to_country,
        exported_at,
        load_id,
        source_line,
    from newest_version

)

select * from renamed
