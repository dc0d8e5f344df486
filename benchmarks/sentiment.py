"""How each candidate lexicon scores on the hand-labelled headlines of tests/data/headlines.csv.

Run: `.venv/bin/python -m benchmarks.sentiment`. A headline counts as correct when its score's
direction (neutral within +/-0.05, VADER's convention, the same band for every candidate)
matches the label a trader would give it. The set stays under tests/data: a test
(tests/pipeline/test_sentiment.py) holds the default lexicon to it through `evaluate`.
"""

from __future__ import annotations

import csv
from collections.abc import Callable

from harness import ROOT

from marketbrief.pipeline.lexicon import DEFAULT_LEXICON, LEXICONS, lexicon_model
from marketbrief.pipeline.sentiment import direction_of

HEADLINES = ROOT / "tests" / "data" / "headlines.csv"
LABELS = ("up", "down", "neutral")


def labelled_headlines() -> list[tuple[str, str]]:
    """The (headline, label) pairs of the evaluation set."""
    with HEADLINES.open(newline="", encoding="utf-8") as handle:
        return [(row["headline"], row["label"]) for row in csv.DictReader(handle)]


def evaluate(score_text: Callable[[str], float]) -> dict[str, float]:
    """Overall accuracy and per-label recall of a text scorer on the evaluation set."""
    rows = labelled_headlines()
    hits = dict.fromkeys(LABELS, 0)
    totals = dict.fromkeys(LABELS, 0)
    for headline, label in rows:
        totals[label] += 1
        hits[label] += direction_of(score_text(headline)).value == label
    result = {"accuracy": sum(hits.values()) / len(rows)}
    result |= {label: hits[label] / totals[label] for label in LABELS}
    return result


def main() -> None:
    """Print the table, one candidate per line."""
    rows = labelled_headlines()
    print(f"{len(rows)} headlines from {HEADLINES.name}; default: {DEFAULT_LEXICON}")
    print(f"{'candidate':<30}{'accuracy':>9}{'up':>7}{'down':>7}{'neutral':>9}")
    for name in LEXICONS:
        m = evaluate(lexicon_model(name).score_text)
        print(
            f"{name:<30}{m['accuracy']:>9.3f}{m['up']:>7.2f}{m['down']:>7.2f}{m['neutral']:>9.2f}"
        )


if __name__ == "__main__":
    main()
