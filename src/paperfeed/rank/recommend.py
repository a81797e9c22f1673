"""Recommendations for one reader: pure functions of paper vectors (L2-normalised float32 rows,
as search/embed.py stores them). Nothing here reads the store; users/foryou.py gathers a
reader's library and the candidate papers and calls `fit` then `ReaderModel.score`.

Method: a whitened centroid (linear discriminant analysis with a shared covariance, as in
exemplar-LDA). `Background.of` summarises a sample of the corpus once per pass: its mean `mu`
and the inverse of its regularised covariance `(S + RIDGE * I)^-1` (one 384x384 inversion).
A reader's model is then one matrix-vector product:

    w = (S + RIDGE * I)^-1 (weighted mean of the library - mu)

scaled so that background papers' scores have unit spread; a candidate's score is `x . w`.
Whitening takes out the directions that every paper shares (the embedding's common component
and its dominant topics), so a reader's direction points at what sets their library apart
from the corpus rather than at "a paper" in general. "Not interested" papers pull the
direction away from their own mean (`NEGATIVE_DIRECTION`) and demote each candidate by its
cosine to the nearest of them (`NEGATIVE_WEIGHT`, in units of the background spread).

Measured by bench/eval_recommend.py on CiteULike-a (titles only, CDL split P=10: 10 library
papers per reader, candidates = all 16,980 papers not in the library, hits among the reader's
held-out papers), all-MiniLM-L6-v2 int8 vectors, 1,000 readers (seed 0); RIDGE chosen on a
validation slice of the train libraries of other readers (fit on 7, find the other 3), not on
the reported test items:

    FIGURES (filled in from the bench run)

Cost: fit ~FIT_MS ms per reader (so 100k readers in ~FIT_100K), scoring 1,000 papers
~SCORE_MS ms; `Background.of` on 4,000 rows ~BG_MS ms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]
Scores = npt.NDArray[np.float32]

RIDGE = 0.01  # added to the background covariance's diagonal (vectors are unit length)
NEGATIVE_WEIGHT = 2.0  # score taken off per unit cosine to the nearest "not interested" paper
NEGATIVE_DIRECTION = 1.0  # how far the "not interested" papers' mean pulls the direction
NEAREST_WEIGHT = 4.0  # score added per unit cosine to the nearest library paper


@dataclass(frozen=True, slots=True)
class Background:
    """What every reader's model shares: papers standing in for "not in this library" (a sample
    of the corpus), summarised once per pass so a reader's fit costs little: their mean and
    the inverse of their covariance plus `ridge` on the diagonal."""

    vectors: Vectors
    mean: npt.NDArray[np.float64] | None = None  # (dim,)
    precision: npt.NDArray[np.float64] | None = None  # (dim, dim): (S + ridge * I)^-1
    covariance: npt.NDArray[np.float64] | None = None  # (dim, dim): S + ridge * I

    @classmethod
    def of(cls, vectors: Vectors, *, ridge: float = RIDGE) -> Background:
        rows = np.ascontiguousarray(vectors, dtype=np.float32)
        if rows.ndim != 2:
            raise ValueError("Background vectors must be a 2-D array (papers x dimensions).")
        dim = rows.shape[1]
        data = rows.astype(np.float64)
        mean = data.mean(axis=0) if len(data) else np.zeros(dim)
        centred = data - mean
        cov = centred.T @ centred / max(len(data), 1) + max(ridge, 1e-6) * np.eye(dim)
        precision = np.linalg.inv(cov)
        return cls(rows, mean, (precision + precision.T) / 2, cov)

    def _stats(self, dim: int) -> tuple[npt.NDArray[np.float64], ...]:
        """(mean, precision, covariance), also for a Background built by hand without them."""
        if self.mean is None or self.precision is None or self.covariance is None:
            if self.vectors.ndim == 2 and self.vectors.shape[1] == dim:
                full = Background.of(self.vectors)
            else:
                full = Background.of(np.zeros((0, dim), np.float32))
            assert full.mean is not None and full.precision is not None
            assert full.covariance is not None
            return full.mean, full.precision, full.covariance
        return self.mean, self.precision, self.covariance


@dataclass(frozen=True, slots=True)
class ReaderModel:
    """One reader's model: a direction in the vector space and what it subtracts."""

    weights: Vectors  # (dim,)
    negatives: Vectors  # (n, dim) "not interested" papers, demoted by similarity
    negative_weight: float = NEGATIVE_WEIGHT
    positives: Vectors | None = None  # (k, dim) the library, for the nearest-paper term
    nearest_weight: float = 0.0  # score added per unit cosine to the nearest library paper

    def score(self, candidates: Vectors) -> Scores:
        """A score per candidate row, higher first; comparable across one reader's candidates
        only."""
        candidates = np.asarray(candidates, dtype=np.float32)
        if candidates.ndim != 2 or not len(candidates):
            return np.zeros(len(candidates), np.float32)
        scores = (candidates @ self.weights).astype(np.float32)
        if self.nearest_weight and self.positives is not None and len(self.positives):
            near_pos = (candidates @ self.positives.T).max(axis=1)
            scores += np.float32(self.nearest_weight) * near_pos
        if len(self.negatives):
            near = (candidates @ self.negatives.T).max(axis=1)
            scores -= np.float32(self.negative_weight) * near
        return np.nan_to_num(scores, nan=0.0, posinf=0.0, neginf=0.0)


