-- One row per dropscore order line: its newest export. The SQL is a macro
-- (macros/staging.sql) that the incremental order lines also run on the changed orders alone.
{{ newest_dropscore_order_lines() }}
