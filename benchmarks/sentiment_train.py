"""Train the `tfns-linear` model from data/tfns/sent_train.csv and write its weights file.

Run: `.venv/bin/python -m benchmarks.sentiment_train` (needs scikit-learn: `pip install -e
'.[train]'`; a couple of minutes on one core). It rebuilds
src/marketbrief/pipeline/weights/tfns-linear.npz from the committed training split alone:

1. every text becomes the model's own features (`marketbrief.pipeline.models.featurizer`);
2. multinomial logistic regression (L2, lbfgs) for each C in `GRID`, scored by 5-fold stratified
   cross-validation inside the training split; the best C wins;
3. the neutral band on the score (`polar_margin`) is the one in `BANDS` with the best accuracy
   on that C's out-of-fold probabilities;
4. the model is refitted on the whole training split and saved with the band.

The validation split is never read here: it is the held-out evaluation of `make eval`.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
from harness import ROOT
from scipy.sparse import csr_matrix
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from benchmarks.sentiment_data import LABELS, TFNS_TRAIN, tfns
from marketbrief.pipeline.linear import (
    CLASSES,
    DIMENSION,
    WEIGHTS_FILE,
    LinearWeights,
    polar_margin,
)
from marketbrief.pipeline.models import featurizer

GRID = (3.0, 5.0, 8.0)
BANDS = tuple(round(0.02 * i, 2) for i in range(1, 16))
FOLDS = 5
SEED = 12
OUTPUT = ROOT / "src" / "marketbrief" / "pipeline" / "weights" / WEIGHTS_FILE


def matrix(texts: list[str]) -> csr_matrix:
    """The unit-scaled indicator rows of `texts`, as the scorer builds them."""
    features = featurizer()
    rows = [features.indices(t) for t in texts]
    indptr = np.cumsum([0] + [r.size for r in rows])
    indices = np.concatenate(rows)
    data = np.concatenate([np.full(r.size, 1 / np.sqrt(max(r.size, 1))) for r in rows])
    return csr_matrix((data, indices, indptr), shape=(len(rows), DIMENSION))


def fit(x: csr_matrix, y: npt.NDArray[np.int64], c: float) -> LogisticRegression:
    """One multinomial logistic regression."""
    return LogisticRegression(C=c, max_iter=500, tol=1e-4).fit(x, y)


def directions(score: npt.NDArray[np.float64], band: float) -> npt.NDArray[np.int64]:
    """Class index per row under a neutral band (as `direction_of` reads a score)."""
    return np.where(score > band, 1, np.where(score < -band, 0, 2))


def main() -> None:
    """Cross-validate, refit on the whole training split, write the weights file."""
    assert CLASSES == LABELS
    started = time.perf_counter()
    pairs = tfns(TFNS_TRAIN)
    x = matrix([text for text, _ in pairs])
    y = np.array([LABELS.index(label) for _, label in pairs])
    print(f"{len(pairs)} training rows, {x.nnz / len(pairs):.0f} features a row")
    folds = list(StratifiedKFold(FOLDS, shuffle=True, random_state=SEED).split(x, y))
    best: tuple[float, float, npt.NDArray[np.float64]] | None = None
    for c in GRID:
        out_of_fold = np.zeros((len(pairs), len(LABELS)))
        for train, test in folds:
            out_of_fold[test] = fit(x[train], y[train], c).predict_proba(x[test])
        accuracy = float((out_of_fold.argmax(axis=1) == y).mean())
        print(f"C={c:<5g} cross-validated accuracy (argmax) {accuracy:.4f}")
        if best is None or accuracy > best[0]:
            best = (accuracy, c, out_of_fold)
    assert best is not None
    _, c, out_of_fold = best
    band_accuracy = {
        b: float((directions(polar_margin(out_of_fold), b) == y).mean()) for b in BANDS
    }
    band = max(BANDS, key=lambda b: (band_accuracy[b], -b))
    print(f"chosen C={c:g}, band {band:g}: cross-validated accuracy {band_accuracy[band]:.4f}")
    model = fit(x, y, c)
    weights = np.ascontiguousarray(model.coef_.T, dtype=np.float32)
    LinearWeights(weights, model.intercept_.astype(np.float32), band).save(
        OUTPUT,
        c=c,
        cv_accuracy=band_accuracy[band],
        training_rows=len(pairs),
        training_sha256=hashlib.sha256(Path(TFNS_TRAIN).read_bytes()).hexdigest(),
    )
    size, took = OUTPUT.stat().st_size / 1e6, time.perf_counter() - started
    print(f"wrote {OUTPUT.relative_to(ROOT)} ({size:.1f} MB) in {took:.0f}s")


if __name__ == "__main__":
    main()
