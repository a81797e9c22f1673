"""Trending: the pure definition checked by hand and by property, then the store-backed
ranking (`decayed_sums`, `recompute`, `refresh`, `list_page`) checked against it.

Every time is fixed: `NOW` is 2024-10-25 18:00 UTC, the newest day with papers is 2024-10-25.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from paperfeed.models import Paper
from paperfeed.rank import trending as tr
from paperfeed.rank.trending import RULES, WINDOWS, Event
from paperfeed.store import Announcement, Signal, Store, TrendingRow, open_store

HOUR = 3600.0
DAY = 86400.0
NEWEST = date(2024, 10, 25)
TODAY = date(2024, 10, 26)
NOW = datetime(2024, 10, 25, 18, tzinfo=UTC).timestamp()
SIGNED_IN = datetime(2024, 10, 1, tzinfo=UTC)
LONGEST_HALF_LIFE_S = max(r.half_life_h for r in RULES.values()) * HOUR

# Deterministic runs that leave nothing behind: the suite must give the same answer every time.
PROPERTY = settings(derandomize=True, database=None, deadline=None, max_examples=150)
WITH_STORE = settings(derandomize=True, database=None, deadline=None, max_examples=40)

Candidates = dict[int, tuple[date | None, str | None]]


def days_before(n: int) -> date:
    return NEWEST - timedelta(days=n)


def paper(n: int, published: datetime | None = None) -> Paper:
    aid = f"2410.{n:05d}"
    return Paper(id=aid, arxiv_id=aid, title=f"Trending paper number {n}", published=published)


def noon(d: date, hour: int = 12) -> datetime:
    return datetime(d.year, d.month, d.day, hour, tzinfo=UTC)


def at_time(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


@contextmanager
def fresh_store() -> Iterator[Store]:
    """A new empty store for one hypothesis example (function fixtures are shared by all)."""
    s = open_store(":memory:")
    try:
        yield s
    finally:
        s.close()


def scores(rows: Sequence[TrendingRow]) -> dict[int, float]:
    return {r.seq: r.score for r in rows}


def tie_key(row: TrendingRow) -> tuple[int, str, int]:
    return (row.day.toordinal() if row.day else 0, row.published or "", row.seq)


def nonzero(parts: object) -> dict[str, float]:
    assert isinstance(parts, dict)
    return {k: v for k, v in parts.items() if v}


def assert_same_ranking(got: Sequence[TrendingRow], want: Sequence[TrendingRow]) -> None:
    """`got` ranks the papers of `want` with the same scores, in the same order; where two
    scores of `want` differ only by rounding, either a higher score in `got` or the tie rule
    (later day, later published, later stored) must decide."""
    assert sorted(r.seq for r in got) == sorted(r.seq for r in want)
    expected = {r.seq: r for r in want}
    for row in got:
        w = expected[row.seq]
        assert (row.day, row.published) == (w.day, w.published), row.seq
        assert row.score == pytest.approx(w.score, rel=1e-9, abs=1e-12), row.seq
        assert nonzero(row.parts) == pytest.approx(nonzero(w.parts), rel=1e-9, abs=1e-12)
    for a, b in itertools.pairwise(got):
        wa, wb = expected[a.seq].score, expected[b.seq].score
        if math.isclose(wa, wb, rel_tol=1e-9, abs_tol=1e-12):
            assert a.score > b.score or tie_key(a) > tie_key(b), (a, b)
        else:
            assert wa > wb, (a, b)


# -- the pure definition, by hand ------------------------------------------------------------


def test_an_event_loses_half_its_weight_every_half_life_and_future_ones_count_fully() -> None:
    assert tr.decay(0.0, 72) == 1.0
    assert tr.decay(72 * HOUR, 72) == 0.5
    assert tr.decay(144 * HOUR, 72) == 0.25
    assert tr.decay(-5 * HOUR, 72) == 1.0


def test_hand_computed_sums_and_weighted_parts() -> None:
    events = [
        Event(1, "upvote", NOW - 72 * HOUR),  # one half-life: 0.5, weight 3 -> 1.5
        Event(2, "save", NOW),  # now: 1, weight 4 -> 4
        Event(3, "view", NOW - 24 * HOUR),  # one half-life: 0.5, weight 0.2 -> 0.1
        Event(4, "click", NOW - 96 * HOUR),  # two half-lives: 0.25, weight 0.5 -> 0.125
        Event(5, "github_stars", NOW - 168 * HOUR, 20.0),  # 20 stars a week ago: 10 -> 0.5
    ]
    assert tr.sum_events(events, NOW) == {
        1: {"upvote": 0.5},
        2: {"save": 1.0},
        3: {"view": 0.5},
        4: {"click": 0.25},
        5: {"github_stars": 10.0},
    }
    rows = {r.seq: r for r in tr.trending(events, dict.fromkeys(range(1, 6), (NEWEST, None)),
                                         NOW, NEWEST)}  # fmt: skip
    assert rows[1].parts == {"prior": 1.0, "upvote": 1.5} and rows[1].score == 2.5
    assert rows[2].parts == {"prior": 1.0, "save": 4.0} and rows[2].score == 5.0
    assert rows[3].parts["view"] == pytest.approx(0.1) and rows[3].score == pytest.approx(1.1)
    assert rows[4].parts["click"] == 0.125 and rows[4].score == 1.125
    assert rows[5].parts["github_stars"] == pytest.approx(0.5)


def test_the_prior_is_one_point_on_the_newest_day_halving_each_day_before() -> None:
    assert tr.prior(NEWEST, NEWEST) == 1.0
    assert tr.prior(days_before(1), NEWEST) == 0.5
    assert tr.prior(days_before(2), NEWEST) == 0.25
    assert tr.prior(NEWEST + timedelta(days=1), NEWEST) == 1.0  # never more than the newest
    assert tr.prior(None, NEWEST) == 0.0
    assert tr.prior(NEWEST, None) == 0.0


def test_measured_totals_count_by_the_increases_the_caller_gives() -> None:
    # Hugging Face upvotes measured 5, then 8 three days later: 5 counted then, 3 now.
    events = [Event(1, "hf_upvotes", NOW - 72 * HOUR, 5.0), Event(1, "hf_upvotes", NOW, 3.0)]
    assert tr.sum_events(events, NOW) == {1: {"hf_upvotes": 5 * 0.5 + 3}}
    assert tr.sum_events(events, NOW + 72 * HOUR) == {1: {"hf_upvotes": 2.5 * 0.5 + 1.5}}


def test_signals_without_a_rule_are_ignored() -> None:
    events = [Event(1, "hide", NOW), Event(1, "hf_comments", NOW, 9.0)]
    assert tr.sum_events(events, NOW) == {}
    (row,) = tr.trending(events, {1: (NEWEST, None)}, NOW, NEWEST)
    assert row.parts == {"prior": 1.0} and row.score == 1.0
    assert tr.score_row(1, NEWEST, None, {"hf_comments": 9.0}, NEWEST).parts == {"prior": 1.0}


def test_a_worked_ranking_with_ties() -> None:
    candidates: Candidates = {
        1: (NEWEST, "2024-10-25T08:00:00+00:00"),  # prior 1
        2: (days_before(1), "2024-10-24T08:00:00+00:00"),  # 0.5 + upvote 72 h old 1.5 = 2
        3: (days_before(2), "2024-10-23T08:00:00+00:00"),  # 0.25 + three views now 0.6
        4: (days_before(1), "2024-10-24T09:00:00+00:00"),  # 0.5 + an eighth of a save: 1
        5: (NEWEST, "2024-10-25T10:00:00+00:00"),  # prior 1, published later than 1
        6: (NEWEST, "2024-10-25T08:00:00+00:00"),  # as paper 1, stored later
        7: (None, None),  # not dated: no prior
    }
    events = [Event(2, "upvote", NOW - 72 * HOUR), Event(4, "save", NOW, 0.125)]
    events += [Event(3, "view", NOW)] * 3
    ranking = tr.trending(events, candidates, NOW, NEWEST)
    assert [r.seq for r in ranking] == [2, 5, 6, 1, 4, 3, 7]
    assert scores(ranking) == pytest.approx({2: 2.0, 5: 1.0, 6: 1.0, 1: 1.0, 4: 1.0, 3: 0.85,
                                             7: 0.0})  # fmt: skip


def test_windows_cover_the_last_one_seven_and_thirty_days() -> None:
    assert WINDOWS == {"day": 1, "week": 7, "month": 30}
    assert tr.window_since(NEWEST, "day") == NEWEST
    assert tr.window_since(NEWEST, "week") == days_before(6)
    assert tr.window_since(NEWEST, "month") == days_before(29)


def test_scores_are_taken_now_but_no_later_than_the_end_of_the_newest_day() -> None:
    end_of_newest = datetime(2024, 10, 26, tzinfo=UTC).timestamp()
    assert tr.as_of(NOW, NEWEST) == NOW  # 18:00 on the newest day
    assert tr.as_of(NOW + 6 * HOUR, NEWEST) == end_of_newest
    assert tr.as_of(NOW + 30 * DAY, NEWEST) == end_of_newest  # an archive, or a paused harvest
    assert tr.as_of(NOW + 30 * DAY, None) == NOW + 30 * DAY  # undated: always now


# -- the pure definition, by property -------------------------------------------------------

SIGNALS = sorted(RULES)
PAPERS = (1, 2, 3, 4, 5)
TIMES = st.floats(NOW - 60 * DAY, NOW + 2 * DAY, allow_nan=False)
AMOUNTS = st.floats(0.0, 1e6, allow_nan=False)
EVENTS = st.lists(
    st.builds(Event, st.sampled_from(PAPERS), st.sampled_from(SIGNALS), TIMES, AMOUNTS),
    max_size=30,
)
DAYS = st.one_of(st.none(), st.integers(0, 35).map(days_before))
PUBLISHED = st.sampled_from((None, "2024-10-20T09:00:00+00:00", "2024-10-25T08:00:00+00:00"))
CANDIDATES = st.fixed_dictionaries({p: st.tuples(DAYS, PUBLISHED) for p in PAPERS})


@PROPERTY
@given(EVENTS, CANDIDATES, st.builds(Event, st.sampled_from(PAPERS), st.sampled_from(SIGNALS),
                                     TIMES, AMOUNTS))  # fmt: skip
def test_an_event_never_lowers_its_papers_score_or_rank(
    events: list[Event], candidates: Candidates, extra: Event
) -> None:
    before = tr.trending(events, candidates, NOW, NEWEST)
    after = tr.trending([*events, extra], candidates, NOW, NEWEST)
    was, now = scores(before), scores(after)
    assert now[extra.paper] >= was[extra.paper]
    assert {p: s for p, s in now.items() if p != extra.paper} == {
        p: s for p, s in was.items() if p != extra.paper
    }
    rank = lambda rows: [r.seq for r in rows].index(extra.paper)  # noqa: E731
    assert rank(after) <= rank(before)


@PROPERTY
@given(EVENTS, CANDIDATES, st.floats(0.0, 30 * DAY))
def test_without_new_events_a_score_only_decays_and_tends_to_the_prior(
    events: list[Event], candidates: Candidates, wait_s: float
) -> None:
    last = max([e.at for e in events], default=NOW)
    start = max(NOW, last)
    then = scores(tr.trending(events, candidates, start, NEWEST))
    later = scores(tr.trending(events, candidates, start + wait_s, NEWEST))
    for p in PAPERS:
        assert later[p] <= then[p] * (1 + 1e-12)
    far = tr.trending(events, candidates, start + 1000 * LONGEST_HALF_LIFE_S, NEWEST)
    for row in far:
        assert row.score == pytest.approx(tr.prior(candidates[row.seq][0], NEWEST), abs=1e-9)
        assert row.score == pytest.approx(row.parts["prior"], abs=1e-9)


@PROPERTY
@given(EVENTS, CANDIDATES)
def test_scores_are_finite_and_never_negative(events: list[Event], candidates: Candidates) -> None:
    for row in tr.trending(events, candidates, NOW, NEWEST):
        assert math.isfinite(row.score) and row.score >= 0
        assert all(math.isfinite(v) and v >= 0 for v in row.parts.values())
        assert row.score == pytest.approx(sum(row.parts.values()))


@PROPERTY
@given(st.sampled_from(SIGNALS), st.floats(0.0, 10 * DAY), AMOUNTS)
def test_events_after_now_count_fully(signal: str, ahead_s: float, amount: float) -> None:
    assert tr.sum_events([Event(1, signal, NOW + ahead_s, amount)], NOW) == {1: {signal: amount}}
    (row,) = tr.trending([Event(1, signal, NOW + ahead_s, amount)], {1: (NEWEST, None)}, NOW,
                         NEWEST)  # fmt: skip
    assert row.parts == {"prior": 1.0, signal: RULES[signal].weight * amount}


# Exact arithmetic, so that ties really happen: whole amounts, at or after now (decay 1).
EXACT_EVENTS = st.lists(
    st.builds(Event, st.sampled_from(PAPERS), st.sampled_from(SIGNALS),
              st.integers(0, int(DAY)).map(lambda s: NOW + s), st.integers(0, 5).map(float)),
    max_size=12,
)  # fmt: skip
TIED_CANDIDATES = st.fixed_dictionaries(
    {p: st.tuples(st.one_of(st.none(), st.integers(0, 2).map(days_before)), PUBLISHED)
     for p in PAPERS}
)  # fmt: skip


# Paper 2's view comes before its stars, paper 1's after: the same engagement, so a tie that
# the later stored paper (2) wins, whichever order the events are given in.
SAME_ENGAGEMENT = [Event(2, "view", NOW), Event(2, "github_stars", NOW, 2.0),
                   Event(1, "github_stars", NOW, 2.0), Event(1, "view", NOW)]  # fmt: skip


def test_two_papers_with_the_same_engagement_tie_whatever_order_their_events_came_in() -> None:
    candidates: Candidates = {1: (days_before(1), None), 2: (days_before(1), None)}
    for events in (SAME_ENGAGEMENT, SAME_ENGAGEMENT[::-1]):
        ranking = tr.trending(events, candidates, NOW, NEWEST)
        assert [r.seq for r in ranking] == [2, 1]  # 0.5 + 0.2 + 2 * 0.05 each
        assert ranking[0].score == ranking[1].score


@PROPERTY
@example(SAME_ENGAGEMENT, {p: (days_before(1), None) for p in PAPERS}, random.Random(0))
@given(EXACT_EVENTS, TIED_CANDIDATES, st.randoms(use_true_random=False))
def test_ties_go_to_the_later_day_published_and_paper_whatever_the_input_order(
    events: list[Event], candidates: Candidates, rng: random.Random
) -> None:
    ranking = tr.trending(events, candidates, NOW, NEWEST)
    for a, b in itertools.pairwise(ranking):
        assert a.score > b.score or (a.score == b.score and tie_key(a) > tie_key(b))
    shuffled, order = list(events), list(candidates)
    rng.shuffle(shuffled)
    rng.shuffle(order)
    for evs, keys in ((events[::-1], order[::-1]), (shuffled, order)):
        again = tr.trending(evs, {p: candidates[p] for p in keys}, NOW, NEWEST)
        assert [r.seq for r in again] == [r.seq for r in ranking]
        assert scores(again) == pytest.approx(scores(ranking), rel=1e-12)


# -- the store's decayed sums, by hand -------------------------------------------------------


def test_the_store_sums_reactions_events_and_increases_of_measured_totals(store: Store) -> None:
    store.upsert_papers([paper(n, noon(NEWEST)) for n in (1, 2, 3, 4)])
    s1, s2, s3, s4 = (store.find_seq(f"2410.{n:05d}") for n in (1, 2, 3, 4))
    assert s1 and s2 and s3 and s4
    ada = store.get_or_add_user("ada@example.org", SIGNED_IN)
    store.set_reaction(ada.id, s1, "upvote", True, NOW - 72 * HOUR)
    store.set_reaction(ada.id, s1, "save", True, NOW)
    store.set_reaction(ada.id, s1, "hide", True, NOW)  # no rule: never counted
    store.record_event(s1, "view", NOW - 24 * HOUR)
    store.record_event(s1, "click", NOW + HOUR)  # after now: counts fully
    # Hugging Face upvotes measured 5, then 8 three days later: 5 then, 3 now.
    store.record_signals([Signal("2410.00002", "hf_upvotes", 5)], at_time(NOW - 72 * HOUR), "t")
    store.record_signals([Signal("2410.00002", "hf_upvotes", 8)], at_time(NOW), "t")
    # Stars: the first look (100) is not a gain; 120 a week later is 20 gained then.
    store.record_signals([Signal("2410.00003", "github_stars", 100)], at_time(NOW - 336 * HOUR),
                         "t")  # fmt: skip
    store.record_signals([Signal("2410.00003", "github_stars", 120)], at_time(NOW - 168 * HOUR),
                         "t")  # fmt: skip
    # Only a first look at the stars: nothing gained, the paper is left out.
    store.record_signals([Signal("2410.00004", "github_stars", 50)], at_time(NOW), "t")
    sums = store.decayed_sums(NOW, tr._store_rules(RULES))
    assert sums == {
        s1: pytest.approx({"upvote": 0.5, "save": 1.0, "view": 0.5, "click": 1.0}),
        s2: pytest.approx({"hf_upvotes": 5.5}),
        s3: pytest.approx({"github_stars": 10.0}),
    }
    assert store.decayed_sums(NOW, tr._store_rules(RULES), seqs=[s2, s4]) == {
        s2: pytest.approx({"hf_upvotes": 5.5})
    }
    later = store.decayed_sums(NOW + 72 * HOUR, tr._store_rules(RULES), seqs=[s2])
    assert later == {s2: pytest.approx({"hf_upvotes": 2.5 * 0.5 + 1.5})}
    only_views = store.decayed_sums(NOW, tr._store_rules({"view": RULES["view"]}))
    assert only_views == {s1: pytest.approx({"view": 0.5})}


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("github_stars", (100, 99)),  # one star taken back, right after the first look
        ("hf_upvotes", (10, 9)),  # ten upvotes a month ago, one taken back now
    ],
)
def test_a_measured_total_that_drops_never_counts_against_the_paper(
    store: Store, name: str, values: tuple[int, int]
) -> None:
    """A drop is not an increase (`Decayed`: "the events are its increases"): it may cancel
    gains, but must not push the paper below its prior, under papers nobody touched."""
    store.upsert_papers([paper(1, noon(NEWEST)), paper(2, noon(NEWEST))])
    first, second = values
    store.record_signals([Signal("2410.00001", name, first)], at_time(NOW - 30 * DAY), "t")
    store.record_signals([Signal("2410.00001", name, second)], at_time(NOW), "t")
    sums = store.decayed_sums(NOW, tr._store_rules(RULES))
    assert sums.get(store.find_seq("2410.00001") or 0, {}).get(name, 0.0) >= 0.0
    tr.recompute(store, NOW, TODAY)
    ranked = {r.listed.paper.id: r.row.score for r in tr.list_page(store, "day", limit=10,
                                                                   offset=0)}  # fmt: skip
    assert ranked["2410.00001"] >= ranked["2410.00002"] == 1.0


# -- the store-backed ranking, by hand -------------------------------------------------------


def _hand_world(store: Store) -> dict[int, int]:
    """Papers 1..5 (1 newest day, 4 one day before, 2 two days, 3 three, 5 forty days before:
    outside every window); returns paper number -> seq."""
    store.upsert_papers([
        paper(1, noon(NEWEST, 8)), paper(2, noon(days_before(2))), paper(3, noon(days_before(3))),
        paper(4, noon(days_before(1))), paper(5, noon(days_before(40))),
    ])  # fmt: skip
    seqs = {n: store.find_seq(f"2410.{n:05d}") for n in range(1, 6)}
    assert all(seqs.values())
    return {n: s for n, s in seqs.items() if s}


def test_recompute_and_list_page_rank_by_hand_computed_scores(store: Store) -> None:
    seq = _hand_world(store)
    ada = store.get_or_add_user("ada@example.org", SIGNED_IN)
    store.record_event(seq[2], "view", NOW - 24 * HOUR)  # 0.25 + 0.1
    store.set_reaction(ada.id, seq[3], "upvote", True, NOW)  # 0.125 + 3
    store.set_reaction(ada.id, seq[5], "save", True, NOW)  # outside the windows
    store.record_signals([Signal("2410.00003", "hf_upvotes", 4)], at_time(NOW + HOUR), "t")
    # 3's Hugging Face upvotes were measured after NOW: they count fully, 4 more points.
    assert tr.list_page(store, "month", limit=10, offset=0) == []  # never computed
    # every paper of each window is ranked (engaged or not): 1 on the newest day, 4 in a week
    assert tr.recompute(store, NOW, TODAY) == {"day": 1, "week": 4, "month": 4}
    page = tr.list_page(store, "month", limit=10, offset=0)
    assert [r.row.seq for r in page] == [seq[3], seq[1], seq[4], seq[2]]
    assert [r.row.score for r in page] == pytest.approx([7.125, 1.0, 0.5, 0.35])
    assert page[0].row.parts == pytest.approx({"prior": 0.125, "upvote": 3.0, "hf_upvotes": 4.0})
    assert page[0].listed.paper.id == "2410.00003" and page[0].listed.day == days_before(3)
    assert page[0].listed.signals == {"hf_upvotes": 4.0}
    assert page[1].listed.paper.id == "2410.00001" and page[1].row.parts == {"prior": 1.0}
    assert [r.row.seq for r in tr.list_page(store, "week", limit=10, offset=0)] == [
        seq[3], seq[1], seq[4], seq[2]
    ]  # fmt: skip
    assert [r.row.seq for r in tr.list_page(store, "day", limit=10, offset=0)] == [seq[1]]
    assert [r.row.seq for r in tr.list_page(store, "month", limit=2, offset=1)] == [
        seq[1], seq[4]
    ]  # fmt: skip
    assert [r.row.seq for r in tr.list_page(store, "month", limit=2, offset=3)] == [seq[2]]
    assert tr.list_page(store, "month", limit=2, offset=4) == []


def test_refresh_moves_a_paper_as_of_the_last_recompute_and_undo_takes_it_back(
    store: Store,
) -> None:
    seq = _hand_world(store)
    ada = store.get_or_add_user("ada@example.org", SIGNED_IN)
    store.set_reaction(ada.id, seq[3], "upvote", True, NOW)
    tr.refresh(store, [seq[3]])  # never computed: nothing to refresh
    assert store.get_trending_state("month") is None
    tr.recompute(store, NOW, TODAY)

    def order(span: str) -> list[int]:
        return [r.row.seq for r in tr.list_page(store, span, limit=10, offset=0)]

    assert order("month") == [seq[3], seq[1], seq[4], seq[2]]
    # An upvote five hours after the recompute counts fully until the next one: 0.5 + 3.
    store.set_reaction(ada.id, seq[4], "upvote", True, NOW + 5 * HOUR)
    tr.refresh(store, [seq[4]])
    assert order("month") == [seq[4], seq[3], seq[1], seq[2]]
    assert order("week") == [seq[4], seq[3], seq[1], seq[2]]
    assert order("day") == [seq[1]]
    top = tr.list_page(store, "month", limit=1, offset=0)[0].row
    assert (top.seq, top.score) == (seq[4], pytest.approx(3.5))
    state = store.get_trending_state("month")
    assert state is not None and (state.computed_at, state.as_of) == (NOW, NOW)
    store.set_reaction(ada.id, seq[4], "upvote", False, NOW + 6 * HOUR)
    tr.refresh(store, [seq[4]])
    assert order("month") == [seq[3], seq[1], seq[4], seq[2]]
    assert scores([r.row for r in tr.list_page(store, "month", limit=10, offset=0)]) == (
        pytest.approx({seq[3]: 3.125, seq[1]: 1.0, seq[4]: 0.5, seq[2]: 0.25})
    )


def test_an_archive_ranks_as_of_the_end_of_its_newest_day(store: Store) -> None:
    seq = _hand_world(store)
    ada = store.get_or_add_user("ada@example.org", SIGNED_IN)
    end_of_newest = datetime(2024, 10, 26, tzinfo=UTC).timestamp()
    store.set_reaction(ada.id, seq[4], "upvote", True, end_of_newest - 72 * HOUR)  # 0.5 + 1.5
    store.record_event(seq[2], "view", end_of_newest - 24 * HOUR)  # 0.25 + 0.1
    later = NOW + 40 * DAY
    tr.recompute(store, later, TODAY + timedelta(days=40))
    state = store.get_trending_state("week")
    assert state is not None and (state.computed_at, state.as_of) == (later, end_of_newest)
    page = tr.list_page(store, "week", limit=10, offset=0)
    assert [r.row.seq for r in page] == [seq[4], seq[1], seq[2], seq[3]]
    assert [r.row.score for r in page] == pytest.approx([2.0, 1.0, 0.35, 0.125])
    # A vote cast now, long after that day, counts fully until the next recompute.
    store.set_reaction(ada.id, seq[3], "upvote", True, later)
    tr.refresh(store, [seq[3]])
    page = tr.list_page(store, "week", limit=10, offset=0)
    assert [(r.row.seq, r.row.score) for r in page] == [
        (seq[3], pytest.approx(3.125)), (seq[4], pytest.approx(2.0)), (seq[1], 1.0),
        (seq[2], pytest.approx(0.35)),
    ]  # fmt: skip


def test_an_undated_store_ranks_engaged_papers_first_then_the_newest_stored(store: Store) -> None:
    store.upsert_papers([paper(n) for n in (1, 2, 3, 4)])
    s = {n: store.find_seq(f"2410.{n:05d}") or 0 for n in (1, 2, 3, 4)}
    ada = store.get_or_add_user("ada@example.org", SIGNED_IN)
    store.record_event(s[1], "view", NOW)  # 0.2
    store.set_reaction(ada.id, s[3], "upvote", True, NOW - 72 * HOUR)  # 1.5
    assert store.latest_day(TODAY) is None
    assert tr.recompute(store, NOW, TODAY) == {"day": 2, "week": 2, "month": 2}
    for span in WINDOWS:
        state = store.get_trending_state(span)
        assert state is not None and (state.since, state.until) == (None, None)
        page = tr.list_page(store, span, limit=10, offset=0)
        assert [r.row.seq for r in page] == [s[3], s[1], s[4], s[2]]
        assert [r.row.score for r in page] == pytest.approx([1.5, 0.2, 0.0, 0.0])
        assert [r.listed.day for r in page] == [None] * 4
    store.set_reaction(ada.id, s[2], "save", True, NOW)
    tr.refresh(store, [s[2]])
    page = tr.list_page(store, "day", limit=3, offset=1)
    assert [r.row.seq for r in page] == [s[3], s[1], s[4]]


def test_an_announcement_dates_a_paper_by_its_latest_listing(store: Store) -> None:
    store.upsert_papers([paper(1, noon(days_before(10))), paper(2, noon(days_before(1)))])
    store.add_announcements([Announcement("2410.00001", "hf-daily", NEWEST, "featured")])
    tr.recompute(store, NOW, TODAY)
    day = tr.list_page(store, "day", limit=10, offset=0)
    assert [(r.listed.paper.id, r.row.day, r.row.score) for r in day] == [
        ("2410.00001", NEWEST, 1.0)
    ]
    week = tr.list_page(store, "week", limit=10, offset=0)
    assert [r.listed.paper.id for r in week] == ["2410.00001", "2410.00002"]


def test_staleness_follows_age_and_new_days(store: Store) -> None:
    store.upsert_papers([paper(1, noon(NEWEST))])
    assert tr.is_stale(store, NOW, TODAY, 3600)
    assert tr.refresh_if_stale(store, TODAY, 3600, now=NOW)
    assert store.get_trending_state("day") is not None
    assert not tr.refresh_if_stale(store, TODAY, 3600, now=NOW + 60)
    assert not tr.is_stale(store, NOW + 3600, TODAY, 3600)
    assert tr.is_stale(store, NOW + 3601, TODAY, 3600)
    store.upsert_papers([paper(2, noon(TODAY, 1))])  # a new day has papers
    assert tr.is_stale(store, NOW + 60, TODAY, 3600)
    assert tr.refresh_if_stale(store, TODAY, 3600, now=NOW + 60)
    state = store.get_trending_state("day")
    assert state is not None and (state.computed_at, state.until) == (NOW + 60, TODAY)


# -- the store-backed ranking agrees with the pure definition --------------------------------


@dataclass(frozen=True)
class World:
    day_offsets: tuple[int, ...]  # days before NEWEST each paper was published (at `hours`)
    hours: tuple[int, ...]
    acts: tuple[tuple[int, str, int], ...]  # (paper index, upvote|save|view|click, at - NOW)
    measured: tuple[tuple[int, str, int, int, tuple[tuple[int, int], ...]], ...]
    # (paper index, signal, first look - NOW, first value, ((later by s, gained), ...))


@st.composite
def worlds(draw: st.DrawFn) -> World:
    n = draw(st.integers(1, 6))
    index = st.integers(0, n - 1)
    act = st.tuples(index, st.sampled_from(("upvote", "save", "view", "click")),
                    st.integers(int(-30 * DAY), int(2 * DAY)))  # fmt: skip
    steps = st.lists(st.tuples(st.integers(1, int(4 * DAY)), st.integers(0, 30)), max_size=4)
    look = st.tuples(index, st.sampled_from(("hf_upvotes", "github_stars")),
                     st.integers(int(-40 * DAY), int(DAY)), st.integers(0, 100),
                     steps.map(tuple))  # fmt: skip
    return World(
        day_offsets=tuple(draw(st.lists(st.integers(0, 40), min_size=n, max_size=n))),
        hours=tuple(draw(st.lists(st.integers(0, 23), min_size=n, max_size=n))),
        acts=tuple(draw(st.lists(act, max_size=25))),
        measured=tuple(draw(st.lists(look, max_size=4, unique_by=lambda t: (t[0], t[1])))),
    )


@dataclass
class Filled:
    seqs: list[int]
    ids: list[str]
    events: list[Event]
    listed: dict[int, tuple[date | None, str | None]]  # every paper: (day, published)
    newest: date | None


def fill(store: Store, world: World, *, is_dated: bool) -> Filled:
    """Put `world` into `store` (its papers dated, or none of them) and return the equivalent
    pure events."""
    papers = [
        paper(i + 1, noon(days_before(off), h) if is_dated else None)
        for i, (off, h) in enumerate(zip(world.day_offsets, world.hours, strict=True))
    ]
    store.upsert_papers(papers)
    seqs = [store.find_seq(p.id) or 0 for p in papers]
    events = []
    for i, (k, kind, ahead) in enumerate(world.acts):
        if kind in ("upvote", "save"):
            user = store.get_or_add_user(f"reader{i}@example.org", SIGNED_IN)
            assert store.set_reaction(user.id, seqs[k], kind, True, NOW + ahead)
        else:
            assert store.record_event(seqs[k], kind, NOW + ahead)
        events.append(Event(seqs[k], kind, NOW + ahead))
    for k, name, first_at, first, later in world.measured:
        t, value, before = NOW + first_at, first, None
        for step in ((0, 0), *later):
            t, value = t + step[0], value + step[1]
            store.record_signals([Signal(papers[k].id, name, value)], at_time(t), "test")
            start = 0 if RULES[name].first_counts else value
            events.append(Event(seqs[k], name, t, float(value - (start if before is None
                                                                 else before))))  # fmt: skip
            before = value
    listed = {
        s: (p.published.date(), p.published.isoformat()) if p.published else (None, None)
        for s, p in zip(seqs, papers, strict=True)
    }
    days = [d for d, _ in listed.values() if d is not None]
    return Filled(seqs, [p.id for p in papers], events, listed, max(days, default=None))


def window(filled: Filled, span: str) -> Candidates:
    if filled.newest is None:
        return dict(filled.listed)
    since = filled.newest - timedelta(days=WINDOWS[span] - 1)
    return {s: v for s, v in filled.listed.items() if v[0] is not None and v[0] >= since}


def page_rows(store: Store, span: str, limit: int = 100, offset: int = 0) -> list[TrendingRow]:
    return [r.row for r in tr.list_page(store, span, limit=limit, offset=offset)]


def assert_store_agrees(store: Store, filled: Filled, events: list[Event]) -> None:
    """Every window ranks as the pure definition at the recompute's time (`as_of`)."""
    at = tr.as_of(NOW, filled.newest)
    for span in WINDOWS:
        state = store.get_trending_state(span)
        assert state is not None and (state.computed_at, state.as_of) == (NOW, at)
        want = tr.trending(events, window(filled, span), at, filled.newest)
        assert_same_ranking(page_rows(store, span), want)


