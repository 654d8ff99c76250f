{#- Every listed column lies between min_value and max_value (none: no upper bound) where it is
    not NULL, in one scan of the model. Returns a row per value outside, naming its column. -#}
{% test columns_between(model, columns, min_value, max_value=none) %}
select column_name, value
from (select {{ columns | join(', ') }} from {{ model }})
unpivot (value for column_name in ({{ columns | join(', ') }}))
where value < {{ min_value }}{% if max_value is not none %} or value > {{ max_value }}{% endif %}
{% endtest %}
