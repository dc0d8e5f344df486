"""Reports in the shapes an older system left them render their pages; they never 500."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from marketbrief.models import ReportType
from tests.support.api_fixtures import Api
from tests.support.clock import DAY, LATE
from tests.support.factories import standalone_completion

EOD = ReportType.END_OF_DAY


@pytest.mark.parametrize(
    ("content", "shown"),
    [
        (
            b'{"accuracy": "75%", "symbols": {"AAPL": {"headlines": 7, "confidence": "high"}}}',
            "75%",
        ),
        (b'{"predictions": [{"symbol": "AAPL", "headlines": [1, null]}], "accuracy": 2.5}', "AAPL"),
        (b'{"accuracy": 0.75, "predictions": ["AAPL", 3, {"symbol": "MSFT"}]}', "75.0%"),
        (b"[1, 2, 3]", "The whole report"),
        (b'"just a string"', "The whole report"),
    ],
)
async def test_a_report_in_an_older_shape_renders_the_report_page_and_the_home_page(
    api: Api, content: bytes, shown: str
) -> None:
    completion = standalone_completion(EOD, DAY, started_at=LATE - timedelta(hours=5))
    await api.publish(dataclasses.replace(completion, content=content))
    page = await api.get(f"/reports/end-of-day?date={DAY.isoformat()}")
    assert page.status_code == 200, page.text
    assert shown in page.text
    home = await api.get("/")
    assert home.status_code == 200, home.text
