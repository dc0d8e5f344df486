"""The outbox keeps a completion whole: bytes, predictions and closing stages survive replay."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

from marketbrief.models import Stage, StageRecord, StageStatus
from marketbrief.results.outbox import Outbox
from marketbrief.store import SQLStore, Store
from tests.support.factories import standalone_completion


async def test_a_spooled_completion_comes_back_identical_and_replays_into_the_store(
    tmp_path: Path, sqlite_url: str
) -> None:
    base = standalone_completion(started_at=datetime(2026, 11, 24, 13, 30, tzinfo=UTC))
    now = datetime(2026, 11, 24, 13, 31, tzinfo=UTC)
    completion = dataclasses.replace(
        base,
        content=base.content + b" \xc3\xa9" if base.content else None,  # exact bytes, non-ASCII
        stages=(StageRecord(base.run_id, Stage.FINALIZE, StageStatus.SUCCESS, now, now, {}),),
    )
    box = Outbox(tmp_path / "outbox")
    box.append(completion)
    assert box.read(box.pending()[0]) == completion
    store = SQLStore(sqlite_url)
    store.migrate()
    try:
        report = await box.replay(Store(store).finish_run)
        assert [c.run_id for c, _ in report.stored] == [completion.run_id]
        detail = store.get_run(completion.run_id)
        assert detail is not None
        assert detail.snapshot is not None
        assert detail.snapshot.content == completion.content
        assert [s.stage for s in detail.stages] == [Stage.FINALIZE]
    finally:
        store.close()
    assert box.depth() == 0
