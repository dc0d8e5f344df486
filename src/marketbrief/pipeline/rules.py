"""A finance rule layer: a metric paired with the way it moved, read on top of the lexicons.

A general lexicon scores words, so "loss narrowed" reads as bad news (loss) and "cut costs"
as bad news (cut). Market language is about metrics moving: whether a move is good depends on
the metric. Each rule below yields one signed match:

- a metric and a movement word at most `WINDOW` tokens apart, in either order ("profit rose",
  "raised its outlook", "costs rose", "loss narrowed", "cut its forecast"): the movement's sign
  times the metric's (a rising loss is bad, a falling cost good);
- an outcome against expectations ("beat estimates", "missed forecasts", "above consensus",
  "better-than-expected"), where a metric named right after a comparative takes its sign
  ("lower-than-expected costs" is good);
- a swing ("swung to a profit", "returned to a loss") and an analyst action ("upgraded",
  "cut to sell");
- a negation ("not", "never", "failed to", "no") at most `NEGATION_REACH` tokens before the
  movement flips the match ("did not raise its forecast").

`rule_score(text)` sums the matches; `FinanceRules` blends that sum with a lexicon's score,
the rules dominating when they fire (the weight is `RULE_WEIGHT`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

WINDOW = 4
NEGATION_REACH = 3
RULE_WEIGHT = 0.75

_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?|n't")


def _words(text: str) -> list[str]:
    return text.split()


def _signed(sign: int, *groups: str) -> dict[str, int]:
    return {word: sign for group in groups for word in group.split()}


# A metric's sign: +1 when more of it is good news, -1 when more of it is bad news.
METRICS: dict[str, int] = {
    **_signed(
        1,
        "profit profits earnings revenue revenues sales income eps margin margins guidance "
        "outlook forecast forecasts view dividend dividends payout orders bookings deliveries "
        "shipments demand growth shares stock stocks target targets rating valuation ebitda "
        "profitability backlog subscribers users production output buyback buybacks jobs "
        "hiring spending price prices",
    ),
    **_signed(
        -1,
        "loss losses cost costs expenses expense debt deficit charges charge writedown "
        "writedowns impairment impairments layoffs delinquencies defaults provisions "
        "headwinds churn unemployment",
    ),
}

# A movement's sign: +1 for more, -1 for less.
MOVES: dict[str, int] = {
    **_signed(
        1,
        "rise rises rose risen rising jump jumps jumped climb climbs climbed increase "
        "increases increased grow grows grew grown soar soars soared surge surges surged "
        "gain gains gained raise raises raised boost boosts boosted lift lifts lifted hike "
        "hikes hiked double doubles doubled triple tripled widen widens widened expand "
        "expands expanded improve improves improved higher up rebound rebounds rebounded "
        "accelerate accelerates accelerated strengthen strengthens strengthened stronger "
        "record reaffirms reaffirmed reiterates reiterated",
    ),
    **_signed(
        -1,
        "fall falls fell fallen drop drops dropped decline declines declined slump slumps "
        "slumped plunge plunges plunged tumble tumbles tumbled sink sinks sank slide slides "
        "slid cut cuts cutting lower lowers lowered trim trims trimmed reduce reduces "
        "reduced slash slashes slashed narrow narrows narrowed shrink shrinks shrank "
        "contract contracts contracted halve halves halved down weaker weaken weakens "
        "weakened decrease decreases decreased slow slows slowed dip dips dipped shave "
        "shaves shaved withdraw withdraws withdrew pull pulls pulled suspend suspends "
        "suspended scrap scraps scrapped sluggish",
    ),
}

_EXPECTATIONS = frozenset(
    _words("estimate estimates expectations expectation forecast forecasts consensus views")
)
# An outcome word's sign when it stands before an expectation word ("beat estimates").
_OUTCOMES: dict[str, int] = {
    **_signed(1, "beat beats beating tops topped top exceeds exceeded tops above"),
    **_signed(-1, "miss misses missed missing below short shy lags lagged trails"),
}
# Comparatives before "than expected": better/worse are signed; higher/lower take the metric's.
_VERDICTS = {"better": 1, "stronger": 1, "worse": -1, "weaker": -1}
_COMPARATIVES = {"higher": 1, "bigger": 1, "larger": 1, "lower": -1, "smaller": -1}
_SWINGS = frozenset(_words("swung swings swing returned returns return turned turns turn"))
_ANALYST: dict[str, int] = {
    **_signed(1, "upgrade upgrades upgraded"),
    **_signed(-1, "downgrade downgrades downgraded"),
}
_RATINGS: dict[str, int] = {
    **_signed(1, "buy outperform overweight strong"),
    **_signed(-1, "sell underperform underweight"),
    **_signed(0, "hold neutral"),
}
_NEGATIONS = frozenset(_words("not no never n't without fails failed fail"))


@dataclass(frozen=True, slots=True)
class Match:
    """One rule that fired: the words it read and the sign it gives."""

    words: str
    polarity: int


def tokens(text: str) -> list[str]:
    """Lower-case word tokens ("didn't" -> "didn", "n't" is kept as a negation)."""
    lowered = text.lower().replace("n't", " n't").replace("-", " ")
    return _TOKEN.findall(lowered)


def matches(text: str) -> list[Match]:
    """Every rule that fires on `text`, in reading order (see the module docstring)."""
    words = tokens(text)
    found: list[Match] = []
    used: set[int] = set()
    for i in range(len(words)):
        match = _expectation(words, i) or _swing(words, i) or _analyst(words, i)
        if match is not None:
            found.append(match)
            used.update(range(i, i + 4))
    for i, word in enumerate(words):
        sign = METRICS.get(word)
        if sign is None or i in used:
            continue
        j = _nearest_move(words, i, used)
        if j is None:
            continue
        polarity = sign * MOVES[words[j]] * _negated(words, min(i, j))
        low, high = min(i, j), max(i, j)
        found.append(Match(" ".join(words[low : high + 1]), polarity))
        used.update((i, j))
    return found


def rule_score(text: str) -> int:
    """The sum of the signs of every rule that fires on `text`."""
    return sum(m.polarity for m in matches(text))


class FinanceRules:
    """A text scorer: the rule layer's verdict blended with a lexicon's score."""

    def __init__(self, lexicon: Callable[[str], float], weight: float = RULE_WEIGHT) -> None:
        self.lexicon = lexicon
        self.weight = weight

    def __call__(self, text: str) -> float:
        """A score in [-1, 1]: the lexicon's alone when no rule fires."""
        base = self.lexicon(text)
        found = matches(text)
        if not found:
            return base
        total = sum(m.polarity for m in found)
        blended = self.weight * math.tanh(total) + (1 - self.weight) * base
        return max(-1.0, min(1.0, blended))


