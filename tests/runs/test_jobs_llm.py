"""A run with an LLM configured, against an OpenAI-compatible endpoint served on loopback."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from marketbrief.cli.main import main
from marketbrief.store.sql import SQLStore
from tests.support.loopback import Loopback
from tests.support.session_files import SESSION, session_news, session_prices


def _chat(answer: dict[str, Any]) -> bytes:
    """A chat-completions response whose message is `answer` as JSON."""
    return json.dumps(
        {"choices": [{"index": 0, "message": {"role": "assistant", "content": json.dumps(answer)}}]}
    ).encode()


@pytest.fixture
def run_with_llm(tmp_path: Path, sqlite_url: str) -> Callable[..., dict[str, Any]]:
    store = SQLStore(sqlite_url)
    store.migrate()
    store.close()
    news, prices = session_news(tmp_path / "news"), session_prices(tmp_path / "prices")

    def run(llm_url: str, **env: str) -> dict[str, Any]:
        result: Result = CliRunner().invoke(
            main,
            ["run", "pre-market", "--date", SESSION, "--json"],
            env={
                "MARKETBRIEF_DATABASE_URL": sqlite_url,
                "MARKETBRIEF_OUTBOX_DIR": str(tmp_path / "outbox"),
                "MARKETBRIEF_SYMBOLS": "AAPL,MSFT",
                "MARKETBRIEF_NEWS": f"dir:{news}",
                "MARKETBRIEF_PRICES": f"dir:{prices}",
                "MARKETBRIEF_LLM_URL": llm_url,
                "MARKETBRIEF_LLM_MODEL": "tiny-test-model",
                "MARKETBRIEF_LLM_KEY": "test-key",
                **env,
            },
        )
        outcome: dict[str, Any] = json.loads(result.output)
        detail = SQLStore(sqlite_url)
        try:
            run = detail.get_run(outcome["run_id"])
        finally:
            detail.close()
        assert run is not None
        outcome["predictions"] = {p.symbol: p for p in run.predictions}
        report = json.loads(run.snapshot.content) if run.snapshot else {"symbols": []}
        outcome["models"] = {row["symbol"]: row["models"] for row in report["symbols"]}
        return outcome

    return run


def test_the_llm_is_the_primary_model_and_agreement_raises_confidence(
    loopback: Loopback,
    run_with_llm: Callable[..., dict[str, Any]],
) -> None:
    loopback.serve(
        "/v1/chat/completions", _chat({"direction": "up", "confidence": 0.6, "score": 0.5})
    )
    outcome = run_with_llm(loopback.url("/v1"))
    assert outcome["status"] == "success"
    aapl = outcome["predictions"]["AAPL"]  # bullish news: the lexicon agrees with the LLM
    assert aapl.model.startswith("llm:tiny-test-model+")
    assert aapl.direction.value == "up"
    assert aapl.confidence is not None
    assert aapl.confidence > 0.6  # agreement raised the LLM's 0.6
    msft = outcome["predictions"]["MSFT"]  # bearish news: the lexicon disagrees
    assert msft.confidence is not None
    assert msft.confidence < 0.6
    request = next(s for s in loopback.seen if s.path == "/v1/chat/completions")
    assert request.headers["authorization"] == "Bearer test-key"
    assert json.loads(request.body)["model"] == "tiny-test-model"


def test_a_failing_llm_falls_back_to_the_lexicon_and_says_so(
    loopback: Loopback,
    run_with_llm: Callable[..., dict[str, Any]],
) -> None:
    loopback.serve("/v1/chat/completions", b"upstream exploded", status=500)
    outcome = run_with_llm(loopback.url("/v1"))
    assert outcome["status"] == "success"
    aapl = outcome["predictions"]["AAPL"]
    assert aapl.error is not None
    assert "fallback" in aapl.error
    assert "500" in aapl.error


def test_an_llm_timeout_never_becomes_a_default_confidence(
    loopback: Loopback,
    run_with_llm: Callable[..., dict[str, Any]],
) -> None:
    loopback.serve(
        "/v1/chat/completions",
        _chat({"direction": "up", "confidence": 0.9, "score": 0.9}),
        delay=60.0,  # stalls until the test ends
    )
    outcome = run_with_llm(loopback.url("/v1"), MARKETBRIEF_PROVIDER_TIMEOUT_SECONDS="2")
    aapl = outcome["predictions"]["AAPL"]
    assert aapl.error is not None
    assert "fallback" in aapl.error
    # The confidence is the lexicon's own, never the LLM's 0.9 nor a made-up default.
    models = outcome["models"]["AAPL"]
    llm = next(m for name, m in models.items() if name.startswith("llm:"))
    lexicon = next(m for name, m in models.items() if not name.startswith("llm:"))
    assert llm["confidence"] is None
    assert "timed out" in llm["error"]
    assert aapl.confidence is not None
    assert aapl.confidence == lexicon["confidence"]
