"""A run's lifecycle: claim, stages as they happen, validate, persist (DESIGN.md section 4).

The true trigger source is recorded (LESSONS 13); validation, not hope, decides success
(LESSONS 11, 12); the run row is finished in the same transaction as its report, and a run that
crashes is finished as failed rather than left running (LESSONS 15).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from marketbrief.errors import InvalidInput, MarketbriefError, StoreError, StoreUnavailable
from marketbrief.models import (
    Claim,
    Completion,
    ReportType,
    Run,
    RunStatus,
    Stage,
    StageRecord,
    StageStatus,
    TriggerSource,
)
from marketbrief.results import Results
from marketbrief.runs.jobs import BUILDERS, Analyst, JobContext, JobResult, PriceFeed
from marketbrief.runs.scheduler import Slot
from marketbrief.store.sql import new_run_id

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What one run did."""

    run_id: str
    report_type: ReportType
    scheduled_date: date
    claimed: bool
    status: RunStatus | None = None
    persisted: bool = False
    outboxed: bool = False
    published: bool = False
    processed: int = 0
    successful: int = 0
    failed: int = 0
    errors: list[Any] = field(default_factory=list)

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
            "symbols": {
                "processed": self.processed,
                "successful": self.successful,
                "failed": self.failed,
            },
            "errors": self.errors,
        }


