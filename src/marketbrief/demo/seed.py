"""Seeding a store with the demo: which slots, the settings it runs under, and the runs.

The demo covers the last SESSIONS sessions, from the Monday of the first one's week, so every
weekly report it makes has its whole week; it runs every slot whose time has come by now, in
time order, through `Runner.run` with trigger `backfill`, exactly as `marketbrief backfill`
does. Nothing it runs reaches outside this machine: the news and prices are the sample files,
the model is the built-in default (no LLM), the cache is in memory, no alert or delivery channel
is told, and its outbox is its own folder, so a real deployment's outbox is never replayed into
the demo's database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import orjson

from marketbrief.calendar import NEW_YORK, MarketCalendar, business_date
from marketbrief.config import Settings
from marketbrief.demo.sample import SampleFiles
from marketbrief.errors import InvalidInput
from marketbrief.models import PUBLISHABLE, ReportType, TriggerSource
from marketbrief.runs.outcome import RunOutcome
from marketbrief.services import Services

SESSIONS = 14
Slot = tuple[ReportType, date, datetime]


@dataclass(frozen=True, slots=True)
class DemoRange:
    """The days the demo covers and the slots due in them by `now`, in time order."""

    first: date
    last: date
    slots: list[Slot]


def demo_range(calendar: MarketCalendar, now: datetime) -> DemoRange:
    """From the Monday of the week of the session SESSIONS-1 sessions back, up to `now`."""
    today = business_date(now)
    start = calendar.sessions_before(today, SESSIONS - 1)
    first = start - timedelta(days=start.weekday())
    begin = datetime.combine(first, time(), NEW_YORK).astimezone(UTC)
    last = calendar.session_on_or_before(today)
    return DemoRange(first, last, calendar.slots_between(begin, now))


def demo_settings(settings: Settings, database_url: str, sample: SampleFiles) -> Settings:
    """The settings the demo runs under: the sample files and nothing outside this machine."""
    quiet = replace(settings.alerting, notify=(), deliver=(), auto_rollback=False)
    return replace(
        settings,
        database_url=database_url,
        news=sample.news_spec,
        prices=sample.prices_spec,
        cache_url=Settings().cache_url,
        cache_enabled=True,
        store_reads=True,
        store_writes=True,
        outbox_dir=sample.directory / "outbox",
        lexicon=None,
        llm_url=None,
        llm_model=None,
        llm_key=None,
        alerting=quiet,
    )


@dataclass(slots=True)
class Seeded:
    """What the demo's runs did."""

    outcomes: list[RunOutcome] = field(default_factory=list)
    skipped: int = 0

    def count(self, kind: ReportType) -> int:
        """Runs of one report type."""
        return sum(o.report_type is kind for o in self.outcomes)

    @property
    def failed(self) -> list[RunOutcome]:
        """Runs that produced no report."""
        return [o for o in self.outcomes if o.status not in PUBLISHABLE]

    def scored(self) -> tuple[int, int]:
        """(scored, right) over every end-of-day call the demo's runs made."""
        scored = right = 0
        for outcome in self.outcomes:
            content = outcome.completion.content if outcome.completion else None
            if outcome.report_type is ReportType.END_OF_DAY and content:
                n, k = scored_calls(orjson.loads(content))
                scored, right = scored + n, right + k
        return scored, right


def scored_calls(payload: dict[str, Any]) -> tuple[int, int]:
    """(scored, right) of one end-of-day payload, from its per-symbol outcomes."""
    outcomes = [row.get("outcome") for row in payload.get("symbols", [])]
    right = sum(o in ("correct", "right") for o in outcomes)
    return right + sum(o == "wrong" for o in outcomes), right


async def seed(
    services: Services,
    slots: list[Slot],
    *,
    force: bool,
    advance: Callable[[], None] = lambda: None,
) -> Seeded:
    """Run every slot in order (a slot that has a report only with `force`)."""
    seeded = Seeded()
    for kind, day, _ in slots:
        if force or not await services.results.has_report(kind, day):
            seeded.outcomes.append(await services.runner.run(kind, day, TriggerSource.BACKFILL))
        else:
            seeded.skipped += 1
        advance()
    return seeded


def database_url(path: str) -> str:
    """A --database value (a file path) as the URL of an embedded SQLite store."""
    if "://" in path or not path.strip():
        raise InvalidInput(
            f"--database takes a file path, got {path!r}; "
            "to seed another database, set MARKETBRIEF_DATABASE_URL instead"
        )
    return f"sqlite:///{Path(path)}"
