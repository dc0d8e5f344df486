"""The one place marketbrief talks HTTP to the outside world (news, prices, LLM endpoints).

Every failure leaves this module as a ProviderError whose message says what went wrong and
where, with the query string left out so that API keys passed as parameters never reach logs,
run records or reports. Bodies are capped: a provider cannot make a run read without limit.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from marketbrief import __version__
from marketbrief.errors import ProviderError
from marketbrief.pipeline.text import safe_value

USER_AGENT = f"marketbrief/{__version__} (+python-httpx/{httpx.__version__})"
MAX_RESPONSE_BYTES = 8 * 1024 * 1024

Params = Mapping[str, str | int | float]


async def fetch(
    url: str,
    *,
    params: Params | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float,
    max_bytes: int = MAX_RESPONSE_BYTES,
) -> bytes:
    """GET `url` and return the body, or raise ProviderError (timeout, connection, non-2xx)."""
    return await _request("GET", url, params, headers, None, timeout, max_bytes)


async def fetch_json(
    url: str,
    *,
    params: Params | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float,
    max_bytes: int = MAX_RESPONSE_BYTES,
) -> Any:
    """GET `url` and decode its JSON body, or raise ProviderError."""
    body = await fetch(url, params=params, headers=headers, timeout=timeout, max_bytes=max_bytes)
    return _decode(body, url)


async def post_json(
    url: str,
    payload: Any,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float,
    max_bytes: int = MAX_RESPONSE_BYTES,
) -> Any:
    """POST `payload` as JSON to `url` and decode the JSON answer, or raise ProviderError."""
    body = await _request("POST", url, None, headers, payload, timeout, max_bytes)
    return _decode(body, url)


def redact(url: str) -> str:
    """Return `url` without its query string, credentials or fragment (safe to record)."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


async def _request(
    method: str,
    url: str,
    params: Params | None,
    headers: Mapping[str, str] | None,
    payload: Any,
    timeout: float,
    max_bytes: int,
) -> bytes:
    where = redact(url)
    if urlsplit(url).scheme not in ("http", "https"):
        raise ProviderError(f"{where}: only http and https URLs can be fetched")
    merged = {"User-Agent": USER_AGENT, **(headers or {})}
    try:
        # httpx's timeout bounds each phase; asyncio.timeout bounds the whole exchange, so a
        # server that trickles bytes cannot hold a run past its deadline.
        async with asyncio.timeout(timeout):
            async with httpx.AsyncClient(timeout=timeout, follow_redirects=True) as client:
                request = client.build_request(
                    method, url, params=params, headers=merged, json=payload
                )
                response = await client.send(request, stream=True)
                try:
                    if not 200 <= response.status_code < 300:
                        raise ProviderError(
                            f"{where}: HTTP {response.status_code} {response.reason_phrase}"
                        )
                    return await _read_capped(response, max_bytes, where)
                finally:
                    await response.aclose()
    except TimeoutError:
        raise ProviderError(f"{where}: timed out after {timeout:g}s") from None
    except httpx.TimeoutException:
        raise ProviderError(f"{where}: timed out after {timeout:g}s") from None
    except httpx.HTTPError as exc:
        reason = str(exc) or type(exc).__name__
        raise ProviderError(f"{where}: {reason}") from None


async def _read_capped(response: httpx.Response, max_bytes: int, where: str) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise ProviderError(f"{where}: response of {declared} bytes exceeds {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise ProviderError(f"{where}: response exceeds {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _decode(body: bytes, url: str) -> Any:
    try:
        return safe_value(json.loads(body))
    except ValueError as exc:
        raise ProviderError(f"{redact(url)}: response is not JSON ({exc})") from None
