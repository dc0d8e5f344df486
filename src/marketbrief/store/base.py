"""The store's blocking port (`StoreBackend`), and the values its questions and answers carry.

Everything async reaches a backend through `marketbrief.store.gateway.Store`, which moves each
call to a worker thread and tracks the store's health.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple, Protocol

from marketbrief.errors import InvalidInput
from marketbrief.models import (
    Claim,
    Completion,
    Outcome,
    Prediction,
    ReportType,
    Run,
    RunDetail,
    RunStatus,
    Snapshot,
    Stage,
    StageStatus,
    TriggerSource,
)
from marketbrief.store.measures import UsageMeasures
from marketbrief.store.usage import UsageCounter

MAX_HISTORY_LIMIT = 500
MAX_ROW_ID = 2**63 - 1  # the largest id either engine can hold
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_CURSOR_MICROS = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z: datetime's end
MAX_RUN_REF = 200  # longer than any run_id marketbrief makes


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """Filters for run history, newest first, paged with an opaque keyset cursor."""

    report_type: ReportType | None = None
    status: RunStatus | None = None
    date_from: date | None = None
    date_to: date | None = None
    limit: int = 50
    cursor: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_HISTORY_LIMIT:
            raise InvalidInput(f"limit must be between 1 and {MAX_HISTORY_LIMIT}")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise InvalidInput("'from' must not be after 'to'")
        if self.cursor is not None:
            decode_cursor(self.cursor)


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """One page of history and the cursor of the next page (None on the last)."""

    runs: list[Run]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Incident:
    """One thing the service noticed about itself: open until resolved, told at most once per
    repeat interval. `claimed` says whether this process's call opened, repeated or resolved it
    (and so must send the message); every other process gets claimed=False."""

    id: int
    kind: str
    subject: str
    summary: str
    report_type: str | None
    business_date: date | None
    link: str | None
    since: datetime
    opened_at: datetime
    last_notified_at: datetime
    notify_count: int
    resolved_at: datetime | None = None
    claimed: bool = False


@dataclass(frozen=True, slots=True)
class IncidentReport:
    """What an alert says: which condition, about what, since when, and where to look."""

    kind: str
    subject: str
    summary: str
    since: datetime
    report_type: str | None = None
    business_date: date | None = None
    link: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryKey:
    """One published report, as a delivery is claimed for it."""

    report_type: str
    business_date: date
    version: int


@dataclass(frozen=True, slots=True)
class PendingDelivery:
    """A published report not yet delivered; `claimed` if a claim exists (and is stale)."""

    key: DeliveryKey
    run_id: str | None
    claimed: bool = False


@dataclass(frozen=True, slots=True)
class ScheduleStart:
    """Where the schedule began: when the scheduler first started, and the first runs' slots.

    `first_runs` holds the (type, date) of every run on the earliest date any run is for.
    """

    started_at: datetime | None
    first_runs: tuple[tuple[ReportType, date], ...] = ()


class Revisions(NamedTuple):
    """The store's two change counters, read together (`store_revision`)."""

    reports: int  # grows whenever a latest pointer moves
    runs: int  # grows with every write to run history


def run_key(ref: str | int) -> int | str | None:
    """An integer id (ASCII digits), a run_id, or None for a reference no row can match."""
    if isinstance(ref, str) and len(ref) > MAX_RUN_REF:
        return None
    if isinstance(ref, int) or (ref.isascii() and ref.isdigit()):
        number = int(ref)
        return number if 0 < number <= MAX_ROW_ID else None
    if ref.isdigit() or "\x00" in ref:
        return None  # other Unicode digits, or a NUL no run_id can hold (PostgreSQL refuses it)
    return ref


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a history page ends: after the run started at `started_at` with this `id`.

    History is ordered by start (newest first, id breaking ties), so a run that reached the
    store late (an outbox replay, an import) sorts where it ran. A cursor made before that
    order (`r:ID`) has no `started_at`: the query reads that run's start from its row.
    """

    id: int
    started_at: datetime | None = None


def encode_cursor(started_at: datetime, last_id: int) -> str:
    """An opaque cursor after the run with this start and id."""
    raw = f"s:{_micros(started_at)}:{last_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _micros(instant: datetime) -> int:
    delta = instant.astimezone(UTC) - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _digits(text: str, limit: int) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) > limit:
        raise ValueError(text)
    return int(text)


def decode_cursor(cursor: str) -> Cursor:
    """The position a cursor points after; InvalidInput when encode_cursor did not make it."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, rest = raw.partition(":")
        if prefix == "r":  # before history was ordered by start
            return Cursor(_digits(rest, MAX_ROW_ID))
        if prefix != "s":
            raise ValueError(raw)
        micros, _, number = rest.partition(":")
        started = EPOCH + timedelta(microseconds=_digits(micros, MAX_CURSOR_MICROS))
        return Cursor(_digits(number, MAX_ROW_ID), started)
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput(f"malformed cursor {cursor!r}") from None


