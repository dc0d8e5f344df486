"""What each report type computes: gather inputs, call its pure builder, judge the result.

The runner owns the lifecycle (claim, stages, persist); these functions own the content. The
pipeline is reached through its two small ports (`pipeline.ports`), so a run can be driven by
local files, live feeds or a test's loopback server alike.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

import orjson

from marketbrief.calendar import MarketCalendar
from marketbrief.errors import InvalidInput
from marketbrief.models import Prediction, PredictionStatus, ReportType, Run, RunStatus, Stage
from marketbrief.pipeline.ports import Analysis, Analyst, PriceFeed
from marketbrief.reports.common import is_usable, judge, unusable
from marketbrief.reports.endofday import build_end_of_day
from marketbrief.reports.intraday import build_intraday, build_quiet_intraday
from marketbrief.reports.payload import parsed
from marketbrief.reports.premarket import MARKET_PULSE, build_pre_market
from marketbrief.reports.weekly import build_weekly
from marketbrief.store.gateway import Store

StageHook = Callable[[Stage], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class JobResult:
    """A run's content and verdict, ready to become a Completion."""

    status: RunStatus
    payload: dict[str, Any] | None
    predictions: list[Prediction] = field(default_factory=list)
    processed: int = 0
    successful: int = 0
    failed: int = 0
    fallback: int = 0
    errors: list[Any] = field(default_factory=list)
    warnings: list[Any] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def content(self) -> bytes | None:
        """The payload as the exact bytes to store and serve."""
        return orjson.dumps(self.payload) if self.payload is not None else None


@dataclass(frozen=True, slots=True)
class JobPolicy:
    """What the jobs need to know of the settings: the portfolio and the confidence threshold."""

    symbols: tuple[str, ...]
    high_confidence: float


@dataclass(slots=True)
class JobContext:
    """Everything one run needs to compute its content."""

    report_type: ReportType
    day: date
    until: datetime
    store: Store
    calendar: MarketCalendar
    policy: JobPolicy
    analyst: Analyst
    prices: PriceFeed
    stage: StageHook


def news_window(calendar: MarketCalendar, kind: ReportType, day: date) -> datetime:
    """Where a run's news window starts (it ends at the slot instant, or now if earlier)."""
    if kind is ReportType.PRE_MARKET:
        return calendar.session_close(calendar.previous_session(day))
    slot = calendar.slot_instant(ReportType.PRE_MARKET, day)
    if slot is None:
        raise InvalidInput(f"{day.isoformat()} is not a session")
    return slot


async def _analyse(ctx: JobContext, since: datetime) -> Analysis:
    symbols = [*ctx.policy.symbols, MARKET_PULSE]
    await ctx.stage(Stage.DATA_FETCH)
    fetched = await ctx.analyst.fetch_news(symbols, since, ctx.until)
    await ctx.stage(Stage.ANALYSIS)
    return await ctx.analyst.analyse(fetched)


def _from_analysis(payload: dict[str, Any], analysis: Analysis, **extra: Any) -> JobResult:
    verdict = judge(analysis.predictions)
    failed = verdict.status is RunStatus.FAILED
    errors: list[Any] = [{"stage": "analysis", "error": verdict.reason}] if failed else []
    return JobResult(
        status=verdict.status,
        payload=None if failed else payload,
        predictions=analysis.predictions,
        processed=verdict.processed,
        successful=verdict.successful,
        failed=verdict.failed,
        fallback=analysis.fallbacks,
        errors=errors + (analysis.failures if failed else []),
        warnings=[] if failed else [*unusable(analysis.predictions), *analysis.failures],
        **extra,
    )


async def pre_market(ctx: JobContext) -> JobResult:
    """Analyse the news since the previous session's close."""
    since = news_window(ctx.calendar, ctx.report_type, ctx.day)
    analysis = await _analyse(ctx, since)
    payload = build_pre_market(
        ctx.day,
        analysis.predictions,
        since=since,
        until=ctx.until,
        high_confidence=ctx.policy.high_confidence,
        details=analysis.details,
        news_sources=analysis.sources,
    )
    return _from_analysis(payload, analysis, metadata={"counts": payload["counts"]})


async def intraday(ctx: JobContext) -> JobResult:
    """A fresh midday analysis against the morning's latest good run."""
    since = news_window(ctx.calendar, ctx.report_type, ctx.day)
    morning = await ctx.store.good_run(ReportType.PRE_MARKET, ctx.day)
    analysis = await _analyse(ctx, since)
    if morning is not None and _quiet(analysis):
        return _quiet_intraday(ctx, since, morning, analysis)
    run_id = morning[0].run_id if morning else None
    payload = build_intraday(
        ctx.day,
        analysis.predictions,
        pre_market_run_id=run_id,
        pre_market=morning[1] if morning else [],
        since=since,
        until=ctx.until,
        details=analysis.details,
    )
    result = _from_analysis(payload, analysis, metadata={"pre_market_run_id": run_id})
    if morning is None and result.status is RunStatus.SUCCESS:
        reason = payload["partial_reason"]
        return replace(result, status=RunStatus.PARTIAL, warnings=[*result.warnings, reason])
    return result


