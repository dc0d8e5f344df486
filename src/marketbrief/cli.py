"""The `marketbrief` command: a thin shell that parses, calls one function and formats."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

import click
import orjson

from marketbrief import __version__
from marketbrief.config import Settings
from marketbrief.errors import (
    ConfigError,
    InvalidInput,
    MarketbriefError,
    NotFound,
    SchemaError,
    StoreUnavailable,
)
from marketbrief.store.sql import SQLStore, open_store

F = TypeVar("F", bound=Callable[..., Any])

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
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.pass_context
@exits_cleanly
def verify(ctx: click.Context, as_json: bool) -> None:
    """Check every table, index and the migration head; exit 1 listing what is wrong."""
    result = _store(ctx).verify()
    if as_json:
        emit_json(result.as_dict())
    elif result.ok:
        click.echo(f"ok: schema at {result.head}, every table and index present")
    else:
        click.echo("schema problems:")
        for problem in result.problems:
            click.echo(f"  - {problem}")
    if not result.ok:
        sys.exit(1)
