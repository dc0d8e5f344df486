"""What one run did: claimed or not, what it completed, and what became of that completion.

The log keeps one line when a run starts and one when it ends (`finished` with its status and
duration, or `failed` with its reason), each with the run's fields for JSON lines.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

from marketbrief.models import Completion, Outcome, ReportType, Run, RunStatus
from marketbrief.results.records import summary

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What one run did: whether it was claimed, what it completed and what became of that."""

    run_id: str
    report_type: ReportType
    scheduled_date: date
    claimed: bool
    completion: Completion | None = None
    outcome: Outcome | None = None

    @property
    def status(self) -> RunStatus | None:
        """The run's verdict (None when another process holds the slot)."""
        return self.completion.status if self.completion else None

    @property
    def persisted(self) -> bool:
        """Committed to the store."""
        return self.outcome is not None and self.outcome.persisted

    @property
    def outboxed(self) -> bool:
        """Spooled to the outbox, waiting for the store."""
        return self.outcome is not None and self.outcome.outboxed

    @property
    def published(self) -> bool:
        """Its report became the latest for its date."""
        return self.outcome is not None and self.outcome.published

    @property
    def superseded_by(self) -> str | None:
        """The run whose report readers get, when this run's lost the compare-and-set."""
        return self.outcome.superseded_by if self.outcome is not None else None

    @property
    def processed(self) -> int:
        """Symbols the run processed."""
        return self.completion.symbols_processed if self.completion else 0

    @property
    def successful(self) -> int:
        """Symbols with a usable result."""
        return self.completion.symbols_successful if self.completion else 0

    @property
    def failed(self) -> int:
        """Symbols whose analysis failed."""
        return self.completion.symbols_failed if self.completion else 0

    @property
    def errors(self) -> list[Any]:
        """What went wrong, as the run records it."""
        return list(self.completion.errors) if self.completion else []

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form for the CLI."""
        return {
            "run_id": self.run_id,
            "report_type": self.report_type.value,
            "scheduled_date": self.scheduled_date.isoformat(),
            "claimed": self.claimed,
            "status": self.status.value if self.status else None,
            "persisted": self.persisted,
            "outboxed": self.outboxed,
            "published": self.published,
            "superseded_by": self.superseded_by,
            "symbols": {
                "processed": self.processed,
                "successful": self.successful,
                "failed": self.failed,
            },
            "errors": self.errors,
        }


def log_started(run: Run) -> None:
    """One line: this run started (its type, business date and trigger)."""
    log.info(
        "run %s started: %s for %s (%s)",
        run.run_id,
        run.report_type.value,
        run.scheduled_date,
        run.trigger_source.value,
        extra={
            "event": "run_started",
            "run_id": run.run_id,
            "report_type": run.report_type.value,
            "business_date": run.scheduled_date.isoformat(),
            "trigger": run.trigger_source.value,
        },
    )


def log_finished(completion: Completion) -> None:
    """One line: the run finished with its status and duration, or failed with its reason."""
    duration_ms = round((completion.executed_at - completion.started_at).total_seconds() * 1000)
    failed = completion.status is RunStatus.FAILED
    reason = summary(completion.errors if failed else completion.warnings)
    fields = {
        "event": "run_failed" if failed else "run_finished",
        "run_id": completion.run_id,
        "report_type": completion.report_type.value,
        "business_date": completion.scheduled_date.isoformat(),
        "status": completion.status.value,
        "duration_ms": duration_ms,
        "symbols_successful": completion.symbols_successful,
        "symbols_processed": completion.symbols_processed,
        "reason": reason,
    }
    if failed:
        log.info(
            "run %s failed after %d ms: %s",
            completion.run_id,
            duration_ms,
            reason or "no reason recorded",
            extra=fields,
        )
        return
    log.info(
        "run %s finished %s in %d ms (%d of %d symbols usable)%s",
        completion.run_id,
        completion.status.value,
        duration_ms,
        completion.symbols_successful,
        completion.symbols_processed,
        f": {reason}" if reason and completion.status is RunStatus.PARTIAL else "",
        extra=fields,
    )