# Two papers, one upvoted: the smallest world where engaged and untouched papers merge.
ONE_UPVOTE = World(day_offsets=(0, 1), hours=(12, 12), acts=((1, "upvote", 0),), measured=())


@pytest.mark.parametrize("is_dated", [True, False], ids=["dated", "undated"])
@WITH_STORE
@example(ONE_UPVOTE)
@given(worlds())
def test_the_store_sums_and_ranks_as_the_pure_definition(is_dated: bool, world: World) -> None:
    with fresh_store() as store:
        filled = fill(store, world, is_dated=is_dated)
        got = store.decayed_sums(NOW, tr._store_rules(RULES))
        want = tr.sum_events(filled.events, NOW)
        want = {p: {s: v for s, v in box.items() if v} for p, box in want.items()}
        assert got == {p: pytest.approx(box, rel=1e-9) for p, box in want.items() if box}
        tr.recompute(store, NOW, TODAY)
        assert_store_agrees(store, filled, filled.events)
        ranked = page_rows(store, "month")
        listed = tr.list_page(store, "month", limit=100, offset=0)
        assert [r.listed.seq for r in listed] == [r.seq for r in ranked]
        assert [filled.ids[filled.seqs.index(r.seq)] for r in ranked] == [
            r.listed.paper.id for r in listed
        ]
        for size in (1, 2, 3):
            for offset in range(len(ranked) + 1):
                page = [r.seq for r in page_rows(store, "month", size, offset)]
                assert page == [r.seq for r in ranked[offset : offset + size]]


