{#- Days from one moment to another, counting the whole seconds between them as
    date_diff('second', …) does. From the moments' microseconds since the epoch: date_diff on
    time zone aware timestamps goes through the calendar, 1.3 s per column over 10M lines against
    0.2 s for this. -#}
{% macro days_between(start_at, end_at) -%}
    (floor(epoch_us({{ end_at }}) / 1000000) - floor(epoch_us({{ start_at }}) / 1000000)) / 86400.0
{%- endmacro %}
