"""How a report is kept in the cache: a small header line, a newline, then the exact payload.

A hit reads only the header (a few hundred bytes of JSON) to check that the entry is whole and
is for exactly the (type, date) asked; the payload bytes are served as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import orjson

from marketbrief.models import Snapshot

_FORMAT = 1


@dataclass(frozen=True, slots=True)
class CachedReport:
    """A decoded cache entry."""

    report_type: str
    business_date: date
    payload: bytes
    snapshot_id: int | None
    run_id: str | None
    generated_at: datetime
    content_sha256: str
    persisted: bool


def encode_entry(snapshot: Snapshot, *, persisted: bool = True) -> bytes:
    """The cache value for a snapshot."""
    return encode_parts(
        report_type=snapshot.report_type.value,
        business_date=snapshot.scheduled_date,
        payload=snapshot.content,
        snapshot_id=snapshot.id if persisted else None,
        run_id=snapshot.run_id,
        generated_at=snapshot.created_at,
        content_sha256=snapshot.content_sha256,
        persisted=persisted,
    )


def encode_parts(
    *,
    report_type: str,
    business_date: date,
    payload: bytes,
    snapshot_id: int | None,
    run_id: str | None,
    generated_at: datetime,
    content_sha256: str,
    persisted: bool,
) -> bytes:
    """The cache value for a report given field by field."""
    header = {
        "f": _FORMAT,
        "t": report_type,
        "d": business_date.isoformat(),
        "n": len(payload),
        "s": snapshot_id,
        "r": run_id,
        "g": generated_at.isoformat(),
        "h": content_sha256,
        "p": persisted,
    }
    return orjson.dumps(header) + b"\n" + payload


def decode_entry(value: bytes, report_type: str, day: date) -> CachedReport | None:
    """The entry, or None when it is malformed or not for exactly (report_type, day)."""
    header_end = value.find(b"\n")
    if header_end <= 0:
        return None
    try:
        header = orjson.loads(value[:header_end])
        payload = value[header_end + 1 :]
        if (
            header["f"] != _FORMAT
            or header["t"] != report_type
            or header["d"] != day.isoformat()
            or header["n"] != len(payload)
            or not payload
        ):
            return None
        generated_at = datetime.fromisoformat(header["g"])
        if generated_at.tzinfo is None:
            return None
        return CachedReport(
            report_type=report_type,
            business_date=day,
            payload=payload,
            snapshot_id=header["s"],
            run_id=header["r"],
            generated_at=generated_at,
            content_sha256=str(header["h"]),
            persisted=bool(header["p"]),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
