"""The headline models by name: the lexicons, the finance rules and the learned linear model.

`tfns-linear+rules`, the default, is the learned model with the rule layer as a tie-breaker:
where the model reads a headline as neutral but a finance rule fires with a clear sign, the
rule's sign wins (`RulesOverNeutral`). The learned model was trained on short tweets and reads
many longer news sentences ("Net sales increased to EUR 58.3 mn in the third quarter compared
with the same period last year") as neutral, where the rules read the metric's movement
directly; on the held-out tweets the two score alike (docs/sentiment.md).

`MARKETBRIEF_LEXICON` names one of MODELS (default DEFAULT_MODEL, chosen on the held-out
evaluation in docs/sentiment.md; `make eval` reproduces it). An unknown name is a ConfigError
listing the choices.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from marketbrief.errors import ConfigError
from marketbrief.pipeline.headline import HeadlineModel
from marketbrief.pipeline.lexicon import DEFAULT_LEXICON, LEXICONS, lexicon_model, lexicon_scorer
from marketbrief.pipeline.linear import Featurizer, LinearScorer, load_weights
from marketbrief.pipeline.rules import FinanceRules, rule_score

RULES = "finance-rules"
LINEAR = "tfns-linear"
HYBRID = "tfns-linear+rules"
MODELS = (*LEXICONS, RULES, LINEAR, HYBRID)
DEFAULT_MODEL = HYBRID


class RulesOverNeutral:
    """A text scorer: `model`'s score, unless it is neutral and the finance rules are not."""

    def __init__(self, model: Callable[[str], float], band: float) -> None:
        self.model = model
        self.band = band

    def __call__(self, text: str) -> float:
        """The model's score, or just outside the band on the rules' side."""
        score = self.model(text)
        if abs(score) > self.band:
            return score
        total = rule_score(text)
        if total == 0:
            return score
        return math.copysign(min(1.0, self.band + 0.25 * abs(total)), total)


def featurizer() -> Featurizer:
    """The linear model's features, over the rule layer's lexicon (training uses this too)."""
    return Featurizer(lexicon_scorer(DEFAULT_LEXICON))


def headline_model(name: str = DEFAULT_MODEL) -> HeadlineModel:
    """Build one of MODELS by name."""
    if name in LEXICONS:
        return lexicon_model(name)
    if name == RULES:
        return HeadlineModel(name, FinanceRules(lexicon_scorer(DEFAULT_LEXICON)))
    if name in (LINEAR, HYBRID):
        weights = load_weights()
        scorer: Callable[[str], float] = LinearScorer(featurizer(), weights)
        if name == HYBRID:
            scorer = RulesOverNeutral(scorer, weights.band)
        return HeadlineModel(name, scorer, weights.band)
    raise ConfigError(f"unknown sentiment model {name!r}; expected one of {MODELS}")