def _nearest_move(words: list[str], i: int, used: set[int]) -> int | None:
    best: int | None = None
    for j in range(max(0, i - WINDOW), min(len(words), i + WINDOW + 1)):
        if j == i or j in used or words[j] not in MOVES:
            continue
        if best is None or abs(j - i) < abs(best - i):
            best = j
    return best


def _negated(words: list[str], start: int) -> int:
    reach = words[max(0, start - NEGATION_REACH) : start]
    return -1 if any(w in _NEGATIONS for w in reach) else 1


def _expectation(words: list[str], i: int) -> Match | None:
    word = words[i]
    following = words[i + 1 : i + 4]
    near = word in ("short", "shy", "above", "below") or bool(_EXPECTATIONS & set(following[:2]))
    if word in _OUTCOMES and near and any(w in _EXPECTATIONS for w in following):
        return Match(" ".join(words[i : i + 3]), _OUTCOMES[word] * _negated(words, i))
    if following[:2] == ["than", "expected"]:
        if word in _VERDICTS:
            return Match(f"{word} than expected", _VERDICTS[word] * _negated(words, i))
        if word in _COMPARATIVES:
            after = words[i + 3] if i + 3 < len(words) else ""
            before = words[i - 1] if i > 0 else ""
            metric = METRICS.get(after) or METRICS.get(before) or 1
            return Match(f"{word} than expected", _COMPARATIVES[word] * metric)
    return None


def _swing(words: list[str], i: int) -> Match | None:
    if words[i] not in _SWINGS:
        return None
    rest = [w for w in words[i + 1 : i + 4] if w not in ("to", "a", "an", "into", "back")]
    if rest and rest[0] in ("profit", "profitability", "black", "growth"):
        return Match(f"{words[i]} to {rest[0]}", 1)
    if rest and rest[0] in ("loss", "losses", "red"):
        return Match(f"{words[i]} to {rest[0]}", -1)
    return None


def _analyst(words: list[str], i: int) -> Match | None:
    word = words[i]
    if word in _ANALYST:
        return Match(word, _ANALYST[word])
    if word in MOVES and words[i + 1 : i + 2] == ["to"] and i + 2 < len(words):
        rating = _RATINGS.get(words[i + 2])
        if rating is not None:  # to hold or neutral: the way it moved says which way
            sign = MOVES[word] if words[i + 2] in ("hold", "neutral") else rating
            return Match(f"{word} to {words[i + 2]}", sign)
    return None
