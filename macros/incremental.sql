{#
    The per-line and per-dispute tables are incremental: a weekly run rebuilds only what its
    new loads can change, so its work grows with the new exports, not with the history.

    A build works on the loads after the last successful build (`meta.build_attempt`, which
    the pipeline writes before dbt runs): they name the supplier orders (lines, disputes,
    order links) and store orders (Shopify orders and transactions, order links) to rebuild.
    A build that fails leaves no success behind, so the next one redoes its loads too. Each
    row also carries `built_through_load_id`, the newest load when it was built, which is how
    the tests find the rows rebuilt since the last success. Anything that changes every row
    (the models' code, a seed, a var) makes the pipeline build with --full-refresh instead.
#}

{% macro built_through_load_id() %}
    (select coalesce(max(load_id), 0) from {{ source('raw', 'loads') }})
{% endmacro %}


{% macro loaded_since_last_build() %}
    -- the loads after the last successful build
    load_id > (select last_built_through_load_id from meta.build_attempt)
{% endmacro %}


{% macro rebuilt_since_last_build() %}
    -- the rows an incremental table rebuilt in this build (or in a failed one since the last
    -- success, which this build redoes)
    built_through_load_id > (select last_built_through_load_id from meta.build_attempt)
{% endmacro %}


{% macro supplier_orders_loaded_since_built(with_disputes=false) %}
    select supplier_order_id
    from {{ source('raw', 'dropscore_order_lines') }}
    where {{ loaded_since_last_build() }}
    union
    select supplier_order_id
    from {{ source('aliexpress', 'aliexpress_order_lines') }}
    where {{ loaded_since_last_build() }}
    union
    select supplier_order_id
    from {{ source('order_links', 'order_links') }}
    where {{ loaded_since_last_build() }}
    {% if with_disputes %}
    union
    -- every order a changed dispute has named: a corrected export may move it to another
    select supplier_order_id
    from {{ source('raw', 'dropscore_disputes') }}
    where dispute_id in (
        select dispute_id
        from {{ source('raw', 'dropscore_disputes') }}
        where {{ loaded_since_last_build() }}
    )
    {% endif %}
{% endmacro %}


{% macro store_orders_loaded_since_built() %}
    select {{ store_order_key('name') }} as store_order_key
    from {{ source('shopify', 'shopify_orders') }}
    where {{ loaded_since_last_build() }}
    union
    select {{ store_order_key('name') }}
    from {{ source('shopify', 'shopify_transactions') }}
    where {{ loaded_since_last_build() }}
    union
    select {{ store_order_key('store_order') }}
    from {{ source('order_links', 'order_links') }}
    where {{ loaded_since_last_build() }}
{% endmacro %}


{% macro store_order_key(column) -%}
    ltrim(trim({{ column }}), '#')
{%- endmacro %}


{#
    The dispute tables are rebuilt by supplier order: a dispute is matched to its order's
    lines, and an order's free-label returns are charged in turn. `delete+insert` deletes only
    the keys the new rows carry: on the order, it would keep the rows of an order left with
    none (its dispute moved to another order by a corrected export); on the dispute, an
    end_reason dispute that a recorded one replaces. This strategy deletes every row of the
    orders the new loads name and of the orders rebuilt, then inserts the new rows; the models
    select their disputes by the same orders (int_disputes_costed also by the orders of the
    lines it rebuilt).
#}
{% macro get_incremental_replace_supplier_orders_sql(arg_dict) %}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ arg_dict['target_relation'] }}
    where supplier_order_id in (
        {{ supplier_orders_loaded_since_built(with_disputes=true) }}
        union
        select supplier_order_id from {{ arg_dict['temp_relation'] }}
    );
    insert into {{ arg_dict['target_relation'] }} ({{ columns }})
    select {{ columns }} from {{ arg_dict['temp_relation'] }}
{% endmacro %}
