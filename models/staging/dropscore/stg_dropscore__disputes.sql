-- One row per dropscore dispute: its newest export. The SQL is a macro (macros/staging.sql)
-- that the incremental disputes also run on the changed orders alone.
{{ newest_dropscore_disputes() }}
