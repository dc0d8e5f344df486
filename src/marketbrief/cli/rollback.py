"""`rollback status` and `rollback clear`: the operator's side of the automatic rollback."""

from __future__ import annotations

import getpass

import click

from marketbrief.alerts import rollback
from marketbrief.calendar import iso_instant, utc_now
from marketbrief.cli.common import emit_json, exits_cleanly, with_results
from marketbrief.results import Results
from marketbrief.store.base import Incident


@click.group("rollback")
def rollback_group() -> None:
    """The automatic rollback (MARKETBRIEF_AUTO_ROLLBACK): see it, clear it."""


@rollback_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the incidents as JSON.")
@click.pass_context
@exits_cleanly
def rollback_status(ctx: click.Context, as_json: bool) -> None:
    """The rollback triggers crossed (open or resolved) and the operators' clears, newest first.

    Whether a serving process has store reads off is on its /readyz and /status.
    """

    async def work(results: Results) -> list[Incident]:
        return await rollback.rollback_incidents(results.store, open_only=False)

    found = [_shown(i) for i in with_results(ctx, work)]
    if as_json:
        emit_json(found)
        return
    if not found:
        click.echo("no rollback trigger crossed")
    for item in found:
        click.echo(f"{item['state']:<8} {item['kind']:<16} {item['since']}  {item['summary']}")


@rollback_group.command("clear")
@click.option("--by", default=None, help="Who clears (default: the login name).")
@click.pass_context
@exits_cleanly
def rollback_clear(ctx: click.Context, by: str | None) -> None:
    """Turn store reads back on in every serving process (at its next watch pass)."""
    who = by or getpass.getuser()

    async def work(results: Results) -> tuple[Incident, list[Incident]]:
        return await rollback.clear(results.store, utc_now(), who)

    mark, still_open = with_results(ctx, work)
    click.echo(f"cleared: {mark.summary} (mark {mark.id} at {iso_instant(mark.opened_at)})")
    for incident in still_open:
        click.echo(f"still crossed: {incident.subject}: {incident.summary}")


def _shown(incident: Incident) -> dict[str, object]:
    return {
        "id": incident.id,
        "kind": incident.kind,
        "subject": incident.subject,
        "summary": incident.summary,
        "since": iso_instant(incident.since),
        "state": "open" if incident.resolved_at is None else "resolved",
    }


COMMANDS: list[click.Command] = [rollback_group]
