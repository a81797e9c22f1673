"""Fusing ranked lists: reciprocal rank fusion (Cormack et al., 2009).

RRF uses ranks, not scores, so BM25's unbounded scores and cosine similarities need no
calibration, and a paper found by only one side still gets that side's share. Pure functions.
"""

from __future__ import annotations

from collections.abc import Sequence

RRF_K = 60


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[int]],
    weights: Sequence[float] | None = None,
    k: int = RRF_K,
) -> list[tuple[int, float]]:
    """(item, fused score) best first. Each ranking lists items best first; an item missing
    from a ranking simply gets nothing from it. Ties break by first appearance, so the
    result is deterministic."""
    weights = weights or [1.0] * len(rankings)
    scores: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    order = {item: i for i, item in enumerate(dict.fromkeys(x for r in rankings for x in r))}
    return sorted(scores.items(), key=lambda kv: (-kv[1], order[kv[0]]))
