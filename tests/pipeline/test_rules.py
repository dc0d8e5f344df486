"""The finance rule layer: a metric paired with how it moved, negation and comparatives."""

from __future__ import annotations

import pytest

from marketbrief.models import Direction
from marketbrief.pipeline.lexicon import lexicon_scorer
from marketbrief.pipeline.rules import FinanceRules, matches, rule_score
from marketbrief.pipeline.sentiment import direction_of

# Each case was written by hand: the headline, and the sign a reader of market news gives it.
SIGNED = [
    ("Loss narrowed to $3 million in the third quarter", 1),
    ("Net loss widened as costs mounted", -1),
    ("Costs rose 12% on higher freight rates", -1),
    ("The company cut costs by a fifth", 1),
    ("Acme swung to a profit in the second quarter", 1),
    ("Acme swings to a loss as demand fades", -1),
    ("Acme cut its forecast for the full year", -1),
    ("Acme raised its outlook after a strong quarter", 1),
    ("Acme beat estimates on strong iPhone sales", 1),
    ("Acme missed analyst estimates", -1),
    ("Revenue fell short of expectations", -1),
    ("Quarterly results came in above consensus", 1),
    ("Better-than-expected earnings lift the shares", 1),
    ("Worse-than-expected sales", -1),
    ("Lower-than-expected costs helped margins", 1),
    ("Higher-than-expected costs", -1),
    ("Acme did not raise its dividend", -1),
    ("Acme failed to beat estimates", -1),
    ("Shares up 5% in premarket trading", 1),
    ("Acme downgraded at Goldman", -1),
    ("Acme cut to Hold at Jefferies", -1),
    ("Acme raised to Neutral at BofA", 1),
    ("Acme raised to Buy at Citi", 1),
    ("Acme withdraws guidance on virus uncertainty", -1),
    ("Acme suspends its dividend", -1),
]


@pytest.mark.parametrize(("headline", "sign"), SIGNED, ids=[h for h, _ in SIGNED])
def test_a_metric_and_its_movement_give_the_headline_its_sign(headline: str, sign: int) -> None:
    assert (rule_score(headline) > 0) - (rule_score(headline) < 0) == sign, matches(headline)


def test_no_rule_fires_on_a_headline_without_a_metric_that_moved() -> None:
    assert matches("Acme to present at an investor conference on Tuesday") == []


def test_a_match_names_the_words_it_read() -> None:
    found = matches("Profit rose 20% and the company raised its outlook")
    assert [(m.words, m.polarity) for m in found] == [
        ("profit rose", 1),
        ("raised its outlook", 1),
    ]


def test_the_rules_outweigh_the_lexicon_where_the_lexicon_misreads_the_metric() -> None:
    lexicon = lexicon_scorer()
    headline = "Acme's quarterly loss narrowed sharply"
    assert direction_of(lexicon(headline)) is not Direction.UP  # the misreading being fixed
    assert direction_of(FinanceRules(lexicon)(headline)) is Direction.UP


def test_without_a_rule_the_score_is_the_lexicons() -> None:
    lexicon = lexicon_scorer()
    headline = "Acme names a new chief executive, a great leader"
    assert FinanceRules(lexicon)(headline) == lexicon(headline)


def test_contradicting_rules_leave_a_weak_score_of_the_lexicons_sign() -> None:
    rules = FinanceRules(lambda _: 0.4)
    score = rules("Revenue rose but costs rose faster")
    assert rule_score("Revenue rose but costs rose faster") == 0
    assert score == pytest.approx(0.25 * 0.4)
