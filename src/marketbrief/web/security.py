"""Who may write: the API key check (fail closed, constant time) and the refusals it raises."""

from __future__ import annotations

import hmac

MAX_BODY_BYTES = 16 * 1024
"""The largest request body a write endpoint reads."""


class Unauthorized(Exception):
    """No key, or the wrong key (401)."""


class WritesDisabled(Exception):
    """No API key is configured, so every write is refused (403, fail closed)."""


class RateLimited(Exception):
    """Too many requests; `retry_after` seconds until the next one is allowed (429)."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited; retry after {retry_after:.0f} s")
        self.retry_after = retry_after


class PayloadTooLarge(Exception):
    """A request body over the limit (413)."""


def check_api_key(configured: str | None, presented: str | None) -> None:
    """Allow a write only with the configured key, compared in constant time; no key, no writes."""
    if not configured:
        raise WritesDisabled("writes are disabled: no MARKETBRIEF_API_KEY is configured")
    if not presented:
        raise Unauthorized("missing X-API-Key header")
    if not hmac.compare_digest(configured.encode(), presented.encode()):
        raise Unauthorized("wrong API key")
