"""A report's JSON envelope posted as the raw body to a `json://` or `jsons://` channel.

Apprise's JSON channel always wraps the body in its own schema (`version`, `title`,
`message`, `type`), so a report delivered through it arrives as a string inside `message`.
Deliveries promise the API's envelope itself, byte for byte, so this one request is made here
(with httpx, which the news and price providers use): the same URL reads as Apprise reads it —
`json://` is http and `jsons://` https, `user:password@` is basic auth, and each `+Name=value`
query parameter is a request header. Every post carries the delivery's `Idempotency-Key`, so a
receiver can drop the one duplicate a sender crash can cause. Alerts still go through Apprise.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

import httpx

log = logging.getLogger(__name__)

TIMEOUT = httpx.Timeout(4.0)
"""Connect, read, write and pool, each: as Apprise's own socket timeouts."""


def post_envelope(url: str, body: str, key: str | None) -> bool:
    """POST `body` (JSON text) to the channel's URL; True on a 2xx answer."""
    parts = urlsplit(url)
    scheme = "https" if parts.scheme == "jsons" else "http"
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    query = parse_qsl(parts.query, keep_blank_values=True)
    headers = {name[1:]: value for name, value in query if name.startswith("+")}
    kept = "&".join(f"{n}={v}" for n, v in query if not n.startswith(("+", "-", ":")))
    headers["Content-Type"] = "application/json"
    if key is not None:
        headers["Idempotency-Key"] = key
    auth = None
    if parts.username is not None:
        auth = httpx.BasicAuth(unquote(parts.username), unquote(parts.password or ""))
    target = urlunsplit((scheme, netloc, parts.path or "/", kept, ""))
    try:
        answer = httpx.post(
            target, content=body.encode(), headers=headers, auth=auth, timeout=TIMEOUT
        )
    except httpx.HTTPError as error:
        log.warning("webhook %s://%s%s: %s", parts.scheme, netloc, parts.path, error)
        return False
    if not answer.is_success:
        log.warning(
            "webhook %s://%s%s answered %d", parts.scheme, netloc, parts.path, answer.status_code
        )
    return answer.is_success
