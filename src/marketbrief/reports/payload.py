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
_REMEMBERED = 4096  # contents whose strictness `servable` remembers, by SHA-256
_STRICT: dict[str, bool] = {}


def readable(text: str | bytes) -> bool:
    """Whether every reader can take the text once `servable` has made it servable."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    try:
        orjson.loads(servable(data))
    except orjson.JSONDecodeError:
        return False
    return True


def servable(payload: bytes, sha256: str | None = None) -> bytes:
    """`payload` itself when strict parsers read it (the usual case, checked cheaply first),
    else the same JSON with each lone surrogate as U+FFFD (or `payload` itself when that does
    not make it JSON strict parsers read: it was not JSON to begin with).

    A payload without a backslash has no escape at all (one memchr). Looking for a surrogate
    escape costs about a microsecond per KiB, so with `sha256` (the stored content's) the answer
    is remembered: a report served again costs one lookup."""
    if b"\\" not in payload:
        return payload
    if sha256 is not None and _STRICT.get(sha256):
        return payload
    strict = not any(escape in payload for escape in _ESCAPES) or _strict(payload)
    if sha256 is not None:
        if len(_STRICT) >= _REMEMBERED:
            _STRICT.clear()
        _STRICT[sha256] = strict
    return payload if strict else _mended(payload)


def _strict(payload: bytes) -> bool:
    try:
        orjson.loads(payload)
    except orjson.JSONDecodeError:
        return False
    return True


def _mended(payload: bytes) -> bytes:
    try:
        value = json.loads(payload, parse_constant=_no_constant)
        mended = json.dumps(_replaced(value), ensure_ascii=False, allow_nan=False).encode()
        orjson.loads(mended)
    except (ValueError, RecursionError, UnicodeError):  # JSONDecodeError is a ValueError
        return payload
    return mended


def parsed(payload: bytes) -> Any:
    """The payload's JSON value, for readers that show it rather than splice it (strict first:
    the usual payload costs nothing more than its parse)."""
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        return orjson.loads(_mended(payload))


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
