{#- Every row's rate lies within its own interval, `<rate>_lower` <= rate <= `<rate>_upper`,
    where all three are present. A tolerance of 1e-9 absorbs floating-point rounding at the
    ends (0 and 1). Returns a row per rate out of its bounds, naming the rate. -#}
{% test rates_within_bounds(model, rates) %}
{%- for rate in rates %}
select '{{ rate }}' as rate, {{ rate }} as value, {{ rate }}_lower as lower, {{ rate }}_upper as upper
from {{ model }}
where {{ rate }}_lower > {{ rate }} + 1e-9
    or {{ rate }} > {{ rate }}_upper + 1e-9
    or {{ rate }}_lower > {{ rate }}_upper + 1e-9
{% if not loop.last %}union all{% endif %}
{%- endfor %}
{% endtest %}
