"""Reciprocal rank fusion: pure, deterministic, fair to one-sided finds."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from paperfeed.search.hybrid import RRF_K, convex_fusion, reciprocal_rank_fusion


def test_items_found_by_both_sides_win() -> None:
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 1, 4]])
    assert [item for item, _ in fused] == [1, 3, 2, 4]
    assert fused[0][1] == 1 / (RRF_K + 1) + 1 / (RRF_K + 2)


def test_a_paper_found_by_one_side_only_keeps_that_sides_share() -> None:
    fused = dict(reciprocal_rank_fusion([[7], []]))
    assert fused == {7: 1 / (RRF_K + 1)}


def test_weights_tilt_the_order() -> None:
    assert reciprocal_rank_fusion([[1], [2]], weights=[1.0, 2.0])[0][0] == 2


def test_ties_break_by_first_appearance() -> None:
    assert [i for i, _ in reciprocal_rank_fusion([[5, 6], [6, 5]])] == [5, 6]


@given(st.lists(st.lists(st.integers(0, 50), unique=True, max_size=20), min_size=1, max_size=3))
def test_fusion_keeps_every_item_once_sorted(rankings: list[list[int]]) -> None:
    fused = reciprocal_rank_fusion(rankings)
    assert sorted(i for i, _ in fused) == sorted({i for r in rankings for i in r})
    scores = [s for _, s in fused]
    assert scores == sorted(scores, reverse=True)
    assert fused == reciprocal_rank_fusion(rankings)


def test_convex_fusion_scales_each_side_then_weighs() -> None:
    keyword = [(1, 30.0), (2, 10.0)]  # BM25: unbounded
    dense = [(2, 0.9), (3, 0.5)]  # cosine
    fused = convex_fusion([keyword, dense], weights=[0.4, 0.6])
    assert fused == [(2, 0.6), (1, 0.4), (3, 0.0)]


def test_convex_fusion_with_one_empty_side_keeps_the_other_order() -> None:
    assert [i for i, _ in convex_fusion([[(5, 2.0), (6, 1.0)], []], [0.5, 0.5])] == [5, 6]
    assert convex_fusion([[(7, 3.0)], []], [0.5, 0.5]) == [(7, 0.5)]
