"""PostgreSQL's accounts, trending, digest and lease methods beyond the shared contract: many
stores (nodes) writing to one database at once, and the same numbers, order and ids as SQLite
for the same history."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest

from paperfeed.errors import AlreadyExists
from paperfeed.models import Paper
from paperfeed.store import (
    Announcement,
    Decayed,
    Signal,
    Store,
    TrendingRow,
    TrendingState,
    open_store,
)
from tests import pg

NOW = 1_790_000_000.0
NODES = 4
T = TypeVar("T")


@pytest.fixture
def nodes() -> Iterator[list[Store]]:
    """Several stores on one fresh PostgreSQL database, as several `paperfeed serve` nodes."""
    url = pg.fresh_database()
    stores = [open_store(url) for _ in range(NODES)]
    yield stores
    for s in stores:
        s.close()
    pg.drop_database(url)


def at_once(stores: list[Store], call: Callable[[Store, int], T], per_store: int = 2) -> list[T]:
    """`call(store, i)` from `per_store` threads per store, all let go at the same moment."""
    jobs = [(s, i) for i, s in enumerate(stores * per_store)]
    barrier = threading.Barrier(len(jobs))
    results: list[T | None] = [None] * len(jobs)
    errors: list[BaseException] = []

    def run(k: int) -> None:
        store, i = jobs[k]
        barrier.wait()
        try:
            results[k] = call(store, i)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return [r for r in results if r is not None]


def test_one_of_many_takes_a_free_lease(nodes: list[Store]) -> None:
    won = at_once(nodes, lambda s, i: (i, s.take_lease("sender", f"node-{i}", NOW, NOW + 60)))
    winners = [i for i, ok in won if ok]
    assert len(winners) == 1
    assert nodes[0].lease_owner("sender", NOW + 1) == f"node-{winners[0]}"


def test_claims_at_once_lose_no_attempt(nodes: list[Store]) -> None:
    sub = nodes[0].add_subscriber("ann@example.org", NOW, "web")
    one = nodes[0].plan_delivery(sub.id, "digest", "d1", message_id="m1", plan={}, now=NOW,
                                 send_by=NOW + 100)  # fmt: skip
    claims = at_once(nodes, lambda s, i: s.claim_delivery(NOW + 1))
    assert len(claims) == 2 * NODES and {d.id for d in claims} == {one}
    assert sorted(d.attempts for d in claims) == list(range(1, 2 * NODES + 1))
    got = nodes[0].get_delivery(one or 0)
    assert got is not None and (got.state, got.attempts) == ("sending", 2 * NODES)


def test_many_claims_of_finished_deliveries_take_each_once(nodes: list[Store]) -> None:
    sub = nodes[0].add_subscriber("ann@example.org", NOW, "web")
    planned = {
        nodes[0].plan_delivery(
            sub.id, "digest", f"d{n}", message_id=f"m{n}", plan={}, now=NOW + n, send_by=NOW + 100
        )
        for n in range(2 * NODES)
    }

    def claim_and_send(store: Store, i: int) -> int:
        with store.transaction():  # a claim and its end at once: no delivery is left `sending`
            got = store.claim_delivery(NOW + 50)
            assert got is not None
            store.finish_delivery(got.id, "sent", NOW + 50)
            return got.id

    claimed = at_once(nodes, claim_and_send)
    assert sorted(claimed) == sorted(d for d in planned if d is not None)
    assert nodes[0].count_deliveries() == {"sent": 2 * NODES}


def test_an_address_subscribes_once_whoever_asks(nodes: list[Store]) -> None:
    def subscribe(store: Store, i: int) -> bool:
        try:
            store.add_subscriber(" Ann@Example.org", NOW + i, "web")
        except AlreadyExists:
            return False
        return True

    assert sorted(at_once(nodes, subscribe)) == [False] * (2 * NODES - 1) + [True]
    first = nodes[0].get_subscriber_by_email("ann@example.org")
    second = nodes[1].add_subscriber("bob@example.org", NOW, "web")
    assert first is not None and second.id == first.id + 1  # refusals spent no id


def test_rate_limits_and_one_time_links_hold_across_nodes(nodes: list[Store]) -> None:
    allowed = at_once(nodes, lambda s, i: s.hit_rate("ip:1", NOW + i * 0.001, 60, 3))
    assert sorted(allowed) == [False] * (2 * NODES - 3) + [True] * 3
    spent = at_once(nodes, lambda s, i: s.spend_token("nonce", NOW + 600, NOW))
    assert sorted(spent) == [False] * (2 * NODES - 1) + [True]


def test_a_refused_subscriber_leaves_the_transaction_going(backend: Store) -> None:
    with backend.transaction():
        backend.add_subscriber("ann@example.org", NOW, "web")
        with pytest.raises(AlreadyExists):
            backend.add_subscriber("ANN@example.org", NOW, "web")
        backend.add_subscriber("bob@example.org", NOW, "web")
    assert backend.count_subscribers() == {"pending": 2}


# -- the same history gives the same answers on both backends ---------------------------------

T0 = datetime(2024, 10, 25, 12, tzinfo=UTC)
DAY_S = 86400.0


def _history(store: Store, rng: random.Random) -> dict[str, object]:
    """A random history of papers, engagement and listings written to `store`; what the store
    answers about it."""
    papers = []
    for n in range(1, 41):
        published = T0 - timedelta(days=rng.randrange(0, 12), hours=rng.randrange(24))
        aid = f"2410.{n:05d}"
        papers.append(Paper(id=aid, arxiv_id=aid, title=f"History paper {n}",
                            published=published if rng.random() < 0.8 else None))  # fmt: skip
    store.upsert_papers(papers)
    seqs = [store.find_seq(p.id) or 0 for p in papers]
    kinds = ["new", "cross", "featured", "replace", "Replace", "replace-cross"]
    store.add_announcements([
        Announcement(p.id, rng.choice(["arxiv:cs.LG", "hf-daily"]),
                     date(2024, 10, 25) - timedelta(days=rng.randrange(10)), rng.choice(kinds))
        for p in papers if rng.random() < 0.7
    ])  # fmt: skip
    users = [store.get_or_add_user(f"u{n}@example.org", T0) for n in range(5)]
    users.append(store.get_or_add_user("U1@example.org ", T0 + timedelta(days=1)))
    for _ in range(300):
        seq = rng.choice(seqs)
        at = T0.timestamp() - rng.uniform(-DAY_S, 20 * DAY_S)
        if rng.random() < 0.3:
            store.set_reaction(rng.choice(users).id, seq, rng.choice(["upvote", "save", "hide"]),
                               True, round(at))  # fmt: skip
        else:
            store.record_event(seq, rng.choice(["view", "click"]), at,
                               client=rng.choice([None, "c1", "c2"]), burst_s=3600)  # fmt: skip
    for hours in range(0, 240, 12):
        batch = [Signal(p.id, "hf_upvotes", float(rng.randrange(0, 50 + hours)))
                 for p in rng.sample(papers, 8)]  # fmt: skip
        store.record_signals(batch, T0 - timedelta(hours=240 - hours), "hf")
    rules = {"view": Decayed(DAY_S), "click": Decayed(2 * DAY_S), "upvote": Decayed(3 * DAY_S),
             "save": Decayed(3 * DAY_S), "hf_upvotes": Decayed(3 * DAY_S, False)}  # fmt: skip
    sums = store.decayed_sums(T0.timestamp(), rules)
    some = seqs[::3]
    day_of = store.list_day_of(date(2024, 10, 18), date(2024, 10, 25))
    rows = [TrendingRow(s, day_of.get(s, (None, None))[0], day_of.get(s, (None, None))[1],
                        float(round(sum(sums.get(s, {}).values())) // 25), sums.get(s, {}))
            for s in seqs]  # fmt: skip
    store.replace_trending("week", TrendingState(T0.timestamp(), T0.timestamp(), None, None), rows)
    subs = [store.add_subscriber(f"s{n}@example.org", NOW, "web").id for n in range(3)]
    with pytest.raises(AlreadyExists):
        store.add_subscriber("S1@example.org", NOW, "web")
    deliveries = [
        store.plan_delivery(
            sub,
            "digest",
            period,
            message_id="m",
            plan={"p": period},
            now=NOW,
            send_by=NOW + 1,
            seqs=some,
        )
        for sub in subs
        for period in ("d1", "d1", "d2")
    ]
    return {
        "sums": sums,
        "some_sums": store.decayed_sums(T0.timestamp(), rules, seqs=some),
        "day_of": day_of,
        "some_day_of": store.list_day_of(date(2024, 10, 20), date(2024, 10, 22), seqs=some),
        "trending": [(r.seq, r.score) for r in store.list_trending("week", limit=100)],
        "users": [(u.id, u.email) for u in users],
        "library": [
            [(x.seq, dict(x.kinds)) for x in store.list_library(u.id, kind=k)]
            for u in users
            for k in ("upvote", "save", "hide")
        ],
        "subscribers": subs,
        "deliveries": deliveries,
        "sent": [sorted(store.sent_seqs(s)) for s in subs],
    }


def test_the_same_history_gives_the_same_answers(tmp_path: Path) -> None:
    answers = []
    for url in (str(tmp_path / "same.db"), pg.fresh_database()):
        store = open_store(url)
        try:
            answers.append(_history(store, random.Random(7)))
        finally:
            store.close()
        if url.startswith("postgresql"):
            pg.drop_database(url)
    lite, post = answers
    for key in lite:
        if key in ("sums", "some_sums"):
            got, want = post[key], lite[key]
            assert isinstance(got, dict) and isinstance(want, dict)
            assert list(got) == list(want), key
            for seq, sums in want.items():
                assert list(got[seq]) == list(sums), key
                assert got[seq] == pytest.approx(sums, rel=1e-12), key
        else:
            assert post[key] == lite[key], key
