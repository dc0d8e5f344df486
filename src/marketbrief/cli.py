"""The `marketbrief` command: a thin shell that parses, calls one function and formats."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from functools import wraps
from typing import Any, TypeVar, cast

import click
import orjson

from marketbrief import __version__, views
from marketbrief.api import schedule_payload
from marketbrief.calendar import parse_date, utc_now
from marketbrief.config import Settings
from marketbrief.errors import (
    ConfigError,
    InvalidInput,
    MarketbriefError,
    NotFound,
    SchemaError,
    StoreUnavailable,
)
from marketbrief.models import ReportType, RunStatus, TriggerSource
from marketbrief.outbox import Outbox
from marketbrief.progress import progress_bar
from marketbrief.results import Results
from marketbrief.runner import RunOutcome
from marketbrief.services import Services
from marketbrief.store.base import HistoryQuery
from marketbrief.store.sql import SQLStore, open_store

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
REPORT_TYPES = click.Choice([t.value for t in ReportType])

# The one table mapping errors to exit codes (1 stays "the answer is no": verify, report).
EXIT_CODES: tuple[tuple[type[MarketbriefError], int], ...] = (
    (ConfigError, 2),
    (InvalidInput, 2),
    (NotFound, 4),
    (SchemaError, 5),
    (StoreUnavailable, 3),
    (MarketbriefError, 1),
)


def exits_cleanly(command: F) -> F:
    """Print marketbrief errors as one line on stderr with their exit code, never a traceback."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except MarketbriefError as error:
            code = next(code for kind, code in EXIT_CODES if isinstance(error, kind))
            click.echo(f"error: {error}", err=True)
            sys.exit(code)

    return cast(F, wrapper)


def settings_from(ctx: click.Context) -> Settings:
    """The settings read once at start-up by the group."""
    return cast(Settings, ctx.obj)


def emit_json(value: Any) -> None:
    """Print a value as indented JSON."""
    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="marketbrief")
@click.pass_context
@exits_cleanly
def main(ctx: click.Context) -> None:
    """marketbrief: a portfolio's four daily market moments, kept in SQL, served from a cache.

    Settings come from MARKETBRIEF_* environment variables (see README.md).
    """
    ctx.obj = Settings.from_env()


def _store(ctx: click.Context) -> SQLStore:
    store = open_store(settings_from(ctx).database_url)
    ctx.call_on_close(store.close)
    return store


@main.command()
@click.pass_context
@exits_cleanly
def migrate(ctx: click.Context) -> None:
    """Create or upgrade the schema to the newest migration (safe to run again)."""
    before, after = _store(ctx).migrate()
    if before == after:
        click.echo(f"schema already at {after}; nothing to do")
    else:
        click.echo(f"schema migrated from {before or 'empty'} to {after}")


@main.command()
@click.option(
    "--days",
    type=click.IntRange(1, 366),
    help="Also check that every slot of the last N days has a report (completeness).",
)
@click.option("--now", "now_text", hidden=True, help="Check as if it were this ISO instant.")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.pass_context
@exits_cleanly
def verify(ctx: click.Context, days: int | None, now_text: str | None, as_json: bool) -> None:
    """Check the schema (and with --days, every slot's report); exit 1 listing what is wrong."""
    from marketbrief import completeness
    from marketbrief.calendar import MarketCalendar

    store = _store(ctx)
    result = store.verify()
    found = None
    if days is not None and result.ok:
        settings = settings_from(ctx)
        now = completeness.parse_instant(now_text) if now_text else utc_now()
        grace = timedelta(minutes=settings.pending_grace_minutes)
        found = completeness.check(store, MarketCalendar(settings.slots), now, days, grace)
    healthy = result.ok and (found is None or found.ok)
    if as_json:
        payload = result.as_dict()
        if found is not None:
            payload["completeness"] = found.as_dict()
        emit_json({**payload, "ok": healthy})
    elif result.ok:
        click.echo(f"ok: schema at {result.head}, every table and index present")
    else:
        click.echo("schema problems:")
        for problem in result.problems:
            click.echo(f"  - {problem}")
    if found is not None and not as_json:
        expected, gaps = len(found.slots), found.gaps
        click.echo(
            f"{'ok' if found.ok else 'incomplete'}: {expected - len(gaps)} of {expected} slot(s) "
            f"of the last {days} day(s) have a report"
        )
        for gap in gaps:
            click.echo(
                f"  - {gap.status:<8} {gap.report_type.value:<11} {gap.day} "
                f"(slot {gap.scheduled_at.isoformat()})"
                + (f" run {gap.run_id}" if gap.run_id else "")
            )
    if not healthy:
        sys.exit(1)


