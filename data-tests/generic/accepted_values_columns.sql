{#- Every listed column holds only its accepted values (NULL is accepted, as in dbt's
    `accepted_values`): one dbt node for all of a model's columns, where `accepted_values` per
    column is one node each, and in a weekly run a node costs more than its SQL. `columns`
    maps each column to its values. Returns a row per column and value not accepted, with
    how many rows hold it. -#}
{% test accepted_values_columns(model, columns) %}
{%- if not columns -%}
    {{ exceptions.raise_compiler_error("accepted_values_columns: no columns to test") }}
{%- endif -%}
{%- for column, values in columns.items() %}
select
    '{{ column | replace("'", "''") }}' as column_name,
    {{ adapter.quote(column) }}::varchar as value,
    count(*) as rows
from {{ model }}
where {{ adapter.quote(column) }} not in (
    {%- for value in values %}'{{ value | replace("'", "''") }}'{{ ", " if not loop.last }}{% endfor -%}
)
group by all
{% if not loop.last %}union all{% endif %}
{%- endfor %}
{% endtest %}
