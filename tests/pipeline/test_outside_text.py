"""Nothing a provider returns can crash a run: text from outside is made safe at the edge."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from marketbrief.cli.main import main
from marketbrief.pipeline.text import REPLACEMENT, safe_text, safe_value
from marketbrief.store.sql import SQLStore

SESSION = "2026-11-24"
NEWS_AT = "2026-11-24T11:00:00+00:00"  # before the pre-market slot
# A lone surrogate escape is valid JSON; a truncated feed leaves one behind.
TRUNCATED = '"Apple shares surge to a record high after blowout earnings \\ud83d"'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("cut \ud83d", f"cut {REPLACEMENT}"),
        ("low \udc00 high \ud800", f"low {REPLACEMENT} high {REPLACEMENT}"),
        ("nul\x00byte", "nulbyte"),
        ("emoji 😀 stays", "emoji 😀 stays"),
    ],
)
def test_safe_text_replaces_lone_surrogates_and_drops_nuls(text: str, expected: str) -> None:
    assert safe_text(text) == expected
    assert safe_text(text).encode()  # encodable as UTF-8


def test_safe_value_reaches_every_string_of_a_json_value() -> None:
    # The standard library's decoder (the one providers use) accepts lone surrogates.
    raw = json.loads('{"a\\ud800": ["x\\udc00", {"b": "\\u0000c"}], "n": 1}')
    assert safe_value(raw) == {f"a{REPLACEMENT}": [f"x{REPLACEMENT}", {"b": "c"}], "n": 1}


def test_a_headline_with_a_lone_surrogate_is_served_not_crashing_the_run(
    database_url: str, tmp_path: Path
) -> None:
    news = tmp_path / "news"
    news.mkdir()
    body = (
        f'[{{"title": {TRUNCATED}, "source": "wire\\u0000", "published_at": "{NEWS_AT}"}},'
        f' {{"title": "Apple raises guidance as strong demand boosts profit",'
        f' "published_at": "{NEWS_AT}"}}]'
    )
    (news / "AAPL.json").write_text(body)
    (news / "SPY.json").write_text("[]")
    store = SQLStore(database_url)
    store.migrate()
    store.close()
    env = {
        "MARKETBRIEF_DATABASE_URL": database_url,
        "MARKETBRIEF_OUTBOX_DIR": str(tmp_path / "outbox"),
        "MARKETBRIEF_SYMBOLS": "AAPL",
        "MARKETBRIEF_NEWS": f"dir:{news}",
        "MARKETBRIEF_PRICES": f"dir:{tmp_path}",
    }
    run = CliRunner().invoke(main, ["run", "pre-market", "--date", SESSION, "--json"], env=env)
    assert run.exit_code == 0, run.output
    outcome = orjson.loads(run.output)
    assert (outcome["status"], outcome["persisted"]) in {("success", True), ("partial", True)}
    report = CliRunner().invoke(
        main, ["report", "pre-market", "--date", SESSION, "--json"], env=env
    )
    assert report.exit_code == 0, report.output
    served = orjson.loads(report.output)["data"]
    text = orjson.dumps(served).decode()
    assert "record high after blowout earnings \ufffd" in text
    assert "\x00" not in text
