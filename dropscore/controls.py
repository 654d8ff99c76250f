"""Strings from exports shown to a person: in a terminal, in the weekly report and its charts.

A supplier name holding an escape sequence must not be able to move a terminal's cursor,
retitle its window or hide text; one holding a bidirectional override must not show the text
after it reversed (a rate read backwards); and the report's chart renderer aborts the whole
process on characters XML does not allow. C0 and C1 controls, those overrides and the two
non-characters U+FFFE and U+FFFF are shown as escapes (`\\x1b`, `\\u202e`) instead.
"""

from __future__ import annotations

import re

_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufffe\uffff]")


def escape_controls(text: str) -> str:
    """`text` with its control characters, bidirectional overrides and non-characters as
    escapes."""
    return _CONTROLS.sub(lambda match: repr(match[0])[1:-1], text)
