"""Recommendations for one reader: pure functions of paper vectors (L2-normalised float32 rows,
as search/embed.py stores them). Nothing here reads the store; users/foryou.py gathers a
reader's library and the candidate papers and calls `fit` then `ReaderModel.score`.

The method is chosen by bench/eval_recommend.py (CiteULike-a libraries, side by side with
arxiv-sanity-lite's SVM and the centroid / nearest-paper baselines).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]
Scores = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Background:
    """What every reader's model shares: papers standing in for "not in this library" (a sample
    of the corpus), summarised once per pass so a reader's fit costs little."""

    vectors: Vectors

    @classmethod
    def of(cls, vectors: Vectors) -> Background:
        return cls(np.ascontiguousarray(vectors, dtype=np.float32))


@dataclass(frozen=True, slots=True)
class ReaderModel:
    """One reader's model: a direction in the vector space and what it subtracts."""

    weights: Vectors  # (dim,)
    negatives: Vectors  # (n, dim) "not interested" papers, demoted by similarity

    def score(self, candidates: Vectors) -> Scores:
        """A score per candidate row, higher first; comparable across one reader's candidates
        only."""
        scores = (candidates @ self.weights).astype(np.float32)
        if len(self.negatives):
            scores -= NEGATIVE_WEIGHT * (candidates @ self.negatives.T).max(axis=1)
        return scores


NEGATIVE_WEIGHT = 0.5


def fit(
    positives: Vectors,
    background: Background,
    *,
    negatives: Vectors | None = None,
    weights: npt.NDArray[np.float32] | None = None,
) -> ReaderModel:
    """A model of what the reader wants from their library (`positives`, with optional
    per-paper `weights`, e.g. for recency or upvotes) and their "not interested" papers."""
    w = np.ones(len(positives), np.float32) if weights is None else weights
    direction = (w[:, None] * positives).sum(axis=0)
    norm = float(np.linalg.norm(direction))
    direction = direction / norm if norm > 0 else direction
    neg = np.zeros((0, positives.shape[1]), np.float32) if negatives is None else negatives
    return ReaderModel(direction.astype(np.float32), np.asarray(neg, np.float32))


def explain(positives: Vectors, candidates: Vectors) -> tuple[npt.NDArray[np.intp], Scores]:
    """For each candidate: the index of the library paper it is most like, and that cosine."""
    sims = candidates @ positives.T
    nearest = sims.argmax(axis=1)
    return nearest, sims[np.arange(len(candidates)), nearest].astype(np.float32)
