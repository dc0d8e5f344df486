"""Alerts: `notify test` (one test message to every channel) and `alerts` (the incidents)."""

from __future__ import annotations

import asyncio
import sys

import click

from marketbrief.alerts import messages
from marketbrief.alerts.channels import channels_from, send_to_each
from marketbrief.calendar import utc_now
from marketbrief.cli.common import emit_json, exits_cleanly, settings_from, with_services
from marketbrief.errors import ConfigError
from marketbrief.services import Services


@click.group()
def notify() -> None:
    """Notification channels (MARKETBRIEF_NOTIFY)."""


@notify.command("test")
@click.option("--json", "as_json", is_flag=True, help="Print each channel's result as JSON.")
@click.pass_context
@exits_cleanly
def notify_test(ctx: click.Context, as_json: bool) -> None:
    """Send one test message to every channel; exit 1 if any channel failed."""
    urls = settings_from(ctx).alerting.notify
    if not urls:
        raise ConfigError("MARKETBRIEF_NOTIFY names no channel: nothing to test")
    channels = channels_from(urls)
    results = asyncio.run(send_to_each(channels, messages.test_message(utc_now())))
    if as_json:
        emit_json([{"channel": c.number, "url": c.shown, "ok": ok} for c, ok in results])
    else:
        for channel, ok in results:
            click.echo(f"{'ok    ' if ok else 'FAILED'} {channel.number}: {channel.shown}")
    if not all(ok for _, ok in results):
        sys.exit(1)


@click.command("alerts")
@click.option("--open", "open_only", is_flag=True, help="Only the incidents still open.")
@click.option(
    "--limit",
    type=click.IntRange(1, 500),
    default=50,
    show_default=True,
    help="How many incidents, newest first.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the incidents as JSON.")
@click.pass_context
@exits_cleanly
def alerts_command(ctx: click.Context, open_only: bool, limit: int, as_json: bool) -> None:
    """List the incidents the service noticed about itself, newest first."""

    async def work(services: Services) -> list[dict[str, object]]:
        return await services.alerts.incidents(open_only=open_only, limit=limit)

    found = with_services(ctx, work)
    if as_json:
        emit_json(found)
        return
    if not found:
        click.echo("no incidents")
    for incident in found:
        click.echo(
            f"{incident['state']:<8} {incident['kind']:<13} {incident['subject']:<24} "
            f"since {incident['since']}  {incident['summary']}"
        )


COMMANDS: list[click.Command] = [notify, alerts_command]
