-- One row per Shopify payment transaction. The export has no transaction id: a transaction is
-- its order, kind, status, time (to the second) and amount, so overlapping exports of the same
-- transaction count it once.
with

source as (

    select * from {{ source('shopify', 'shopify_transactions') }}

),

newest_version as (

    select *
    from source
    qualify row_number() over (
        partition by name, kind, status, created_at, amount
        order by exported_at desc, load_id desc, source_line desc
    ) = 1

),

renamed as (

    select
        md5(concat_ws('|', name, kind, status, created_at, amount)) as transaction_id,
        name as store_order,
        kind,
        status,
        gateway,
        amount,
        currency,
        created_at,
        exported_at,
        load_id,
        source_line,
    from newest_version

)

select * from renamed
