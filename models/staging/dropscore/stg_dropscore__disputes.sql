with

source as (

    select * from {{ source('raw', 'dropscore_disputes') }}

),

newest_version as (

    select *
    from source
    qualify row_number() over (
        partition by dispute_id order by exported_at desc, load_id desc
    ) = 1

),

renamed as (

    select
        dispute_id,
        supplier_order_id,
        line_id,
        product_id,
        opened_at,
        closed_at,
        reason,
        -- the key the reason seed is matched on: case and punctuation do not matter
        trim(regexp_replace(lower(reason), '[^a-z0-9]+', ' ', 'g')) as reason_key,
        status,
        case
            when status = 'withdrawn' then 'withdrawn'
            when status = 'open' then 'open'
            when resolution is not null then resolution
            -- a closed dispute recorded without its resolution: what the money says
            when refund_amount > 0 then 'partial_refund'
            else 'rejected'
        end as resolution,
        refund_amount,
        currency,
        return_method,
        return_shipping_cost,
        exported_at,
        load_id,
        source_line,
    from newest_version

)

select * from renamed
