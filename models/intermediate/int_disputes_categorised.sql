-- One row per dispute with its reason category and the return shipping it cost the
-- dropshipper. Money is decimal(18, 2) from here on.
--
-- Incremental, as int_disputes_unioned: every dispute of each supplier order the new loads
-- name, so that the order's free-label returns are charged in turn. Those are the disputes
-- int_disputes_unioned rebuilt: found by when they were built, which skips its older row groups,
-- instead of by their orders.
{{
    config(
        materialized='incremental',
        incremental_strategy='replace_supplier_orders',
        on_schema_change='fail',
    )
}}

with

disputes as (

    select * exclude (built_through_load_id) from {{ ref('int_disputes_unioned') }}
    {% if is_incremental() %}
    where {{ rebuilt_since_last_build() }}
    {% endif %}

),

line_products as (

    -- the product of each line a dispute names: a dispute naming the line and one naming only
    -- its product are about the same goods
    select supplier_order_id, line_id, product_id
    from {{ ref('int_order_lines_unioned') }}
    where supplier_order_id in (select supplier_order_id from disputes where line_id is not null)

),

reasons as (

    select
        trim(regexp_replace(lower(reason), '[^a-z0-9]+', ' ', 'g')) as reason_key,
        any_value(category) as category,
    from {{ ref('dispute_reasons') }}
    group by 1

),

categories as (

    select * from {{ ref('dispute_categories') }}

),

categorised as (

    select
        disputes.*,
        coalesce(reasons.category, 'other') as category,
        coalesce(categories.category_group, 'other') as category_group,
        coalesce(disputes.product_id, line_products.product_id, disputes.line_id) as goods,
    from disputes
    left join line_products
        on disputes.supplier_order_id = line_products.supplier_order_id
        and disputes.line_id = line_products.line_id
    left join reasons on disputes.reason_key = reasons.reason_key
    left join categories on coalesce(reasons.category, 'other') = categories.category

),

known_amounts as (

    -- An amount not given is 0; one given in a currency without an exchange rate is not known
    -- (NULL), never 0.
    select
        *,
        case when coalesce(original_refund_amount, 0) = 0 then 0 else refund_amount end
            as refund_amount_or_zero,
        case
            when coalesce(original_return_shipping_cost, 0) = 0 then 0
            else return_shipping_cost
        end as return_shipping_cost_or_zero,
    from categorised

),

return_shipments as (

    -- The first free-label return of the same goods costs nothing; every later free-label
    -- return of the same goods, and every return at the dropshipper's own expense, is paid by
    -- them (SPEC §5). "The same goods" is the product (of the line, when the dispute names
    -- one), else the line, else the whole order. A cost recorded without a method was paid:
    -- the column is what the dropshipper paid to ship the item back.
    select
        *,
        cast(
            case
                when return_method = 'own_expense' or return_method is null
                    then return_shipping_cost_or_zero
                when return_method = 'free_label' and row_number() over (
                    partition by
                        supplier_order_id,
                        goods,
                        return_method
                    order by opened_at, dispute_id
                ) > 1 then return_shipping_cost_or_zero
                else 0
            end
            as decimal(18, 2)
        ) as return_cost,
    from known_amounts

),

final as (

    select
        * exclude (goods, refund_amount_or_zero, return_shipping_cost_or_zero),
        category_group = 'defect' as is_defect,
        category_group = 'delivery_failure' as is_delivery_failure,
        resolution <> 'withdrawn' as is_counted,
        cast(refund_amount_or_zero as decimal(18, 2)) as recovered_amount,
        {{ built_through_load_id() }} as built_through_load_id,
    from return_shipments

)

select * from final
