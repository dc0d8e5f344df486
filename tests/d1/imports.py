"""What the d1 tests do around a dump: a migrated store, and `marketbrief import-d1` run on it."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from marketbrief.cli.main import main
from marketbrief.store.sql import SQLStore


def migrated_store(url: str) -> SQLStore:
    """A store on `url` with every migration applied (the caller closes it)."""
    store = SQLStore(url)
    store.migrate()
    return store


def import_cli(url: str, dump: Path, *options: str) -> Result:
    """`marketbrief import-d1 DUMP [options]` against the database at `url`."""
    return CliRunner().invoke(
        main, ["import-d1", str(dump), *options], env={"MARKETBRIEF_DATABASE_URL": url}
    )