@pytest.mark.parametrize("is_dated", [True, False], ids=["dated", "undated"])
@WITH_STORE
@example(ONE_UPVOTE, 1, 5 * HOUR)
@given(worlds(), st.integers(0, 5), st.integers(int(-2 * DAY), int(3 * DAY)))
def test_refresh_and_undo_agree_with_the_pure_definition_at_the_recompute_time(
    is_dated: bool, world: World, pick: int, upvote_in_s: float
) -> None:
    """A new upvote (before or after the recompute time) on a paper, refreshed; then undone."""
    with fresh_store() as store:
        filled = fill(store, world, is_dated=is_dated)
        tr.recompute(store, NOW, TODAY)
        k, at = pick % len(filled.seqs), NOW + upvote_in_s
        voter = store.get_or_add_user("late@example.org", SIGNED_IN)
        assert store.set_reaction(voter.id, filled.seqs[k], "upvote", True, at)
        tr.refresh(store, [filled.seqs[k]])
        assert_store_agrees(store, filled, [*filled.events, Event(filled.seqs[k], "upvote", at)])
        assert store.set_reaction(voter.id, filled.seqs[k], "upvote", False, at + 1)
        tr.refresh(store, [filled.seqs[k]])
        assert_store_agrees(store, filled, filled.events)
