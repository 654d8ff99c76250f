{#- Every row's rate lies within its own interval: lower <= rate <= upper, where all three are
    present. A tolerance of 1e-9 absorbs floating-point rounding at the ends (0 and 1). -#}
{% test within_bounds(model, column_name, lower, upper) %}
select {{ column_name }}, {{ lower }}, {{ upper }}
from {{ model }}
where {{ lower }} > {{ column_name }} + 1e-9
    or {{ column_name }} > {{ upper }} + 1e-9
    or {{ lower }} > {{ upper }} + 1e-9
{% endtest %}
