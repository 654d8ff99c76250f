-- One row per Shopify order line item, from the export that holds the newest version of its
-- order: an order edited between two exports keeps only its newer lines.
with

source as (

    select * from {{ source('shopify', 'shopify_order_lines') }}

),

newest_version as (

    select *
    from source
    qualify dense_rank() over (
        partition by name order by exported_at desc, load_id desc
    ) = 1

),

renamed as (

    select
        name || ':' || line_number as store_order_line_id,
        name as store_order,
        line_number,
        lineitem_name as product_title,
        lineitem_sku as sku,
        lineitem_quantity as quantity,
        lineitem_price as unit_price,
        lineitem_quantity * lineitem_price as line_amount,
        lower(lineitem_requires_shipping) = 'true' as requires_shipping,
        lower(lineitem_fulfillment_status) as fulfillment_status,
        vendor,
        exported_at,
        load_id,
        source_line,
    from newest_version

)

select * from renamed
