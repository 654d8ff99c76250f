-- One row per AliExpress order line, in the newest version any export holds, whichever tool
-- exported it: the line id is `<product_id>-<sku_id>` in every AliExpress source.
with

source as (

    select * from {{ source('aliexpress', 'aliexpress_order_lines') }}

),

newest_version as (

    select *
    from source
    qualify row_number() over (
        partition by supplier_order_id, line_id
        order by exported_at desc, load_id desc, source_line desc
    ) = 1

),

renamed as (

    select
        supplier_order_id || ':' || line_id as order_line_id,
        supplier_order_id,
        line_id,
        supplier_id,
        -- the API may leave the store name out; the id then names the store
        coalesce(supplier_name, 'store ' || supplier_id) as supplier_name,
        product_id,
        sku_id,
        product_title,
        store_order,
        quantity,
        unit_price,
        shipping_fee,
        -- what was paid for the line (the API's actual_fee, after discounts, with shipping),
        -- else quantity × unit price + shipping
        coalesce(paid_amount, quantity * unit_price + coalesce(shipping_fee, 0)) as line_amount,
        currency,
        status,
        status_text,
        cancelled_by,
        end_reason,
        -- SPEC §3: AliExpress ends an order this way when the seller accepted the buyer's
        -- dispute without a return, or let it time out: a dispute that ended in a refund
        coalesce(
            end_reason in ('seller_accept_issue_no_goods_return', 'seller_response_issue_timeout'),
            false
        ) as has_refunded_dispute,
        ordered_at,
        tracking_number,
        carrier,
        exported_at,
        load_id,
        source_line,
    from newest_version

)

select * from renamed
