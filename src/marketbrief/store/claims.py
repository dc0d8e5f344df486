"""The store's claims for the alerts: which process tells people, and which sends a report.

The store decides, by a conditional insert or update, so one process wins however many race;
`Store` (store/gateway.py) takes these methods from `Claims`, through its own bounded calls.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol, TypeVar

from marketbrief.store.base import (
    DeliveryKey,
    Incident,
    IncidentReport,
    PendingDelivery,
    StoreBackend,
)

T = TypeVar("T")


class Gateway(Protocol):
    """What the claims need of the gateway that mixes them in: its backend and bounded calls."""

    backend: StoreBackend

    async def _call(
        self, method: Callable[..., T], *args: Any, write: bool = False, **kwargs: Any
    ) -> T: ...

    async def _read(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T: ...


class Claims:
    """Incidents and deliveries through the gateway; mixed into `Store`."""

    # -- incidents ------------------------------------------------------------------------------

    async def open_incident(self: Gateway, report: IncidentReport, now: datetime) -> Incident:
        """Open the incident unless one is open for its (kind, subject); claimed if this did."""
        return await self._call(self.backend.open_incident, report, now, write=True)

    async def claim_repeat(
        self: Gateway, incident_id: int, due_before: datetime, now: datetime
    ) -> bool:
        """Take the next repeat of an open incident last told before `due_before`."""
        return await self._call(self.backend.claim_repeat, incident_id, due_before, now, write=True)

    async def resolve_incident(
        self: Gateway, kind: str, subject: str, now: datetime
    ) -> Incident | None:
        """Close the open incident; returned only to the one process that closed it."""
        return await self._call(self.backend.resolve_incident, kind, subject, now, write=True)

    async def incidents(
        self: Gateway, *, open_only: bool = False, limit: int = 50
    ) -> list[Incident]:
        """The newest incidents first."""
        return await self._read(self.backend.incidents, open_only=open_only, limit=limit)

    # -- deliveries -----------------------------------------------------------------------------

    async def claim_delivery(
        self: Gateway, key: DeliveryKey, run_id: str | None, now: datetime
    ) -> bool:
        """Claim a published report's delivery; True only for the process whose insert won."""
        return await self._call(self.backend.claim_delivery, key, run_id, now, write=True)

    async def reclaim_delivery(
        self: Gateway, key: DeliveryKey, stale_before: datetime, now: datetime
    ) -> frozenset[int] | None:
        """Take over a stale undelivered claim; the channels already done, or None."""
        return await self._call(self.backend.reclaim_delivery, key, stale_before, now, write=True)

    async def record_delivery(
        self: Gateway, key: DeliveryKey, done: frozenset[int], delivered_at: datetime | None
    ) -> None:
        """Record the channels that took a report (and when all had)."""
        await self._call(self.backend.record_delivery, key, done, delivered_at, write=True)

    async def undelivered(
        self: Gateway, since: datetime, report_types: tuple[str, ...], stale_before: datetime
    ) -> list[PendingDelivery]:
        """Reports published since `since` not delivered (never claimed, or a stale claim)."""
        return await self._read(self.backend.undelivered, since, report_types, stale_before)