def _with_results(ctx: click.Context, work: Callable[[Results], Awaitable[T]]) -> T:
    """Open the results core, run one coroutine against it, close it."""

    async def run() -> T:
        results = Results.open(settings_from(ctx))
        try:
            return await work(results)
        finally:
            await results.close()

    return asyncio.run(run())


def _date_option(value: str | None) -> date | None:
    return parse_date(value) if value is not None else None


@main.command()
@click.argument("report_type", metavar="TYPE", type=REPORT_TYPES)
@click.option("--date", "day", metavar="YYYY-MM-DD", help="Business date (default: current).")
@click.option("--json", "as_json", is_flag=True, help="Print the whole envelope as JSON.")
@click.pass_context
@exits_cleanly
def report(ctx: click.Context, report_type: str, day: str | None, as_json: bool) -> None:
    """Read one report the way the API does; exit 0 with content, 1 without."""
    kind = ReportType(report_type)
    when = _date_option(day)
    response = _with_results(ctx, lambda results: results.get_report(kind, when))
    now = utc_now()
    if as_json:
        click.echo(response.render(now))
    else:
        meta = response.meta(now)
        click.echo(
            f"{meta['report_type']} for {meta['requested_date']}: {meta['state']}"
            + (f" (content of {meta['business_date']})" if meta["business_date"] else "")
        )
        for name in ("source", "run_id", "generated_at", "scheduled_at"):
            if meta.get(name) is not None:
                click.echo(f"  {name}: {meta[name]}")
        if meta["warnings"]:
            click.echo(f"  warnings: {', '.join(meta['warnings'])}")
        if response.data is not None and response.has_content:
            click.echo(orjson.dumps(orjson.loads(response.data), option=orjson.OPT_INDENT_2))
    sys.exit(0 if response.has_content else 1)


@main.command()
@click.option("--date", "day", metavar="YYYY-MM-DD", help="Only this business date.")
@click.option("--type", "report_type", type=REPORT_TYPES, help="Only this report type.")
@click.option("--days", default=14, show_default=True, help="Without --date: how far back.")
@click.option("--purge", is_flag=True, help="Remove every cached entry of this cache first.")
@click.option("--json", "as_json", is_flag=True, help="Print what was warmed as JSON.")
@click.pass_context
@exits_cleanly
def rehydrate(
    ctx: click.Context,
    day: str | None,
    report_type: str | None,
    days: int,
    purge: bool,
    as_json: bool,
) -> None:
    """Replace cached reports with the store's latest ones (purges poisoned entries)."""
    settings = settings_from(ctx)
    if not settings.cache_enabled:
        raise InvalidInput("the cache is switched off (MARKETBRIEF_CACHE=off): nothing to warm")
    if settings.cache_url.startswith("memory"):
        raise InvalidInput(
            "the in-process cache lives inside the running server; rehydrate it there with "
            "POST /api/v1/cache/rehydrate (it also notices store changes by itself)"
        )
    kind = ReportType(report_type) if report_type else None
    when = _date_option(day)
    warmed = _with_results(
        ctx, lambda results: results.rehydrate(kind, when, days=days, purge=purge)
    )
    if as_json:
        emit_json({"warmed": [w.as_dict() for w in warmed]})
        return
    for item in warmed:
        click.echo(f"warmed {item.report_type} {item.business_date} (snapshot {item.snapshot_id})")
    click.echo(f"{len(warmed)} report(s) warmed")


@main.group()
def outbox() -> None:
    """Inspect or replay writes that waited for the store."""


@outbox.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
@exits_cleanly
def outbox_status(ctx: click.Context, as_json: bool) -> None:
    """How many completions wait in the outbox, and which were rejected."""
    box = Outbox(settings_from(ctx).outbox_dir)
    waiting = [p.stem for p in box.pending()]
    rejected = box.rejections()
    if as_json:
        emit_json({"directory": str(box.directory), "waiting": waiting, "rejected": rejected})
        return
    click.echo(f"outbox {box.directory}: {len(waiting)} waiting, {len(rejected)} rejected")
    for run_id in waiting:
        click.echo(f"  waiting  {run_id}")
    for run_id, reason in rejected.items():
        click.echo(f"  rejected {run_id}: {reason}")


