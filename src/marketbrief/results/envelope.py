"""The one shape every report response has: `data` (the exact stored payload) and `meta`.

Payloads stay bytes end to end: the envelope is assembled by concatenation, so serving a
cached report never parses or re-encodes the report itself.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import orjson

from marketbrief.calendar import iso_instant
from marketbrief.reports.payload import servable


class ReportState(enum.StrEnum):
    """What a reader got, honestly: a placeholder is never passed off as a report."""

    FRESH = "fresh"
    STALE = "stale"
    PARTIAL = "partial"
    PENDING = "pending"
    MISSING = "missing"
    FAILED = "failed"
    UNAVAILABLE = "unavailable"
    CLOSED = "closed"
    """The market did not trade that day: no daily report is due, and none is made up."""

    @property
    def has_content(self) -> bool:
        """Whether a response in this state carries a report."""
        return self in (ReportState.FRESH, ReportState.STALE, ReportState.PARTIAL)


class Source(enum.StrEnum):
    """Where the served content came from."""

    CACHE = "cache"
    STORE = "store"
    FALLBACK = "fallback"


@dataclass(frozen=True, slots=True)
class ReportResponse:
    """One answer of the read path: state, the payload bytes (or None) and the meta fields."""

    report_type: str
    requested_date: date
    state: ReportState
    data: bytes | None = None
    source: Source | None = None
    business_date: date | None = None
    generated_at: datetime | None = None
    run_id: str | None = None
    snapshot_id: int | None = None
    content_sha256: str | None = None
    warnings: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def has_content(self) -> bool:
        """True exactly when `data` holds a report."""
        return self.data is not None and self.state.has_content

    def age_seconds(self, now: datetime) -> int | None:
        """The content's age at `now` in whole seconds (None without a generation time)."""
        if self.generated_at is None:
            return None
        return max(0, int((now - self.generated_at).total_seconds()))

    def meta(self, now: datetime) -> dict[str, Any]:
        """The `meta` object, with the content's age measured at `now`."""
        age = self.age_seconds(now)
        return {
            "report_type": self.report_type,
            "requested_date": self.requested_date.isoformat(),
            "business_date": self.business_date.isoformat() if self.business_date else None,
            "state": self.state.value,
            "has_content": self.has_content,
            "source": self.source.value if self.source else None,
            "age_seconds": age,
            "generated_at": iso_instant(self.generated_at),
            "run_id": self.run_id,
            "snapshot_id": self.snapshot_id,
            "warnings": list(self.warnings),
            **self.extra,
        }

    def error(self) -> dict[str, str]:
        """Why there is no report: the `error` member of a 4xx/5xx answer."""
        code = f"report_{self.state.value}"
        day = self.requested_date.isoformat()
        return {"code": code, "message": f"no {self.report_type} report for {day} ({code})"}

    def render(self, now: datetime, *, with_error: bool = False) -> bytes:
        """The whole envelope as JSON bytes; the payload is spliced in as served (untouched,
        unless it holds a lone surrogate: `reports.payload.servable`)."""
        meta = orjson.dumps(self.meta(now))
        # A payload only lenient parsers read (a lone surrogate) is served as valid JSON.
        data = (
            servable(self.data, self.content_sha256)
            if self.has_content and self.data is not None
            else b"null"
        )
        # One join copies the payload once; chained `+` would copy it at every step.
        parts = [b'{"data":', data, b',"meta":', meta]
        if with_error:
            parts += [b',"error":', orjson.dumps(self.error())]
        parts.append(b"}")
        return b"".join(parts)
