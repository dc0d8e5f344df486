"""What one run did: claimed or not, what it completed, and what became of that completion."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from marketbrief.models import Completion, Outcome, ReportType, RunStatus


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
