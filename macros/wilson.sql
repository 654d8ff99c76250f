{#- The standard normal quantile z for a two-sided interval at `confidence`: the upper
    (1 + confidence) / 2 quantile, by Acklam's rational approximation of the inverse normal
    CDF (relative error below 1.2e-9; 0.95 -> 1.959963986). The confidence level is a constant
    of the run, so DuckDB folds this to a number once. The branch (central or tail region) is
    chosen when the SQL is compiled. -#}
{% macro z_score(confidence) -%}
    {%- set tail = (1 - confidence | float) / 2 -%}
    {%- if tail >= 0.02425 -%}
    {%- set q = tail - 0.5 -%}
    {%- set r = q * q -%}
    (
        -(
            (((((-3.969683028665376e+01 * {{ r }} + 2.209460984245205e+02) * {{ r }}
            - 2.759285104469687e+02) * {{ r }} + 1.383577518672690e+02) * {{ r }}
            - 3.066479806614716e+01) * {{ r }} + 2.506628277459239e+00) * {{ q }}
        )
        / (
            ((((-5.447609879822406e+01 * {{ r }} + 1.615858368580409e+02) * {{ r }}
            - 1.556989798598866e+02) * {{ r }} + 6.680131188771972e+01) * {{ r }}
            - 1.328068155288572e+01) * {{ r }} + 1
        )
    )
    {%- else -%}
    (
        -(
            (((((-7.784894002430293e-03 * sqrt(-2 * ln({{ tail }}))
            - 3.223964580411365e-01) * sqrt(-2 * ln({{ tail }}))
            - 2.400758277161838e+00) * sqrt(-2 * ln({{ tail }}))
            - 2.549732539343734e+00) * sqrt(-2 * ln({{ tail }}))
            + 4.374664141464968e+00) * sqrt(-2 * ln({{ tail }}))
            + 2.938163982698783e+00)
        )
        / (
            (((7.784695709041462e-03 * sqrt(-2 * ln({{ tail }}))
            + 3.224671290700398e-01) * sqrt(-2 * ln({{ tail }}))
            + 2.445134137142996e+00) * sqrt(-2 * ln({{ tail }}))
            + 3.754408661907416e+00) * sqrt(-2 * ln({{ tail }}))
            + 1
        )
    )
    {%- endif -%}
{%- endmacro %}

{#- One bound of the Wilson score interval for `successes` out of `trials`; NULL when trials
    is 0 or NULL. `sign` is '-' for the lower bound and '+' for the upper. -#}
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

{#- Clipped to [0, 1]: at 0 successes the formula's lower bound is 0 up to rounding. NULL (not
    0) when the successes are unknown: DuckDB's greatest() and least() skip NULLs. -#}
{% macro wilson_lower(successes, trials) -%}
    case
        when ({{ successes }}) is not null
            then greatest(0.0, {{ wilson_bound(successes, trials, '-') }})
    end
{%- endmacro %}

{% macro wilson_upper(successes, trials) -%}
    case
        when ({{ successes }}) is not null
            then least(1.0, {{ wilson_bound(successes, trials, '+') }})
    end
{%- endmacro %}

{#- successes / trials as a rate; NULL (not 0) when there is nothing to count. -#}
{% macro safe_rate(successes, trials) -%}
    ({{ successes }})::double / nullif({{ trials }}, 0)
{%- endmacro %}