class Runner:
    """Runs report jobs for one process: from the CLI, the API or the scheduler."""

    def __init__(self, results: Results, analyst: Analyst, prices: PriceFeed) -> None:
        self.results = results
        self.deps = results.deps
        self.analyst = analyst
        self.prices = prices
        self._background: set[asyncio.Task[RunOutcome]] = set()

    def resolve_day(self, kind: ReportType, day: date | None) -> date:
        """The business date a run is for: given, or the current one; it must have a slot."""
        calendar = self.deps.calendar
        day = day or calendar.default_report_date(kind, self.deps.clock())
        if not calendar.has_slot(kind, day):
            what = (
                "a Sunday closing a week with sessions"
                if kind is ReportType.WEEKLY
                else "a session"
            )
            raise InvalidInput(f"{day.isoformat()} is not {what}: no {kind.value} report is due")
        return day

    async def run(
        self,
        kind: ReportType,
        day: date | None = None,
        trigger: TriggerSource = TriggerSource.MANUAL,
    ) -> RunOutcome:
        """Claim and execute one run now, waiting for it to finish."""
        day = self.resolve_day(kind, day)
        claim = await self._claim(kind, day, trigger)
        if not claim.claimed:
            return RunOutcome(claim.run.run_id, kind, day, claimed=False)
        return await self.execute(claim.run)

    async def start(self, kind: ReportType, day: date | None, trigger: TriggerSource) -> str:
        """Claim a run and execute it in the background; returns its run_id at once."""
        day = self.resolve_day(kind, day)
        claim = await self._claim(kind, day, trigger)
        if claim.claimed:
            task = asyncio.create_task(self.execute(claim.run))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return claim.run.run_id

    async def run_slot(self, slot: Slot, trigger: TriggerSource) -> RunOutcome:
        """The scheduler's entry: the slot is claimed once across every process."""
        claim = await self._claim(slot.report_type, slot.day, trigger)
        if not claim.claimed:
            log.info(
                "slot %s %s already claimed by %s", slot.report_type, slot.day, claim.run.run_id
            )
            return RunOutcome(claim.run.run_id, slot.report_type, slot.day, claimed=False)
        return await self.execute(claim.run)

    async def drain(self) -> None:
        """Wait for background runs (used on shutdown)."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def _claim(self, kind: ReportType, day: date, trigger: TriggerSource) -> Claim:
        store = self.deps.store
        now = self.deps.clock()
        try:
            return await self.deps.in_store(store.claim_run, kind, day, trigger, started_at=now)
        except StoreUnavailable:
            if trigger.claims_slot:
                raise  # exactly-once needs the store; the scheduler catches up later
            # A manual run goes ahead: its completion carries the whole run to the outbox.
            run = Run(
                id=0,
                run_id=new_run_id(day, kind),
                job_type=kind,
                scheduled_date=day,
                status=RunStatus.RUNNING,
                current_stage=Stage.INIT.value,
                trigger_source=trigger,
                started_at=now,
                executed_at=None,
                execution_time_ms=None,
                symbols_processed=0,
                symbols_successful=0,
                symbols_fallback=0,
                symbols_failed=0,
                success_rate=None,
                errors=[],
                warnings=["the store was unavailable when this run started"],
                created_at=now,
            )
            return Claim(claimed=True, run=run)

    async def execute(self, run: Run) -> RunOutcome:
        """Compute, validate and persist one claimed run; never leaves it running."""
        stages = _StageLog(self, run)
        await stages.enter(Stage.INIT)
        slot = self.deps.calendar.slot_instant(run.job_type, run.scheduled_date)
        now = self.deps.clock()
        until = min(slot, now) if slot is not None else now
        context = JobContext(
            report_type=run.job_type,
            day=run.scheduled_date,
            until=until,
            deps=self.deps,
            analyst=self.analyst,
            prices=self.prices,
            stage=stages.enter,
        )
        try:
            result = await BUILDERS[run.job_type](context)
        except MarketbriefError as error:
            result = JobResult(RunStatus.FAILED, None, errors=[await stages.fail(error)])
        except Exception as error:  # a bug must fail the run, not leave it running
            log.exception("run %s crashed", run.run_id)
            result = JobResult(RunStatus.FAILED, None, errors=[await stages.fail(error)])
        await stages.enter(Stage.STORAGE)
        metadata = dict(result.metadata)
        if slot is not None:
            metadata["lateness_seconds"] = round((run.started_at - slot).total_seconds(), 3)
        completion = Completion(
            run_id=run.run_id,
            job_type=run.job_type,
            scheduled_date=run.scheduled_date,
            trigger_source=run.trigger_source,
            started_at=run.started_at,
            executed_at=self.deps.clock(),
            status=result.status,
            content=result.content,
            metadata=metadata,
            predictions=tuple(result.predictions),
            symbols_processed=result.processed,
            symbols_successful=result.successful,
            symbols_fallback=result.fallback,
            symbols_failed=result.failed,
            errors=tuple(result.errors),
            warnings=(*run.warnings, *result.warnings, *stages.warnings),
            stages=stages.final(result.status),
        )
        outcome = await self.results.publish(completion)
        if run.job_type is ReportType.PRE_MARKET and outcome.persisted and result.payload:
            await self._record_daily_analysis(completion, result)
        return RunOutcome(
            run.run_id,
            run.job_type,
            run.scheduled_date,
            claimed=True,
            status=result.status,
            persisted=outcome.persisted,
            outboxed=outcome.outboxed,
            published=outcome.published,
            processed=result.processed,
            successful=result.successful,
            failed=result.failed,
            errors=list(result.errors),
        )

    async def _record_daily_analysis(self, completion: Completion, result: JobResult) -> None:
        payload = result.payload or {}
        try:
            await self.deps.in_store(
                self.deps.store.save_daily_analysis,
                completion.scheduled_date,
                completion.run_id,
                payload.get("counts", {}),
                {
                    "signals": payload.get("signals", []),
                    "market_pulse": payload.get("market_pulse"),
                },
                int((completion.executed_at - completion.started_at).total_seconds() * 1000),
            )
        except StoreError as error:
            log.warning("daily analysis for %s not recorded: %s", completion.run_id, error)


class _StageLog:
    """Records stages as they happen; a store hiccup here never fails the run itself."""

    def __init__(self, runner: Runner, run: Run) -> None:
        self.runner = runner
        self.run = run
        self.current: Stage | None = None
        self.started: datetime | None = None
        self.warnings: list[str] = []

    async def enter(self, stage: Stage) -> None:
        if self.current is stage:
            return
        now = self.runner.deps.clock()
        if self.current is not None:
            await self._record(self.current, StageStatus.SUCCESS, self.started or now, now)
        self.current, self.started = stage, now
        await self._record(stage, StageStatus.RUNNING, now, None)

    async def fail(self, error: Exception) -> dict[str, str]:
        """Record the current stage as failed; returns the error as the run records it."""
        stage = self.current or Stage.INIT
        message = {"stage": stage.value, "error": f"{type(error).__name__}: {error}"}
        now = self.runner.deps.clock()
        await self._record(stage, StageStatus.FAILED, self.started or now, now, message)
        self.current, self.started = None, None
        return message

    def final(self, status: RunStatus) -> tuple[StageRecord, ...]:
        """The closing stage records, written in the same transaction as the result."""
        now = self.runner.deps.clock()
        records = []
        if self.current is not None and self.started is not None:
            records.append(
                StageRecord(self.run.run_id, self.current, StageStatus.SUCCESS, self.started, now)
            )
        final = StageStatus.FAILED if status is RunStatus.FAILED else StageStatus.SUCCESS
        records.append(
            StageRecord(self.run.run_id, Stage.FINALIZE, final, now, now, {"status": status.value})
        )
        return tuple(records)

    async def _record(
        self,
        stage: Stage,
        status: StageStatus,
        started: datetime,
        ended: datetime | None,
        details: dict[str, Any] | None = None,
    ) -> None:
        if self.run.id == 0:
            return  # never claimed in the store: there is no row to hang stages on
        deps = self.runner.deps
        try:
            await deps.in_store(
                deps.store.record_stage,
                self.run.run_id,
                stage,
                status,
                started_at=started,
                ended_at=ended,
                details=details,
            )
        except StoreError as error:
            self.warnings.append(f"stage {stage.value} not recorded: {error}")
