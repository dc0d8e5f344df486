"""The load the store-fault scenarios (outage, fulldisk, readonly) put on a running server.

One trigger every TRIGGER_GAP seconds and a reader GETting reports the whole time, each answer
tallied under the phase ("before", the fault's name, "after") in which its request was sent;
the scenario moves `phase` on and sets `stop` at the end. Also the outbox's depth, and the
check every such scenario makes of the answers: no 5xx but a documented 503, none dropped.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import httpx

from resilience.scenario import ScenarioResult
from resilience.server import API_KEY

TRIGGER_GAP = 0.2
READ_GAP = 0.05


def outbox_depth(folder: Path) -> int:
    """Entries waiting in the outbox (not the half-written `.tmp-` files)."""
    if not folder.is_dir():
        return 0
    return sum(1 for p in folder.glob("*.json") if not p.name.startswith(".tmp-"))


@dataclass
class Traffic:
    """Triggers and report reads against the server at `url`, over the sessions `days`."""

    url: str
    days: Sequence[date]
    phase: str = "before"
    acked: dict[str, str] = field(default_factory=dict)  # run_id -> phase of its 202
    written: set[str] = field(default_factory=set)  # the dates of acknowledged triggers
    answers: dict[str, Counter[str]] = field(default_factory=dict)  # trigger answers by phase
    reads: dict[str, Counter[str]] = field(default_factory=dict)  # report reads by phase
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def triggers(self) -> None:
        """POST a pre-market trigger for each past session in turn until `stop`."""
        i = 0
        async with httpx.AsyncClient(
            base_url=self.url, headers={"X-API-Key": API_KEY}, timeout=60
        ) as client:
            while not self.stop.is_set():
                day, at = self.days[i % len(self.days)].isoformat(), self.phase
                i += 1
                try:
                    response = await client.post(
                        "/api/v1/jobs/trigger", json={"type": "pre-market", "date": day}
                    )
                    self.answers.setdefault(at, Counter())[str(response.status_code)] += 1
                    if response.status_code == 202:
                        self.acked[response.json()["run_id"]] = at
                        self.written.add(day)
                except httpx.HTTPError:
                    self.answers.setdefault(at, Counter())["no answer"] += 1
                await asyncio.sleep(TRIGGER_GAP)

    async def reader(self, *, window: int) -> None:
        """GET the pre-market report of the first `window` sessions in turn until `stop`."""
        i = 0
        async with httpx.AsyncClient(base_url=self.url, timeout=60) as client:
            while not self.stop.is_set():
                day, at = self.days[i % window].isoformat(), self.phase
                i += 1
                try:
                    response = await client.get(f"/api/v1/reports/pre-market?date={day}")
                    self.reads.setdefault(at, Counter())[str(response.status_code)] += 1
                except httpx.HTTPError:
                    self.reads.setdefault(at, Counter())["no answer"] += 1
                await asyncio.sleep(READ_GAP)

    def check_answers(self, result: ScenarioResult, *more: dict[str, Counter[str]]) -> None:
        """Check that no answer (triggers, reads and `more`) was a 5xx but 503, none dropped."""
        every: Counter[str] = Counter()
        for tally in (*self.answers.values(), *self.reads.values()):
            every.update(tally)
        for by_phase in more:
            for tally in by_phase.values():
                every.update(tally)
        errors = {k: v for k, v in every.items() if k[:1] == "5" and k != "503"}
        result.check(
            "no 5xx answer other than 503, no dropped connection",
            not errors and every["no answer"] == 0,
            f"{errors or 'none'}; {every['no answer']} without an answer",
        )
