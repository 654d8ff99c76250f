{#- dbt compares a unit test's actual and expected rows exactly. Rates and bounds are doubles
    whose last bits depend on the order of floating-point operations, so both sides round every
    DOUBLE column to 6 decimals before the comparison: a test states its hand-computed values to
    6 decimals (0.021544), and anything the model gets wrong by more than 5e-7 still fails.
    Decimal (money), integer, text, boolean and date columns compare exactly. Overrides dbt's
    `default__get_unit_test_sql` for DuckDB through adapter dispatch. -#}
{% macro duckdb__get_unit_test_sql(main_sql, expected_fixture_sql, expected_column_names) -%}
{%- set double_columns = [] -%}
{%- if execute -%}
    {%- set described = run_query('describe ' ~ main_sql) -%}
    {%- for row in described.rows -%}
        {%- if row['column_type'] in ('DOUBLE', 'FLOAT', 'REAL') -%}
            {%- do double_columns.append(row['column_name'] | lower) -%}
        {%- endif -%}
    {%- endfor -%}
{%- endif -%}
{%- set compared = [] -%}
{%- for quoted in expected_column_names -%}
    {%- if (quoted | replace('"', '') | lower) in double_columns -%}
        {%- do compared.append('round(' ~ quoted ~ ', 6) as ' ~ quoted) -%}
    {%- else -%}
        {%- do compared.append(quoted) -%}
    {%- endif -%}
{%- endfor -%}
with dbt_internal_unit_test_actual as (
  select {{ compared | join(', ') }}, 'actual' as "actual_or_expected"
  from (
    {{ main_sql }}
  ) _dbt_internal_unit_test_actual
),
dbt_internal_unit_test_expected as (
  select {{ compared | join(', ') }}, 'expected' as "actual_or_expected"
  from (
    {{ expected_fixture_sql }}
  ) _dbt_internal_unit_test_expected
)
select * from dbt_internal_unit_test_actual
union all
select * from dbt_internal_unit_test_expected
{%- endmacro %}
