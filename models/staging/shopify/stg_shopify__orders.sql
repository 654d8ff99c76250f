-- One row per Shopify order, in the newest version any export holds. Order-level money
-- (total, refunded amount) comes from the order's first row only: it is never summed over rows.
with

source as (

    select * from {{ source('shopify', 'shopify_orders') }}

),

newest_version as (

    select *
    from source
    qualify row_number() over (
        partition by name order by exported_at desc, load_id desc, source_line desc
    ) = 1

),

renamed as (

    select
        name as store_order,
        customer_key,
        financial_status,
        lower(fulfillment_status) as fulfillment_status,
        subtotal as subtotal_amount,
        shipping as shipping_amount,
        taxes as tax_amount,
        discount_amount,
        total as total_amount,
        coalesce(
            refunded_amount,
            -- an export without the Refunded Amount column (older ones have fewer columns): a
            -- refunded order gave back its total, a partial refund's amount is not in the data
            case financial_status
                when 'refunded' then total
                when 'partially_refunded' then null
                else 0
            end
        ) as refunded_amount,
        currency,
        created_at as ordered_at,
        paid_at,
        fulfilled_at,
        cancelled_at,
        upper(coalesce(shipping_country, billing_country)) as ship_to_country,
        source as sales_channel,
        exported_at,
        load_id,
        source_line,
    from newest_version

)

select * from renamed
