"""Market data the runs keep beside their reports: daily closes and the day's analysis."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from marketbrief.store.engine import Engines, insert_with_conflicts
from marketbrief.store.schema import daily_analysis, market_closes


class MarketData:
    """Closes and daily analysis; mixed into SQLStore."""

    _engines: Engines
    dialect: str

    def _insert(self, table: sa.Table) -> Any:
        return insert_with_conflicts(self.dialect, table)

    def save_closes(self, closes: Sequence[Mapping[str, Any]]) -> int:
        """Insert or refresh daily closes (unique per symbol and date); returns how many."""
        if not closes:
            return 0
        now = datetime.now(UTC)
        with self._engines.write() as connection:
            for close in closes:
                upsert = self._insert(market_closes).values(**close, created_at=now)
                upsert = upsert.on_conflict_do_update(
                    index_elements=["symbol", "close_date"],
                    set_={
                        k: upsert.excluded[k]
                        for k in ("close", "previous_close", "change_pct", "source")
                    },
                )
                connection.execute(upsert)
        return len(closes)

    def closes_on(self, day: date, symbols: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Stored closes for `day` by symbol."""
        query = sa.select(market_closes).where(
            market_closes.c.close_date == day, market_closes.c.symbol.in_(list(symbols))
        )
        with self._engines.read() as connection:
            return {r.symbol: dict(r._mapping) for r in connection.execute(query)}

    def save_daily_analysis(
        self,
        day: date,
        run_id: str,
        counts: Mapping[str, int],
        summary: Mapping[str, Any],
        execution_time_ms: int | None,
    ) -> None:
        """Record (or replace) the day's pre-market analysis summary."""
        now = datetime.now(UTC)
        values = {
            "analysis_date": day,
            "run_id": run_id,
            "total_symbols": counts.get("analysed", 0),
            "usable_symbols": counts.get("usable", 0),
            "high_confidence_symbols": counts.get("high_confidence", 0),
            "execution_time_ms": execution_time_ms,
            "summary": dict(summary),
            "created_at": now,
            "updated_at": now,
        }
        with self._engines.write() as connection:
            upsert = self._insert(daily_analysis).values(**values)
            upsert = upsert.on_conflict_do_update(
                index_elements=["analysis_date"],
                set_={
                    k: upsert.excluded[k]
                    for k in values
                    if k not in ("analysis_date", "created_at")
                },
            )
            connection.execute(upsert)