class StoreBackend(Protocol):
    """The source of truth, blocking. Every method may raise StoreError (StoreUnavailable, ...).

    `usage` counts what this process asks of it (statements, rows read and written, per UTC
    day); `flush_usage` adds those counts to the store.
    """

    dialect: str
    usage: UsageCounter

    def claim_run(
        self,
        report_type: ReportType,
        scheduled_date: date,
        trigger_source: TriggerSource,
        *,
        started_at: datetime | None = None,
        run_id: str | None = None,
        lease_until: datetime | None = None,
    ) -> Claim: ...

    def renew_lease(self, run_id: str, until: datetime) -> bool: ...

    def record_stage(
        self,
        run_id: str,
        stage: Stage,
        status: StageStatus,
        *,
        started_at: datetime,
        ended_at: datetime | None = None,
        details: dict[str, Any] | None = None,
    ) -> None: ...

    def finish_run(self, completion: Completion) -> Outcome: ...

    def latest_snapshot(self, report_type: ReportType, day: date) -> Snapshot | None: ...

    def snapshot_before(self, report_type: ReportType, day: date) -> Snapshot | None: ...

    def latest_run_for(self, report_type: ReportType, day: date) -> Run | None: ...

    def predictions_for(
        self, day: date, report_types: tuple[ReportType, ...]
    ) -> tuple[Run, list[Prediction]] | None: ...

    def good_run(
        self, report_type: ReportType, day: date
    ) -> tuple[Run, list[Prediction]] | None: ...

    def save_closes(self, closes: Sequence[Mapping[str, Any]]) -> int: ...

    def history(self, query: HistoryQuery) -> HistoryPage: ...

    def latest_run(self, report_type: ReportType | None = None) -> Run | None: ...

    def runs_between(self, date_from: date, date_to: date) -> list[Run]: ...

    def run_counts(self) -> dict[tuple[str, str], int]: ...

    def latest_snapshots(
        self, report_type: ReportType, date_from: date, date_to: date
    ) -> list[Snapshot]: ...

    def get_run(self, ref: str | int) -> RunDetail | None: ...

    def fail_stuck_runs(self, started_before: datetime, now: datetime) -> list[str]: ...

    def revision(self) -> int: ...

    def schedule_start(self) -> ScheduleStart: ...

    def begin_schedule(self, at: datetime) -> datetime: ...

    def revisions(self) -> Revisions: ...

    def latest_version(self, report_type: ReportType, day: date) -> int | None: ...

    def latest_keys(
        self, report_type: ReportType | None = None, day: date | None = None
    ) -> list[tuple[ReportType, date]]: ...

    def open_incident(self, report: IncidentReport, now: datetime) -> Incident: ...

    def claim_repeat(self, incident_id: int, due_before: datetime, now: datetime) -> bool: ...

    def resolve_incident(self, kind: str, subject: str, now: datetime) -> Incident | None: ...

    def incidents(self, *, open_only: bool = False, limit: int = 50) -> list[Incident]: ...

    def claim_delivery(self, key: DeliveryKey, run_id: str | None, now: datetime) -> bool: ...

    def reclaim_delivery(
        self, key: DeliveryKey, stale_before: datetime, now: datetime
    ) -> frozenset[int] | None: ...

    def record_delivery(
        self, key: DeliveryKey, done: frozenset[int], delivered_at: datetime | None
    ) -> None: ...

    def undelivered(
        self, since: datetime, report_types: tuple[str, ...], stale_before: datetime
    ) -> list[PendingDelivery]: ...

    def flush_usage(self, now: datetime) -> None: ...

    def usage_measures(self, since: date) -> UsageMeasures: ...

    def ping(self) -> None: ...

    def ping_writes(self) -> None: ...

    def close(self) -> None: ...


@dataclass(slots=True)
class WriteCounts:
    """Every store write this process attempted, and how many committed (the plan's write
    success rate). A write the breaker refused counts as attempted and not committed; a
    retry is a new attempt."""

    attempts: int = 0
    committed: int = 0

    @property
    def failed(self) -> int:
        """Attempts that did not commit."""
        return self.attempts - self.committed
