{#- The standard normal quantile z for a two-sided interval at `confidence`
    (Abramowitz & Stegun 26.2.23, absolute error < 4.5e-4: 0.95 -> 1.9604). -#}
{% macro z_score(confidence) -%}
    {%- set tail = (1 - confidence) / 2 -%}
    (
        sqrt(-2 * ln({{ tail }}))
        - (2.515517 + 0.802853 * sqrt(-2 * ln({{ tail }})) + 0.010328 * (-2 * ln({{ tail }})))
        / (
            1
            + 1.432788 * sqrt(-2 * ln({{ tail }}))
            + 0.189269 * (-2 * ln({{ tail }}))
            + 0.001308 * pow(sqrt(-2 * ln({{ tail }})), 3)
        )
    )
{%- endmacro %}

{#- Wilson score interval bounds for `successes` out of `trials`; NULL when trials is 0. -#}
{% macro wilson_bound(successes, trials, sign, confidence=var('confidence')) -%}
    case
        when {{ trials }} > 0 then
            (
                ({{ successes }})::double / ({{ trials }})
                + pow({{ z_score(confidence) }}, 2) / (2 * ({{ trials }}))
                {{ sign }} {{ z_score(confidence) }} * sqrt(
                    ({{ successes }})::double / ({{ trials }})
                    * (1 - ({{ successes }})::double / ({{ trials }}))
                    / ({{ trials }})
                    + pow({{ z_score(confidence) }}, 2) / (4 * pow({{ trials }}, 2))
                )
            )
            / (1 + pow({{ z_score(confidence) }}, 2) / ({{ trials }}))
    end
{%- endmacro %}

{% macro wilson_lower(successes, trials) -%}
    greatest(0.0, {{ wilson_bound(successes, trials, '-') }})
{%- endmacro %}

{% macro wilson_upper(successes, trials) -%}
    least(1.0, {{ wilson_bound(successes, trials, '+') }})
{%- endmacro %}

{#- successes / trials as a rate; NULL (not 0) when there is nothing to count. -#}
{% macro safe_rate(successes, trials) -%}
    ({{ successes }})::double / nullif({{ trials }}, 0)
{%- endmacro %}
