"""Text from outside made safe to store and serve, at the provider's edge.

A JSON document may carry a lone surrogate escape (`"\\ud800"`, left by truncation); Python
decodes it into a string that no UTF-8 encoder, JSON writer or database accepts. A NUL is valid
JSON too, and PostgreSQL refuses it in text. Each becomes harmless here, so nothing a provider
returns can crash a run later.
"""

from __future__ import annotations

import re
from typing import Any

_UNSAFE = re.compile("[\ud800-\udfff\x00]")
REPLACEMENT = "\ufffd"


def safe_text(text: str) -> str:
    """`text` with lone surrogates replaced by U+FFFD and NULs removed."""
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(lambda m: "" if m.group() == "\x00" else REPLACEMENT, text)


def safe_value(value: Any) -> Any:
    """A decoded JSON value with every string in it (keys too) made safe."""
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, dict):
        return {safe_value(k): safe_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [safe_value(v) for v in value]
    return value
