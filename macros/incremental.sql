{#
    The per-line and per-dispute tables are incremental: a weekly run rebuilds only what its
    new loads can change, so its work grows with the new exports, not with the history.

    A build works on the loads after the last successful build (`meta.build_attempt`, which
    the pipeline writes before dbt runs): they name the supplier orders (lines, disputes,
    order links) and store orders (Shopify orders and transactions, order links) to rebuild.
    A build that fails leaves no success behind, so the next one redoes its loads too. Each
    row also carries `built_through_load_id`, the newest load when it was built, which is how
    the tests, and the tables built from one of these, find the rows rebuilt since the last
    success. Anything that changes every row (the models' code, a seed, a var) makes the
    pipeline build with --full-refresh instead.
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
    orders the new loads name and of the orders rebuilt, then inserts the new rows. The models
    rebuild the disputes of the same orders: int_disputes_unioned selects them by order,
    int_disputes_categorised and int_disputes_matched_to_lines as the rows their parent rebuilt,
    int_disputes_costed by the orders of the disputes int_disputes_categorised rebuilt and of
    the lines int_order_lines_costed rebuilt.
#}
{% macro get_incremental_replace_supplier_orders_sql(arg_dict) %}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ arg_dict['target_relation'] }}
    where supplier_order_id in (
        {{ supplier_orders_loaded_since_built(with_disputes=true) }}
        union
        select supplier_order_id from {{ arg_dict['temp_relation'] }}
    );
    {{ append_in_whole_row_groups(
        arg_dict['target_relation'], arg_dict['temp_relation'], columns, 'supplier_order_id'
    ) }}
{% endmacro %}


{# dbt-duckdb's delete+insert, for a key of one column, appending as below. #}
{% macro duckdb__get_delete_insert_merge_sql(target, source, unique_key, dest_columns, incremental_predicates) %}
    {%- if unique_key is not string or incremental_predicates -%}
        {{ exceptions.raise_compiler_error(
            "delete+insert here takes a unique_key of one column and no incremental_predicates"
            " (macros/incremental.sql)"
        ) }}
    {%- endif -%}
    delete from {{ target }}
    where {{ unique_key }} in (select {{ unique_key }} from {{ source }});
    {{ append_in_whole_row_groups(
        target, source, get_quoted_csv(dest_columns | map(attribute='name')), unique_key
    ) }}
{% endmacro %}


{#
    The rebuilt rows, appended in order when there are up to a million of them (a weekly
    increment). An ordered insert appends them as one stream, in whole row groups; unordered,
    each thread leaves a partial one behind (as in dbt's temp table), and DuckDB's next
    checkpoint merges those with their neighbours, compressing every row again: at ten million
    order lines 1.3-1.8 s per order-line table, against 0.02 s, for ~0.3 s of sort. An increment
    that rebuilds millions of rows (the first dispute data, a whole history exported again) goes
    unsorted, as ingest does with a file longer than its ORDERED_APPEND_LINES (ingest/loader.py,
    the same bound and the same reason; in order, 10M lines took 15 s longer there).
#}
{% macro append_in_whole_row_groups(target, source, columns, key) %}
    {%- set rows = run_query('select count(*) from ' ~ source).columns[0].values()[0] if execute else 0 -%}
    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ source }}
    {% if rows <= 1000000 %}order by {{ key }}{% endif %}
{% endmacro %}
