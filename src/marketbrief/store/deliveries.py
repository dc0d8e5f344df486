"""Deliveries in SQL: a published report claimed once, across processes, and marked delivered.

Mixed into `SQLStore`. As with incidents, the store decides which process sends: the unique
(report_type, business_date, version) lets one insert succeed (`claim_delivery`); a claim
that was never completed (the process died, or every retry failed) is taken over by an UPDATE
that applies only while `claimed_at` is older than the lease (`reclaim_delivery`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from marketbrief.store.base import DeliveryKey, PendingDelivery
from marketbrief.store.engine import Engines, insert_with_conflicts
from marketbrief.store.schema import deliveries, report_latest

UNDELIVERED_LIMIT = 200


def _done(text: str | None) -> frozenset[int]:
    return frozenset(int(part) for part in (text or "").split(",") if part)


def _where(key: DeliveryKey) -> Any:
    return sa.and_(
        deliveries.c.report_type == key.report_type,
        deliveries.c.business_date == key.business_date,
        deliveries.c.version == key.version,
    )


class DeliveryWrites:
    """Claim, take over, record and find report deliveries."""

    _engines: Engines
    dialect: str

    def claim_delivery(self, key: DeliveryKey, run_id: str | None, now: datetime) -> bool:
        """Claim a published report's delivery; True only for the one process whose insert won."""
        insert = (
            insert_with_conflicts(self.dialect, deliveries)
            .values(
                report_type=key.report_type,
                business_date=key.business_date,
                version=key.version,
                run_id=run_id,
                claimed_at=now,
            )
            .on_conflict_do_nothing(index_elements=["report_type", "business_date", "version"])
            .returning(deliveries.c.id)
        )
        with self._engines.write() as connection:
            return connection.execute(insert).first() is not None

    def reclaim_delivery(
        self, key: DeliveryKey, stale_before: datetime, now: datetime
    ) -> frozenset[int] | None:
        """Take over an undelivered claim made before `stale_before` (compare-and-set); the
        channels that already took it, or None when another process holds or finished it."""
        update = (
            sa.update(deliveries)
            .where(
                _where(key),
                deliveries.c.delivered_at.is_(None),
                deliveries.c.claimed_at <= stale_before,
            )
            .values(claimed_at=now, attempts=deliveries.c.attempts + 1)
            .returning(deliveries.c.channels_done)
        )
        with self._engines.write() as connection:
            row = connection.execute(update).first()
        return _done(row.channels_done) if row is not None else None

    def record_delivery(
        self, key: DeliveryKey, done: frozenset[int], delivered_at: datetime | None
    ) -> None:
        """Record the channels that took a report, and when every one had (None: not yet)."""
        values: dict[str, Any] = {"channels_done": ",".join(str(n) for n in sorted(done))}
        if delivered_at is not None:
            values["delivered_at"] = delivered_at
        with self._engines.write() as connection:
            connection.execute(sa.update(deliveries).where(_where(key)).values(values))

    def undelivered(
        self, since: datetime, report_types: tuple[str, ...], stale_before: datetime
    ) -> list[PendingDelivery]:
        """Reports published since `since` of these types whose delivery was never claimed, or
        whose claim is undelivered and older than `stale_before`; oldest first."""
        joined = report_latest.outerjoin(
            deliveries,
            sa.and_(
                deliveries.c.report_type == report_latest.c.report_type,
                deliveries.c.business_date == report_latest.c.scheduled_date,
                deliveries.c.version == report_latest.c.version,
            ),
        )
        query = (
            sa.select(
                report_latest.c.report_type,
                report_latest.c.scheduled_date,
                report_latest.c.version,
                report_latest.c.run_id,
                deliveries.c.id.label("claim"),
            )
            .select_from(joined)
            .where(
                report_latest.c.updated_at >= since,
                report_latest.c.report_type.in_(report_types),
                sa.or_(
                    deliveries.c.id.is_(None),
                    sa.and_(
                        deliveries.c.delivered_at.is_(None),
                        deliveries.c.claimed_at <= stale_before,
                    ),
                ),
            )
            .order_by(report_latest.c.updated_at)
            .limit(UNDELIVERED_LIMIT)
        )
        with self._engines.read() as connection:
            rows = connection.execute(query).all()
        return [
            PendingDelivery(
                DeliveryKey(row.report_type, row.scheduled_date, int(row.version)),
                row.run_id,
                claimed=row.claim is not None,
            )
            for row in rows
        ]
