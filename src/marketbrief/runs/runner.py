"""A run's lifecycle: claim, stages as they happen, validate, persist.

The true trigger source is recorded, so two schedulers or a late run can be told apart;
validation, not hope, decides success (a run with nothing usable in it is failed); the run row
is finished in the same transaction as its report, and a run that crashes is finished as failed
rather than left running.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from marketbrief.errors import (
    InvalidInput,
    MarketbriefError,
    OutboxError,
    StoreError,
    StoreUnavailable,
)
from marketbrief.models import (
    Claim,
    Completion,
    DailyAnalysis,
    ReportType,
    Run,
    RunStatus,
    Stage,
    StageRecord,
    StageStatus,
    TriggerSource,
)
from marketbrief.pipeline.ports import Analyst, PriceFeed
from marketbrief.pipeline.text import safe_value
from marketbrief.results import Results
from marketbrief.results.slots import Slot
from marketbrief.runs.jobs import BUILDERS, JobContext, JobPolicy, JobResult
from marketbrief.runs.lease import kept_alive
from marketbrief.runs.outcome import RunOutcome, log_finished, log_started
from marketbrief.runs.versions import VersionFloor
from marketbrief.store.writes import new_run_id

log = logging.getLogger(__name__)


class Runner:
    """Runs report jobs for one process: from the CLI, the API or the scheduler."""

    def __init__(
        self,
        results: Results,
        analyst: Analyst,
        prices: PriceFeed,
        policy: JobPolicy,
        *,
        lease: timedelta,
    ) -> None:
        self.results = results
        self.lease = lease
        self.store = results.store
        self.calendar = results.calendar
        self.analyst = analyst
        self.prices = prices
        self.policy = policy
        self.versions = VersionFloor()
        # Told of every run this process finished (the alerts' hook); must not block.
        self.on_finished: Callable[[RunOutcome], None] | None = None
        self._background: set[asyncio.Task[RunOutcome]] = set()

    def resolve_day(self, kind: ReportType, day: date | None) -> date:
        """The business date a run is for: given (not after the current one), with a slot."""
        calendar = self.calendar
        now = self.results.now()
        day = day or calendar.default_report_date(kind, now)
        if not calendar.has_slot(kind, day):
            what = (
                "a Sunday closing a week with sessions"
                if kind is ReportType.WEEKLY
                else "a session"
            )
            raise InvalidInput(f"{day.isoformat()} is not {what}: no {kind.value} report is due")
        calendar.check_due(kind, day, now)
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
        """Claim a run and execute it in the background; returns its run_id at once.

        A run_id is handed out only for a run that is durable: claimed in the store or, while
        the store is unavailable, spooled to the outbox (its completion replaces the spooled
        claim when it finishes). When neither can take it this raises StoreUnavailable, and
        the API answers 503.
        """
        day = self.resolve_day(kind, day)
        claim = await self._claim(kind, day, trigger)
        if claim.claimed and claim.run.id == 0:
            try:
                await self.results.spool(_claim_record(claim.run))
            except OutboxError as error:
                raise StoreUnavailable(
                    f"the store is unavailable and the outbox cannot hold the run ({error})"
                ) from error
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
        now = self.results.now()
        try:
            claim = await self.store.claim_run(
                kind, day, trigger, started_at=now, lease_until=now + self.lease
            )
        except StoreUnavailable:
            if trigger.claims_slot:
                raise  # exactly-once needs the store; the scheduler catches up later
            # A manual run goes ahead: its completion carries the whole run to the outbox,
            # with a provisional version above every one this process knew the store issued.
            self.versions.saw(await self.results.cached_version(kind, day))
            run = Run(
                id=0,
                run_id=new_run_id(day, kind),
                report_type=kind,
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
                version=self.versions.provisional(),
            )
            return Claim(claimed=True, run=run)
        self.versions.saw(claim.run.version)
        return claim

    async def execute(self, run: Run) -> RunOutcome:
        """Compute, validate and persist one claimed run; never leaves it running."""
        if run.id == 0:  # never claimed in the store: there is no lease to keep
            return await self._execute(run)
        async with kept_alive(self.store, run.run_id, self.lease, self.results.now):
            return await self._execute(run)

    async def _execute(self, run: Run) -> RunOutcome:
        log_started(run)
        stages = _StageLog(self, run)
        await stages.enter(Stage.INIT)
        slot = self.calendar.slot_instant(run.report_type, run.scheduled_date)
        now = self.results.now()
        until = min(slot, now) if slot is not None else now
        context = JobContext(
            report_type=run.report_type,
            day=run.scheduled_date,
            until=until,
            store=self.store,
            calendar=self.calendar,
            policy=self.policy,
            analyst=self.analyst,
            prices=self.prices,
            stage=stages.enter,
        )
        try:
            result = await BUILDERS[run.report_type](context)
            content = result.content  # encoded here: a payload that cannot be fails the run
        except MarketbriefError as error:
            result = JobResult(RunStatus.FAILED, None, errors=[await stages.fail(error)])
            content = None
        except Exception as error:  # a bug must fail the run, not leave it running
            log.exception("run %s crashed", run.run_id)
            result = JobResult(RunStatus.FAILED, None, errors=[await stages.fail(error)])
            content = None
        # A stage the run's errors name as failed is recorded failed, never success.
        await stages.fail_named(result.errors)
        await stages.enter(Stage.STORAGE)
        metadata = dict(result.metadata)
        if slot is not None:
            metadata["lateness_seconds"] = round((run.started_at - slot).total_seconds(), 3)
        completion = Completion(
            run_id=run.run_id,
            report_type=run.report_type,
            scheduled_date=run.scheduled_date,
            trigger_source=run.trigger_source,
            started_at=run.started_at,
            executed_at=self.results.now(),
            status=result.status,
            content=content,
            version=run.version,
            metadata=safe_value(metadata),
            predictions=tuple(result.predictions),
            symbols_processed=result.processed,
            symbols_successful=result.successful,
            symbols_fallback=result.fallback,
            symbols_failed=result.failed,
            errors=tuple(safe_value(result.errors)),
            warnings=tuple(safe_value([*run.warnings, *result.warnings, *stages.warnings])),
            stages=stages.final(result.status),
            daily_analysis=_daily_analysis(run.report_type, result),
        )
        outcome = await self.results.publish(completion)
        log_finished(completion)
        finished = RunOutcome(
            run.run_id, run.report_type, run.scheduled_date, True, completion, outcome
        )
        if self.on_finished is not None:
            self.on_finished(finished)
        return finished


def _claim_record(run: Run) -> Completion:
    """A run claimed while the store was down, as the outbox keeps it until it finishes.

    Replayed on its own (the process stopped before the run finished), it records the run as
    running, so the sweeper can judge it like any other run whose worker is gone.
    """
    return Completion(
        run_id=run.run_id,
        report_type=run.report_type,
        scheduled_date=run.scheduled_date,
        trigger_source=run.trigger_source,
        started_at=run.started_at,
        executed_at=run.started_at,
        status=RunStatus.RUNNING,
        content=None,
        version=run.version,
        warnings=tuple(run.warnings),
    )


def _daily_analysis(report_type: ReportType, result: JobResult) -> DailyAnalysis | None:
    """A pre-market run's summary of the day, kept with its run in the same transaction."""
    payload = result.payload
    if report_type is not ReportType.PRE_MARKET or not payload:
        return None
    return DailyAnalysis(
        counts=dict(payload.get("counts", {})),
        summary={
            "signals": payload.get("signals", []),
            "market_pulse": payload.get("market_pulse"),
        },
    )


