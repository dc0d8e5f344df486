"""The schema: `migrate` and `verify` (with --days, every slot's report too)."""

from __future__ import annotations

import logging
import sys

import click

from marketbrief.calendar import parse_instant, utc_now
from marketbrief.cli.common import (
    emit_json,
    exits_cleanly,
    store_backend,
    with_results,
    with_services,
)
from marketbrief.errors import StoreError
from marketbrief.services import Services

log = logging.getLogger(__name__)


@click.command()
@click.pass_context
@exits_cleanly
def migrate(ctx: click.Context) -> None:
    """Create or upgrade the schema to the newest migration (safe to run again)."""
    before, after = store_backend(ctx).migrate()
    if before == after:
        click.echo(f"schema already at {after}; nothing to do")
    else:
        click.echo(f"schema migrated from {before or 'empty'} to {after}")


@click.command()
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

    store = store_backend(ctx)
    result = store.verify()
    found = None
    if days is not None and result.ok:
        now = parse_instant(now_text) if now_text else utc_now()
        found = with_results(ctx, lambda results: results.completeness(now, days))
    healthy = result.ok and (found is None or found.ok)
    alerted = _alert(ctx, result.problems)
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
    if alerted is not None:
        log.warning("verify: the corruption alert was not recorded: %s", alerted)
    if not healthy:
        sys.exit(1)


def _alert(ctx: click.Context, problems: list[str]) -> str | None:
    """Open (or resolve) the corruption incident; the reason when the store could not take it."""

    async def work(services: Services) -> str | None:
        try:
            await services.alerts.verified(problems)
        except StoreError as error:  # a store too damaged to hold the incident still says so
            return str(error)
        return None

    return with_services(ctx, work)


COMMANDS: list[click.Command] = [migrate, verify]
