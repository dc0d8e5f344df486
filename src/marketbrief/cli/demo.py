"""`demo`: seed a fresh database with two weeks of sample reports, offline.

The database is MARKETBRIEF_DATABASE_URL's (default the embedded SQLite file) or the SQLite
file `--database` names. One that already holds runs is refused (exit 2) before anything is
written to it, migrations included, unless `--force`: nobody's real data is touched by
accident. The sample news and prices are written to `--files` (default `marketbrief-demo/`),
a folder the demo refuses to write into if it holds anything the demo did not write.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from marketbrief.calendar import MarketCalendar, utc_now
from marketbrief.cli.common import exits_cleanly, settings_from
from marketbrief.cli.progress import progress_bar
from marketbrief.config import Settings
from marketbrief.demo.sample import SampleFiles, write_sample
from marketbrief.demo.seed import DemoRange, Seeded, database_url, demo_range, demo_settings, seed
from marketbrief.errors import InvalidInput
from marketbrief.models import ReportType
from marketbrief.pipeline.http import redact
from marketbrief.services import Services
from marketbrief.store import SQLStore, open_store


@click.command()
@click.option("--database", metavar="PATH", help="Seed this SQLite file instead.")
@click.option(
    "--files",
    "files_dir",
    default="marketbrief-demo",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write the sample news and price files.",
)
@click.option("--force", is_flag=True, help="Seed even a database that holds runs.")
@click.pass_context
@exits_cleanly
def demo(ctx: click.Context, database: str | None, files_dir: Path, force: bool) -> None:
    """Seed a fresh database with two weeks of sample reports, offline (not real news)."""
    settings = settings_from(ctx)
    url = database_url(database) if database else settings.database_url
    shown = url if url.startswith("sqlite") else redact(url)
    store = open_store(url)
    try:
        ensure_fresh(store, shown, force=force, separate=database is not None)
        calendar = MarketCalendar(settings.slots)
        span = demo_range(calendar, utc_now())
        sample = write_sample(files_dir, calendar, settings.symbols, span.first, span.last)
        store.migrate()
    finally:
        store.close()
    seeded = asyncio.run(_seed(demo_settings(settings, url, sample), span, force=force))
    _print_summary(shown, sample, seeded, database, settings.public_url)
    sys.exit(1 if seeded.failed else 0)


def ensure_fresh(store: SQLStore, shown: str, *, force: bool, separate: bool) -> None:
    """Refuse a database that holds runs (unless `force`), before anything is written to it."""
    found = store.verify()
    runs = sum(store.run_counts().values()) if found.revision is not None else 0
    if runs and not force:
        other = "another" if separate else "a separate"
        raise InvalidInput(
            f"{shown} already holds {runs} run(s); the demo seeds only a fresh database. "
            f"Seed {other} file with --database demo.db (then "
            "MARKETBRIEF_DATABASE_URL=sqlite:///demo.db make run), or add the demo's "
            "runs to this one with --force"
        )


async def _seed(settings: Settings, span: DemoRange, *, force: bool) -> Seeded:
    services = Services.open(settings)
    try:
        with progress_bar(len(span.slots), "demo") as advance:
            return await seed(services, span.slots, force=force, advance=advance)
    finally:
        await services.stop()


def _print_summary(
    shown: str, sample: SampleFiles, seeded: Seeded, database: str | None, public_url: str
) -> None:
    runs = ", ".join(f"{seeded.count(kind)} {kind.value}" for kind in ReportType)
    click.echo(f"demo: seeded {shown} with sample data (not real news or prices)")
    click.echo(
        f"  sample files: {sample.news} and {sample.prices} ({len(sample.symbols)} symbols, "
        f"{sample.headlines} headlines, {sample.sessions} sessions "
        f"{sample.first.isoformat()} .. {sample.last.isoformat()})"
    )
    click.echo(f"  runs: {len(seeded.outcomes)} ({runs}), {len(seeded.failed)} without a report")
    for outcome in seeded.failed:
        errors = "; ".join(str(e) for e in outcome.errors) or "no report"
        click.echo(f"    {outcome.scheduled_date} {outcome.report_type.value}: {errors}")
    scored, right = seeded.scored()
    share = f" ({right / scored:.0%})" if scored else ""
    click.echo(f"  end-of-day calls scored: {right} of {scored} right{share}")
    env = f"MARKETBRIEF_DATABASE_URL={shown} " if database else ""
    click.echo(f"start it: {env}make run, then open {public_url}")
    click.echo(
        "  new slots from now on read MARKETBRIEF_NEWS and MARKETBRIEF_PRICES (default: yahoo "
        "and stooq, online); to stay on today's sample files add "
        f"MARKETBRIEF_NEWS={sample.news_spec} MARKETBRIEF_PRICES={sample.prices_spec}"
    )


COMMANDS: list[click.Command] = [demo]