def _quiet(analysis: Analysis) -> bool:
    """No symbol had a headline in the window, and no provider failed: nothing new happened."""
    predictions = analysis.predictions
    return (
        bool(predictions)
        and not analysis.failures
        and all(p.status is PredictionStatus.SKIPPED for p in predictions)
    )


def _quiet_intraday(
    ctx: JobContext,
    since: datetime,
    morning: tuple[Run, list[Prediction]],
    analysis: Analysis,
) -> JobResult:
    """A quiet midday window: the morning's calls stand, and the run says why."""
    run, calls = morning
    payload = build_quiet_intraday(
        ctx.day, pre_market_run_id=run.run_id, pre_market=calls, since=since, until=ctx.until
    )
    carried = sum(is_usable(p) for p in calls)
    return JobResult(
        status=RunStatus.SUCCESS,
        payload=payload,
        predictions=analysis.predictions,
        processed=len(analysis.predictions),
        successful=carried,
        warnings=[
            f"{payload['note']}: no symbol had a headline in the intraday window, "
            f"so the morning's calls (run {run.run_id}) stand"
        ],
        metadata={"pre_market_run_id": run.run_id, "quiet": True},
    )


async def end_of_day(ctx: JobContext) -> JobResult:
    """The morning's confident calls scored against the day's close."""
    await ctx.stage(Stage.DATA_FETCH)
    morning = await ctx.store.good_run(ReportType.PRE_MARKET, ctx.day)
    if morning is None:
        reason = f"no successful pre-market run for {ctx.day.isoformat()}"
        return JobResult(RunStatus.FAILED, None, errors=[{"stage": "data_fetch", "error": reason}])
    run, everything = morning
    predictions = [p for p in everything if p.symbol != MARKET_PULSE]
    pulse = next((p for p in everything if p.symbol == MARKET_PULSE), None)
    symbols = [p.symbol for p in everything]
    prices = await ctx.prices.moves(symbols, ctx.day)
    if prices.closes:
        await ctx.store.save_closes(prices.closes)
    await ctx.stage(Stage.ANALYSIS)
    payload = build_end_of_day(
        ctx.day,
        predictions,
        prices.moves,
        pre_market_run_id=run.run_id,
        threshold=ctx.policy.high_confidence,
        pulse=pulse,
    )
    priced = sum(1 for p in predictions if p.symbol in prices.moves)
    if predictions and priced == 0:
        # Zero usable symbols is a failure, whatever the morning said: nothing was scored.
        reason = f"no close found for any symbol on {ctx.day.isoformat()}"
        return JobResult(
            RunStatus.FAILED,
            None,
            processed=len(predictions),
            failed=len(predictions),
            errors=[{"stage": "data_fetch", "error": reason}, *prices.failures],
            metadata={"pre_market_run_id": run.run_id},
        )
    status = RunStatus.SUCCESS
    warnings: list[Any] = list(prices.failures)
    if payload["pending"]:
        status = RunStatus.PARTIAL
        waiting = sorted(p.symbol for p in predictions if p.symbol not in prices.moves)
        warnings.append(
            f"{payload['pending']} scored call(s) wait for a close"
            + (f": no close for {', '.join(waiting)}" if waiting else "")
        )
    return JobResult(
        status,
        payload,
        processed=len(predictions),
        successful=priced,
        failed=len(predictions) - priced,
        warnings=warnings,
        metadata={"pre_market_run_id": run.run_id, "accuracy": payload["accuracy"]},
    )


async def weekly(ctx: JobContext) -> JobResult:
    """The week's sessions, from their end-of-day reports."""
    await ctx.stage(Stage.DATA_FETCH)
    sessions = ctx.calendar.weekly_sessions(ctx.day)
    if not sessions:
        raise InvalidInput(f"the week ending {ctx.day.isoformat()} has no sessions")
    reports: dict[date, dict[str, Any] | None] = {}
    for session in sessions:
        snapshot = await ctx.store.latest_snapshot(ReportType.END_OF_DAY, session)
        reports[session] = parsed(snapshot.content) if snapshot is not None else None
    await ctx.stage(Stage.ANALYSIS)
    found = sum(r is not None for r in reports.values())
    if found == 0:
        reason = f"no end-of-day report in the week ending {ctx.day.isoformat()}"
        return JobResult(RunStatus.FAILED, None, errors=[{"stage": "data_fetch", "error": reason}])
    payload = build_weekly(ctx.day, sessions, reports)
    missing = [d.isoformat() for d, r in reports.items() if r is None]
    return JobResult(
        RunStatus.PARTIAL if missing else RunStatus.SUCCESS,
        payload,
        processed=len(sessions),
        successful=found,
        failed=len(missing),
        warnings=[f"no end-of-day report for {d}" for d in missing],
        metadata={"week": payload["week"], "accuracy": payload["accuracy"]},
    )


BUILDERS: dict[ReportType, Callable[[JobContext], Awaitable[JobResult]]] = {
    ReportType.PRE_MARKET: pre_market,
    ReportType.INTRADAY: intraday,
    ReportType.END_OF_DAY: end_of_day,
    ReportType.WEEKLY: weekly,
}
