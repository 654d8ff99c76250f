-- One row per supplier order and supplier (an order is placed with one store; lines that name
-- two make a row each), so that dim_suppliers counts a supplier's orders over the whole
-- history by counting rows here instead of distinct orders over every line.
--
-- Incremental: int_order_lines_unioned rebuilds every line of the supplier orders a run
-- touches, so this rebuilds those orders from their rebuilt lines and replaces all their rows.
{{
    config(
        materialized='incremental',
        unique_key='supplier_order_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}

with

order_lines as (

    select * from {{ ref('int_order_lines_unioned') }}
    {% if is_incremental() %}
    where {{ rebuilt_since_last_build() }}
    {% endif %}

),

supplier_orders as (

    select
        supplier_id || ':' || supplier_order_id as supplier_order_key,
        supplier_order_id,
        supplier_id,
        {{ built_through_load_id() }} as built_through_load_id,
    from order_lines
    group by supplier_id, supplier_order_id

)

select * from supplier_orders
