"""The learned model: a linear classifier over hashed word and character n-grams.

A headline becomes a set of features: its words and word pairs, the character 3- to 5-grams of
each word, the finance rule layer's matches and the lexicon's score, bucketed. Each feature is
hashed (CRC-32) into one of `DIMENSION` slots; the row is the slots' indicator vector scaled to
unit length. Three weight columns (down, up, neutral) turn it into class probabilities by
softmax. The headline's score is how far the likelier of up and down is ahead of neutral,
signed: `sign(P(up) - P(down)) * max(0, max(P(up), P(down)) - P(neutral))`, so a score outside
a narrow band is exactly the most probable class; the model's own band is tuned by
cross-validation in training.

The weights and the band ship as one small file (weights/tfns-linear.npz, float16) made by
`python -m benchmarks.sentiment_train` from the committed training split of Twitter Financial
News Sentiment (data/tfns/, MIT). Scoring is pure numpy: no model is downloaded at run time.
`Featurizer` is the one feature code, used by training and scoring alike.
"""

from __future__ import annotations

import itertools
import re
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

import numpy as np
import numpy.typing as npt

from marketbrief.errors import ConfigError
from marketbrief.pipeline import rules

DIMENSION = 1 << 18
CLASSES = ("down", "up", "neutral")
WEIGHTS_FILE = "tfns-linear.npz"

_URL = re.compile(r"https?://\S+")
_TICKER = re.compile(r"\$[a-z][a-z.]{0,6}\b")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_WORD = re.compile(r"[a-z$%#]+(?:'[a-z]+)?|0")
_LEXICON_BINS = (-0.5, -0.05, 0.05, 0.5)


def normalise(text: str) -> str:
    """Lower-case, without links, with every ticker `$tkr` and every number `0`."""
    lowered = _URL.sub(" ", text.lower())
    return _NUMBER.sub("0", _TICKER.sub("$tkr", lowered))


class Featurizer:
    """Text -> sorted unique hashed feature indices (the one feature code of this model)."""

    def __init__(self, lexicon: Callable[[str], float]) -> None:
        self.lexicon = lexicon

    def names(self, text: str) -> set[str]:
        """Every feature `text` has, by name (see the module docstring)."""
        words = _WORD.findall(normalise(text))
        found = {f"w:{w}" for w in words}
        found.update(f"b:{a} {b}" for a, b in itertools.pairwise(words))
        for word in words:
            padded = f" {word} "
            for n in (3, 4, 5):
                found.update(f"c:{padded[i : i + n]}" for i in range(len(padded) - n + 1))
        matches = rules.matches(text)
        found.update(f"r:{m.polarity}:{m.words}" for m in matches)
        total = sum(m.polarity for m in matches)
        found.add(f"rs:{(total > 0) - (total < 0)}" if matches else "rs:none")
        found.add(f"lex:{int(np.searchsorted(_LEXICON_BINS, self.lexicon(text)))}")
        return found

    def indices(self, text: str) -> npt.NDArray[np.int64]:
        """The sorted unique slots of `text`'s features."""
        slots = {zlib.crc32(name.encode()) & (DIMENSION - 1) for name in self.names(text)}
        return np.fromiter(sorted(slots), dtype=np.int64, count=len(slots))


@dataclass(frozen=True, slots=True)
class LinearWeights:
    """A trained model: weights (DIMENSION x 3), intercepts (3) and the neutral band."""

    weights: npt.NDArray[np.float32]
    intercepts: npt.NDArray[np.float32]
    band: float

    def probabilities(self, indices: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """Class probabilities (down, up, neutral) of a unit-scaled indicator row."""
        logits = self.intercepts.astype(np.float64)
        if indices.size:
            logits = logits + self.weights[indices].sum(axis=0) / np.sqrt(indices.size)
        exp = np.exp(logits - logits.max())
        probabilities: npt.NDArray[np.float64] = exp / exp.sum()
        return probabilities

    def save(self, path: Any, **metadata: Any) -> None:
        """Write the file `load_weights` reads (float16 weights, compressed)."""
        arrays: dict[str, Any] = {k: np.asarray(v) for k, v in metadata.items()}
        arrays |= {
            "weights": self.weights.astype(np.float16),
            "intercepts": self.intercepts.astype(np.float32),
            "band": np.float32(self.band),
        }
        np.savez_compressed(path, allow_pickle=False, **arrays)


@cache
def load_weights() -> LinearWeights:
    """The shipped weights (read once); a missing or damaged file is a ConfigError."""
    return read_weights(files("marketbrief.pipeline") / "weights" / WEIGHTS_FILE)


def read_weights(source: Traversable) -> LinearWeights:
    """Weights from one file that `LinearWeights.save` wrote; damage is a ConfigError."""
    try:
        with source.open("rb") as handle:
            data = np.load(handle)
            weights = data["weights"].astype(np.float32)
            intercepts = data["intercepts"].astype(np.float32)
            band = float(data["band"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise ConfigError(f"cannot read the linear model weights {source.name}: {exc}") from None
    if weights.shape != (DIMENSION, len(CLASSES)) or intercepts.shape != (len(CLASSES),):
        raise ConfigError(f"linear model weights {source.name} have shape {weights.shape}")
    return LinearWeights(weights, intercepts, band)


def polar_margin(probabilities: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Per row of (down, up, neutral) probabilities: the signed lead of up or down on neutral."""
    p = np.atleast_2d(probabilities)
    down, up, neutral = p[:, 0], p[:, 1], p[:, 2]
    margin: npt.NDArray[np.float64] = np.sign(up - down) * np.maximum(
        0.0, np.maximum(up, down) - neutral
    )
    return margin


class LinearScorer:
    """A text scorer: the polar margin under the shipped linear model."""

    def __init__(self, featurizer: Featurizer, model: LinearWeights) -> None:
        self.featurizer = featurizer
        self.model = model

    def __call__(self, text: str) -> float:
        """A score in [-1, 1]."""
        return float(polar_margin(self.model.probabilities(self.featurizer.indices(text)))[0])
