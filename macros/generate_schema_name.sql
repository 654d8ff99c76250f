{#- Schemas are named for their layer (staging, intermediate, marts, seeds), not prefixed with
    the target schema, so users' SQL reads `marts.fct_supplier_scorecard`. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name | trim if custom_schema_name else target.schema }}
{%- endmacro %}
