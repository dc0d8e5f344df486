"""The store a server starts on, migrated first: `marketbrief serve` refuses an unmigrated one."""

from __future__ import annotations

from marketbrief.store.sql import SQLStore


def migrate(url: str) -> None:
    """Create the schema of the store at `url` with marketbrief's own migrations."""
    store = SQLStore(url)
    try:
        store.migrate()
    finally:
        store.close()
