"""Reading reports: `report`, `rehydrate` and `outbox status|replay`."""

from __future__ import annotations

import sys

import click
import orjson

from marketbrief.calendar import utc_now
from marketbrief.cli.common import (
    REPORT_TYPES,
    date_option,
    emit_json,
    exits_cleanly,
    settings_from,
    with_results,
)
from marketbrief.cli.tables import report_lines
from marketbrief.errors import InvalidInput, StoreUnavailable
from marketbrief.models import ReportType
from marketbrief.reports.payload import parsed
from marketbrief.results.outbox import Outbox


@click.command()
@click.argument("report_type", metavar="TYPE", type=REPORT_TYPES)
@click.option("--date", "day", metavar="YYYY-MM-DD", help="Business date (default: current).")
@click.option("--json", "as_json", is_flag=True, help="Print the whole envelope as JSON.")
@click.pass_context
@exits_cleanly
def report(ctx: click.Context, report_type: str, day: str | None, as_json: bool) -> None:
    """Read one report the way the API does; exit 0 with content, 1 without."""
    kind = ReportType(report_type)
    when = date_option(day)
    response = with_results(ctx, lambda results: results.get_report(kind, when))
    now = utc_now()
    if as_json:
        click.echo(response.render(now))
    else:
        meta = response.meta(now)
        click.echo(
            f"{meta['report_type']} for {meta['requested_date']}: {meta['state']}"
            + (f" (content of {meta['business_date']})" if meta["business_date"] else "")
        )
        for name in ("source", "run_id", "generated_at", "scheduled_at", "next_session"):
            if meta.get(name) is not None:
                click.echo(f"  {name}: {meta[name]}")
        if meta["warnings"]:
            click.echo(f"  warnings: {', '.join(meta['warnings'])}")
        if response.data is not None and response.has_content:
            body = parsed(response.data)
            if isinstance(body, dict):
                for line in report_lines(body):
                    click.echo(line)
            else:  # an imported legacy payload that is not an object: shown as it is
                click.echo(orjson.dumps(body, option=orjson.OPT_INDENT_2))
    sys.exit(0 if response.has_content else 1)


@click.command()
@click.option("--date", "day", metavar="YYYY-MM-DD", help="Only this business date.")
@click.option("--type", "report_type", type=REPORT_TYPES, help="Only this report type.")
@click.option(
    "--days",
    default=14,
    show_default=True,
    type=click.IntRange(1, 3660),
    help="Without --date: how far back.",
)
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
    kind = ReportType(report_type) if report_type else None
    when = date_option(day)  # bad input is named first, whatever the cache
    settings = settings_from(ctx)
    if not settings.cache_enabled:
        raise InvalidInput("the cache is switched off (MARKETBRIEF_CACHE=off): nothing to warm")
    if settings.cache_url.startswith("memory"):
        raise InvalidInput(
            "the in-process cache lives inside the running server; rehydrate it there with "
            "POST /api/v1/cache/rehydrate (it also notices store changes by itself)"
        )
    warmed = with_results(
        ctx, lambda results: results.rehydrate(kind, when, days=days, purge=purge)
    )
    if as_json:
        emit_json({"warmed": [w.as_dict() for w in warmed]})
        return
    for item in warmed:
        click.echo(f"warmed {item.report_type} {item.business_date} (snapshot {item.snapshot_id})")
    click.echo(f"{len(warmed)} report(s) warmed")


@click.group()
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
    report = with_results(ctx, lambda results: results.replay_outbox())
    click.echo(
        f"stored {len(report.stored)}, rejected {len(report.rejected)}, "
        f"still waiting {report.remaining}"
    )
    for completion, outcome in report.stored:
        if outcome.superseded_by:
            click.echo(
                f"  stored {completion.run_id}, but not the report readers get: a run that "
                f"started later ({outcome.superseded_by}) already published this date's report"
            )
    for run_id, reason in report.rejected.items():
        click.echo(f"  rejected {run_id}: {reason}")
    if report.store_unavailable:
        raise StoreUnavailable("the store is still unavailable; nothing more was replayed")
    if report.remaining:
        sys.exit(1)


COMMANDS: list[click.Command] = [report, rehydrate, outbox]
