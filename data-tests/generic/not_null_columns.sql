{#- Every listed column is filled on every row: one scan of the model for all of them, where
    a `not_null` test per column is one more dbt node and scan each (~15 ms apiece in a weekly
    run, mostly dbt's own). Returns a row per column that holds NULLs, with how many. -#}
{% test not_null_columns(model, columns) %}
select column_name, null_rows
from (
    select
        {%- for column in columns %}
        count(*) filter (where {{ column }} is null) as {{ column }},
        {%- endfor %}
    from {{ model }}
)
unpivot (null_rows for column_name in ({{ columns | join(', ') }}))
where null_rows > 0
{% endtest %}
