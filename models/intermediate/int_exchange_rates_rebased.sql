-- One row per currency with a known rate: what one unit is worth in the reporting currency (the
-- `reporting_currency` var). The reporting currency itself is always 1, even when the seed
-- lacks it; without a seed rate for it, no other currency can be converted (no rows).
--
-- A view of a few rows: it reads only a seed, so a weekly build need not make it again.
{{ config(materialized='view') }}

with

exchange_rates as (

    select * from {{ ref('exchange_rates') }}

),

reporting_currency as (

    select rate_to_usd as reporting_rate_to_usd,
    from exchange_rates
    where upper(currency) = upper('{{ var("reporting_currency") }}')

),

rebased as (

    select
        upper(exchange_rates.currency) as currency,
        exchange_rates.rate_to_usd / reporting_currency.reporting_rate_to_usd as rate_to_reporting,
    from exchange_rates
    cross join reporting_currency
    where upper(exchange_rates.currency) <> upper('{{ var("reporting_currency") }}')

    union all

    select
        upper('{{ var("reporting_currency") }}') as currency,
        1.0 as rate_to_reporting,

),

final as (

    select
        currency,
        upper('{{ var("reporting_currency") }}') as reporting_currency,
        rate_to_reporting,
    from rebased

)

select * from final
