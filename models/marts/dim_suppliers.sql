with

order_lines as (

    select * from {{ ref('int_order_lines_unioned') }}

),

suppliers as (

    select
        supplier_id,
        -- a store can rename itself: the name on its newest order is the one shown
        arg_max(supplier_name, ordered_at) as supplier_name,
        min(ordered_at) as first_ordered_at,
        max(ordered_at) as last_ordered_at,
        count(*) as lines,
        count(distinct supplier_order_id) as orders,
        count(distinct product_id) as products,
    from order_lines
    group by supplier_id

)

select * from suppliers
