"""The store's read threads: a blocking read handed to a thread, its answer handed back.

Every store read runs on a thread so that a stalled disk or server never stalls the event
loop, and a read that outlives its deadline is abandoned to its thread (the caller gets
TimeoutError; the thread finishes, or times out, on its own). With the cache off, every
report is such a read, and the hand-off was a large share of its cost: under load, on one
core, `anyio.to_thread.run_sync` with `fail_after` cost about 30 µs of CPU per call and
`loop.run_in_executor` about 14, against about 1 here (docs/performance.md, "Reading the
misses"). This is the least that does the job: a queue the loop puts calls on, threads that
take them in turn (a busy thread takes the next call without sleeping), each answer put back
with `call_soon_threadsafe`, and one timer per call for its deadline.

Threads start as calls wait for one, up to `limit`, and stay for the next; `close` ends them
once the calls still running have finished. Writes are not handed off here: a write is never
abandoned, so its caller waits for it even when cancelled (`anyio.to_thread`, store/gateway.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
# As many as the SQLite reader pool's connections: a ninth thread would only wait for one (and
# every thread that allocates grows the process by a malloc arena of its own).
DEFAULT_LIMIT = 8

_Call = tuple[
    Callable[[], Any], "asyncio.Future[Any]", asyncio.AbstractEventLoop, asyncio.TimerHandle
]


class ReadThreads:
    """Threads that run blocking reads for coroutines, each within a deadline."""

    def __init__(self, limit: int = DEFAULT_LIMIT, name: str = "marketbrief-store-read") -> None:
        if limit < 1:
            raise ValueError(f"at least one read thread is needed, not {limit}")
        self.limit = limit
        self.name = name
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # notified when no call runs
        self._waiting = 0  # threads blocked on the queue, free for the next call
        self._running = 0  # calls taken and not yet finished
        self._closed = False

    def start(self, call: Callable[[], T], deadline: float) -> asyncio.Future[T]:
        """`call()` started on a read thread: the future of its answer, which fails with
        TimeoutError past `deadline` seconds, the call then left to finish on its thread. A
        caller that is cancelled (cancelling the future) leaves it the same way. To be called
        from the event loop's thread."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        timer = loop.call_later(deadline, _expire, future)
        self._submit((call, future, loop, timer))
        return future

    def _submit(self, item: _Call) -> None:
        if self._closed:
            item[3].cancel()
            raise RuntimeError("the store's read threads are closed")
        self._calls.put(item)
        # More calls waiting than threads free to take them: one more thread, within the limit.
        if self._calls.qsize() > self._waiting and len(self._threads) < self.limit:
            with self._lock:
                if len(self._threads) < self.limit:
                    thread = threading.Thread(
                        target=self._work, name=f"{self.name}-{len(self._threads)}", daemon=True
                    )
                    self._threads.append(thread)
                    thread.start()

    def _work(self) -> None:
        calls, lock = self._calls, self._lock
        with lock:
            self._waiting += 1
        while True:
            item = calls.get()
            with lock:
                self._waiting -= 1
                if item is None:
                    return
                self._running += 1
            call, future, loop, timer = item
            error: BaseException | None = None
            try:
                result = call()
            except BaseException as raised:  # the caller's to see, as raised
                result, error = None, raised
            with lock:  # free again before the caller hears back, so its next call finds it
                self._running -= 1
                self._waiting += 1
                if self._running == 0:
                    self._idle.notify_all()
            _hand_back(loop, future, timer, result, error)
            del item, call, future, timer, result, error  # nothing of this call outlives it here

    def wait_idle(self, timeout: float) -> bool:
        """Block until no call runs (or `timeout` passes); True when none does."""
        with self._lock:
            return self._idle.wait_for(lambda: self._running == 0, timeout)

    def close(self) -> None:
        """End every thread once it has finished what it runs; no call is taken after this."""
        self._closed = True
        for _ in self._threads:
            self._calls.put(None)

    @property
    def threads(self) -> int:
        """How many threads have started."""
        return len(self._threads)


def _hand_back(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[Any],
    timer: asyncio.TimerHandle,
    result: Any,
    error: BaseException | None,
) -> None:
    # A closed loop raises RuntimeError: nobody is waiting for this answer any more.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(_settle, future, timer, result, error)


def _settle(
    future: asyncio.Future[Any],
    timer: asyncio.TimerHandle,
    result: Any,
    error: BaseException | None,
) -> None:
    timer.cancel()
    if future.done():  # abandoned: past its deadline, or its caller was cancelled
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


def _expire(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())
