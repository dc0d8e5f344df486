"""`make calibrate`: what a call's confidence is worth, measured on held-out labelled headlines.

Run: `.venv/bin/python -m benchmarks.calibration` (about a minute). It writes
docs/calibration.md: for confidence buckets of the per-symbol call (the aggregation a run
uses, `HeadlineModel.score` over the default model), the observed hit rate with its n; then
the default threshold, picked from that table by the rule below.

What "a call" is here. No price history ships with the project, so a call is judged against
labels, not prices: a *day* is K headlines drawn from the TFNS validation split
(data/tfns/sent_valid.csv, never used for training), K from 1 to 10, all from one majority
label (bullish or bearish) with probability `purity` each, else from the other two labels;
purity is 1.0, 0.8 or 0.6, so the days run from unanimous to mixed. A call is a hit when its
direction is the majority label; a neutral call is not a hit and not a miss: it is counted
apart. So the table says how often a call at that confidence reads the news' majority right,
which is what confidence can promise; whether the price then follows is what the end-of-day
report measures, day by day. The seed is fixed: the table is the same on every run.

The rule. The default threshold is the lowest bucket edge from which every bucket above,
with n >= MIN_N, has an observed hit rate >= TARGET. The target is high (95%) on purpose:
reading the majority of labelled headlines is easier than the market moving that way, so a
call counts as high-confidence only where its reading is almost never wrong.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from harness import ROOT

from benchmarks.sentiment_data import TFNS_VALID, tfns
from marketbrief.models import Direction
from marketbrief.pipeline.headline import HeadlineModel
from marketbrief.pipeline.models import DEFAULT_MODEL, headline_model
from marketbrief.pipeline.news import Article

SEED = 20261202
DAYS_PER_CELL = 300  # days per (K, purity)
SIZES = tuple(range(1, 11))
PURITIES = (1.0, 0.8, 0.6)
EDGES = tuple(round(0.1 * i, 1) for i in range(11))  # [0.0, 0.1), ..., [0.9, 1.0]
TARGET = 0.95
MIN_N = 30
OUTPUT = ROOT / "docs" / "calibration.md"
WHEN = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Bucket:
    low: float
    high: float
    hits: int = 0
    misses: int = 0
    neutral: int = 0

    @property
    def n(self) -> int:
        return self.hits + self.misses

    @property
    def rate(self) -> float | None:
        return self.hits / self.n if self.n else None


def days(rows: Sequence[tuple[str, str]], count: int, seed: int) -> list[tuple[str, list[str]]]:
    """`count` (majority label, headlines) days per (K, purity), drawn as the docstring says."""
    rng = random.Random(seed)
    by_label: dict[str, list[str]] = {}
    for text, label in rows:
        by_label.setdefault(label, []).append(text)
    drawn = []
    for size in SIZES:
        for purity in PURITIES:
            for _ in range(count):
                major = rng.choice(("up", "down"))
                others = [lab for lab in by_label if lab != major]
                texts = [
                    rng.choice(by_label[major if rng.random() < purity else rng.choice(others)])
                    for _ in range(size)
                ]
                drawn.append((major, texts))
    return drawn


def table(model: HeadlineModel, drawn: list[tuple[str, list[str]]]) -> list[Bucket]:
    """Each day's call through the model's own aggregation, bucketed by its confidence."""
    buckets = [Bucket(lo, hi) for lo, hi in itertools.pairwise(EDGES)]

    async def score_all() -> None:
        for major, texts in drawn:
            articles = [Article(t, "", "tfns", None, WHEN) for t in texts]
            result = await model.score("X", articles)
            assert result.confidence is not None
            index = min(int(result.confidence * 10), len(buckets) - 1)
            bucket = buckets[index]
            if result.direction is Direction.NEUTRAL:
                bucket.neutral += 1
            elif result.direction.value == major:
                bucket.hits += 1
            else:
                bucket.misses += 1

    asyncio.run(score_all())
    return buckets


def threshold(buckets: list[Bucket], target: float = TARGET, min_n: int = MIN_N) -> float:
    """The lowest edge from which every bucket with n >= min_n hits at least `target`."""
    chosen = 1.0
    for bucket in reversed(buckets):
        if bucket.n >= min_n and (bucket.rate or 0.0) < target:
            break
        chosen = bucket.low
    return chosen


def render(buckets: list[Bucket], chosen: float, total: int) -> str:
    lines = [
        "# Calibration: what a call's confidence is worth",
        "",
        "Written by `make calibrate` (`python -m benchmarks.calibration`); do not edit by hand.",
        "How the days are drawn and what a hit is: see the module docstring of",
        "`benchmarks/calibration.py`. In short: "
        f"{total} days of 1 to 10 held-out TFNS headlines (seed {SEED}),",
        "each day mostly from one label (unanimous, 80% or 60% of its headlines); a call is a hit",
        f"when it reads that label. Model: `{DEFAULT_MODEL}`, aggregated as a run aggregates.",
        "",
        "| confidence | calls (n) | hits | observed hit rate | neutral calls |",
        "|---|---|---|---|---|",
    ]
    for b in buckets:
        rate = f"{b.rate:.3f}" if b.rate is not None else "—"
        lines.append(f"| {b.low:.1f} to {b.high:.1f} | {b.n} | {b.hits} | {rate} | {b.neutral} |")
    lines += [
        "",
        f"**Default threshold: {chosen:.2f}**, by the rule: the lowest bucket edge from which",
        f"every bucket with at least {MIN_N} directional calls hits at least {TARGET:.0%}",
        "(`MARKETBRIEF_HIGH_CONFIDENCE`; a test checks the shipped default against this rule).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    rows = tfns(TFNS_VALID)
    drawn = days(rows, DAYS_PER_CELL, SEED)
    buckets = table(headline_model(), drawn)
    chosen = threshold(buckets)
    OUTPUT.write_text(render(buckets, chosen, len(drawn)), encoding="utf-8")
    print(OUTPUT.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
