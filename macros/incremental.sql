{#
    The order-line tables are incremental: a weekly run rebuilds only the lines its new loads
    can change, so its work grows with the new exports, not with the history.

    Each row they write carries `built_through_load_id`, the newest load id when it was built;
    the largest on a table is how far that table has caught up. Every load after it names the
    supplier orders (lines, disputes, order links) and store orders (Shopify orders and
    transactions, order links) to rebuild. A table that failed to update keeps its older
    mark and catches up at the next run. Anything that changes every line (the models'
    code, a seed, a var) makes the pipeline build with --full-refresh instead.
#}

{% macro built_through_load_id() %}
    (select coalesce(max(load_id), 0) from {{ source('raw', 'loads') }})
{% endmacro %}


{% macro loads_after_watermark() %}
    -- loads this table has not seen yet; -1 on a table that has no rows
    load_id > (select coalesce(max(built_through_load_id), -1) from {{ this }})
{% endmacro %}


{% macro supplier_orders_loaded_since_built(with_disputes=false) %}
    select supplier_order_id
    from {{ source('raw', 'dropscore_order_lines') }}
    where {{ loads_after_watermark() }}
    union
    select supplier_order_id
    from {{ source('aliexpress', 'aliexpress_order_lines') }}
    where {{ loads_after_watermark() }}
    union
    select supplier_order_id
    from {{ source('order_links', 'order_links') }}
    where {{ loads_after_watermark() }}
    {% if with_disputes %}
    union
    -- every order a changed dispute has named: a corrected export may move it to another
    select supplier_order_id
    from {{ source('raw', 'dropscore_disputes') }}
    where dispute_id in (
        select dispute_id
        from {{ source('raw', 'dropscore_disputes') }}
        where {{ loads_after_watermark() }}
    )
    {% endif %}
{% endmacro %}


{% macro store_orders_loaded_since_built() %}
    select {{ store_order_key('name') }} as store_order_key
    from {{ source('shopify', 'shopify_orders') }}
    where {{ loads_after_watermark() }}
    union
    select {{ store_order_key('name') }}
    from {{ source('shopify', 'shopify_transactions') }}
    where {{ loads_after_watermark() }}
    union
    select {{ store_order_key('store_order') }}
    from {{ source('order_links', 'order_links') }}
    where {{ loads_after_watermark() }}
{% endmacro %}


{% macro store_order_key(column) -%}
    ltrim(trim({{ column }}), '#')
{%- endmacro %}
