"""Operator commands (backup, restore, export, import, import-d1, prune): registered by cli.

Each parses, calls one function of its module and formats the answer; errors reach the exit
code table in `cli.exits_cleanly` like every other command's.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from marketbrief.calendar import business_date, utc_now
from marketbrief.cli.common import emit_json, exits_cleanly, settings_from, store_backend
from marketbrief.cli.progress import progress_bar
from marketbrief.d1.importer import import_d1, import_live
from marketbrief.d1.session import ImportReport
from marketbrief.errors import CacheError, MarketbriefError
from marketbrief.ops.archive import HOT_COPY
from marketbrief.ops.backup import BackupResult, default_name, take_backup
from marketbrief.ops.prune import prune
from marketbrief.ops.restore import RestoreResult, restore_archive
from marketbrief.results import Results
from marketbrief.store.d1.api import D1Api
from marketbrief.store.d1.dialect import target_from_url

ARCHIVE_PATH = click.Path(path_type=Path)
MAX_RETENTION_DAYS = 36_600  # a hundred years: past that, no business date is older
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")


@click.command()
@click.option(
    "--output",
    type=ARCHIVE_PATH,
    help="Archive folder, or a file ending in .tar (default: marketbrief-backup-<UTC time>).",
)
@JSON_OPTION
@click.pass_context
@exits_cleanly
def backup(ctx: click.Context, output: Path | None, as_json: bool) -> None:
    """Back up the store while it runs: portable archive (+ a hot copy on SQLite)."""
    destination = output or Path(default_name(utc_now()))
    result = take_backup(store_backend(ctx), destination, hot_copy=True, progress=progress_bar)
    _print_archive(result, as_json)


@click.command()
@click.argument("path", type=ARCHIVE_PATH)
@JSON_OPTION
@click.pass_context
@exits_cleanly
def export(ctx: click.Context, path: Path, as_json: bool) -> None:
    """Write the portable archive only (no SQLite hot copy); `import` reads it on either engine."""
    result = take_backup(store_backend(ctx), path, hot_copy=False, progress=progress_bar)
    _print_archive(result, as_json)


@click.command()
@click.argument("path", type=ARCHIVE_PATH)
@click.option("--force", is_flag=True, help="Replace the rows of a database that is not empty.")
@JSON_OPTION
@click.pass_context
@exits_cleanly
def restore(ctx: click.Context, path: Path, force: bool, as_json: bool) -> None:
    """Restore an archive (backup or export) into this store, verified first, all or nothing."""
    _restore(ctx, path, force, as_json)


@click.command("import")
@click.argument("path", type=ARCHIVE_PATH)
@click.option("--force", is_flag=True, help="Replace the rows of a database that is not empty.")
@JSON_OPTION
@click.pass_context
@exits_cleanly
def import_archive(ctx: click.Context, path: Path, force: bool, as_json: bool) -> None:
    """Load a portable archive written by `export` (the same as `restore`)."""
    _restore(ctx, path, force, as_json)


@click.command("import-d1")
@click.argument(
    "dump", metavar="DUMP.sql", required=False, type=click.Path(path_type=Path, dir_okay=False)
)
@click.option(
    "--live",
    metavar="d1://ACCOUNT_ID/DATABASE_ID",
    help="Copy straight from the live D1 database (token: MARKETBRIEF_D1_TOKEN) instead of a dump.",
)
@JSON_OPTION
@click.pass_context
@exits_cleanly
def import_d1_command(
    ctx: click.Context, dump: Path | None, live: str | None, as_json: bool
) -> None:
    """Import the old Cloudflare D1 database: a `wrangler d1 export` dump, or live (idempotent)."""
    if (dump is None) == (live is None):
        raise click.UsageError("give either DUMP.sql or --live d1://ACCOUNT_ID/DATABASE_ID")
    if live is not None:
        settings = settings_from(ctx)
        try:
            target = target_from_url(live, settings.d1_token, settings.d1_api_url)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--live") from None
        source: Path | str = live
        report = import_live(store_backend(ctx), D1Api(target), progress=progress_bar)
    else:
        assert dump is not None
        source = dump
        report = import_d1(store_backend(ctx), dump, progress=progress_bar)
    cache = _refresh_cache(ctx, purge=False) if report.latest_set else "cache: no report changed"
    if as_json:
        emit_json({**report.as_dict(), "cache": cache})
        return
    _print_import(source, report)
    click.echo(cache)


@click.command("prune")
@click.option(
    "--older-than",
    "days",
    type=click.IntRange(1, MAX_RETENTION_DAYS),
    required=True,
    metavar="DAYS",
    help="Delete runs and snapshots scheduled more than DAYS days ago.",
)
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
@JSON_OPTION
@click.pass_context
@exits_cleanly
def prune_command(ctx: click.Context, days: int, dry_run: bool, as_json: bool) -> None:
    """Delete old run history and snapshots; reports still served are never deleted."""
    result = prune(store_backend(ctx), days, business_date(utc_now()), dry_run=dry_run)
    if as_json:
        emit_json(result.as_dict())
        return
    verb = "would delete" if dry_run else "deleted"
    click.echo(f"{verb} (scheduled before {result.cutoff}):")
    for table, count in result.deleted.items():
        click.echo(f"  {table:<22} {count}")
    click.echo(
        f"kept {result.kept_runs} older run(s) and {result.kept_snapshots} older snapshot(s): "
        "reports still served as latest, or the newest of their type"
    )


COMMANDS: list[click.Command] = [
    backup,
    restore,
    export,
    import_archive,
    import_d1_command,
    prune_command,
]


# -- formatting and the cache --------------------------------------------------------------------


def _restore(ctx: click.Context, path: Path, force: bool, as_json: bool) -> None:
    result = restore_archive(store_backend(ctx), path, force=force, progress=progress_bar)
    cache = _refresh_cache(ctx, purge=True)
    if as_json:
        emit_json({**result.as_dict(), "cache": cache})
        return
    _print_restore(result)
    click.echo(cache)


def _refresh_cache(ctx: click.Context, *, purge: bool) -> str:
    """After the store changed under the cache: rehydrate Redis; in-process caches notice."""
    settings = settings_from(ctx)
    if not settings.cache_enabled:
        return "cache: off (MARKETBRIEF_CACHE=off); nothing to refresh"
    if settings.cache_url.startswith("memory"):
        return (
            "cache: in-process caches notice the bumped store revision and drop their "
            "entries by themselves; nothing to do"
        )

    async def rehydrate() -> int:
        results = Results.open(settings)
        try:
            return len(await results.rehydrate(purge=purge))
        finally:
            await results.close()

    try:
        warmed = asyncio.run(rehydrate())
    except CacheError as error:
        raise MarketbriefError(
            f"the store was written, but the Redis cache could not be refreshed ({error}); "
            "run `marketbrief rehydrate --purge` before serving"
        ) from error
    return f"cache: Redis {'purged and ' if purge else ''}{warmed} recent report(s) rehydrated"


def _print_archive(result: BackupResult, as_json: bool) -> None:
    if as_json:
        emit_json(result.as_dict())
        return
    manifest = result.manifest
    rows = sum(e.rows or 0 for e in manifest.tables.values())
    click.echo(f"archive {result.path}: {rows} row(s), schema {manifest.schema_revision}")
    for name, entry in manifest.tables.items():
        click.echo(f"  {name:<22} {entry.rows:>8}  sha256 {entry.sha256[:16]}")
    copy = result.hot_copy
    if copy is not None:
        click.echo(f"  {HOT_COPY} (hot copy, integrity_check ok) sha256 {copy.sha256[:16]}")


def _print_restore(result: RestoreResult) -> None:
    click.echo(
        f"restored {result.path} (schema {result.manifest.schema_revision}, "
        f"from {result.manifest.source_dialect}); checksums match the manifest"
    )
    for name, count in result.rows.items():
        replaced = result.replaced.get(name)
        click.echo(f"  {name:<22} {count:>8}" + (f"  (replaced {replaced})" if replaced else ""))


def _print_import(dump: Path | str, report: ImportReport) -> None:
    click.echo(f"imported {dump}:")
    for name, t in report.tables.items():
        click.echo(
            f"  {name:<22} read {t.read:>6}  imported {t.imported:>6}  updated {t.updated:>6}  "
            f"already present {t.present:>6}  skipped {t.skipped:>6}"
        )
    click.echo(
        f"  latest reports set: {report.latest_set}; "
        f"runs made to hold predictions: {report.runs_made}"
    )
    for table, reasons in report.reasons().items():
        for reason, count in reasons.items():
            click.echo(f"  skipped {count} {table} row(s): {reason}")
    for table, corrections in report.corrections().items():
        for what, count in corrections.items():
            click.echo(f"  corrected {count} {table} row(s): {what}")
    for note in report.notes:
        click.echo(f"  note: {note}")
