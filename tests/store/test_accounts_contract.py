"""Contract tests of the Store's accounts, library, engagement and trending-table methods.
Like test_contract.py they run against every backend (tests/store/conftest.py).

Times are fixed: `T0` is 2024-10-25 12:00 UTC, `AT` the same instant in seconds since 1970.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from paperfeed.models import Paper
from paperfeed.store import (
    Announcement,
    Decayed,
    LibraryItem,
    Signal,
    Store,
    TrendingRow,
    TrendingState,
    open_store,
)
from tests.store.conftest import BACKENDS, open_backend

T0 = datetime(2024, 10, 25, 12, tzinfo=UTC)
AT = T0.timestamp()
HOUR = 3600.0
DAY = 86400.0
NEWEST = date(2024, 10, 25)


def paper(n: int, published: datetime | None = None) -> Paper:
    aid = f"2410.{n:05d}"
    return Paper(id=aid, arxiv_id=aid, title=f"Library paper number {n}", published=published)


def add_papers(store: Store, *numbers: int, published: datetime | None = None) -> list[int]:
    """Store papers `numbers` and return their row numbers, in the same order."""
    store.upsert_papers([paper(n, published) for n in numbers])
    seqs = [store.find_seq(f"2410.{n:05d}") for n in numbers]
    assert all(seqs)
    return [s for s in seqs if s]


def ids(items: Sequence[LibraryItem]) -> list[str]:
    return [item.paper.id for item in items]


# -- users and sessions ------------------------------------------------------------------


def test_a_user_is_made_once_per_address(backend: Store) -> None:
    ada = backend.get_or_add_user("ada@example.org", T0)
    assert (ada.email, ada.created_at) == ("ada@example.org", T0)
    again = backend.get_or_add_user("ada@example.org", T0 + timedelta(days=3))
    assert again == ada  # same id, and created when first seen
    bob = backend.get_or_add_user("bob@example.org", T0)
    assert bob.id != ada.id
    assert backend.get_user(ada.id) == ada
    assert backend.get_user(bob.id) == bob
    assert backend.get_user(max(ada.id, bob.id) + 1000) is None


def test_a_session_holds_until_it_expires(backend: Store) -> None:
    ada = backend.get_or_add_user("ada@example.org", T0)
    backend.add_session("hash-1", ada.id, T0, T0 + timedelta(hours=1))
    backend.add_session("hash-2", ada.id, T0, T0 + timedelta(days=30))
    assert backend.get_session_user("hash-1", T0) == ada
    assert backend.get_session_user("hash-1", T0 + timedelta(minutes=59)) == ada
    assert backend.get_session_user("hash-1", T0 + timedelta(hours=1)) is None
    assert backend.get_session_user("hash-1", T0 + timedelta(hours=2)) is None
    assert backend.get_session_user("unknown", T0) is None
    backend.delete_session("hash-2")
    assert backend.get_session_user("hash-2", T0) is None
    assert backend.get_session_user("hash-1", T0) == ada  # the other session lives on
    backend.delete_session("hash-2")  # deleting twice is harmless


def test_deleting_a_user_forgets_sessions_reactions_and_tags(backend: Store) -> None:
    s1, s2 = add_papers(backend, 1, 2)
    ada = backend.get_or_add_user("ada@example.org", T0)
    bob = backend.get_or_add_user("bob@example.org", T0)
    for user in (ada, bob):
        backend.add_session(f"session-{user.id}", user.id, T0, T0 + timedelta(days=30))
        backend.set_reaction(user.id, s1, "save", True, AT)
        backend.set_reaction(user.id, s2, "upvote", True, AT)
        backend.set_tags(user.id, s1, ["to-read"])
    assert backend.delete_user(ada.id)
    assert backend.get_user(ada.id) is None
    assert backend.get_session_user(f"session-{ada.id}", T0) is None
    assert backend.list_library(ada.id) == []
    assert backend.list_library(ada.id, kind="upvote") == []
    assert backend.list_user_tags(ada.id) == []
    assert backend.get_reactions(ada.id, [s1, s2]) == {}
    # Only bob's engagement is left to count.
    rules = {"save": Decayed(DAY), "upvote": Decayed(DAY)}
    assert backend.decayed_sums(AT, rules) == {s1: {"save": 1.0}, s2: {"upvote": 1.0}}
    assert backend.get_session_user(f"session-{bob.id}", T0) == bob
    assert ids(backend.list_library(bob.id)) == ["2410.00001"]
    assert backend.list_user_tags(bob.id) == [("to-read", 1)]
    assert not backend.delete_user(ada.id)


# -- one-time links and rate limits --------------------------------------------------------


def test_a_one_time_link_is_spent_once(backend: Store) -> None:
    assert backend.spend_token("nonce-1", AT + 600, AT)
    assert not backend.spend_token("nonce-1", AT + 600, AT + 10)
    assert backend.spend_token("nonce-2", AT + 600, AT + 10)


def test_spent_links_are_forgotten_once_they_expired(backend: Store) -> None:
    """A spent nonce's row goes once its link expired: the link's own expiry check refuses it
    from then on, so a nonce seen again later is not remembered."""
    assert backend.spend_token("nonce-1", AT + 600, AT)
    assert not backend.spend_token("nonce-1", AT + 600, AT + 599)  # still remembered
    assert backend.spend_token("nonce-1", AT + 1200, AT + 601)  # forgotten: purged


def test_the_rate_limit_is_a_sliding_window(backend: Store) -> None:
    hit = lambda at, key="ip:1": backend.hit_rate(key, AT + at, 60, 3)  # noqa: E731
    assert [hit(0), hit(10), hit(20)] == [True, True, True]
    assert not hit(30)  # three in the last minute
    assert not hit(59)  # refused hits do not count, but the three are still in the window
    assert hit(60)  # the hit at 0 left the window
    assert not hit(61)  # 10, 20 and 60 are in it
    assert hit(70)  # the hit at 10 left it
    assert hit(30, "ip:2")  # every key has its own window


# -- reactions and the library -------------------------------------------------------------


def test_one_reaction_of_each_kind_per_user_and_paper(backend: Store) -> None:
    s1, s2 = add_papers(backend, 1, 2)
    ada = backend.get_or_add_user("ada@example.org", T0)
    bob = backend.get_or_add_user("bob@example.org", T0)
    assert backend.set_reaction(ada.id, s1, "upvote", True, AT)
    assert not backend.set_reaction(ada.id, s1, "upvote", True, AT + 5)  # changes nothing
    (item,) = backend.list_library(ada.id, kind="upvote")
    assert item.kinds == {"upvote": AT}  # the first vote's time stays
    rules = {"upvote": Decayed(72 * HOUR)}
    assert backend.decayed_sums(AT, rules) == {s1: {"upvote": 1.0}}  # one vote, not two
    assert backend.set_reaction(bob.id, s1, "upvote", True, AT)
    assert backend.set_reaction(ada.id, s1, "save", True, AT + 1)
    assert backend.decayed_sums(AT, rules) == {s1: {"upvote": 2.0}}
    assert backend.get_reactions(ada.id, [s1, s2]) == {s1: {"upvote", "save"}}
    assert backend.set_reaction(ada.id, s1, "upvote", False, AT + 10)  # undo
    assert not backend.set_reaction(ada.id, s1, "upvote", False, AT + 11)
    assert backend.get_reactions(ada.id, [s1, s2]) == {s1: {"save"}}
    assert backend.decayed_sums(AT, rules) == {s1: {"upvote": 1.0}}
    assert backend.set_reaction(ada.id, s2, "hide", True, AT)
    assert backend.get_reactions(ada.id, [s2]) == {s2: {"hide"}}
    assert backend.get_reactions(bob.id, [s1, s2]) == {s1: {"upvote"}}


def test_reactions_are_counted_over_accounts_by_paper_id(backend: Store) -> None:
    s1, s2, _ = add_papers(backend, 1, 2, 3)
    users = [backend.get_or_add_user(f"u{n}@example.org", T0) for n in range(3)]
    for user in users:
        backend.set_reaction(user.id, s1, "upvote", True, AT)
    backend.set_reaction(users[0].id, s1, "save", True, AT)
    backend.set_reaction(users[1].id, s2, "save", True, AT)
    backend.set_reaction(users[2].id, s2, "hide", True, AT)  # not counted: private
    ids = ["2410.00001", "2410.00002", "2410.00003", "2410.99999"]
    assert backend.count_reactions(ids) == {
        "2410.00001": {"upvote": 3, "save": 1},
        "2410.00002": {"save": 1},
    }
    backend.set_reaction(users[0].id, s1, "upvote", False, AT + 1)
    assert backend.count_reactions(["2410.00001"]) == {"2410.00001": {"upvote": 2, "save": 1}}
    assert backend.count_reactions([]) == {}


def test_the_library_lists_the_most_recent_first_and_filters_by_tag(backend: Store) -> None:
    s1, s2, s3 = add_papers(backend, 1, 2, 3)
    ada = backend.get_or_add_user("ada@example.org", T0)
    bob = backend.get_or_add_user("bob@example.org", T0)
    backend.set_reaction(ada.id, s1, "save", True, AT)
    backend.set_reaction(ada.id, s2, "save", True, AT + 10)
    backend.set_reaction(ada.id, s3, "save", True, AT + 5)
    backend.set_reaction(ada.id, s1, "upvote", True, AT + 20)
    library = backend.list_library(ada.id)
    assert ids(library) == ["2410.00002", "2410.00003", "2410.00001"]
    assert library[2].kinds == {"save": AT, "upvote": AT + 20}
    assert ids(backend.list_library(ada.id, kind="upvote")) == ["2410.00001"]
    backend.set_tags(ada.id, s1, ["rl", "nlp"])
    backend.set_tags(ada.id, s2, ["nlp"])
    backend.set_tags(bob.id, s3, ["vision"])
    assert ids(backend.list_library(ada.id, tag="nlp")) == ["2410.00002", "2410.00001"]
    assert ids(backend.list_library(ada.id, tag="vision")) == []
    # the same, light: row numbers and when, no papers
    assert backend.list_reactions(ada.id) == {
        s1: {"save": AT, "upvote": AT + 20},
        s2: {"save": AT + 10},
        s3: {"save": AT + 5},
    }
    assert backend.list_reactions(ada.id, tag="nlp") == {
        s1: {"save": AT, "upvote": AT + 20},
        s2: {"save": AT + 10},
    }
    assert backend.list_reactions(bob.id) == {} and backend.list_reactions(ada.id, tag="x") == {}
    assert backend.list_library(ada.id)[2].tags == ("nlp", "rl")  # by name
    assert backend.list_user_tags(ada.id) == [("nlp", 2), ("rl", 1)]
    backend.set_tags(ada.id, s1, ["rl"])  # replaces the paper's tags
    assert backend.list_user_tags(ada.id) == [("nlp", 1), ("rl", 1)]
    assert backend.list_user_tags(bob.id) == [("vision", 1)]
    assert backend.list_library(bob.id) == []


def test_unsaving_a_paper_removes_its_tags(backend: Store) -> None:
    s1, s2 = add_papers(backend, 1, 2)
    ada = backend.get_or_add_user("ada@example.org", T0)
    for seq in (s1, s2):
        backend.set_reaction(ada.id, seq, "save", True, AT)
        backend.set_reaction(ada.id, seq, "upvote", True, AT)
        backend.set_tags(ada.id, seq, ["a", "b"])
    backend.set_reaction(ada.id, s2, "upvote", False, AT + 1)  # not a save: tags stay
    assert backend.set_reaction(ada.id, s1, "save", False, AT + 1)
    assert backend.list_user_tags(ada.id) == [("a", 1), ("b", 1)]
    assert ids(backend.list_library(ada.id, tag="a")) == ["2410.00002"]
    backend.set_reaction(ada.id, s1, "save", True, AT + 2)  # saved again: without the old tags
    assert [item.tags for item in backend.list_library(ada.id)] == [(), ("a", "b")]


def test_get_tags_gives_one_readers_tags_per_paper_by_name(backend: Store) -> None:
    s1, s2, s3 = add_papers(backend, 1, 2, 3)
    ada = backend.get_or_add_user("ada@example.org", T0)
    bob = backend.get_or_add_user("bob@example.org", T0)
    for seq in (s1, s2):
        backend.set_reaction(ada.id, seq, "save", True, AT)
    backend.set_tags(ada.id, s1, ["reading", "graphs"])
    backend.set_reaction(bob.id, s1, "save", True, AT)
    backend.set_tags(bob.id, s1, ["bob's"])
    assert backend.get_tags(ada.id, [s1, s2, s3]) == {s1: ("graphs", "reading")}
    assert backend.get_tags(bob.id, [s1]) == {s1: ("bob's",)}
    assert backend.get_tags(ada.id, []) == {}


# -- anonymous events ----------------------------------------------------------------------


def test_a_client_counts_once_per_burst(backend: Store) -> None:
    s1, s2 = add_papers(backend, 1, 2)
    view = lambda seq, at, client: backend.record_event(  # noqa: E731
        seq, "view", AT + at, client=client, burst_s=1800
    )
    assert view(s1, 0, "client-1")
    assert not view(s1, 60, "client-1")  # within the burst
    assert view(s1, 60, "client-2")  # another client
    assert view(s2, 60, "client-1")  # another paper
    assert backend.record_event(s1, "click", AT + 60, client="client-1", burst_s=1800)
    assert view(s1, 1800, "client-1")  # the burst is over
    assert not view(s1, 1801, "client-1")
    assert view(s1, 1801, None) and view(s1, 1801, None)  # no client: always counted
    rules = {"view": Decayed(24 * HOUR), "click": Decayed(48 * HOUR)}
    # Every event is at or after AT, so each counts fully then.
    assert backend.decayed_sums(AT, rules) == {s1: {"view": 5.0, "click": 1.0}, s2: {"view": 1.0}}


def test_each_signal_keeps_its_own_burst(backend: Store) -> None:
    [s1] = add_papers(backend, 1)
    click = lambda at: backend.record_event(  # noqa: E731
        s1, "click", AT + at, client="recipient-1", burst_s=90 * 86400
    )
    assert click(0)
    # views with a one-day burst come and go; the click's long burst is not cut short by them
    assert backend.record_event(s1, "view", AT + 2 * 86400, client="recipient-1", burst_s=86400)
    assert not click(3 * 86400)
    assert click(90 * 86400)


def test_decayed_sums_halve_every_half_life_and_leave_out_untouched_papers(backend: Store) -> None:
    s1, s2, s3 = add_papers(backend, 1, 2, 3)
    backend.record_event(s1, "view", AT - 24 * HOUR)
    backend.record_event(s1, "view", AT)
    backend.record_event(s2, "click", AT - 96 * HOUR)
    rules = {"view": Decayed(24 * HOUR), "click": Decayed(48 * HOUR)}
    assert backend.decayed_sums(AT, rules) == {
        s1: pytest.approx({"view": 1.5}),
        s2: pytest.approx({"click": 0.25}),
    }
    assert backend.decayed_sums(AT, rules, seqs=[s2, s3]) == {s2: pytest.approx({"click": 0.25})}
    assert backend.decayed_sums(AT, {"view": Decayed(24 * HOUR)}, seqs=[s2]) == {}


def test_measured_totals_count_by_their_increases(backend: Store) -> None:
    s1, s2 = add_papers(backend, 1, 2)
    record = lambda ref, name, value, hours: backend.record_signals(  # noqa: E731
        [Signal(ref, name, value)], T0 + timedelta(hours=hours), "test"
    )
    record("2410.00001", "hf_upvotes", 5, -72)
    record("2410.00001", "hf_upvotes", 8, 0)
    record("2410.00001", "github_stars", 100, -168)
    record("2410.00001", "github_stars", 120, 0)
    record("2410.00002", "github_stars", 40, 0)  # a first look only: nothing gained
    rules = {"hf_upvotes": Decayed(72 * HOUR), "github_stars": Decayed(168 * HOUR, False)}
    assert backend.decayed_sums(AT, rules) == {
        s1: pytest.approx({"hf_upvotes": 5 * 0.5 + 3, "github_stars": 20.0})
    }
    counted_from_zero = {"github_stars": Decayed(168 * HOUR, True)}
    assert backend.decayed_sums(AT, counted_from_zero) == {
        s1: pytest.approx({"github_stars": 100 * 0.5 + 20}),
        s2: pytest.approx({"github_stars": 40.0}),
    }


def test_latest_signals_by_row_number(backend: Store) -> None:
    s1, s2 = add_papers(backend, 1, 2)
    backend.record_signals([Signal("2410.00001", "hf_upvotes", 3)], T0, "test")
    backend.record_signals([Signal("2410.00001", "hf_upvotes", 7)], T0 + timedelta(hours=1), "t")
    assert backend.latest_signals_by_seq([s1, s2]) == {s1: {"hf_upvotes": 7.0}}


# -- secrets -------------------------------------------------------------------------------


def test_a_secret_is_32_random_bytes_fixed_per_name(backend: Store) -> None:
    cookies = backend.get_secret("cookies")
    assert isinstance(cookies, bytes) and len(cookies) == 32
    assert backend.get_secret("cookies") == cookies
    assert backend.get_secret("links") != cookies
    assert len(backend.get_secret("links")) == 32


@pytest.mark.parametrize("name", BACKENDS)
def test_a_secret_survives_reopening(name: str, tmp_path: Path) -> None:
    first, url = open_backend(name, tmp_path)
    secret = first.get_secret("cookies")
    first.close()
    second = open_store(url)
    assert second.get_secret("cookies") == secret
    second.close()


# -- listings and the trending tables ---------------------------------------------------------


def row(seq: int, score: float, day: date | None = NEWEST, published: str | None = None
        ) -> TrendingRow:  # fmt: skip
    return TrendingRow(seq, day, published, score, {"prior": 0.5, "upvote": score - 0.5})


def test_list_newest_lists_the_newest_stored_first_and_can_leave_out_ranked(
    backend: Store,
) -> None:
    s1, s2, s3, s4 = add_papers(backend, 1, 2, 3, 4)
    assert [x.seq for x in backend.list_newest()] == [s4, s3, s2, s1]
    assert [x.seq for x in backend.list_newest(limit=2, offset=1)] == [s3, s2]
    assert [x.day for x in backend.list_newest()] == [None] * 4
    assert [x.seq for x in backend.list_newest(unranked_in="week")] == [s4, s3, s2, s1]
    backend.replace_trending("week", TrendingState(AT, AT, None, None), [row(s2, 3.0, None)])
    assert [x.seq for x in backend.list_newest(unranked_in="week")] == [s4, s3, s1]
    assert [x.seq for x in backend.list_newest(unranked_in="week", limit=1, offset=2)] == [s1]
    assert [x.seq for x in backend.list_newest(unranked_in="day")] == [s4, s3, s2, s1]
    assert [x.seq for x in backend.list_newest()] == [s4, s3, s2, s1]


def test_list_day_of_gives_each_listed_papers_day_and_published(backend: Store) -> None:
    at = lambda d: datetime(2024, 10, d, 12, tzinfo=UTC)  # noqa: E731
    backend.upsert_papers([paper(1, at(20)), paper(2, at(24)), paper(3, at(2)), paper(4)])
    s1, s2, s3, s4 = (backend.find_seq(f"2410.{n:05d}") or 0 for n in (1, 2, 3, 4))
    backend.add_announcements([
        Announcement("2410.00001", "hf-daily", date(2024, 10, 25), "featured"),
        Announcement("2410.00004", "arxiv:cs.LG", date(2024, 10, 23), "new"),
        Announcement("2410.00003", "arxiv:cs.LG", date(2024, 10, 25), "replace"),
    ])  # fmt: skip
    since = date(2024, 10, 19)
    got = backend.list_day_of(since, NEWEST)
    assert got == {
        s1: (date(2024, 10, 25), at(20).isoformat()),  # its latest listing in the range
        s2: (date(2024, 10, 24), at(24).isoformat()),
        s4: (date(2024, 10, 23), None),  # announced, never published
    }  # paper 3 was only replaced in the range: not listed
    days = backend.list_days(since, NEWEST, limit=100)
    assert {x.seq: x.day for x in days} == {s: d for s, (d, _) in got.items()}
    assert backend.list_day_of(since, NEWEST, seqs=[s2, s3]) == {s2: got[s2]}
    assert backend.list_day_of(date(2024, 10, 24), date(2024, 10, 24)) == {s2: got[s2]}


def test_replace_trending_replaces_a_window_and_its_state(backend: Store) -> None:
    first = TrendingState(AT, AT - 3600, date(2024, 10, 19), NEWEST)
    rows = [row(1, 3.0, published="2024-10-25T08:00:00+00:00"), row(2, 2.0, None)]
    backend.replace_trending("week", first, rows)
    assert backend.get_trending_state("week") == first
    assert backend.list_trending("week") == rows  # rows come back exactly
    assert backend.get_trending_state("day") is None and backend.list_trending("day") == []
    later = TrendingState(AT + 600, AT + 600, date(2024, 10, 20), date(2024, 10, 26))
    backend.replace_trending("week", later, [row(3, 1.0)])
    assert backend.get_trending_state("week") == later
    assert [r.seq for r in backend.list_trending("week")] == [3]  # replaced, not merged
    backend.upsert_trending("week", [row(4, 5.0), row(3, 0.75)])
    assert [(r.seq, r.score) for r in backend.list_trending("week")] == [(4, 5.0), (3, 0.75)]
    assert backend.get_trending_state("week") == later
    backend.replace_trending("week", later, [])
    assert backend.list_trending("week") == []


def test_list_trending_breaks_ties_by_later_day_published_and_paper(backend: Store) -> None:
    d = NEWEST
    rows = [
        row(1, 2.0, d, "2024-10-25T08:00:00+00:00"),
        row(2, 2.0, d, "2024-10-25T09:00:00+00:00"),  # later published than 1
        row(3, 2.0, d - timedelta(days=1), "2024-10-25T10:00:00+00:00"),  # an earlier day
        row(4, 2.0, d, "2024-10-25T08:00:00+00:00"),  # as 1, stored later
        row(5, 4.0, d - timedelta(days=9), None),  # the highest score
        row(6, 2.0, None, None),  # no day, no date: last of the ties
        row(7, 2.0, d, None),  # no published date: after the dated ones of its day
    ]
    backend.replace_trending("month", TrendingState(AT, AT, d - timedelta(days=29), d), rows[::-1])
    assert [r.seq for r in backend.list_trending("month")] == [5, 2, 4, 1, 7, 3, 6]
    assert [r.seq for r in backend.list_trending("month", limit=3, offset=2)] == [4, 1, 7]
