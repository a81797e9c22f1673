"""Fusing ranked lists, and where the fused list ends. Pure functions.

- `convex_fusion`: min-max scaled weighted sum of scores, what hybrid search uses (the measured
  choice is explained in search/engine.py beside DENSE_WEIGHT).
- `reciprocal_rank_fusion` (Cormack et al., 2009): ranks, not scores, so BM25's unbounded scores
  and cosine similarities need no calibration; a paper found by one side keeps that side's share.
- `cut_off`: the fused papers that are still relevant (a cosine floor, or a strong BM25 score),
  so that semantic and hybrid results end instead of running through the whole collection.
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


def convex_fusion(
    rankings: Sequence[Sequence[tuple[int, float]]],
    weights: Sequence[float],
) -> list[tuple[int, float]]:
    """Weighted sum of each side's scores after min-max scaling to [0, 1] per query, so that
    BM25's unbounded scores and cosine similarities share one scale (Bruch et al., 2023, found
    this beats RRF when the weight is tuned). An item a side did not return gets 0 from it.
    Ties break by first appearance."""
    fused: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        if not ranking:
            continue
        scores = [s for _, s in ranking]
        low, span = min(scores), max(scores) - min(scores)
        for item, score in ranking:
            scaled = (score - low) / span if span > 0 else 1.0
            fused[item] = fused.get(item, 0.0) + weight * scaled
    order = {item: i for i, item in enumerate(dict.fromkeys(x for r in rankings for x, _ in r))}
    return sorted(fused.items(), key=lambda kv: (-kv[1], order[kv[0]]))


def cut_off(
    fused: Sequence[tuple[int, float]],
    keyword: Sequence[tuple[int, float]],
    semantic: Sequence[tuple[int, float]],
    *,
    min_cosine: float,
    keyword_share: float,
) -> list[tuple[int, float]]:
    """The items of `fused` (best first) that are still relevant, in its order, given the
    keyword and semantic rankings it came from (each (item, score) best first; semantic scores
    are cosines): those at least `min_cosine` from the query, and those whose BM25 score is at
    least `keyword_share` of the best one's (so the item keyword search ranks first is always
    kept). Semantic search passes its own ranking as `fused` and nothing as `keyword`.

    An item the semantic side did not return lies below that side's last cosine: below the
    floor when that last cosine is, and kept (it cannot be judged) when it is not. With no
    semantic ranking at all nothing can be judged, and everything is kept."""
    if not semantic:
        return list(fused)
    cosine = dict(semantic)
    unseen_below = semantic[-1][1] < min_cosine  # what the semantic side did not reach
    strong: set[int] = set()
    if keyword:
        best = keyword[0][1]
        strong = {item for item, score in keyword if score >= keyword_share * best}
        strong.add(keyword[0][0])
    kept = []
    for item, score in fused:
        c = cosine.get(item)
        if item in strong or (c >= min_cosine if c is not None else not unseen_below):
            kept.append((item, score))
    return kept
