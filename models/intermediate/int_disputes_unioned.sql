-- One row per dispute from every source, in one shape. Amounts are in the reporting currency.
with

dropscore_disputes as (

    select * from {{ ref('stg_dropscore__disputes') }}

)

select * from dropscore_disputes
