"""Running reports: `run`, `backfill`, `schedule`, `history`, `scheduler` and `serve`."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import timedelta

import click
import orjson

from marketbrief.calendar import parse_date
from marketbrief.cli.common import (
    REPORT_TYPES,
    date_option,
    emit_json,
    exits_cleanly,
    settings_from,
    store_backend,
    with_results,
    with_services,
)
from marketbrief.cli.progress import progress_bar
from marketbrief.errors import InvalidInput, SchemaError
from marketbrief.models import PUBLISHABLE, ReportType, RunStatus, TriggerSource
from marketbrief.results.records import summary
from marketbrief.runs.outcome import RunOutcome
from marketbrief.services import Services
from marketbrief.store.base import HistoryQuery
from marketbrief.web.logs import install


@click.command()
@click.argument("report_type", metavar="TYPE", type=REPORT_TYPES)
@click.option("--date", "day", metavar="YYYY-MM-DD", help="Business date (default: current).")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.pass_context
@exits_cleanly
def run(ctx: click.Context, report_type: str, day: str | None, as_json: bool) -> None:
    """Run one report now; a past date is a backfill. Exit 0 success/partial, 1 failed."""
    kind = ReportType(report_type)
    when = date_option(day)

    async def work(services: Services) -> RunOutcome:
        today = services.calendar.default_report_date(kind, services.now())
        trigger = (
            TriggerSource.BACKFILL if when is not None and when < today else TriggerSource.MANUAL
        )
        return await services.runner.run(kind, when, trigger)

    outcome = with_services(ctx, work)
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
        if outcome.status in PUBLISHABLE and outcome.persisted and not outcome.published:
            holder = f" ({outcome.superseded_by})" if outcome.superseded_by else ""
            click.echo(
                f"  stored, but not the report readers get: a run that started later{holder} "
                "already published this date's report"
            )
        for error in outcome.errors:
            click.echo(f"  error: {orjson.dumps(error).decode()}")
    sys.exit(0 if outcome.status in PUBLISHABLE else 1)


@click.command()
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

    async def work(services: Services) -> tuple[int, list[RunOutcome]]:
        calendar = services.calendar
        slots = sorted(
            (instant, kind, day)
            for day in (first + timedelta(days=n) for n in range((last - first).days + 1))
            for kind in kinds
            if (instant := calendar.slot_instant(kind, day)) is not None
        )
        now = services.now()
        for _, kind, day in slots:  # a future slot refuses the whole backfill, before any run
            calendar.check_due(kind, day, now)
        done: list[RunOutcome] = []
        with progress_bar(len(slots), "backfill") as advance:
            for _, kind, day in slots:
                if force or not await services.results.has_report(kind, day):
                    done.append(await services.runner.run(kind, day, TriggerSource.BACKFILL))
                advance()
        return len(slots) - len(done), done

    skipped, outcomes = with_services(ctx, work)
    failed = [o for o in outcomes if o.status is RunStatus.FAILED]
    for outcome in outcomes:
        why = summary(outcome.errors) if outcome.status is RunStatus.FAILED else None
        click.echo(
            f"{outcome.scheduled_date} {outcome.report_type.value}: "
            f"{outcome.status.value if outcome.status else 'not claimed'}"
            + (f": {why or 'no reason recorded'}" if outcome.status is RunStatus.FAILED else "")
        )
    click.echo(
        f"{len(outcomes)} run(s), {len(failed)} failed; {skipped} slot(s) skipped: "
        "they already have a report (--force runs them too)"
    )
    sys.exit(1 if failed else 0)


@click.command("schedule")
@click.option("--days", default=14, show_default=True, help="How many sessions back.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
@exits_cleanly
def schedule_command(ctx: click.Context, days: int, as_json: bool) -> None:
    """Expected versus actual for each session and slot (ok, partial, failed, missed, ...)."""
    if not 1 <= days <= 90:
        raise InvalidInput("--days must be between 1 and 90")
    payload = with_results(ctx, lambda results: results.schedule(days))
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


@click.command()
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
        report_type=ReportType(report_type) if report_type else None,
        status=RunStatus(status) if status else None,
        limit=limit,
        cursor=cursor,
    )
    page = orjson.loads(with_results(ctx, lambda results: results.history(query)))
    if as_json:
        emit_json(page)
        return
    for job in page["jobs"]:
        click.echo(
            f"{job['id']:>7} {job['scheduled_date']} {job['job_type']:<11} {job['status']:<8} "
            f"{job['trigger_source']:<9} {job['run_id']}"
        )
    if page["next_cursor"]:
        click.echo(f"more: --cursor {page['next_cursor']}")


@click.command()
@click.pass_context
@exits_cleanly
def scheduler(ctx: click.Context) -> None:
    """Run the scheduler alone (no web server) until interrupted."""

    install(settings_from(ctx).log_format, events=True)  # every run and catch-up decision

    async def work(services: Services) -> None:
        from marketbrief.web.pages import report_html  # a delivered report's mail is its page

        services.deliveries.renderer = report_html
        services.start(scheduler=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        click.echo("scheduler running; Ctrl-C to stop")
        await stop.wait()

    with_services(ctx, work)


@click.command()
@click.option("--host", help="Interface to listen on (default MARKETBRIEF_HOST or 127.0.0.1).")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    help="Port (default MARKETBRIEF_PORT or 8000).",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes.",
)
@click.option("--no-scheduler", is_flag=True, help="Serve only; run no scheduler here.")
@click.pass_context
@exits_cleanly
def serve(
    ctx: click.Context, host: str | None, port: int | None, workers: int, no_scheduler: bool
) -> None:
    """Serve the API and dashboard (and the scheduler) until SIGTERM or Ctrl-C."""
    from marketbrief.web.serving import serve as run_server

    settings = settings_from(ctx)
    if no_scheduler:
        # Workers build their own settings from the environment: tell them too.
        os.environ["MARKETBRIEF_SCHEDULER"] = "off"
    migrate_result = store_backend(ctx).verify()
    if not migrate_result.ok:
        raise SchemaError("; ".join(migrate_result.problems))
    run_server(
        host or settings.host,
        port or settings.port,
        workers,
        settings.http,
        log_format=settings.log_format,
    )


COMMANDS: list[click.Command] = [run, backfill, schedule_command, history, scheduler, serve]
