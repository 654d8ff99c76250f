-- One row per (Shopify order, AliExpress order) pair: a store order may be fulfilled by several
-- supplier orders, and a pair listed in several files is one link.
with

source as (

    select * from {{ source('order_links', 'order_links') }}

),

normalised as (

    -- Apps write a Shopify order name with or without its `#` (1001 or #1001): Shopify's is
    -- #1001. Two files naming the same pair both ways are one link.
    select
        * replace (
            case
                when regexp_full_match(trim(store_order), '[0-9]+') then '#' || trim(store_order)
                else trim(store_order)
            end as store_order
        ),
    from source

),

newest_version as (

    select *
    from normalised
    qualify row_number() over (
        partition by store_order, supplier_order_id
        order by exported_at desc, load_id desc, source_line desc
    ) = 1

),

renamed as (

    select
        store_order || ' -> ' || supplier_order_id as order_link_id,
        store_order,
        supplier_order_id,
        exported_at,
        load_id,
        source_line,
    from newest_version

)

select * from renamed
