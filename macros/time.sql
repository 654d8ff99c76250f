{#- The second a moment falls in, counted from the epoch: its microseconds floored to a whole
    second, in integers (`//` truncates towards zero, so a moment before 1970 takes one off). -#}
{% macro epoch_second(at) -%}
    (epoch_us({{ at }}) // 1000000 - (epoch_us({{ at }}) % 1000000 < 0)::bigint)
{%- endmacro %}

{#- Days from one moment to another: the second boundaries between them, as
    date_diff('second', …) counts them, over 86,400. From the moments' epoch microseconds:
    date_diff on time zone aware timestamps goes through the calendar, 1.3 s per column over 10M
    lines against 0.2 s for this. -#}
{% macro days_between(start_at, end_at) -%}
    ({{ epoch_second(end_at) }} - {{ epoch_second(start_at) }}) / 86400.0
{%- endmacro %}

{#- The first moment after the day `days` days after the moment's own day, days in UTC: when a
    promise of that many days has run out. From epoch seconds, as above (moments are from 1970). -#}
{% macro end_of_day_after(at, days) -%}
    to_timestamp(({{ epoch_second(at) }} // 86400 + {{ days }} + 1) * 86400)
{%- endmacro %}
