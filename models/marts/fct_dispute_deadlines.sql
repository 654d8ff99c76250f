-- One row per thing the dropshipper must act on before a deadline, as of the as-of date:
-- an order line not delivered past its promised date whose buyer protection ends within
-- `deadline_warning_days` (open a dispute now, or lose the claim), and an open dispute whose
-- escalation deadline is within that many days or already past (escalate with evidence).
with

order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

disputes as (

    select * from {{ ref('fct_disputes') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

undelivered_lines as (

    select
        'line:' || order_lines.order_line_id as deadline_id,
        'open_dispute' as deadline_kind,
        order_lines.supplier_id,
        order_lines.supplier_order_id,
        order_lines.order_line_id,
        cast(null as varchar) as dispute_id,
        order_lines.product_id,
        order_lines.ordered_at,
        order_lines.promised_delivery_by_at,
        order_lines.ordered_at + to_days({{ var('buyer_protection_days') }}) as deadline_at,
        order_lines.line_amount as amount_at_stake,
        order_lines.currency,
        as_of.as_of_at,
    from order_lines
    cross join as_of
    where
        not order_lines.is_delivered
        and not order_lines.is_cancelled
        and order_lines.promised_delivery_by_at < as_of.as_of_at
        -- no dispute on it, or no dispute data loaded at all (then it may still need one)
        and order_lines.has_dispute is not true
        -- Its protection ends after the as-of moment and within the warning days of it: the
        -- order time bounded by moments worked out once (the build's session is in UTC, where
        -- days add and subtract alike), so that DuckDB reads only the row groups of the orders
        -- in those days instead of every line (0.2 s a week at ten million lines, 0.5 s
        -- sixteen weeks on).
        and order_lines.ordered_at
        > as_of.as_of_at - to_days({{ var('buyer_protection_days') }})
        and order_lines.ordered_at <= as_of.as_of_at
        + to_days({{ var('deadline_warning_days') }})
        - to_days({{ var('buyer_protection_days') }})

),

open_disputes as (

    select
        'dispute:' || disputes.dispute_id as deadline_id,
        'escalate_dispute' as deadline_kind,
        disputes.supplier_id,
        disputes.supplier_order_id,
        cast(null as varchar) as order_line_id,
        disputes.dispute_id,
        disputes.product_id,
        disputes.ordered_at,
        cast(null as timestamptz) as promised_delivery_by_at,
        disputes.escalate_by_at as deadline_at,
        disputes.covered_line_amount as amount_at_stake,
        disputes.currency,
        as_of.as_of_at,
    from disputes
    cross join as_of
    where
        disputes.is_open
        and disputes.escalate_by_at
        <= as_of.as_of_at + to_days({{ var('deadline_warning_days') }})

),

unioned as (

    select * from undelivered_lines
    union all by name
    select * from open_disputes

),

final as (

    select
        * exclude (as_of_at),
        {{ days_between('as_of_at', 'deadline_at') }} as days_left,
        deadline_at <= as_of_at as is_overdue,
        case deadline_kind
            when 'open_dispute' then
                'Not delivered past its promised date: open a "not received" dispute before '
                || strftime(deadline_at, '%Y-%m-%d') || ', when buyer protection ends'
            else
                'Dispute still open: escalate it to AliExpress with your evidence by '
                || strftime(deadline_at, '%Y-%m-%d')
        end as action,
    from unioned

)

select * from final
