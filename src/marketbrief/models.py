"""The nouns of marketbrief: report types, run states, stages and their records (no I/O)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from marketbrief.errors import InvalidInput


class ReportType(enum.StrEnum):
    """The four daily market moments."""

    PRE_MARKET = "pre-market"
    INTRADAY = "intraday"
    END_OF_DAY = "end-of-day"
    WEEKLY = "weekly"

    @classmethod
    def parse(cls, value: str) -> ReportType:
        """Return the report type named by `value`, or raise InvalidInput listing the valid ones."""
        try:
            return cls(value)
        except ValueError:
            valid = ", ".join(t.value for t in cls)
            raise InvalidInput(f"unknown report type {value!r}; expected one of: {valid}") from None


class RunStatus(enum.StrEnum):
    """Where a run stands; only validation decides success, partial or failed."""

    RUNNING = "running"
    SUCCESS = "success"
    PARTIAL = "partial"
    FAILED = "failed"


PUBLISHABLE = (RunStatus.SUCCESS, RunStatus.PARTIAL)
"""The statuses of a run that produced a report readers may get."""


class TriggerSource(enum.StrEnum):
    """What really started a run, recorded as it was (never collapsed to one value)."""

    SCHEDULE = "schedule"
    CATCH_UP = "catch-up"
    MANUAL = "manual"
    API = "api"
    BACKFILL = "backfill"
    IMPORT = "import"

    @property
    def claims_slot(self) -> bool:
        """Whether a run of this trigger takes its (date, type) slot exclusively."""
        return self in (TriggerSource.SCHEDULE, TriggerSource.CATCH_UP)


class Stage(enum.StrEnum):
    """The stages of a run, in order."""

    INIT = "init"
    DATA_FETCH = "data_fetch"
    ANALYSIS = "analysis"
    STORAGE = "storage"
    FINALIZE = "finalize"


class StageStatus(enum.StrEnum):
    """How one stage ended."""

    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"


class Direction(enum.StrEnum):
    """A prediction's direction."""

    UP = "up"
    DOWN = "down"
    NEUTRAL = "neutral"


class PredictionStatus(enum.StrEnum):
    """Whether the analysis of one symbol worked."""

    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class Run:
    """One execution of a report job, as kept in `job_executions`."""

    id: int
    run_id: str
    report_type: ReportType
    scheduled_date: date
    status: RunStatus
    current_stage: str | None
    trigger_source: TriggerSource
    started_at: datetime
    executed_at: datetime | None
    execution_time_ms: int | None
    symbols_processed: int
    symbols_successful: int
    symbols_fallback: int
    symbols_failed: int
    success_rate: float | None
    errors: list[Any]
    warnings: list[Any]
    created_at: datetime
    # The version of the report this run produces: issued by the store when it claimed the run
    # (so it follows the order in which runs really started, whatever the hosts' clocks say),
    # or provisional for a run the store could not claim (see `provisional_version`).
    version: int


