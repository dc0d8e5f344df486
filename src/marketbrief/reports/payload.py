"""A report's payload text: JSON as stored, and the form every strict reader can take.

The store keeps a payload's exact text. Almost always that is JSON any parser reads, and it is
served byte for byte. The old system (whose JavaScript readers accept it) left some payloads
with a lone surrogate escape, `"\\ud83d"` with its pair cut off by truncation: valid by JSON's
grammar, but no UTF-8 text can hold it, so strict parsers (orjson, I-JSON) refuse it. Such a
payload is still kept exactly; `servable` gives the JSON to serve in its place, where each lone
surrogate reads U+FFFD (the replacement character, as a UTF-8 decoder shows it) and every other
value is unchanged, so an answer that embeds it is valid JSON for every reader.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPES = (b"\\ud", b"\\uD")  # every surrogate escape starts so


def readable(text: str | bytes) -> bool:
    """Whether every reader can take the text once `servable` has made it servable."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    try:
        orjson.loads(servable(data))
    except orjson.JSONDecodeError:
        return False
    return True


def servable(payload: bytes) -> bytes:
    """`payload` itself when strict parsers read it (the usual case, checked cheaply first),
    else the same JSON with each lone surrogate as U+FFFD (or `payload` itself when that does
    not make it JSON strict parsers read: it was not JSON to begin with)."""
    if not any(escape in payload for escape in _ESCAPES):
        return payload
    try:
        orjson.loads(payload)
        return payload
    except orjson.JSONDecodeError:
        pass
    try:
        value = json.loads(payload, parse_constant=_no_constant)
        mended = json.dumps(_replaced(value), ensure_ascii=False, allow_nan=False).encode()
        orjson.loads(mended)
    except (ValueError, RecursionError, UnicodeError):  # JSONDecodeError is a ValueError
        return payload
    return mended


def parsed(payload: bytes) -> Any:
    """The payload's JSON value, for readers that show it rather than splice it."""
    return orjson.loads(servable(payload))


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _replaced(value: Any) -> Any:
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_replaced(item) for item in value]
    if isinstance(value, dict):
        return {_replaced(key): _replaced(item) for key, item in value.items()}
    return value
