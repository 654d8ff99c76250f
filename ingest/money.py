"""Money as exports write it: ISO 4217 codes, and display prices such as `US $1,382.11`.

Display prices come from the AliExpress UI (`US $120.95`, `129,46zł`, `1.234,56 €`). The
amount is the digits with the last `.` or `,` before one or two final digits as the decimal
separator and every other `.`, `,` or space as a thousands separator; the currency is the
symbol around the digits. A symbol shared by several currencies (`$`, `¥`, `kr`) names none:
the file's currency column must say which.
"""

from __future__ import annotations

# ISO 4217 codes in use (2024); precious metals (XAU...) and testing codes (XTS, XXX) left out.
# fmt: off
CURRENCY_CODES = frozenset(
    (
        "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
        "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD",
        "CAD", "CDF", "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CUC", "CUP",
        "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP",
        "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS",
        "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW",
        "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD",
        "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN",
        "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR",
        "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SLL",
        "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY",
        "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES",
        "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG", "ZWL",
    )
)
# fmt: on

# The symbol (digits, separators and spaces removed, lower case) -> ISO code; None = ambiguous.
SYMBOLS: dict[str, str | None] = {
    "us$": "USD",
    "usd$": "USD",
    "$": None,
    "€": "EUR",
    "£": "GBP",
    "zł": "PLN",
    "zl": "PLN",
    "r$": "BRL",
    "c$": "CAD",
    "ca$": "CAD",
    "au$": "AUD",
    "a$": "AUD",
    "nz$": "NZD",
    "mx$": "MXN",
    "hk$": "HKD",
    "s$": "SGD",
    "nt$": "TWD",
    "₽": "RUB",
    "руб": "RUB",
    "₴": "UAH",
    "грн": "UAH",
    "₺": "TRY",
    "tl": "TRY",
    "₹": "INR",
    "rs": "INR",
    "₩": "KRW",
    "jp¥": "JPY",
    "cn¥": "CNY",
    "¥": None,
    "kr": None,
    "kč": "CZK",
    "ft": "HUF",
    "lei": "RON",
    "₪": "ILS",
    "rm": "MYR",
    "rp": "IDR",
    "₱": "PHP",
    "฿": "THB",
    "₫": "VND",
    "₸": "KZT",
    "₦": "NGN",
    "r": "ZAR",
    "chf": "CHF",
}


def _symbol_sql(text: str) -> str:
    return f"lower(regexp_replace({text}, '[0-9.,\\s]', '', 'g'))"


def _digits_sql(text: str) -> str:
    return f"trim(regexp_replace({text}, '[^0-9.,]', '', 'g'), '.,')"


def price_amount_sql(text: str) -> str:
    """SQL for the amount of a display price (NULL when it is not one)."""
    digits = _digits_sql(text)
    symbol = _symbol_sql(text)
    known = (
        ", ".join(f"'{s}'" for s in SYMBOLS)
        + ", "
        + ", ".join(f"'{code.lower()}'" for code in sorted(CURRENCY_CODES))
    )
    return (
        "(case when regexp_full_match("
        f"{digits}, '[0-9]+([.,][0-9]{{3}})*([.,][0-9]{{1,2}})?') "
        f"and ({symbol} = '' or {symbol} in ({known})) then "
        f"case when regexp_full_match({digits}, '.*[.,][0-9]{{1,2}}') then try_cast("
        f"regexp_replace(regexp_extract({digits}, '^(.*)[.,][0-9]{{1,2}}$', 1), '[.,]', '', 'g')"
        f" || '.' || regexp_extract({digits}, '([0-9]{{1,2}})$', 1) as decimal(18, 2)) "
        f"else try_cast(regexp_replace({digits}, '[.,]', '', 'g') as decimal(18, 2)) end end)"
    )


def price_currency_sql(text: str) -> str:
    """SQL for the ISO code a display price's symbol names (NULL: none or ambiguous)."""
    symbol = _symbol_sql(text)
    cases = " ".join(f"when '{s}' then '{code}'" for s, code in SYMBOLS.items() if code)
    codes = ", ".join(f"'{code.lower()}'" for code in sorted(CURRENCY_CODES))
    return (
        f"(case when {symbol} in ({codes}) then upper({symbol}) else case {symbol} {cases} end end)"
    )


def price_symbol_sql(text: str) -> str:
    """SQL for the symbol of a display price, as matched against SYMBOLS."""
    return _symbol_sql(text)
