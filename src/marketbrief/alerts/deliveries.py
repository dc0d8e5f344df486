"""Reports delivered: each report published fresh is sent once to `MARKETBRIEF_DELIVER`.

The store decides which process sends (`Store.claim_delivery`, an insert on the unique
(report_type, business_date, version)), so N processes seeing one publish send it once. A
finished run hands its outcome to `run_finished`, which only schedules a task: the run never
waits for a channel. Mail channels get the report page's HTML (a `Renderer` the web face hands
over at start-up, so alerts/ never imports web/), with Apprise's plain-text alternative;
webhook channels get the API's JSON envelope as the raw body, with the delivery's
`Idempotency-Key` (`report_type/business_date/version`); others a short text. The
background `Sender` retries a channel that is down; once every channel took the report,
`delivered_at` is recorded. The watch (`check`) finds reports published within `LOOKBACK`
that were never claimed (published while this process had no store, or by a process without
delivery) or whose claim stayed undelivered past `LEASE`, and sends them then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from marketbrief.alerts.channels import MAIL_SCHEMES, Channel, Message, channels_from
from marketbrief.alerts.messages import PREFIX
from marketbrief.alerts.sender import Sender
from marketbrief.config import Settings
from marketbrief.errors import StoreError
from marketbrief.models import PUBLISHABLE, ReportType
from marketbrief.results import Results
from marketbrief.results.envelope import ReportResponse
from marketbrief.runs.outcome import RunOutcome
from marketbrief.store.base import DeliveryKey

log = logging.getLogger(__name__)

Renderer = Callable[[ReportResponse, datetime], str]
"""The report page's HTML for one answer of the read path, at `now`."""

LOOKBACK = timedelta(hours=24)  # reports published longer ago than this are not sent late
LEASE = timedelta(minutes=15)  # an undelivered claim older than this is taken over
FLUSH_SECONDS = 10.0


def delivery_key(key: DeliveryKey) -> str:
    """The idempotency key a receiver dedupes on: one per report version, whoever sends it."""
    return f"{key.report_type}/{key.business_date.isoformat()}/{key.version}"


