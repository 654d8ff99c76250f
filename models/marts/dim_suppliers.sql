with

order_lines as (

    select * from {{ ref('int_order_lines_unioned') }}

),

supplier_orders as (

    select * from {{ ref('int_supplier_orders') }}

),

line_counts as (

    select
        supplier_id,
        -- a store can rename itself: the name on its newest order is the one shown
        arg_max(supplier_name, ordered_at) as supplier_name,
        min(ordered_at) as first_ordered_at,
        max(ordered_at) as last_ordered_at,
        count(*) as lines,
        count(distinct product_id) as products,
    from order_lines
    group by supplier_id

),

order_counts as (

    -- rows of int_supplier_orders, not distinct orders over every line: ~1 s less at 10M lines
    select
        supplier_id,
        count(*) as orders,
    from supplier_orders
    group by supplier_id

),

suppliers as (

    select
        line_counts.supplier_id,
        line_counts.supplier_name,
        line_counts.first_ordered_at,
        line_counts.last_ordered_at,
        line_counts.lines,
        order_counts.orders,
        line_counts.products,
    from line_counts
    left join order_counts on line_counts.supplier_id = order_counts.supplier_id

)

select * from suppliers
