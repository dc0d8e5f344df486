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

    @classmethod
    def from_snapshot(cls, snapshot: Snapshot) -> CachedReport:
        """A stored snapshot, as the read path serves and caches it."""
        return cls(
            report_type=snapshot.report_type.value,
            business_date=snapshot.scheduled_date,
            payload=snapshot.content,
            snapshot_id=snapshot.id,
            run_id=snapshot.run_id,
            generated_at=snapshot.created_at,
            content_sha256=snapshot.content_sha256,
            persisted=True,
        )


def encode_entry(report: CachedReport) -> bytes:
    """The cache value of a report: its header line, then the payload untouched."""
    header = {
        "f": _FORMAT,
        "t": report.report_type,
        "d": report.business_date.isoformat(),
        "n": len(report.payload),
        "s": report.snapshot_id,
        "r": report.run_id,
        "g": report.generated_at.isoformat(),
        "h": report.content_sha256,
        "p": report.persisted,
    }
    return orjson.dumps(header) + b"\n" + report.payload


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
