"""Reading what a server answered: a report envelope's bytes and meta, hashes, its counters."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx


def split_envelope(body: bytes) -> tuple[bytes, dict[str, Any]]:
    """A report envelope's raw `data` bytes (exactly as stored) and its parsed `meta`."""
    head, marker = b'{"data":', b',"meta":'
    if not body.startswith(head):
        raise ValueError("not a report envelope")
    cut = body.rindex(marker)
    meta = json.loads(body[cut + len(marker) : -1])
    return body[len(head) : cut], meta


def sha256(data: bytes) -> str:
    """Hex SHA-256, as the store keeps content_sha256."""
    return hashlib.sha256(data).hexdigest()


def counters(base_url: str, names: tuple[str, ...]) -> dict[str, int]:
    """marketbrief's own counters (`marketbrief_<name>_total`) from a server's /metrics."""
    text = httpx.get(base_url + "/metrics", timeout=30).text
    found: dict[str, int] = {}
    for line in text.splitlines():
        for name in names:
            if line.startswith(f"marketbrief_{name}_total "):
                found[name] = int(float(line.split()[1]))
    return found
