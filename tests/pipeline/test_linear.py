"""The learned model: its features, its shipped weights and how it reads headlines."""

from __future__ import annotations

import csv
import hashlib
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest

from marketbrief.errors import ConfigError
from marketbrief.models import Direction
from marketbrief.pipeline.linear import (
    CLASSES,
    DIMENSION,
    WEIGHTS_FILE,
    LinearWeights,
    load_weights,
    normalise,
    polar_margin,
    read_weights,
)
from marketbrief.pipeline.models import (
    DEFAULT_MODEL,
    HYBRID,
    LINEAR,
    MODELS,
    RulesOverNeutral,
    featurizer,
    headline_model,
)
from marketbrief.pipeline.news import Article
from tests.support.paths import ROOT

T0 = datetime(2025, 1, 7, 12, 0, tzinfo=UTC)


def test_the_shipped_weights_were_made_from_the_committed_training_split() -> None:
    with (files("marketbrief.pipeline") / "weights" / WEIGHTS_FILE).open("rb") as handle:
        meta = np.load(handle)
        trained_on = str(meta["training_sha256"])
        rows = int(meta["training_rows"])
    committed = ROOT / "data" / "tfns" / "sent_train.csv"
    assert trained_on == hashlib.sha256(committed.read_bytes()).hexdigest()
    with committed.open(newline="", encoding="utf-8") as handle:
        assert rows == sum(1 for _ in csv.DictReader(handle))


def test_a_score_outside_the_band_is_the_most_probable_class() -> None:
    rows = np.array([[0.1, 0.6, 0.3], [0.5, 0.1, 0.4], [0.3, 0.3, 0.4], [0.45, 0.44, 0.11]])
    assert polar_margin(rows) == pytest.approx([0.3, -0.1, 0.0, -0.34])


def test_weights_load_with_the_shape_the_features_index() -> None:
    weights = load_weights()
    assert weights.weights.shape == (DIMENSION, len(CLASSES))
    assert 0 < weights.band < 1


def test_a_damaged_weights_file_is_a_config_error(tmp_path: Path) -> None:
    bad = LinearWeights(np.zeros((3, 3), np.float32), np.zeros(3, np.float32), 0.1)
    bad.save(tmp_path / "bad.npz")
    with pytest.raises(ConfigError, match="shape"):
        read_weights(tmp_path / "bad.npz")
    (tmp_path / "cut.npz").write_bytes((tmp_path / "bad.npz").read_bytes()[:100])
    with pytest.raises(ConfigError, match="cannot read"):
        read_weights(tmp_path / "cut.npz")


def test_features_ignore_links_tickers_and_exact_numbers() -> None:
    features = featurizer()
    a = features.names("$AAPL up 5% https://t.co/abc")
    b = features.names("$MSFT up 7% https://t.co/xyz")
    assert a == b
    assert normalise("$AAPL rose 12.5% https://t.co/x") == "$tkr rose 0%  "


def test_features_carry_the_rule_layer_and_the_lexicon() -> None:
    names = featurizer().names("Acme loss narrowed")
    assert "r:1:loss narrowed" in names
    assert "rs:1" in names
    assert any(n.startswith("lex:") for n in names)


def test_probabilities_are_a_distribution_and_the_score_the_polar_lead_on_neutral() -> None:
    weights = load_weights()
    features = featurizer()
    for text in ("", "Acme beat estimates", "Acme to hold its annual meeting on May 3"):
        p = weights.probabilities(features.indices(text))
        assert p.sum() == pytest.approx(1.0)
        assert (p >= 0).all()
        score = headline_model(LINEAR).score_text(text)
        lead = max(p[0], p[1]) - p[2]
        assert score == pytest.approx(float(np.sign(p[1] - p[0]) * max(0.0, lead)))
        direction = headline_model(LINEAR).direction(text)
        if direction is not Direction.NEUTRAL:  # outside the band: the most probable class
            assert direction.value == CLASSES[int(p.argmax())]


@pytest.mark.parametrize(
    ("headline", "direction"),
    [
        ("Profit rose 20% and the company raised its outlook", Direction.UP),
        ("Acme shares plunge after the company cut its forecast", Direction.DOWN),
        ("Acme downgraded to Sell at Morgan Stanley", Direction.DOWN),
        ("Acme to present at the Goldman Sachs technology conference", Direction.NEUTRAL),
        ("Operating profit rose to EUR 9.4 mn from EUR 6.1 mn a year earlier", Direction.UP),
        ("Net sales decreased to EUR 120.3 mn from EUR 131.0 mn", Direction.DOWN),
        ("The group employs some 450 people in Finland and Sweden", Direction.NEUTRAL),
    ],
)
def test_the_default_reads_plain_headlines_the_way_a_trader_would(
    headline: str, direction: Direction
) -> None:
    assert headline_model().direction(headline) is direction


async def test_confidence_stays_in_zero_one_and_grows_with_agreeing_headlines() -> None:
    model = headline_model()
    titles = ["Acme beat estimates", "Acme raised its outlook", "Acme upgraded to Buy"]
    confidences = []
    for n in range(1, len(titles) + 1):
        articles = [Article(t, "", "test", None, T0) for t in titles[:n]]
        result = await model.score("ACME", articles)
        assert result.direction is Direction.UP
        assert result.confidence is not None
        assert 0 <= result.confidence <= 1
        confidences.append(result.confidence)
    assert confidences == sorted(confidences)
    assert confidences[0] < confidences[-1]


def test_the_rules_are_what_the_default_adds_to_the_learned_model_on_news_sentences() -> None:
    sentence = (
        "Net sales increased to EUR 58.3 mn in the third quarter compared with the same period "
        "last year"
    )
    assert headline_model(LINEAR).direction(sentence) is Direction.NEUTRAL  # tweets taught it
    assert headline_model(HYBRID).direction(sentence) is Direction.UP


def test_every_model_name_builds_and_an_unknown_one_lists_the_choices() -> None:
    assert DEFAULT_MODEL in MODELS
    for name in MODELS:
        assert -1 <= headline_model(name).score_text("Acme beat estimates") <= 1
    with pytest.raises(ConfigError, match="tfns-linear"):
        headline_model("bert")


def test_the_rules_break_a_neutral_reading_and_leave_a_clear_one() -> None:
    neutral = RulesOverNeutral(lambda _: 0.01, band=0.1)
    assert neutral("Acme loss narrowed") == pytest.approx(0.35)
    assert neutral("Acme cut its forecast") == pytest.approx(-0.35)
    assert neutral("Acme to hold its annual meeting") == 0.01  # no rule fires
    clear = RulesOverNeutral(lambda _: -0.6, band=0.1)
    assert clear("Acme loss narrowed") == -0.6  # the model's clear reading stands
