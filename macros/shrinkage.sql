{#- Empirical-Bayes shrinkage of a rate towards what is typical across suppliers.

    Each supplier's successes x out of n trials are taken as beta-binomial: its true rate is
    drawn from a Beta(alpha, beta) prior shared by all suppliers. The prior is fitted by the
    method of moments (Kleinman 1973) over the suppliers with n > 0:

        p   = sum(x) / sum(n)                              the prior mean
        S   = sum(n * (x/n - p)^2) = sum(x^2/n) - sum(x)^2/sum(n)
        E[S] = p(1-p) * ((k-1)(1-rho) + rho * (N - sum(n^2)/N))     k suppliers, N = sum(n)
        rho = (S / (p(1-p)) - (k-1)) / (N - sum(n^2)/N - (k-1))     intra-class correlation
        alpha + beta = 1/rho - 1                                    the prior strength

    `beta_binomial_prior_mean` and `beta_binomial_rho` are aggregates over one row per
    supplier; `beta_binomial_prior_strength` turns rho into alpha + beta. The strength is NULL
    when the data show no spread beyond chance (rho <= 0, or fewer than two suppliers): then
    every supplier is best estimated by the prior mean. -#}
{% macro beta_binomial_prior_mean(successes, trials) -%}
    sum({{ successes }})::double / nullif(sum({{ trials }}), 0)
{%- endmacro %}

{% macro beta_binomial_rho(successes, trials) -%}
    {%- set pooled -%}
        (sum({{ successes }})::double / nullif(sum({{ trials }}), 0))
    {%- endset -%}
    {%- set suppliers -%}
        (count(*) filter (where {{ trials }} > 0))
    {%- endset -%}
    {%- set rho -%}
        (
            (
                (
                    sum(pow({{ successes }}, 2)::double / {{ trials }})
                        filter (where {{ trials }} > 0)
                    - pow(sum({{ successes }}), 2)::double / nullif(sum({{ trials }}), 0)
                )
                / nullif({{ pooled }} * (1 - {{ pooled }}), 0)
                - ({{ suppliers }} - 1)
            )
            / nullif(
                sum({{ trials }})
                - sum(pow({{ trials }}, 2))::double / nullif(sum({{ trials }}), 0)
                - ({{ suppliers }} - 1),
                0
            )
        )
    {%- endset -%}
    {{ rho }}
{%- endmacro %}

{#- case, not greatest/least: DuckDB's greatest() and least() skip NULLs. -#}
{% macro beta_binomial_prior_strength(rho) -%}
    case
        when {{ rho }} >= 1 then 0.0
        when {{ rho }} > 0 then 1.0 / {{ rho }} - 1.0
    end
{%- endmacro %}

{#- The posterior mean (x + alpha) / (n + alpha + beta); the prior mean when the prior has no
    finite strength, or when the supplier has no trials. -#}
{% macro shrunk_rate(successes, trials, prior_mean, prior_strength) -%}
    case
        when {{ prior_strength }} is null then {{ prior_mean }}
        else
            ({{ successes }} + {{ prior_mean }} * {{ prior_strength }})
            / nullif({{ trials }} + {{ prior_strength }}, 0)
    end
{%- endmacro %}
