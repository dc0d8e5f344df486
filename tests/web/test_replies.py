"""A kept reply is sent again exactly while the answer and its age in whole seconds stand.

`web/replies.Replies` keeps the last unconditional reply per (type, date). The same answer, or
an answer read afresh that equals it field for field, at the same age is the kept reply, bytes
and all; anything that changes the envelope makes a new one.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

import orjson

from marketbrief.results.envelope import ReportResponse, ReportState, Source
from marketbrief.web.replies import Replies

DAY = date(2026, 11, 24)
MADE = datetime(2026, 11, 24, 13, 30, tzinfo=UTC)
NOW = MADE + timedelta(minutes=5, seconds=0.25)


def _answer(payload: bytes = b'{"report":1}', snapshot_id: int = 7) -> ReportResponse:
    # A new bytes object each time, as a store read gives.
    return ReportResponse(
        "pre-market",
        DAY,
        ReportState.FRESH,
        data=bytes(bytearray(payload)),
        source=Source.STORE,
        business_date=DAY,
        generated_at=MADE,
        run_id="2026-11-24_pre-market_1",
        snapshot_id=snapshot_id,
        content_sha256="ab" * 32,
    )


def test_an_equal_answer_read_afresh_is_sent_the_kept_reply() -> None:
    replies = Replies()
    first = replies.wire(_answer(), NOW)
    again = replies.wire(_answer(), NOW + timedelta(seconds=0.5))  # the same whole second
    assert again is first
    assert orjson.loads(first[2])["meta"]["age_seconds"] == 300


def test_a_different_answer_or_a_moved_age_makes_a_new_reply() -> None:
    replies = Replies()
    first = replies.wire(_answer(), NOW)
    later = replies.wire(_answer(), NOW + timedelta(seconds=1))
    assert later is not first
    assert orjson.loads(later[2])["meta"]["age_seconds"] == 301
    newer = replies.wire(_answer(snapshot_id=8), NOW + timedelta(seconds=1))
    assert newer is not later
    assert orjson.loads(newer[2])["meta"]["snapshot_id"] == 8
    other = replies.wire(
        _answer(payload=b'{"report":2}', snapshot_id=8), NOW + timedelta(seconds=1)
    )
    assert orjson.loads(other[2])["data"] == {"report": 2}
    warned = dataclasses.replace(
        _answer(payload=b'{"report":2}', snapshot_id=8), warnings=("stale",)
    )
    assert orjson.loads(replies.wire(warned, NOW + timedelta(seconds=1))[2])["meta"][
        "warnings"
    ] == ["stale"]
