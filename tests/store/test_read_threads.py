"""The store's read threads: answers and errors handed back, deadlines kept, threads bounded.

Blocking calls here wait on `threading.Event`s the test sets, never on the clock; the one
deadline that must pass is a whole second.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from marketbrief.store.threads import ReadThreads

WAIT = 10.0  # how long a test waits for an event that must happen (it happens at once)


@pytest.fixture
def threads(request: pytest.FixtureRequest) -> ReadThreads:
    return ReadThreads(limit=3, name=f"test-read-{request.node.name}")


async def test_a_call_runs_on_a_read_thread_and_its_answer_comes_back(
    threads: ReadThreads,
) -> None:
    loop_thread = threading.get_ident()
    ran_on = await threads.start(threading.get_ident, deadline=WAIT)
    assert ran_on != loop_thread
    assert await threads.start(lambda: "answer", deadline=WAIT) == "answer"
    assert threads.threads == 1  # the thread that answered stayed for the next call
    threads.close()


async def test_a_call_that_raises_raises_in_its_caller(threads: ReadThreads) -> None:
    def broken() -> None:
        raise LookupError("the store said no")

    with pytest.raises(LookupError, match="the store said no"):
        await threads.start(broken, deadline=WAIT)
    assert await threads.start(lambda: 7, deadline=WAIT) == 7  # the thread lives on
    threads.close()


async def test_past_its_deadline_a_call_is_abandoned_to_its_thread(threads: ReadThreads) -> None:
    release, finished = threading.Event(), threading.Event()

    def stalled() -> str:
        release.wait(WAIT)
        finished.set()
        return "late"

    with pytest.raises(TimeoutError):
        await threads.start(stalled, deadline=1.0)
    assert not finished.is_set()  # the caller did not wait for it
    assert not threads.wait_idle(0)  # it still runs, and close() would wait for it
    release.set()
    assert await asyncio.to_thread(threads.wait_idle, WAIT)
    assert finished.is_set()
    threads.close()


async def test_a_cancelled_caller_leaves_its_call_running(threads: ReadThreads) -> None:
    started, release = threading.Event(), threading.Event()

    def blocked() -> int:
        started.set()
        release.wait(WAIT)
        return 1

    caller = threads.start(blocked, deadline=WAIT)  # its caller cancels it by cancelling it
    assert await asyncio.to_thread(started.wait, WAIT)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    release.set()
    assert await asyncio.to_thread(threads.wait_idle, WAIT)
    assert await threads.start(lambda: 2, deadline=WAIT) == 2
    threads.close()


async def test_threads_start_as_calls_wait_for_one_up_to_the_limit(threads: ReadThreads) -> None:
    release = threading.Event()
    running = threading.Semaphore(0)

    def held() -> None:
        running.release()
        release.wait(WAIT)

    callers = [threads.start(held, deadline=WAIT) for _ in range(5)]
    await asyncio.sleep(0)  # every caller has handed its call over
    for _ in range(3):  # three threads, each holding a call
        assert await asyncio.to_thread(running.acquire, True, WAIT)
    assert threads.threads == 3
    assert not running.acquire(blocking=False)  # the other two wait for a thread
    release.set()
    await asyncio.gather(*callers)
    assert threads.threads == 3
    threads.close()


async def test_closed_threads_end_and_take_no_more_calls(threads: ReadThreads) -> None:
    await asyncio.gather(*(threads.start(lambda: None, deadline=WAIT) for _ in range(4)))
    started = [t for t in threading.enumerate() if t.name.startswith(threads.name)]
    assert started
    threads.close()
    for thread in started:
        await asyncio.to_thread(thread.join, WAIT)
        assert not thread.is_alive()
    with pytest.raises(RuntimeError, match="closed"):
        await threads.start(lambda: None, deadline=WAIT)


def test_an_answer_for_a_loop_that_has_closed_is_dropped(threads: ReadThreads) -> None:
    release = threading.Event()

    def slow() -> str:
        release.wait(WAIT)
        return "nobody is listening"

    async def leave_it() -> None:
        with pytest.raises(TimeoutError):
            await threads.start(slow, deadline=1.0)

    asyncio.run(leave_it())  # the loop is closed when this returns
    release.set()
    assert threads.wait_idle(WAIT)  # the thread handed its answer back to nothing, and lives

    async def next_call() -> str:
        return await threads.start(lambda: "next", deadline=WAIT)

    assert asyncio.run(next_call()) == "next"
    threads.close()


def test_at_least_one_thread_is_needed() -> None:
    with pytest.raises(ValueError, match="at least one"):
        ReadThreads(limit=0)