class _StageLog:
    """Records stages as they happen; a store hiccup here never fails the run itself."""

    def __init__(self, runner: Runner, run: Run) -> None:
        self.runner = runner
        self.run = run
        self.current: Stage | None = None
        self.started: datetime | None = None
        self.began: dict[Stage, datetime] = {}
        self.warnings: list[str] = []

    async def enter(self, stage: Stage) -> None:
        if self.current is stage:
            return
        now = self.runner.results.now()
        if self.current is not None:
            await self._record(self.current, StageStatus.SUCCESS, self.started or now, now)
        self.current, self.started = stage, now
        self.began[stage] = now
        await self._record(stage, StageStatus.RUNNING, now, None)

    async def fail(self, error: Exception) -> dict[str, str]:
        """Record the current stage as failed; returns the error as the run records it."""
        stage = self.current or Stage.INIT
        message = {"stage": stage.value, "error": f"{type(error).__name__}: {error}"}
        now = self.runner.results.now()
        await self._record(stage, StageStatus.FAILED, self.started or now, now, message)
        self.current, self.started = None, None
        return message

    async def fail_named(self, errors: list[Any]) -> None:
        """Record as failed each stage an error of the run names (`{"stage": ..., "error": ...}`).

        A builder that gives up returns its verdict instead of raising; without this, the stage
        it gave up in would be closed as success when the next one starts.
        """
        known = {stage.value: stage for stage in Stage}
        now = self.runner.results.now()
        for error in errors:
            name = error.get("stage") if isinstance(error, dict) else None
            stage = known.get(name) if isinstance(name, str) else None
            if stage is None or stage not in self.began:
                continue
            details = {"stage": stage.value, "error": str(error.get("error"))}
            await self._record(stage, StageStatus.FAILED, self.began[stage], now, details)
            if stage is self.current:
                self.current, self.started = None, None

    def final(self, status: RunStatus) -> tuple[StageRecord, ...]:
        """The closing stage records, written in the same transaction as the result."""
        now = self.runner.results.now()
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
        try:
            await self.runner.store.record_stage(
                self.run.run_id,
                stage,
                status,
                started_at=started,
                ended_at=ended,
                details=details,
            )
        except StoreError as error:
            self.warnings.append(f"stage {stage.value} not recorded: {error}")
