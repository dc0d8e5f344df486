"""The labelled sets the sentiment evaluation and training read (data/tfns, tests/data)."""

from __future__ import annotations

import csv
from pathlib import Path

from harness import ROOT

TFNS = ROOT / "data" / "tfns"
TFNS_TRAIN = TFNS / "sent_train.csv"
TFNS_VALID = TFNS / "sent_valid.csv"
HEADLINES = ROOT / "tests" / "data" / "headlines.csv"
LABELS = ("down", "up", "neutral")  # TFNS's 0 bearish, 1 bullish, 2 neutral, in that order


def tfns(path: Path) -> list[tuple[str, str]]:
    """(text, label) pairs of one TFNS split, labels as directions."""
    with path.open(newline="", encoding="utf-8") as handle:
        return [(row["text"], LABELS[int(row["label"])]) for row in csv.DictReader(handle)]


def headlines() -> list[tuple[str, str]]:
    """(headline, label) pairs of the project's own hand-labelled headlines."""
    with HEADLINES.open(newline="", encoding="utf-8") as handle:
        return [(row["headline"], row["label"]) for row in csv.DictReader(handle)]
