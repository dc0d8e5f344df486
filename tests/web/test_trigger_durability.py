"""A trigger is acknowledged only when the run is durable: claimed in the store."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path

from marketbrief.config import Settings
from tests.support.api_fixtures import Api


async def test_a_trigger_the_store_cannot_record_answers_503_and_leaves_no_promise(
    make_api: Callable[..., Awaitable[Api]], api_settings: Settings, tmp_path: Path
) -> None:
    if not api_settings.database_url.startswith("sqlite"):
        # PostgreSQL refuses every write in sessions whose transactions default to read-only.
        read_only = dataclasses.replace(
            api_settings,
            database_url=api_settings.database_url + "%20-cdefault_transaction_read_only%3Don",
        )
    else:  # SQLite opened read-only refuses every write
        path = api_settings.database_url.removeprefix("sqlite:///")
        read_only = dataclasses.replace(
            api_settings, database_url=f"sqlite:///file:{path}?mode=ro&uri=true"
        )
    api = await make_api(database_url=read_only.database_url)
    response = await api.post("/api/v1/jobs/trigger", {"type": "pre-market", "date": "2026-11-24"})
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "5"
    assert response.json()["error"]["code"] == "store_unavailable"
    assert "location" not in response.headers
    assert api.services.results.outbox_depth() == 0
    # Reads still answer from the same store: only the write was refused.
    history = await api.get("/api/v1/jobs/history")
    assert (history.status_code, history.json()["count"]) == (200, 0)
