"""The `marketbrief` command group; the commands live in modules by theme and join it here."""

from __future__ import annotations

import click

from marketbrief import __version__
from marketbrief.cli import alerts, demo, jobs, ops, reports, rollback, schema, score, usage
from marketbrief.cli.common import exits_cleanly
from marketbrief.config import Settings
from marketbrief.pipeline.feeds import check_providers
from marketbrief.web.logs import install


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="marketbrief")
@click.pass_context
@exits_cleanly
def main(ctx: click.Context) -> None:
    """marketbrief: a portfolio's four daily market moments, kept in SQL, served from a cache.

    Settings come from MARKETBRIEF_* environment variables (see README.md).
    """
    settings = Settings.from_env()
    check_providers(settings)  # every command, even one that runs nothing, names a bad provider
    # Commands print what they did and log only warnings; `serve` and `scheduler` log events.
    install(settings.log_format, events=False)
    ctx.obj = settings


for _theme in (schema, reports, jobs, ops, score, alerts, rollback, demo, usage):
    for _command in _theme.COMMANDS:
        main.add_command(_command)