@dataclass(frozen=True, slots=True)
class StageRecord:
    """One stage of one run."""

    run_id: str
    stage: Stage
    status: StageStatus
    started_at: datetime
    ended_at: datetime | None
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Every field as JSON-ready values."""
        return {
            "run_id": self.run_id,
            "stage": self.stage.value,
            "status": self.status.value,
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "details": self.details,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> StageRecord:
        """The inverse of `as_dict`."""
        ended = raw["ended_at"]
        return cls(
            run_id=raw["run_id"],
            stage=Stage(raw["stage"]),
            status=StageStatus(raw["status"]),
            started_at=datetime.fromisoformat(raw["started_at"]),
            ended_at=datetime.fromisoformat(ended) if ended else None,
            details=dict(raw["details"]),
        )


@dataclass(frozen=True, slots=True)
class Prediction:
    """One symbol's analysis in one run; confidence None means the analysis failed."""

    symbol: str
    direction: Direction
    confidence: float | None
    sentiment_score: float | None
    articles_count: int
    model: str
    status: PredictionStatus
    error: str | None = None
    headlines: list[Any] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Every field as JSON-ready values."""
        return {
            "symbol": self.symbol,
            "direction": self.direction.value,
            "confidence": self.confidence,
            "sentiment_score": self.sentiment_score,
            "articles_count": self.articles_count,
            "model": self.model,
            "status": self.status.value,
            "error": self.error,
            "headlines": list(self.headlines),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Prediction:
        """The inverse of `as_dict`."""
        return cls(
            symbol=raw["symbol"],
            direction=Direction(raw["direction"]),
            confidence=raw["confidence"],
            sentiment_score=raw["sentiment_score"],
            articles_count=raw["articles_count"],
            model=raw["model"],
            status=PredictionStatus(raw["status"]),
            error=raw["error"],
            headlines=list(raw["headlines"]),
        )


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One stored report: the exact payload bytes and where they came from."""

    id: int
    run_id: str | None
    scheduled_date: date
    report_type: ReportType
    content: bytes
    metadata: dict[str, Any]
    trigger_source: TriggerSource
    content_sha256: str
    created_at: datetime
    version: int


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of claiming a run: the run, or the run that already holds the slot."""

    claimed: bool
    run: Run


@dataclass(frozen=True, slots=True)
class DailyAnalysis:
    """A pre-market run's summary of the day: counts by kind of call, the signals, the pulse."""

    counts: dict[str, int]
    summary: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form (the outbox keeps it so)."""
        return {"counts": self.counts, "summary": self.summary}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> DailyAnalysis:
        """The inverse of `as_dict`."""
        return cls(counts=dict(raw["counts"]), summary=dict(raw["summary"]))


@dataclass(frozen=True, slots=True)
class Completion:
    """Everything a finished run writes, in one transaction; also the outbox's unit of work."""

    run_id: str
    report_type: ReportType
    scheduled_date: date
    trigger_source: TriggerSource
    started_at: datetime
    executed_at: datetime
    status: RunStatus
    content: bytes | None
    # The version of the report this completion publishes: its run's (`Run.version`).
    version: int
    metadata: dict[str, Any] = field(default_factory=dict)
    predictions: tuple[Prediction, ...] = ()
    symbols_processed: int = 0
    symbols_successful: int = 0
    symbols_fallback: int = 0
    symbols_failed: int = 0
    errors: tuple[Any, ...] = ()
    warnings: tuple[Any, ...] = ()
    # The last stages' records, written in the same transaction as the result, so nobody ever
    # sees a finished run whose final stages are missing.
    stages: tuple[StageRecord, ...] = ()
    # The pre-market run's summary of the day, kept in `daily_analysis` by the same transaction.
    daily_analysis: DailyAnalysis | None = None

    @property
    def success_rate(self) -> float | None:
        """Successful symbols over processed ones, or None when nothing was processed."""
        if self.symbols_processed == 0:
            return None
        return self.symbols_successful / self.symbols_processed


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one completion: where it is kept, and whether readers now get its report.

    The store answers with one (persisted); the write path answers with one too, unpersisted
    when the completion went to the outbox instead (acknowledged all the same: it is fsync'd).
    """

    run_id: str
    persisted: bool
    published: bool
    snapshot_id: int | None = None
    already_finished: bool = False
    # When a publishable report lost the compare-and-set: the run whose report readers get.
    superseded_by: str | None = None

    @property
    def outboxed(self) -> bool:
        """Spooled to the outbox, waiting for the store."""
        return not self.persisted


@dataclass(frozen=True, slots=True)
class RunDetail:
    """A run with its stages, predictions and snapshot."""

    run: Run
    stages: list[StageRecord]
    predictions: list[Prediction]
    snapshot: Snapshot | None


VERSION_STRIDE = 1 << 20
"""The store issues versions this far apart; a run it could not claim is ordered in the gap."""


def provisional_version(floor: int, nth: int) -> int:
    """The version of a run the store could not claim: just above `floor`, below the next one.

    `floor` is the highest version the run's process knew the store to have issued when the
    run started (so the run started after that one); `nth` (from 1) orders the process's own
    unclaimed runs since it learned that floor. Every version the store issues later is at
    least `floor + VERSION_STRIDE`, so it ranks above this one.
    """
    return floor + min(max(nth, 1), VERSION_STRIDE - 1)


def version_of(started_at: datetime) -> int:
    """A legacy version: microseconds since the epoch at the run's start, by its host's clock.

    Versions were this before the store issued them; it still orders runs whose rows or outbox
    files predate that (a run row with no stored version, an outbox file without one).
    """
    if started_at.tzinfo is None:
        raise ValueError("started_at must be timezone-aware")
    return (started_at - _EPOCH) // timedelta(microseconds=1)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
