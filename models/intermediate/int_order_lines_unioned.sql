-- One row per supplier order line from every supplier-side source, in one shape. Amounts are
-- in the reporting currency.
with

dropscore_order_lines as (

    select * from {{ ref('stg_dropscore__order_lines') }}

)

select * from dropscore_order_lines