@outbox.command("replay")
@click.pass_context
@exits_cleanly
def outbox_replay(ctx: click.Context) -> None:
    """Write every waiting completion to the store now; exit 1 if some still wait."""
    report = _with_results(ctx, lambda results: results.replay_outbox())
    click.echo(
        f"stored {len(report.stored)}, rejected {len(report.rejected)}, "
        f"still waiting {report.remaining}"
    )
    for run_id, reason in report.rejected.items():
        click.echo(f"  rejected {run_id}: {reason}")
    if report.store_unavailable:
        raise StoreUnavailable("the store is still unavailable; nothing more was replayed")
    if report.remaining:
        sys.exit(1)


def _with_services(ctx: click.Context, work: Callable[[Services], Awaitable[T]]) -> T:
    """Open every service (no background tasks), run one coroutine, close them."""

    async def run() -> T:
        services = Services.open(settings_from(ctx))
        try:
            return await work(services)
        finally:
            await services.stop()

    return asyncio.run(run())


@main.command()
@click.argument("report_type", metavar="TYPE", type=REPORT_TYPES)
@click.option("--date", "day", metavar="YYYY-MM-DD", help="Business date (default: current).")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.pass_context
@exits_cleanly
def run(ctx: click.Context, report_type: str, day: str | None, as_json: bool) -> None:
    """Run one report now; a past date is a backfill. Exit 0 success/partial, 1 failed."""
    kind = ReportType(report_type)
    when = _date_option(day)

    async def work(services: Services) -> RunOutcome:
        today = services.calendar.default_report_date(kind, services.clock())
        trigger = (
            TriggerSource.BACKFILL if when is not None and when < today else TriggerSource.MANUAL
        )
        return await services.runner.run(kind, when, trigger)

    outcome = _with_services(ctx, work)
    if as_json:
        emit_json(outcome.as_dict())
    else:
        status = outcome.status.value if outcome.status else "not claimed"
        click.echo(f"{outcome.run_id}: {status}")
        click.echo(
            f"  symbols processed {outcome.processed}, successful {outcome.successful}, "
            f"failed {outcome.failed}"
            + ("; written to the outbox (store unavailable)" if outcome.outboxed else "")
        )
        for error in outcome.errors:
            click.echo(f"  error: {orjson.dumps(error).decode()}")
    sys.exit(0 if outcome.status in (RunStatus.SUCCESS, RunStatus.PARTIAL) else 1)


@main.command()
@click.option("--from", "start", required=True, metavar="YYYY-MM-DD", help="First date.")
@click.option("--to", "end", required=True, metavar="YYYY-MM-DD", help="Last date.")
@click.option("--type", "report_type", type=REPORT_TYPES, help="Only this report type.")
@click.option("--force", is_flag=True, help="Run slots that already have a report too.")
@click.pass_context
@exits_cleanly
def backfill(
    ctx: click.Context, start: str, end: str, report_type: str | None, force: bool
) -> None:
    """Run every slot between two dates in order, skipping slots that have a report."""
    first, last = parse_date(start), parse_date(end)
    if first > last:
        raise InvalidInput("--from must not be after --to")
    kinds = [ReportType(report_type)] if report_type else list(ReportType)

    async def work(services: Services) -> list[RunOutcome]:
        calendar = services.calendar
        slots = sorted(
            (instant, kind, day)
            for day in (first + timedelta(days=n) for n in range((last - first).days + 1))
            for kind in kinds
            if (instant := calendar.slot_instant(kind, day)) is not None
        )
        done: list[RunOutcome] = []
        with progress_bar(len(slots), "backfill") as advance:
            for _, kind, day in slots:
                exists = await services.results.deps.in_store(
                    services.store.latest_snapshot, kind, day
                )
                if exists is None or force:
                    done.append(await services.runner.run(kind, day, TriggerSource.BACKFILL))
                advance()
        return done

    outcomes = _with_services(ctx, work)
    failed = [o for o in outcomes if o.status is RunStatus.FAILED]
    for outcome in outcomes:
        click.echo(
            f"{outcome.scheduled_date} {outcome.report_type.value}: "
            f"{outcome.status.value if outcome.status else 'not claimed'}"
        )
    click.echo(f"{len(outcomes)} run(s), {len(failed)} failed")
    sys.exit(1 if failed else 0)


