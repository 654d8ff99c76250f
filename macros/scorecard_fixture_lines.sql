{#
    Mature shipped order lines for fct_supplier_scorecard's unit tests, only the columns it
    reads: per (supplier_id, defect_lines, lines) value, `lines` lines of which the first
    `defect_lines` have a defect dispute. Generated in SQL because hundreds of YAML rows are slow
    to mock.
#}
{% macro mature_shipped_lines_with_defects(suppliers) %}
with

suppliers (supplier_id, defect_lines, lines) as (

    values {{ suppliers }}

)

select
    suppliers.supplier_id,
    true as is_in_analysis_window,
    true as is_mature,
    true as is_shipped,
    line < suppliers.defect_lines as has_dispute,
    line < suppliers.defect_lines as has_defect_dispute,
    false as has_delivery_failure_dispute,
    false as has_refund,
    false as is_seller_cancelled,
    false as is_cancelled,
    cast(null as boolean) as is_late_shipment,
    cast(null as boolean) as is_late_delivery,
    cast(null as double) as handling_days,
    cast(null as double) as delivery_days,
    cast(null as double) as order_to_delivery_days,
    10.00::decimal(18, 2) as line_amount,
    0.00::decimal(18, 2) as recovered_amount,
    0.00::decimal(18, 2) as customer_refund_amount,
    0.00::decimal(18, 2) as return_cost,
    0.00::decimal(18, 2) as resend_cost,
    0.00::decimal(18, 2) as loss_amount,
    'USD' as currency,
from suppliers
cross join range((select max(lines) from suppliers)) as lines(line)
where line < suppliers.lines
{% endmacro %}
