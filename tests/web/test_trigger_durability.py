"""A trigger is acknowledged only when its run is durable: claimed in the store, or spooled."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path

from marketbrief.config import Settings
from marketbrief.models import RunStatus
from marketbrief.results import Results
from marketbrief.results.outbox import Outbox
from tests.support.api_fixtures import Api
from tests.support.clock import DAY

TRIGGER = {"type": "pre-market", "date": DAY.isoformat()}


def _refusing_writes(settings: Settings) -> str:
    """The same store, opened so that it refuses every write (its reads still work)."""
    if settings.database_url.startswith("sqlite"):
        path = settings.database_url.removeprefix("sqlite:///")
        return f"sqlite:///file:{path}?mode=ro&uri=true"
    # PostgreSQL: sessions whose transactions are read-only by default.
    return settings.database_url + "%20-cdefault_transaction_read_only%3Don"


async def test_a_trigger_neither_the_store_nor_the_outbox_can_hold_is_503(
    make_api: Callable[..., Awaitable[Api]], api_settings: Settings, tmp_path: Path
) -> None:
    blocked = tmp_path / "outbox-is-a-file"
    blocked.write_text("not a folder: every spool fails, as on a full disk")
    api = await make_api(database_url=_refusing_writes(api_settings), outbox_dir=blocked)
    response = await api.post("/api/v1/jobs/trigger", TRIGGER)
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "5"
    assert response.json()["error"]["code"] == "store_unavailable"
    assert "outbox" in response.json()["error"]["message"]
    assert "location" not in response.headers
    # Reads still answer from the same store: only the write was refused.
    history = await api.get("/api/v1/jobs/history")
    assert (history.status_code, history.json()["count"]) == (200, 0)


async def test_a_trigger_the_store_cannot_record_is_spooled_before_its_202_and_lands_later(
    make_api: Callable[..., Awaitable[Api]], api_settings: Settings
) -> None:
    api = await make_api(database_url=_refusing_writes(api_settings))
    response = await api.post("/api/v1/jobs/trigger", TRIGGER)
    assert response.status_code == 202, response.text
    run_id = response.json()["run_id"]
    outbox = Outbox(api_settings.outbox_dir)
    # The 202 came only after the claim was fsync'd: the file exists the moment we look.
    assert [p.stem for p in outbox.pending()] == [run_id]
    await api.services.runner.drain()
    finished = outbox.read(outbox.pending()[0])
    assert finished.status is RunStatus.SUCCESS  # the completion replaced the spooled claim
    writable = Results.open(dataclasses.replace(api_settings, scheduler_enabled=False))
    try:
        report = await writable.replay_outbox()
        assert [c.run_id for c, _ in report.stored] == [run_id]
        detail = await writable.run(run_id)
        assert detail is not None
        assert detail.run.status is RunStatus.SUCCESS
        assert detail.snapshot is not None
    finally:
        await writable.close()
