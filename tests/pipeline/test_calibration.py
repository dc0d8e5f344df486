"""Confidence that means something, and a default threshold chosen from data.

The calibration table (docs/calibration.md, written by `make calibrate`) is the evidence the
default threshold rests on; these tests hold the shipped default to the table's rule and the
confidence to what the README promises of it.
"""

from __future__ import annotations

import re

from benchmarks.calibration import OUTPUT, Bucket, days, table, threshold
from benchmarks.sentiment_data import TFNS_VALID, tfns

from marketbrief.config import Settings
from marketbrief.pipeline.headline import aggregate
from marketbrief.pipeline.models import headline_model

DEFAULT = Settings.from_env({}).high_confidence


def _committed() -> list[Bucket]:
    rows = re.findall(
        r"^\| (\d\.\d) to (\d\.\d) \| (\d+) \| (\d+) \| [^|]+ \| (\d+) \|$",
        OUTPUT.read_text(encoding="utf-8"),
        re.MULTILINE,
    )
    assert len(rows) == 10
    buckets = []
    for low, high, n, hits, neutral in rows:
        buckets.append(Bucket(float(low), float(high), int(hits), int(n) - int(hits), int(neutral)))
    return buckets


def test_the_shipped_default_threshold_is_what_the_rule_picks_from_the_committed_table() -> None:
    assert threshold(_committed()) == DEFAULT
    assert f"**Default threshold: {DEFAULT:.2f}**" in OUTPUT.read_text(encoding="utf-8")


def test_the_rule_picks_the_lowest_edge_from_which_every_measured_bucket_hits_the_target() -> None:
    buckets = [Bucket(round(0.1 * i, 1), round(0.1 * (i + 1), 1)) for i in range(10)]
    for bucket, (hits, misses) in zip(
        buckets, [(5, 5), (60, 40), (90, 10), (96, 4), (99, 1), (3, 2)] + [(0, 0)] * 4, strict=True
    ):
        bucket.hits, bucket.misses = hits, misses
    # 0.5-0.6 hits 60% but on n=5 (< 30): too few to count against the edge below it.
    assert threshold(buckets, target=0.95, min_n=30) == 0.3


def test_the_calibration_runs_on_a_small_slice_through_the_real_model() -> None:
    drawn = days(tfns(TFNS_VALID), 2, seed=1)
    assert len(drawn) == 2 * 10 * 3  # per (K, purity)
    buckets = table(headline_model(), drawn)
    assert sum(b.n + b.neutral for b in buckets) == len(drawn)


def test_more_agreeing_headlines_give_more_confidence() -> None:
    few = [aggregate("m", [0.8] * n).confidence for n in (1, 2, 3)]
    many = aggregate("m", [0.8] * 10).confidence
    assert all(c is not None for c in few)
    assert many is not None
    assert few == sorted(few)
    assert max(c for c in few if c is not None) < many


def test_a_strong_unanimous_day_crosses_the_default_and_one_headline_or_a_mixed_day_does_not() -> (
    None
):
    strong = aggregate("m", [0.7, 0.8, 0.9]).confidence
    assert strong is not None
    assert strong >= DEFAULT
    single = aggregate("m", [0.9]).confidence
    assert single is not None
    assert single < DEFAULT
    mixed = aggregate("m", [0.8, -0.7, 0.6, -0.5, 0.1]).confidence
    assert mixed is not None
    assert mixed < DEFAULT


def test_neutral_headlines_make_a_neutral_call() -> None:
    calm = aggregate("m", [0.0, 0.01, -0.01])
    assert calm.direction.value == "neutral"
