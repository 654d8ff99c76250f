{#
    The newest export of each dropscore order line: the body of stg_dropscore__order_lines.

    `supplier_orders` (a query of supplier_order_id) keeps only those orders' lines, filtered
    before the versions are counted: an incremental build filtering the staging view instead
    counts every version of every line (DuckDB does not push the filter through the count),
    1.9 s against 0.8 s for a weekly increment at 10M lines. A line's versions share its
    supplier order, so both give the same rows for the orders kept.
#}
{% macro newest_dropscore_order_lines(supplier_orders=none) %}
with

source as not materialized (

    select * from {{ source('raw', 'dropscore_order_lines') }}
    {% if supplier_orders %}
    where supplier_order_id in ({{ supplier_orders }})
    {% endif %}

),

repeated_keys as (

    -- Lines exported more than once: only their versions need ranking.
    select
        supplier_order_id,
        line_id,
    from source
    group by supplier_order_id, line_id
    having count(*) > 1

),

single_versions as (

    select source.*
    from source
    anti join repeated_keys
        on source.supplier_order_id is not distinct from repeated_keys.supplier_order_id
        and source.line_id is not distinct from repeated_keys.line_id

),

newest_of_repeated as (

    -- Weekly exports overlap: the newest export of a line wins; for two exports of the same
    -- time, the one loaded last (a corrected file); within one file, the later line, so that
    -- every build picks the same one.
    select source.*
    from source
    semi join repeated_keys
        on source.supplier_order_id is not distinct from repeated_keys.supplier_order_id
        and source.line_id is not distinct from repeated_keys.line_id
    qualify row_number() over (
        partition by source.supplier_order_id, source.line_id
        order by source.exported_at desc, source.load_id desc, source.source_line desc
    ) = 1

),

one_version_per_line as (

    select * from single_versions
    union all
    select * from newest_of_repeated

),

renamed as (

    select
        supplier_order_id || ':' || line_id as order_line_id,
        supplier_order_id,
        line_id,
        supplier_id,
        supplier_name,
        product_id,
        sku_id,
        product_title,
        store_order,
        quantity,
        unit_price,
        shipping_fee,
        quantity * unit_price + coalesce(shipping_fee, 0) as line_amount,
        currency,
        status,
        cancelled_by,
        ordered_at,
        -- A date alone is midnight: shipped or delivered on the day of the event before it,
        -- written without a time (all that ingest lets through earlier), it happened then.
        case when shipped_at < ordered_at then ordered_at else shipped_at end as shipped_at,
        case
            when delivered_at < greatest(shipped_at, ordered_at)  -- greatest skips a NULL
                then greatest(shipped_at, ordered_at)
            else delivered_at
        end as delivered_at,
        promised_ship_days,
        promised_delivery_days,
        tracking_number,
        carrier,
        upper(ship_to_country) as ship_to_country,
        exported_at,
        load_id,
        source_line,
    from one_version_per_line

)

select * from renamed
{% endmacro %}


{#
    The newest export of each dropscore dispute: the body of stg_dropscore__disputes.

    `supplier_orders` (a query of supplier_order_id) keeps only the disputes whose newest export
    names one of those orders. A corrected export may move a dispute to another order, so every
    version of a dispute that names one of them is ranked, before the newest is kept: an
    incremental build filtering the staging view instead ranks every version of every dispute
    (DuckDB does not push the filter through the ranking), 0.6 s against 0.3 s for a weekly
    increment at 10M lines.
#}
{% macro newest_dropscore_disputes(supplier_orders=none) %}
with

source as (

    select * from {{ source('raw', 'dropscore_disputes') }}
    {% if supplier_orders %}
    where dispute_id in (
        select dispute_id
        from {{ source('raw', 'dropscore_disputes') }}
        where supplier_order_id in ({{ supplier_orders }})
    )
    {% endif %}

),

newest_version as (

    select *
    from source
    qualify row_number() over (
        partition by dispute_id order by exported_at desc, load_id desc, source_line desc
    ) = 1

),

renamed as (

    select
        dispute_id,
        supplier_order_id,
        line_id,
        product_id,
        opened_at,
        -- closed on the day it was opened, written without a time (all that ingest lets through)
        case when closed_at < opened_at then opened_at else closed_at end as closed_at,
        reason,
        -- the key the reason seed is matched on: case and punctuation do not matter
        trim(regexp_replace(lower(reason), '[^a-z0-9]+', ' ', 'g')) as reason_key,
        status,
        case
            when status = 'withdrawn' then 'withdrawn'
            when status = 'open' then 'open'
            when resolution is not null then resolution
            -- a closed dispute recorded without its resolution: what the money says
            when refund_amount > 0 then 'partial_refund'
            else 'rejected'
        end as resolution,
        refund_amount,
        currency,
        return_method,
        return_shipping_cost,
        exported_at,
        load_id,
        source_line,
    from newest_version
    {% if supplier_orders %}
    where supplier_order_id in ({{ supplier_orders }})
    {% endif %}

)

select * from renamed
{% endmacro %}
