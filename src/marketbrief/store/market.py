"""Market data the runs keep beside their reports: daily closes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from marketbrief.store.batch import Step
from marketbrief.store.engine import Engines, insert_with_conflicts
from marketbrief.store.schema import market_closes


class MarketData:
    """Daily closes; mixed into SQLStore."""

    _engines: Engines
    dialect: str

    def _insert(self, table: sa.Table) -> Any:
        return insert_with_conflicts(self.dialect, table)

    def save_closes(self, closes: Sequence[Mapping[str, Any]]) -> int:
        """Insert or refresh daily closes (unique per symbol and date); returns how many."""
        if not closes:
            return 0
        now = datetime.now(UTC)
        steps = []
        for close in closes:
            upsert = self._insert(market_closes).values(**close, created_at=now)
            upsert = upsert.on_conflict_do_update(
                index_elements=["symbol", "close_date"],
                set_={
                    k: upsert.excluded[k]
                    for k in ("close", "previous_close", "change_pct", "source")
                },
            )
            steps.append(Step(upsert))
        self._engines.batch(steps)  # one transaction (one D1 call) for the day's closes
        return len(closes)
