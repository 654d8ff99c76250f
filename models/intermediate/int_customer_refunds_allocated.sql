-- One row per supplier order line with money refunded to the store's customer for it.
-- Empty until the store's own orders and refunds are loaded.
select
    cast(null as varchar) as order_line_id,
    cast(null as decimal(18, 2)) as customer_refund_amount,
    cast(null as timestamptz) as customer_refunded_at,
where false
