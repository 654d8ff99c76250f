-- Ages are measured against the newest moment seen in the loaded exports (or the as_of_date
-- var), never the wall clock, so rebuilding the same data gives the same numbers on any day.
-- The row also says whether any dispute has been loaded (without disputes, every dispute-based
-- metric is "not in your data", NULL, never 0) and where the analysis window starts.
with

order_lines as (

    select * from {{ ref('int_order_lines_unioned') }}

),

disputes as (

    select * from {{ ref('int_disputes_unioned') }}

),

newest_order_line as (

    select max(greatest(ordered_at, shipped_at, delivered_at, exported_at)) as newest_seen_at,
    from order_lines

),

newest_dispute as (

    select
        max(greatest(opened_at, closed_at, exported_at)) as newest_seen_at,
        count(*) > 0 as has_dispute_data,
    from disputes

),

as_of as (

    select
        {% if var('as_of_date') %}
        cast('{{ var("as_of_date") }}' as timestamptz) as as_of_at,
        {% else %}
        coalesce(
            greatest(newest_order_line.newest_seen_at, newest_dispute.newest_seen_at),
            cast('1970-01-01' as timestamptz)
        ) as as_of_at,
        {% endif %}
        newest_dispute.has_dispute_data,
    from newest_order_line
    cross join newest_dispute

),

final as (

    select
        *,
        -- the scorecard's window: orders placed after this moment (NULL: every order)
        {% if var('analysis_weeks') %}
        as_of_at - to_days(7 * {{ var('analysis_weeks') }})
        {% else %}
        cast(null as timestamptz)
        {% endif %} as analysis_window_after_at,
    from as_of

)

select * from final
