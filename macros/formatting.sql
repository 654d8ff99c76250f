{#- A var's threshold as it reads in a sentence: 0.05 -> '5 %', 0.025 -> '2.5 %'. -#}
{% macro format_threshold(rate) -%}
    {%- set percent = ((rate | float) * 100) | round(2) -%}
    {%- if percent == percent | int -%}{%- set percent = percent | int -%}{%- endif -%}
    '{{ percent }} %'
{%- endmacro %}

{#- A rate with its Wilson interval: '9.1 % (6.2–13.0 %)'. -#}
{% macro format_rate_with_bounds(rate, lower, upper) -%}
    printf(
        '%.1f %% (%.1f–%.1f %%)', 100 * ({{ rate }}), 100 * ({{ lower }}), 100 * ({{ upper }})
    )
{%- endmacro %}
