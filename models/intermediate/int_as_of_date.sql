-- Ages are measured against the newest moment seen in the loaded exports (or the as_of_date
-- var), never the wall clock, so rebuilding the same data gives the same numbers on any day.
with

order_lines as (

    select * from {{ ref('int_order_lines_unioned') }}

),

disputes as (

    select * from {{ ref('int_disputes_unioned') }}

),

newest_seen as (

    select
        greatest(
            (select max(greatest(ordered_at, shipped_at, delivered_at, exported_at)) from order_lines),
            (select max(greatest(opened_at, closed_at, exported_at)) from disputes)
        ) as newest_seen_at

),

final as (

    select
        {% if var('as_of_date') %}
        cast('{{ var("as_of_date") }}' as timestamptz) as as_of_at,
        {% else %}
        coalesce(newest_seen_at, cast('1970-01-01' as timestamptz)) as as_of_at,
        {% endif %}
    from newest_seen

)

select * from final