def fit(
    positives: Vectors,
    background: Background,
    *,
    negatives: Vectors | None = None,
    weights: npt.NDArray[np.float32] | None = None,
    negative_weight: float = NEGATIVE_WEIGHT,
    negative_direction: float = NEGATIVE_DIRECTION,
    nearest_weight: float = NEAREST_WEIGHT,
) -> ReaderModel:
    """A model of what the reader wants from their library (`positives`, with optional
    per-paper `weights`, e.g. for recency or upvotes) and their "not interested" papers."""
    pos = np.asarray(positives, dtype=np.float64)
    dim = pos.shape[1] if pos.ndim == 2 else background.vectors.shape[-1]
    neg = (
        np.zeros((0, dim), np.float32)
        if negatives is None or not len(negatives)
        else np.asarray(negatives, np.float32).reshape(-1, dim)
    )
    mean, precision, cov = background._stats(dim)
    direction = np.zeros(dim)
    if pos.ndim == 2 and len(pos):
        w = np.ones(len(pos)) if weights is None else np.asarray(weights, np.float64).ravel()
        if len(w) != len(pos):
            raise ValueError(f"{len(w)} weights for {len(pos)} library papers: give one each.")
        w = np.where(np.isfinite(w) & (w > 0), w, 0.0)
        if w.sum() > 0:
            direction = precision @ ((w[:, None] * pos).sum(axis=0) / w.sum() - mean)
    if len(neg):
        direction -= negative_direction * (precision @ (neg.astype(np.float64).mean(axis=0) - mean))
    spread = float(direction @ cov @ direction)
    if spread > 0 and math.isfinite(spread):
        direction /= math.sqrt(spread)
    keep = pos.astype(np.float32) if pos.ndim == 2 and len(pos) and nearest_weight else None
    return ReaderModel(direction.astype(np.float32), neg, negative_weight, keep, nearest_weight)


def explain(positives: Vectors, candidates: Vectors) -> tuple[npt.NDArray[np.intp], Scores]:
    """For each candidate: the index of the library paper it is most like, and that cosine."""
    if not len(positives) or not len(candidates):
        return np.zeros(len(candidates), np.intp), np.zeros(len(candidates), np.float32)
    sims = candidates @ positives.T
    nearest = sims.argmax(axis=1)
    return nearest, sims[np.arange(len(candidates)), nearest].astype(np.float32)
