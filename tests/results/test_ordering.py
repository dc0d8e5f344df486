"""Lesson 18 under random interleavings: readers never go back in time, nor blank.

Hypothesis drives publishes (some late and older, some losing their cache write), reads,
evictions and flushes, one at a time or several at once, on embedded mode (SQLite file +
in-process cache) and scaled-out mode (a private PostgreSQL schema + Redis under a private key
prefix). Nothing here fakes the store.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from harness.store import migrate
from hypothesis import HealthCheck
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

from marketbrief.cache import keys
from marketbrief.config import Settings
from marketbrief.models import Outcome, ReportType
from marketbrief.results import Results
from marketbrief.results.envelope import ReportResponse, ReportState
from tests.support.factories import standalone_completion

PRE = ReportType.PRE_MARKET
EOD = ReportType.END_OF_DAY


@dataclass(frozen=True)
class Publish:
    """A run of key `key` that started `minute` minutes after noon completes and is published."""

    key: int
    minute: int
    lose_cache_write: bool = False  # the cache entry it wrote is gone right after


@dataclass(frozen=True)
class Read:
    key: int


@dataclass(frozen=True)
class Evict:
    key: int


@dataclass(frozen=True)
class Flush:
    pass


Op = Publish | Read | Evict | Flush
KEYS = 3  # (pre-market, Tuesday), (pre-market, Wednesday), (end-of-day, Tuesday)
FIRST_TUESDAY = date(2001, 1, 2)
FAR_LATER = datetime(2028, 6, 1, tzinfo=UTC)  # every slot of every example's dates has passed
_example_weeks = itertools.count()  # one distinct week of report dates per example

key_indexes = st.integers(0, KEYS - 1)
minutes = st.integers(0, 5)  # few distinct start times: late older runs and equal versions
ops = st.one_of(
    st.builds(Publish, key_indexes, minutes, st.booleans()),
    st.builds(Read, key_indexes),
    st.builds(Evict, key_indexes),
    st.builds(Flush),
)


class ResultsOrderingMachine(RuleBasedStateMachine):
    """Drives publishes (some late and older, some losing their cache write), reads, evictions
    and flushes, one at a time or several at once, and checks every read:

    (a) a reader never gets an older version than one whose publish returned published=True
        before the read began, and the bytes are exactly that run's;
    (b) a reader never gets anything but a fresh report while the store holds one for the key.
    """

    results_settings: Settings  # set by `machine_for`

    def __init__(self) -> None:
        super().__init__()
        tuesday = FIRST_TUESDAY + timedelta(weeks=next(_example_weeks))
        assert tuesday.year < 2026, "more examples than distinct weeks of report dates"
        self.keys = [(PRE, tuesday), (PRE, tuesday + timedelta(days=1)), (EOD, tuesday)]
        self.floor: dict[int, int] = {}  # highest version published=True, per key
        self.runs: dict[str, tuple[int, int, bytes]] = {}  # run_id -> key, version, content
        self.won: set[str] = set()  # run_ids whose publish returned published=True
        self.loop = asyncio.new_event_loop()
        # Nothing connects until first use, which happens inside self.loop: the Redis client
        # is bound to the loop it first connects in, and is closed in that same loop.
        self.results = Results.open(self.results_settings, clock=lambda: FAR_LATER)

    def teardown(self) -> None:
        try:
            self.loop.run_until_complete(self._close())
        finally:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    async def _close(self) -> None:
        try:
            if self.results.deps.cache is not None:
                await self.results.deps.cache.clear()
        finally:
            await self.results.close()

    # -- rules ---------------------------------------------------------------------------------

    @rule(key=key_indexes, minute=minutes)
    def publish(self, key: int, minute: int) -> None:
        self._step([Publish(key, minute)])

    @rule(key=key_indexes, minute=minutes)
    def publish_losing_its_cache_write(self, key: int, minute: int) -> None:
        self._step([Publish(key, minute, lose_cache_write=True)])

    @rule(key=key_indexes)
    def read(self, key: int) -> None:
        self._step([Read(key)])

    @rule()
    def read_every_key(self) -> None:
        for key in range(KEYS):
            self._step([Read(key)])

    @rule(key=key_indexes)
    def evict(self, key: int) -> None:
        self._step([Evict(key)])

    @rule()
    def flush(self) -> None:
        self._step([Flush()])

    @rule(together=st.lists(ops, min_size=2, max_size=4))
    def interleave(self, together: list[Op]) -> None:
        self._step(together)

    # -- running and checking ------------------------------------------------------------------

    def _step(self, together: list[Op]) -> None:
        floors = dict(self.floor)  # what every read of this step must at least see
        outcomes = self.loop.run_until_complete(self._all(together))
        for op, outcome in zip(together, outcomes, strict=True):
            if isinstance(op, Publish) and isinstance(outcome, Outcome):
                assert outcome.persisted, outcome
                if outcome.published:
                    self.won.add(outcome.run_id)
                    version = self.runs[outcome.run_id][1]
                    self.floor[op.key] = max(self.floor.get(op.key, version), version)
        for op, outcome in zip(together, outcomes, strict=True):
            if isinstance(op, Read):
                assert isinstance(outcome, ReportResponse)
                self._check(op.key, outcome, floors.get(op.key))

    async def _all(self, together: list[Op]) -> list[object]:
        done = await asyncio.gather(*(self._do(op) for op in together), return_exceptions=True)
        for outcome in done:
            if isinstance(outcome, BaseException):
                raise outcome
        return done

    async def _do(self, op: Op) -> object:
        cache = self.results.deps.cache
        assert cache is not None
        if isinstance(op, Read):
            return await self.results.get_report(*self.keys[op.key])
        if isinstance(op, Evict):
            await cache.delete(self._cache_key(op.key))
            return None
        if isinstance(op, Flush):
            return await cache.clear()
        kind, day = self.keys[op.key]
        started = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        completion = standalone_completion(
            kind,
            day,
            started_at=started + timedelta(minutes=op.minute),
            run_id=f"{day.isoformat()}_{kind.value}_{uuid.uuid4().hex}",
        )
        assert completion.content is not None
        self.runs[completion.run_id] = (op.key, completion.version, completion.content)
        outcome = await self.results.publish(completion)
        if op.lose_cache_write:
            await cache.delete(self._cache_key(op.key))
        return outcome

    def _cache_key(self, key: int) -> str:
        kind, day = self.keys[key]
        return keys.report_key(kind.value, day)

    def _check(self, key: int, response: ReportResponse, floor: int | None) -> None:
        kind, day = self.keys[key]
        label = f"{kind.value} {day}"
        if floor is not None:
            assert response.state is ReportState.FRESH, (
                f"{label}: the store holds version {floor} but a read answered "
                f"{response.state.value} {response.warnings}"
            )
        if response.state is not ReportState.FRESH:
            assert response.state is not ReportState.UNAVAILABLE, response.warnings
            if response.state is ReportState.STALE:
                assert response.business_date is not None
                assert response.business_date < day
            return
        assert response.has_content
        assert response.business_date == day
        assert response.run_id in self.won, f"{label}: served a run that never became latest"
        served_key, version, content = self.runs[response.run_id]
        assert served_key == key
        assert response.data == content
        if floor is not None:
            assert version >= floor, (
                f"{label}: served version {version} after version {floor} was published"
            )


def machine_for(results_settings: Settings) -> type[ResultsOrderingMachine]:
    migrate(results_settings.database_url)
    return type(
        "ResultsOrderingMachineUnderTest",
        (ResultsOrderingMachine,),
        {"results_settings": results_settings},
    )


def hypothesis_settings(max_examples: int) -> hsettings:
    return hsettings(
        max_examples=max_examples,
        deadline=None,
        stateful_step_count=30,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        database=None,  # no example database written into the working tree
    )


def test_lesson_18_readers_never_go_back_in_time_or_blank_embedded(
    embedded_settings: Settings,
) -> None:
    run_state_machine_as_test(
        machine_for(embedded_settings), settings=hypothesis_settings(max_examples=40)
    )


def test_lesson_18_readers_never_go_back_in_time_or_blank_scaled(
    scaled_settings: Settings,
) -> None:
    run_state_machine_as_test(
        machine_for(scaled_settings), settings=hypothesis_settings(max_examples=25)
    )
