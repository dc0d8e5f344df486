"""A stored payload as served: itself, or with U+FFFD for a lone surrogate strict parsers refuse."""

from __future__ import annotations

import orjson
import pytest

from marketbrief.reports.payload import parsed, readable, servable


def test_a_payload_strict_parsers_read_is_served_byte_for_byte() -> None:
    for payload in (b'{"a": 1}', b'["\\ud83d\\ude00"]', b'"\\\\ud800"', b"[1, 2]"):
        assert servable(payload) is payload  # a paired escape, or an escaped backslash
        assert readable(payload)


def test_a_lone_surrogate_is_served_as_the_replacement_character_and_the_rest_unchanged() -> None:
    payload = b'{"headline": "Apple \\ud83d", "n": 12345678901234567890, "\\udc00": [0.5]}'
    served = servable(payload)
    assert orjson.loads(served) == {
        "headline": "Apple \ufffd",
        "n": 12345678901234567890,
        "\ufffd": [0.5],
    }
    assert parsed(payload) == orjson.loads(served)
    assert readable(payload.decode())


@pytest.mark.parametrize("text", ["1e400", '{"x": NaN, "y": "\\ud800"}', "nope \\ud800", ""])
def test_what_no_reader_could_take_is_not_readable_and_served_unchanged(text: str) -> None:
    assert not readable(text)
    assert servable(text.encode()) == text.encode()


def test_the_strictness_of_a_content_is_remembered_by_its_sha256() -> None:
    strict, lone = b'{"q": "say \\"hi\\""}', b'{"q": "\\ud83d"}'
    assert servable(strict, "sha-strict") is strict
    assert servable(strict, "sha-strict") is strict  # the second answer from the memo
    assert orjson.loads(servable(lone, "sha-lone")) == {"q": "\ufffd"}
    assert orjson.loads(servable(lone, "sha-lone")) == {"q": "\ufffd"}  # mended each time
