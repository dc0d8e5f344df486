"""A malformed outbox file is set aside with a reason while the others replay; an outbox that
cannot be written makes publish raise instead of acknowledging; concurrent replays of one
outbox store each completion once.

The promises each test keeps are listed in tests/support/faults.py.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from harness.store import migrate

from marketbrief.config import Settings
from marketbrief.errors import OutboxError
from marketbrief.models import ReportType
from marketbrief.results.envelope import ReportState
from marketbrief.results.outbox import Outbox
from tests.support.faults import nth_completion, opened

PRE = ReportType.PRE_MARKET


async def test_a_truncated_outbox_file_is_rejected_with_a_reason_and_the_others_replay(
    sqlite_url: str, tmp_path: Path
) -> None:
    migrate(sqlite_url)
    outbox = Outbox(tmp_path / "outbox")
    completions = [nth_completion(i) for i in range(4)]
    paths = [outbox.append(c) for c in completions]
    for older, newer in itertools.pairwise(paths):
        assert older.stat().st_mtime_ns <= newer.stat().st_mtime_ns
    bad = paths[1]
    stamp = bad.stat()
    whole = bad.read_bytes()
    truncated = whole[: len(whole) // 2]
    bad.write_bytes(truncated)
    # Keep it second in replay order, so the files after it prove replay goes on.
    os.utime(bad, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert outbox.pending()[1] == bad

    settings = Settings(database_url=sqlite_url, outbox_dir=outbox.directory)
    async with opened(settings) as results:
        report = await results.replay_outbox()
        good = [c for i, c in enumerate(completions) if i != 1]
        assert [c.run_id for c, _ in report.stored] == [c.run_id for c in good]
        assert list(report.rejected) == [bad.stem]
        assert "unreadable outbox file" in report.rejected[bad.stem]
        assert results.deps.outbox.depth() == 0
        assert results.deps.outbox.rejections() == {bad.stem: report.rejected[bad.stem]}
        kept = outbox.rejected_dir / bad.name
        assert kept.read_bytes() == truncated  # set aside as it was, never dropped
        assert (outbox.rejected_dir / f"{bad.stem}.reason").is_file()
        for completion in good:
            assert results.deps.store.backend.get_run(completion.run_id) is not None
        assert results.deps.store.backend.get_run(completions[1].run_id) is None
        # A second replay finds nothing to do and does not resurrect the rejected file.
        again = await results.replay_outbox()
        assert (again.stored, again.rejected, again.remaining) == ([], {}, 0)


@pytest.mark.parametrize("why", ["store_down", "store_writes_off"])
async def test_publish_raises_outbox_error_when_the_outbox_cannot_be_written_and_the_store_fails(
    why: str, sqlite_url: str, tmp_path: Path
) -> None:
    not_a_dir = tmp_path / "outbox-is-a-file"
    not_a_dir.write_bytes(b"occupied\n")
    if why == "store_down":
        # A read-only open of a file that does not exist: "unable to open database file".
        url = f"sqlite:///file:{tmp_path / 'absent.db'}?mode=ro&uri=true"
        changes: dict[str, object] = {}
    else:
        migrate(sqlite_url)
        url = sqlite_url
        changes = {"store_writes": False}
    settings = Settings(database_url=url, outbox_dir=not_a_dir, write_retry_seconds=0.2)
    completion = nth_completion(0)
    async with opened(settings, **changes) as results:
        with pytest.raises(OutboxError, match="cannot write the outbox"):
            await results.publish(completion)
        assert results.deps.counters.outboxed == 0
        assert not_a_dir.read_bytes() == b"occupied\n"
        # Not acknowledged, so never served as if it existed.
        response = await results.get_report(PRE, completion.scheduled_date)
        assert not response.has_content
        assert response.data is None
        assert response.state in (ReportState.UNAVAILABLE, ReportState.MISSING)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_concurrent_replays_of_one_outbox_store_each_completion_once_and_never_raise(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url: str = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url")
    migrate(url)
    outbox_dir = tmp_path / "outbox"
    outbox = Outbox(outbox_dir)
    completions = [nth_completion(i) for i in range(120)]
    for completion in completions:
        outbox.append(completion)
    settings = Settings(database_url=url, outbox_dir=outbox_dir, cache_enabled=False)
    async with opened(settings) as a, opened(settings) as b, opened(settings) as c:
        # Three replayers (own engines, own threads) race over the same files: one may find a
        # file gone, or insert a run another has just inserted. Neither is an error.
        reports = await asyncio.gather(a.replay_outbox(), b.replay_outbox(), c.replay_outbox())
    assert [r.rejected for r in reports] == [{}, {}, {}]
    assert [r.remaining for r in reports] == [0, 0, 0]
    stored = {completion.run_id for r in reports for completion, _ in r.stored}
    assert stored == {completion.run_id for completion in completions}
    assert outbox.depth() == 0
    assert not outbox.rejected_dir.exists() or list(outbox.rejected_dir.iterdir()) == []
    counting = sa.create_engine(url)
    try:
        with counting.connect() as connection:
            runs = connection.execute(sa.text("SELECT count(*) FROM job_executions")).scalar()
            snapshots = connection.execute(
                sa.text("SELECT count(*) FROM scheduled_job_results")
            ).scalar()
            predictions = connection.execute(
                sa.text("SELECT count(*) FROM symbol_predictions")
            ).scalar()
    finally:
        counting.dispose()
    assert (runs, snapshots) == (len(completions), len(completions))
    assert predictions == sum(len(c.predictions) for c in completions)
    print(f"\n{backend} concurrent replay: stored per replayer {[len(r.stored) for r in reports]}")
