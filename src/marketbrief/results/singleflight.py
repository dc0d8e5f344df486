"""Single-flight: concurrent callers asking for the same key share one call of the loader."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """Within one event loop, at most one load per key is in flight; the rest await its result.

    The load runs as its own task, so a caller that is cancelled (a client hanging up) does not
    cancel the load for everyone else waiting on it.
    """

    def __init__(self) -> None:
        self._flights: dict[str, asyncio.Task[T]] = {}

    async def run(self, key: str, load: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """The result of `load()`, shared with every caller that asks for `key` meanwhile."""
        task = self._flights.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(load())
            self._flights[key] = task
            task.add_done_callback(lambda done: self._landed(key, done))
        return await asyncio.shield(task)

    def in_flight(self, key: str) -> bool:
        """Whether a load for `key` is running now."""
        return key in self._flights

    def _landed(self, key: str, task: asyncio.Task[T]) -> None:
        if self._flights.get(key) is task:
            del self._flights[key]
        if not task.cancelled():
            task.exception()  # retrieved here so an unawaited failure is not logged as lost
