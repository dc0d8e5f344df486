"""Sentiment models, their combination, and a symbol's analysis into a Prediction."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from benchmarks.sentiment import evaluate

from marketbrief.errors import ConfigError
from marketbrief.models import Direction, PredictionStatus
from marketbrief.pipeline.analysis import analyse_symbol
from marketbrief.pipeline.feeds import PipelineAnalyst
from marketbrief.pipeline.headline import aggregate
from marketbrief.pipeline.lexicon import DEFAULT_LEXICON, finance_lexicon, lexicon_model
from marketbrief.pipeline.llm import LLMAnswer, LLMModel, parse_answer
from marketbrief.pipeline.news import Article, DirectoryNews
from marketbrief.pipeline.sentiment import ModelScore, combine, failure
from tests.support.loopback import Loopback
from tests.support.paths import DATA, SINCE, UNTIL

LAWSUIT = "Regulators win lawsuit, fine and losses weigh on shares"
T0 = datetime(2025, 1, 7, 12, 0, tzinfo=UTC)


def _articles(*titles: str) -> list[Article]:
    return [
        Article(title, "", "test", None, T0 - timedelta(minutes=i))
        for i, title in enumerate(titles)
    ]


_ANSWER = '{"sentiment": "neutral", "direction": "neutral", "confidence": 0.5, "score": 0.2}'


def _chat(content: str) -> str:
    return json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]})


# --- lexicons ---------------------------------------------------------------------------------


def test_default_lexicon_beats_plain_vader_on_the_labelled_headlines() -> None:
    plain = evaluate(lexicon_model("vader").score_text)["accuracy"]
    default = evaluate(lexicon_model().score_text)["accuracy"]
    assert default > plain


def test_default_lexicon_does_not_read_the_regulator_lawsuit_headline_as_good_news() -> None:
    assert lexicon_model("vader").score_text(LAWSUIT) > 0  # the misreading being guarded
    assert lexicon_model().score_text(LAWSUIT) <= 0


def test_finance_lexicons_load_from_the_shipped_word_lists_without_finvader() -> None:
    # finvader's package import calls nltk.download(): marketbrief never imports it.
    henry = finance_lexicon("henry")
    senti = finance_lexicon("sentibignomics")
    assert len(henry) == 189
    assert henry["beat"] == 1.5
    assert henry["decline"] == -1.5
    assert len(senti) == 7295
    assert "finvader" not in sys.modules


def test_loughran_mcdonald_works_offline_from_its_shipped_dictionary() -> None:
    lm = lexicon_model("lm")
    assert lm.score_text("Company reports losses and impairment") < 0
    assert lm.score_text("Company achieves record profitability") > 0


def test_an_unknown_lexicon_is_a_config_error_listing_the_choices() -> None:
    with pytest.raises(ConfigError, match="vader\\+henry"):
        lexicon_model("vader+afinn")


def test_lexicon_confidence_grows_with_agreeing_evidence() -> None:
    one = aggregate("m", [0.6])
    four = aggregate("m", [0.6, 0.5, 0.7, 0.6])
    split = aggregate("m", [0.6, 0.5, -0.4, 0.6])
    assert one.direction is Direction.UP
    assert one.confidence == pytest.approx(1 / 3, abs=1e-4)  # one headline never says more than 1/3
    assert four.confidence == pytest.approx(4 / 6, abs=1e-4)
    assert split.confidence is not None
    assert four.confidence is not None
    assert split.confidence < four.confidence


def test_lexicon_confidence_formula_on_a_weak_mixed_signal() -> None:
    result = aggregate("m", [0.3, -0.1])  # mean 0.1: up, half the articles agree
    assert result.direction is Direction.UP
    assert result.score == pytest.approx(0.1)
    # agreement 0.5 * evidence 2/4 * (0.5 + 0.5 * strength 0.2)
    assert result.confidence == pytest.approx(0.5 * 0.5 * 0.6, abs=1e-4)


async def test_lexicon_model_scores_headlines_and_reports_each() -> None:
    result = await lexicon_model().score(
        "AAPL", _articles("Apple shares jump after iPhone sales top Wall Street estimates")
    )
    assert result.model == DEFAULT_LEXICON
    assert result.direction is Direction.UP
    assert result.detail["articles"] == 1
    assert result.error is None


async def test_lexicon_model_with_no_articles_fails_without_a_confidence() -> None:
    result = await lexicon_model().score("AAPL", [])
    assert result.confidence is None
    assert result.error == "no articles to score"


# --- the LLM model ----------------------------------------------------------------------------


async def test_llm_answer_is_used_and_the_request_is_an_openai_chat_call(
    loopback: Loopback,
) -> None:
    answer = (
        '{"sentiment": "positive", "direction": "up", "confidence": 0.8, "score": 0.6, '
        '"reason": "beat"}'
    )
    loopback.serve("/v1/chat/completions", _chat(answer))
    model = LLMModel(loopback.url("/v1"), "tiny", api_key="sk-test", timeout=2)

    result = await model.score("AAPL", _articles("Apple beats", "Apple raises dividend"))

    assert (result.direction, result.confidence, result.score) == (Direction.UP, 0.8, 0.6)
    assert result.model == "llm:tiny"
    assert result.detail["sentiment"] == "positive"
    request = loopback.seen[0]
    assert request.method == "POST"
    assert request.headers["authorization"] == "Bearer sk-test"
    body = json.loads(request.body)
    assert body["model"] == "tiny"
    assert "AAPL" in body["messages"][1]["content"]
    assert "2. [2025-01-07 11:59 UTC] Apple raises dividend" in body["messages"][1]["content"]
    assert '"sentiment": "positive" | "negative" | "neutral"' in body["messages"][0]["content"]


async def test_llm_answer_in_a_json_code_fence_is_accepted(loopback: Loopback) -> None:
    loopback.serve(
        "/chat/completions",
        _chat(
            '```json\n{"sentiment": "negative", "direction": "down", "confidence": 0.4, '
            '"score": -0.3}\n```'
        ),
    )
    result = await LLMModel(loopback.url(""), "m", timeout=2).score("AAPL", _articles("x"))
    assert (result.direction, result.confidence) == (Direction.DOWN, 0.4)


@pytest.mark.parametrize(
    ("served", "reason"),
    [
        ({"body": _chat("I think it goes up.")}, "not a JSON object"),
        (
            {
                "body": _chat(
                    '{"sentiment": "neutral", "direction": "up", "confidence": 1.5, "score": 0.2}'
                )
            },
            "outside",
        ),
        (
            {"body": _chat(_ANSWER.replace('"direction": "neutral"', '"direction": "bullish"'))},
            "up, down",
        ),
        (
            {
                "body": _chat(
                    '{"sentiment": "neutral", "direction": "up", "confidence": true, "score": 0.2}'
                )
            },
            "a number",
        ),
        (
            {
                "body": _chat(
                    '{"sentiment": "neutral", "direction": "up", "confidence": 0.5, "score": -0.2}'
                )
            },
            "contradicts",
        ),
        ({"body": _chat(_ANSWER.replace('"neutral"', '"bullish"'))}, "positive, negative"),
        ({"body": '{"choices": []}'}, "no choices"),
        ({"body": "upstream exploded", "status": 502}, "HTTP 502"),
        ({"body": _chat("{}"), "delay": 60}, "timed out after 2s"),
    ],
    ids=[
        "prose",
        "range",
        "direction",
        "bool",
        "sign",
        "bad-sentiment",
        "no-choices",
        "http-error",
        "timeout",
    ],
)
async def test_a_failed_llm_gives_confidence_none_and_says_why(
    loopback: Loopback, served: dict[str, Any], reason: str
) -> None:
    loopback.serve("/chat/completions", **served)
    # Two seconds: a loaded machine answers on loopback well within it; the stalled one never.
    result = await LLMModel(loopback.url(""), "m", timeout=2.0).score("AAPL", _articles("x"))
    assert result.confidence is None
    assert result.score is None
    assert result.error is not None
    assert reason in result.error


def test_parse_answer_accepts_integers_at_the_bounds() -> None:
    assert parse_answer(
        {"choices": [{"message": {"content": _ANSWER.replace("0.5", "1").replace("0.2", "0")}}]}
    ) == LLMAnswer(Direction.NEUTRAL, 1.0, 0.0, "neutral")


def test_an_answer_without_a_sentiment_keeps_its_direction_and_records_none() -> None:
    content = '{"direction": "up", "confidence": 0.5, "score": 0.2}'
    answer = parse_answer({"choices": [{"message": {"content": content}}]})
    assert answer == LLMAnswer(Direction.UP, 0.5, 0.2, None)


# --- combine ----------------------------------------------------------------------------------


def _score(direction: Direction, confidence: float | None, model: str = "m") -> ModelScore:
    if confidence is None:
        return failure(model, f"{model} broke")
    value = {Direction.UP: 0.5, Direction.DOWN: -0.5, Direction.NEUTRAL: 0.0}[direction]
    return ModelScore(model, value, direction, confidence)


def test_agreement_raises_the_primary_confidence() -> None:
    result = combine(_score(Direction.UP, 0.6, "llm"), _score(Direction.UP, 0.5, "lex"))
    assert result.confidence == pytest.approx(1 - 0.4 * 0.75)  # 0.7
    assert result.direction is Direction.UP
    assert result.model == "llm+lex"
    assert result.detail["agreement"] == "agree"


def test_opposite_directions_lower_the_primary_confidence() -> None:
    result = combine(_score(Direction.UP, 0.6), _score(Direction.DOWN, 0.5))
    assert result.confidence == pytest.approx(0.6 * 0.75)  # 0.45
    assert result.direction is Direction.UP  # the primary's call, held with less confidence
    assert result.detail["agreement"] == "disagree"


def test_a_neutral_second_opinion_lowers_confidence_less_than_a_contradiction() -> None:
    result = combine(_score(Direction.DOWN, 0.6), _score(Direction.NEUTRAL, 0.5))
    assert result.confidence == pytest.approx(0.6 * (1 - 0.125))  # 0.525
    assert result.detail["agreement"] == "partly disagree"


def test_a_second_opinion_with_no_confidence_leaves_the_primary_unchanged() -> None:
    result = combine(_score(Direction.UP, 0.6), _score(Direction.DOWN, 0.0))
    assert result.confidence == pytest.approx(0.6)


def test_a_failed_primary_falls_back_to_the_second_opinion_flagged() -> None:
    result = combine(_score(Direction.UP, None, "llm"), _score(Direction.DOWN, 0.4, "lex"))
    assert (result.direction, result.confidence) == (Direction.DOWN, 0.4)
    assert result.detail["fallback"] is True
    assert result.detail["primary_error"] == "llm broke"
    assert result.model == "lex (fallback from llm)"


def test_a_failed_second_opinion_keeps_the_primary_and_records_why() -> None:
    result = combine(_score(Direction.UP, 0.6, "llm"), _score(Direction.UP, None, "lex"))
    assert result.confidence == 0.6
    assert result.detail["second_error"] == "lex broke"


def test_both_failed_means_no_confidence_at_all() -> None:
    result = combine(_score(Direction.UP, None, "llm"), _score(Direction.UP, None, "lex"))
    assert result.confidence is None
    assert result.error == "llm: llm broke; lex: lex broke"


# --- analyse_symbol / the pipeline analyst -----------------------------------------------


class _Fixed:
    def __init__(self, score: ModelScore) -> None:
        self.name = score.model
        self._score = score

    async def score(self, symbol: str, articles: list[Article]) -> ModelScore:
        return self._score


async def test_no_articles_means_skipped_with_no_confidence() -> None:
    analysis = await analyse_symbol("AAPL", [], [lexicon_model()])
    p = analysis.prediction
    assert (p.status, p.confidence, p.sentiment_score, p.articles_count) == (
        PredictionStatus.SKIPPED,
        None,
        None,
        0,
    )


async def test_a_lexicon_analysis_fills_the_prediction_and_keeps_five_headlines() -> None:
    titles = [f"Apple shares jump as sales beat estimates, part {i}" for i in range(7)]
    analysis = await analyse_symbol("AAPL", _articles(*titles), [lexicon_model()])
    p = analysis.prediction
    assert p.status is PredictionStatus.SUCCESS
    assert p.direction is Direction.UP
    assert p.articles_count == 7
    assert [h["title"] for h in p.headlines] == titles[:5]
    assert set(p.headlines[0]) == {"title", "source", "published_at", "url"}
    assert p.model == DEFAULT_LEXICON
    assert analysis.detail[DEFAULT_LEXICON]["confidence"] == p.confidence
    assert analysis.fallback is False


async def test_a_failed_llm_falls_back_to_the_lexicon_and_is_flagged(loopback: Loopback) -> None:
    loopback.serve("/chat/completions", "down", status=503)
    llm = LLMModel(loopback.url(""), "m", timeout=2)
    articles = _articles("Apple shares jump after iPhone sales top Wall Street estimates")

    analysis = await analyse_symbol("AAPL", articles, [llm, lexicon_model()])

    p = analysis.prediction
    assert analysis.fallback is True
    assert p.status is PredictionStatus.SUCCESS
    assert p.direction is Direction.UP
    assert p.confidence == analysis.detail[DEFAULT_LEXICON]["confidence"]
    assert analysis.detail["llm:m"]["confidence"] is None
    assert p.error is not None
    assert "HTTP 503" in p.error
    assert analysis.detail["combined"]["fallback"] is True


async def test_every_model_failing_makes_a_failed_prediction_without_confidence() -> None:
    models = [_Fixed(failure("a", "timeout")), _Fixed(failure("b", "broken"))]
    analysis = await analyse_symbol("AAPL", _articles("x"), models)
    p = analysis.prediction
    assert p.status is PredictionStatus.FAILED
    assert p.confidence is None
    assert p.error == "a: timeout; b: broken"


async def test_a_model_that_raises_costs_only_its_own_opinion() -> None:
    class Raising:
        name = "raising"

        async def score(self, symbol: str, articles: list[Article]) -> ModelScore:
            raise RuntimeError("bug")

    analysis = await analyse_symbol("AAPL", _articles("x"), [Raising()])
    assert analysis.prediction.status is PredictionStatus.FAILED
    assert analysis.prediction.error == "unexpected RuntimeError: bug"


async def test_the_pipeline_analyst_runs_news_and_models_for_every_symbol() -> None:
    analyst = PipelineAnalyst(
        [DirectoryNews(DATA / "news_bad"), DirectoryNews(DATA / "news")],
        [lexicon_model()],
        timeout=2,
    )
    fetched = await analyst.fetch_news(["AAPL", "MSFT", "TSLA"], SINCE, UNTIL)
    batch = await analyst.analyse(fetched)
    by_symbol = {p.symbol: p for p in batch.predictions}
    assert list(by_symbol) == ["AAPL", "MSFT", "TSLA"]
    assert by_symbol["AAPL"].status is PredictionStatus.SUCCESS
    assert batch.sources["AAPL"] == f"dir:{DATA / 'news'}"
    assert by_symbol["TSLA"].status is PredictionStatus.SKIPPED
    assert sorted(f["symbol"] for f in batch.failures) == ["AAPL", "MSFT", "TSLA"]
    assert batch.sources["MSFT"] == f"dir:{DATA / 'news'}"
