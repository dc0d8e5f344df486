"""Archives written at older schema revisions: which columns they lack, so they still restore."""

from __future__ import annotations

# The columns each schema revision added, so an archive written before them still restores:
# its rows simply lack them, and the database's defaults fill them in.
COLUMNS_ADDED: dict[str, dict[str, tuple[str, ...]]] = {
    "0002": {"store_revision": ("runs_revision",)},
    "0003": {"job_executions": ("lease_until", "swept_at")},
    "0004": {"job_executions": ("version",)},
    # 0005 added the incidents table, which archives never hold (ops/archive.TABLES).
    "0005": {},
    # 0006 widened market_closes.source to text: no column added.
    "0006": {},
    # 0007 added the deliveries table, which archives never hold (ops/archive.TABLES).
    "0007": {},
    # 0008 let incidents be of kind rollback_trigger: no column added.
    "0008": {},
    # 0009 recorded when the schedule began.
    "0009": {"store_revision": ("schedule_started_at",)},
    # 0010 let incidents be of kind rollback_cleared: no column added.
    "0010": {},
    # 0011 ordered history by start: indexes only.
    "0011": {},
    # 0012 added the store_usage table, which archives never hold (ops/archive.TABLES).
    "0012": {},
    # 0013 added the batch_guards table (a write's tokens, empty between writes).
    "0013": {},
}


def absent_columns(archived: str, current: str) -> dict[str, frozenset[str]] | None:
    """Columns an archive at schema `archived` lacks against `current`; None if it is not older."""
    known = ["0001", *COLUMNS_ADDED]
    if archived not in known or current not in known or archived > current:
        return None
    absent: dict[str, set[str]] = {}
    for revision, tables in COLUMNS_ADDED.items():
        if archived < revision <= current:
            for name, columns in tables.items():
                absent.setdefault(name, set()).update(columns)
    return {name: frozenset(columns) for name, columns in absent.items()}