class Deliveries:
    """Claims published reports once across processes and sends them to every channel."""

    def __init__(
        self,
        results: Results,
        channels: list[Channel],
        report_types: tuple[str, ...],
        *,
        public_url: str,
        watch_every: timedelta = timedelta(seconds=60),
        clock: Callable[[], datetime] | None = None,
        sender: Sender | None = None,
    ) -> None:
        self.results = results
        self.store = results.store
        self.report_types = report_types
        self.public_url = public_url
        self.watch_every = watch_every
        self.sender = sender or Sender(channels)
        self.clock = clock or results.now
        self.renderer: Renderer | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self._checking = asyncio.Lock()  # one watch pass at a time; `settle` waits for it

    @classmethod
    def open(cls, settings: Settings, results: Results) -> Deliveries:
        """Deliveries over `MARKETBRIEF_DELIVER` (none configured: nothing is sent)."""
        a = settings.alerting
        return cls(
            results,
            channels_from(a.deliver),
            a.deliver_types,
            public_url=settings.public_url,
            watch_every=timedelta(seconds=a.watch_seconds),
        )

    @property
    def channels(self) -> list[Channel]:
        """The configured delivery channels, in order."""
        return [lane.channel for lane in self.sender.lanes]

    def ready(self) -> bool:
        """Channels configured, and a renderer if one of them is mail."""
        mail = any(c.scheme in MAIL_SCHEMES for c in self.channels)
        return bool(self.channels) and (self.renderer is not None or not mail)

    # -- what is delivered -------------------------------------------------------------------

    def run_finished(self, outcome: RunOutcome) -> None:
        """The runner's hook: a report published fresh is claimed and sent, in the background."""
        completion = outcome.completion
        if (
            not self.ready()
            or completion is None
            or not (outcome.published and outcome.persisted)
            or completion.status not in PUBLISHABLE
            or outcome.report_type.value not in self.report_types
        ):
            return
        key = DeliveryKey(outcome.report_type.value, outcome.scheduled_date, completion.version)
        task = asyncio.get_running_loop().create_task(self._claim(key, outcome.run_id))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _claim(self, key: DeliveryKey, run_id: str | None) -> None:
        try:
            if await self.store.claim_delivery(key, run_id, self.clock()):
                await self._send(key, frozenset())
        except StoreError as error:  # the watch claims it once the store answers
            log.warning("delivery of %s %s not claimed: %s", key.report_type, key.version, error)

    async def check(self) -> None:
        """One watch pass: reports published lately that no process has delivered."""
        if not self.ready():
            return
        async with self._checking:
            now = self.clock()
            found = await self.store.undelivered(now - LOOKBACK, self.report_types, now - LEASE)
            for pending in found:
                if pending.claimed:
                    done = await self.store.reclaim_delivery(pending.key, now - LEASE, now)
                    if done is not None:
                        await self._send(pending.key, done)
                elif await self.store.claim_delivery(pending.key, pending.run_id, now):
                    await self._send(pending.key, frozenset())

    async def _send(self, key: DeliveryKey, done: frozenset[int]) -> None:
        """Read the report as served, and queue it for each channel not yet done."""
        kind = ReportType(key.report_type)
        response = await self.results.get_report(kind, key.business_date)
        if not response.has_content:  # left claimed: taken over after the lease
            log.warning("delivery of %s %s: no report to send", kind.value, key.business_date)
            return
        now = self.clock()
        day = key.business_date.isoformat()
        link = f"{self.public_url}/reports/{kind.value}?date={day}"
        html = self.renderer(response, now) if self.renderer is not None else None
        message = Message(
            f"{PREFIX} {kind.value} report for {day}",
            f"The {kind.value} report for {day} (version {key.version}): {link}",
            html=html,
            data=response.render(now).decode(),
            key=delivery_key(key),
            on_result=self._tracker(key, done),
        )
        log.info("delivering %s %s version %d", kind.value, day, key.version)
        self.sender.submit(message, skip=done)

    def _tracker(self, key: DeliveryKey, done: frozenset[int]) -> Callable[[int, bool], None]:
        """Records which channels took the report; `delivered_at` once all of them did."""
        wanted = {c.number for c in self.channels} - done
        took = set(done)
        heard: set[int] = set()

        def on_result(channel: int, delivered: bool) -> None:
            heard.add(channel)
            if delivered:
                took.add(channel)
            if heard >= wanted:
                complete = took >= {c.number for c in self.channels}
                at = self.clock() if complete else None
                task = asyncio.get_running_loop().create_task(
                    self._record(key, frozenset(took), at)
                )
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)

        return on_result

    async def _record(self, key: DeliveryKey, took: frozenset[int], at: datetime | None) -> None:
        try:
            await self.store.record_delivery(key, took, at)
        except StoreError as error:  # left claimed: taken over after the lease, resent
            log.warning("delivery of %s %s not recorded: %s", key.report_type, key.version, error)

    # -- the background tasks ----------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set: send, and look for undelivered reports every `watch_every`."""
        sending = asyncio.create_task(self.sender.run(stop))
        try:
            while not stop.is_set():
                try:
                    await self.check()
                except StoreError as error:
                    log.warning("delivery pass skipped: %s", error)
                except Exception:
                    log.exception("delivery pass failed; will retry")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.watch_every.total_seconds())
        finally:
            await sending

    async def settle(self) -> None:
        """Wait until the deliveries claimed so far (and by a watch pass under way) are queued
        and recorded."""
        async with self._checking:
            pass
        while self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    async def close(self) -> None:
        """Finish pending claims, then try what is waiting once (bounded)."""
        await self.settle()
        await self.sender.flush(FLUSH_SECONDS)
        await self.settle()