@main.command("schedule")
@click.option("--days", default=14, show_default=True, help="How many sessions back.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
@exits_cleanly
def schedule_command(ctx: click.Context, days: int, as_json: bool) -> None:
    """Expected versus actual for each session and slot (ok, partial, failed, missed, ...)."""
    if not 1 <= days <= 90:
        raise InvalidInput("--days must be between 1 and 90")
    payload = _with_services(ctx, lambda services: schedule_payload(services, days))
    if as_json:
        emit_json(payload)
        return
    click.echo(
        f"schedule {payload['from']} .. {payload['to']}: "
        + ", ".join(f"{n} {status}" for status, n in sorted(payload["counts"].items()))
    )
    for slot in payload["slots"]:
        click.echo(
            f"  {slot['date']} {slot['report_type']:<11} {slot['scheduled_at']}  "
            f"{slot['status']:<8} {slot['run_id'] or ''}"
        )


@main.command()
@click.option("--type", "report_type", type=REPORT_TYPES, help="Only this report type.")
@click.option("--status", type=click.Choice([s.value for s in RunStatus]), help="Only this status.")
@click.option("--limit", default=20, show_default=True, help="How many runs (1-500).")
@click.option("--cursor", help="Continue after a previous page.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
@exits_cleanly
def history(
    ctx: click.Context,
    report_type: str | None,
    status: str | None,
    limit: int,
    cursor: str | None,
    as_json: bool,
) -> None:
    """Recent runs, newest first."""
    query = HistoryQuery(
        job_type=ReportType(report_type) if report_type else None,
        status=RunStatus(status) if status else None,
        limit=limit,
        cursor=cursor,
    )
    page = _store(ctx).history(query)
    if as_json:
        emit_json(
            {
                "count": len(page.runs),
                "jobs": [views.job(r) for r in page.runs],
                "next_cursor": page.next_cursor,
            }
        )
        return
    for run in page.runs:
        click.echo(
            f"{run.id:>7} {run.scheduled_date} {run.job_type.value:<11} {run.status.value:<8} "
            f"{run.trigger_source.value:<9} {run.run_id}"
        )
    if page.next_cursor:
        click.echo(f"more: --cursor {page.next_cursor}")


@main.command()
@click.pass_context
@exits_cleanly
def scheduler(ctx: click.Context) -> None:
    """Run the scheduler alone (no web server) until interrupted."""

    async def work(services: Services) -> None:
        services.start(scheduler=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        click.echo("scheduler running; Ctrl-C to stop")
        await stop.wait()

    _with_services(ctx, work)


@main.command()
@click.option("--host", help="Interface to listen on (default MARKETBRIEF_HOST or 127.0.0.1).")
@click.option("--port", type=int, help="Port (default MARKETBRIEF_PORT or 8000).")
@click.option("--workers", default=1, show_default=True, help="Worker processes.")
@click.option("--no-scheduler", is_flag=True, help="Serve only; run no scheduler here.")
@click.pass_context
@exits_cleanly
def serve(
    ctx: click.Context, host: str | None, port: int | None, workers: int, no_scheduler: bool
) -> None:
    """Serve the API and dashboard (and the scheduler) until SIGTERM or Ctrl-C."""
    import uvicorn

    settings = settings_from(ctx)
    if workers < 1:
        raise InvalidInput("--workers must be at least 1")
    if no_scheduler:
        # Workers build their own settings from the environment: tell them too.
        os.environ["MARKETBRIEF_SCHEDULER"] = "off"
    migrate_result = _store(ctx).verify()
    if not migrate_result.ok:
        raise SchemaError("; ".join(migrate_result.problems))
    uvicorn.run(
        "marketbrief.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_level="info",
        timeout_graceful_shutdown=30,
    )


def _register_operator_commands() -> None:
    """Operator commands live in their own module; they join the group here."""
    from marketbrief import cli_ops

    for command in cli_ops.COMMANDS:
        main.add_command(command)


_register_operator_commands()
