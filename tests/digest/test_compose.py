"""Composing digests against real SQLite stores: the window of new days, saved searches (keyword
with every word required, and by meaning with the real embedding model), categories, library
similarity, trending reasons, never the same paper twice, limits, determinism.

The seed papers carry no dates, so the module's store is a copy of the embedded seed database
with every paper announced on DAY; window and category tests use small stores of their own.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from paperfeed.digest.compose import (
    LIBRARY_MIN_COSINE,
    QUERY_MIN_COSINE,
    Composer,
    DigestPlan,
    Item,
    shorten,
    trending_why,
)
from paperfeed.digest.render import Links, render_digest
from paperfeed.models import Paper
from paperfeed.rank import trending
from paperfeed.search.embed import Embedder, Vectors
from paperfeed.search.engine import SearchEngine
from paperfeed.search.models import load_embedder
from paperfeed.store import (
    Announcement,
    Preferences,
    Signal,
    Store,
    Subscriber,
    SubscriberChange,
    TrendingRow,
    open_store,
)
from tests.conftest import copy_db

DAY = date(2026, 11, 24)
TODAY = date(2026, 11, 25)
NOW = datetime(2026, 11, 24, 18, tzinfo=UTC)

UNLEARNING = "Machine Unlearning Methodology base on Stochastic Teacher Network"
LOSSLESS = "Towards Lossless Dataset Distillation via Difficulty-Aligned Trajectory Matching"
DATASHEETS = "Datasheets for Datasets"
SIMCSE = "SimCSE: Simple Contrastive Learning of Sentence Embeddings"
ESIMCSE = "ESimCSE: Enhanced Sample Building Method for Contrastive Learning of Unsupervised"


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return load_embedder()


@pytest.fixture(scope="module")
def seed_store(embedded_seed_db: Path, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[Store]:  # fmt: skip
    """The embedded seed papers, all announced on DAY, ranked for trending, with 48 Hugging
    Face upvotes on the Datasheets paper. Tests use subscribers and users of their own."""
    path = tmp_path_factory.mktemp("digest") / "seed.db"
    copy_db(embedded_seed_db, path)
    store = open_store(str(path))
    papers = store.get_papers_by_seq(range(1, store.count_papers() + 1))
    store.add_announcements([Announcement(p.id, "arxiv:cs.LG", DAY, "new")
                             for p in papers.values()])  # fmt: skip
    datasheets = papers[seq_of(store, DATASHEETS)].id
    store.record_signals([Signal(datasheets, "hf_upvotes", 48)], NOW, "hf")
    trending.recompute(store, NOW.timestamp(), TODAY)
    yield store
    store.close()


@pytest.fixture(scope="module")
def engine(seed_store: Store, embedder: Embedder, tmp_path_factory: pytest.TempPathFactory
           ) -> SearchEngine:  # fmt: skip
    return SearchEngine(seed_store, tmp_path_factory.mktemp("index"), embedder)


@pytest.fixture(scope="module")
def keyword_engine(seed_store: Store, tmp_path_factory: pytest.TempPathFactory) -> SearchEngine:
    return SearchEngine(seed_store, tmp_path_factory.mktemp("keyword-index"))


def seq_of(store: Store, title_start: str) -> int:
    papers = store.get_papers_by_seq(range(1, store.count_papers() + 1))
    found = [s for s, p in papers.items() if p.title.startswith(title_start)]
    assert len(found) == 1, title_start
    return found[0]


def title_of(store: Store, seq: int) -> str:
    return store.get_papers_by_seq([seq])[seq].title


def subscribe(store: Store, email: str, last_day: date | None = None, **prefs: object
              ) -> Subscriber:  # fmt: skip
    sub = store.add_subscriber(email, NOW.timestamp(), "test")
    store.set_preferences(sub.id, Preferences(**prefs))  # type: ignore[arg-type]
    if last_day is not None:
        store.update_subscriber(sub.id, SubscriberChange(last_day=last_day))
    found = store.get_subscriber(sub.id)
    assert found is not None
    return found


def papers_on(store: Store, days: dict[str, date],
              categories: dict[str, tuple[str, ...]] | None = None) -> dict[str, int]:  # fmt: skip
    """Papers named by id, each announced on its day; returns id -> seq."""
    categories = categories or {}
    store.upsert_papers([Paper(id=ref, arxiv_id=ref, title=f"Paper {ref} on graphs",
                               abstract="A study of graphs.", categories=categories.get(ref, ()))
                         for ref in days])  # fmt: skip
    store.add_announcements([Announcement(ref, "arxiv:cs.LG", d, "new") for ref, d in days.items()])
    return {ref: seq for ref in days if (seq := store.find_seq(ref)) is not None}


# -- the window ---------------------------------------------------------------------------------


def test_window_first_digest_daily_weekly_then_the_day_after_the_last(store: Store) -> None:
    refs = papers_on(store, {f"2611.{i:05d}": DAY - timedelta(days=i) for i in range(10)})
    composer = Composer(store, None, TODAY)
    daily = subscribe(store, "daily@example.org", categories=("cs",), include_trending=False,
                      max_papers=50)  # fmt: skip
    weekly = subscribe(store, "weekly@example.org", frequency="weekly", categories=("cs",),
                       include_trending=False, max_papers=50)  # fmt: skip
    back = subscribe(store, "back@example.org", last_day=DAY - timedelta(days=3))
    done = subscribe(store, "done@example.org", last_day=DAY)
    assert composer.window(daily) == (DAY, DAY)
    assert composer.window(weekly) == (DAY - timedelta(days=6), DAY)
    assert composer.window(back) == (DAY - timedelta(days=2), DAY)
    assert composer.window(done) is None
    # categories need the papers' categories: none here, so nothing matches, but the plan
    # still says which days it covered (the subscriber's new last day)
    plan = composer.compose(weekly)
    assert (plan.since, plan.until) == (DAY - timedelta(days=6), DAY)
    assert composer.compose(done) == DigestPlan((), None, None)
    assert len(refs) == 10


def test_window_after_a_long_pause_is_two_weeks(store: Store) -> None:
    papers_on(store, {"2611.00001": DAY})
    sub = subscribe(store, "paused@example.org", last_day=DAY - timedelta(days=90))
    assert Composer(store, None, TODAY).window(sub) == (DAY - timedelta(days=13), DAY)


def test_undated_store_new_papers_are_those_stored_after_the_last_digest(
    store: Store, tmp_path: Path
) -> None:
    store.upsert_papers([Paper(id=f"h{i}", title=f"Undated graphs {i}") for i in range(3)])
    engine = SearchEngine(store, tmp_path / "index")
    sub = subscribe(store, "undated@example.org", topics=("graphs",), include_trending=False)
    assert Composer(store, engine, TODAY).window(sub) is None  # no listing days
    plan = Composer(store, engine, TODAY).compose(sub)
    assert sorted(plan.seqs) == [1, 2, 3]
    assert (plan.since, plan.until, plan.last_seq) == (None, None, 3)
    assert DigestPlan.from_json(plan.to_json()) == plan
    store.plan_delivery(sub.id, "digest", "2026-11-24", message_id="<u1@test>",
                        plan=plan.to_json(), now=NOW.timestamp(),
                        send_by=NOW.timestamp() + 86400, seqs=plan.seqs,
                        last_seq=plan.last_seq)  # fmt: skip
    sub = store.get_subscriber(sub.id) or sub
    assert Composer(store, engine, TODAY).compose(sub) == DigestPlan((), None, None)
    store.upsert_papers([Paper(id="h9", title="More undated graphs")])
    plan = Composer(store, engine, TODAY).compose(sub)
    assert (plan.seqs, plan.last_seq) == ((4,), 4)
    # trending as the trending page lists an undated store: engagement first, then the newest
    trending.recompute(store, NOW.timestamp(), TODAY)
    other = subscribe(store, "undated-trending@example.org")
    plan = Composer(store, engine, TODAY).compose(other)
    assert plan.seqs == (4, 3, 2, 1) and {i.section for i in plan.items} == {"trending"}


# -- categories ---------------------------------------------------------------------------------


def test_category_matches_the_category_or_its_archive_within_the_window(store: Store) -> None:
    cats = {"a": ("cs.LG", "stat.ML"), "b": ("math.CO",), "c": ("cs.CV",), "old": ("cs.LG",)}
    days = {"a": DAY, "b": DAY, "c": DAY, "old": DAY - timedelta(days=3)}
    seqs = papers_on(store, days, cats)
    composer = Composer(store, None, TODAY)
    sub = subscribe(store, "cats@example.org", categories=("stat.ML", "cs"),
                    include_trending=False)  # fmt: skip
    plan = composer.compose(sub)
    assert {i.seq for i in plan.items} == {seqs["a"], seqs["c"]}
    why = {i.seq: i.why for i in plan.items}
    assert why[seqs["a"]] == "in stat.ML"  # the subscriber's first category it is in
    assert why[seqs["c"]] == "in cs"
    assert all(i.section == "topics" for i in plan.items)
    math = subscribe(store, "math@example.org", categories=("math.co",), include_trending=False)
    assert [i.seq for i in composer.compose(math).items] == [seqs["b"]]


# -- saved searches -----------------------------------------------------------------------------


def test_keyword_search_needs_every_word(seed_store: Store, keyword_engine: SearchEngine) -> None:
    composer = Composer(seed_store, keyword_engine, TODAY)
    sub = subscribe(seed_store, "kw@example.org", topics=("dataset distillation",),
                    include_trending=False, max_papers=50)  # fmt: skip
    plan = composer.compose(sub)
    seqs = [i.seq for i in plan.items]
    assert seq_of(seed_store, LOSSLESS) in seqs
    assert seq_of(seed_store, DATASHEETS) not in seqs  # "dataset", no "distillation"
    for item in plan.items:
        text = title_of(seed_store, item.seq) + seed_store.get_papers_by_seq([item.seq])[
            item.seq].abstract  # fmt: skip
        assert "distil" in text.lower() and "dataset" in text.lower()
        assert item.why == "matches your search 'dataset distillation'"
    assert plan.until == DAY


def test_search_stays_within_the_window_runs_and_strays(store: Store, tmp_path: Path) -> None:
    """New papers in a run of consecutive rows are searched as a range, the strays (an older
    paper cross-listed today) as a term set: together exactly the window."""
    days = {f"2611.{i:05d}": DAY - timedelta(days=1) for i in range(1, 101)}
    days |= {f"2611.{i:05d}": DAY for i in range(101, 181)}
    seqs = papers_on(store, days)
    strays = [seqs["2611.00003"], seqs["2611.00050"]]
    store.add_announcements([Announcement(r, "arxiv:cs.DM", DAY, "cross")
                             for r in ("2611.00003", "2611.00050")])  # fmt: skip
    engine = SearchEngine(store, tmp_path / "index")
    sub = subscribe(store, "runs@example.org", topics=("graphs",), include_trending=False,
                    max_papers=100)  # fmt: skip
    plan = Composer(store, engine, TODAY).compose(sub)
    window = {seqs[f"2611.{i:05d}"] for i in range(101, 181)} | set(strays)
    assert set(plan.seqs) == window and len(plan.seqs) == 82


def test_search_by_meaning_finds_papers_without_the_words(
    seed_store: Store, engine: SearchEngine, keyword_engine: SearchEngine
) -> None:
    topic = "making a trained model forget specific training examples"
    sub = subscribe(seed_store, "dense@example.org", topics=(topic,), include_trending=False)
    assert Composer(seed_store, keyword_engine, TODAY).compose(sub).items == ()
    plan = Composer(seed_store, engine, TODAY).compose(sub)
    assert seq_of(seed_store, UNLEARNING) in [i.seq for i in plan.items]
    assert {i.why for i in plan.items} == {f"matches your search '{topic}'"}
    assert 1 <= len(plan.items) <= 6  # only close papers pass QUERY_MIN_COSINE
    assert 0.4 < QUERY_MIN_COSINE < 0.6


def test_searches_take_turns(seed_store: Store, engine: SearchEngine) -> None:
    topics = ("out-of-distribution detection", "dataset distillation")
    sub = subscribe(seed_store, "turns@example.org", topics=topics, include_trending=False,
                    max_papers=4)  # fmt: skip
    plan = Composer(seed_store, engine, TODAY).compose(sub)
    whys = [i.why for i in plan.items]
    expected = {f"matches your search '{t}'" for t in topics}
    assert set(whys[:2]) == set(whys[2:]) == expected  # 14 OOD matches or not


def test_a_paper_matching_several_searches_names_the_best(
    seed_store: Store, engine: SearchEngine
) -> None:
    topics = ("dataset", "dataset distillation")
    sub = subscribe(seed_store, "two@example.org", topics=topics, include_trending=False,
                    max_papers=100)  # fmt: skip
    plan = Composer(seed_store, engine, TODAY).compose(sub)
    assert len({i.seq for i in plan.items}) == len(plan.items)
    why = {i.seq: i.why for i in plan.items}
    assert why[seq_of(seed_store, LOSSLESS)] == "matches your search 'dataset distillation'"
    assert why[seq_of(seed_store, DATASHEETS)] == "matches your search 'dataset'"


# -- library ------------------------------------------------------------------------------------


def test_library_similarity_names_the_saved_paper(seed_store: Store, engine: SearchEngine) -> None:
    user = seed_store.get_or_add_user("reader@example.org", NOW)
    saved, similar = seq_of(seed_store, SIMCSE), seq_of(seed_store, ESIMCSE)
    seed_store.set_reaction(user.id, saved, "save", True, NOW.timestamp())
    sub = subscribe(seed_store, "reader@example.org", include_trending=False)
    plan = Composer(seed_store, engine, TODAY).compose(sub)
    library = [i for i in plan.items if i.section == "library"]
    assert library and library[0].seq == similar
    assert library[0].why == f"similar to '{SIMCSE}' in your library"
    assert saved not in plan.seqs  # never the saved paper itself
    seed_store.set_reaction(user.id, similar, "hide", True, NOW.timestamp())
    assert similar not in Composer(seed_store, engine, TODAY).compose(sub).seqs
    assert LIBRARY_MIN_COSINE >= 0.6


def test_no_account_or_no_saves_no_library(seed_store: Store, engine: SearchEngine) -> None:
    seed_store.get_or_add_user("nosaves@example.org", NOW)
    for email in ("nosaves@example.org", "noaccount@example.org"):
        sub = subscribe(seed_store, email, include_trending=False)
        assert Composer(seed_store, engine, TODAY).compose(sub).items == ()


# -- trending -----------------------------------------------------------------------------------


def test_trending_why_from_the_largest_part_with_a_count() -> None:
    def row(**parts: float) -> TrendingRow:
        return TrendingRow(1, DAY, None, sum(parts.values()), {"prior": 1.0, **parts})

    assert trending_why(row(hf_upvotes=30.0, view=2.0), {"hf_upvotes": 48}) == (
        "trending this week: 48 upvotes on Hugging Face")  # fmt: skip
    assert trending_why(row(hf_upvotes=1.0), {"hf_upvotes": 1}, "day") == (
        "trending today: 1 upvote on Hugging Face")  # fmt: skip
    assert trending_why(row(github_stars=9.0), {"github_stars": 1234.0}) == (
        "trending this week: its code has 1,234 stars on GitHub")  # fmt: skip
    assert trending_why(row(upvote=6.0, view=0.4), {}) == (
        "trending this week: upvoted by readers here")  # fmt: skip
    assert trending_why(row(save=4.0, upvote=4.0), {}) == (
        "trending this week: saved by readers here"
    )  # a tie: the first name
    assert trending_why(row(), {}) == "trending this week: one of the newest papers"


def test_trending_items_come_from_the_ranking(seed_store: Store) -> None:
    sub = subscribe(seed_store, "trend@example.org", max_papers=5)
    plan = Composer(seed_store, None, TODAY).compose(sub)
    assert len(plan.items) == 5 and {i.section for i in plan.items} == {"trending"}
    assert plan.items[0] == Item(
        seq_of(seed_store, DATASHEETS), "trending this week: 48 upvotes on Hugging Face", "trending"
    )
    assert plan.items[1].why == "trending this week: one of the newest papers"  # fmt: skip


# -- limits, never twice, determinism -----------------------------------------------------------


def test_max_papers_and_trending_gets_at_most_a_third(
    seed_store: Store, engine: SearchEngine
) -> None:
    sub = subscribe(seed_store, "limits@example.org", topics=("dropout",), max_papers=6)
    plan = Composer(seed_store, engine, TODAY).compose(sub)
    sections = [i.section for i in plan.items]
    assert len(plan.items) == 6
    assert sections == ["topics"] * 6  # enough matches: no room left for trending
    few = subscribe(seed_store, "few@example.org", topics=("federated learning",), max_papers=9)
    plan = Composer(seed_store, engine, TODAY).compose(few)
    sections = [i.section for i in plan.items]
    assert sections[0] == "topics" and sections.count("trending") == 3  # 9 // 3
    assert len(plan.items) == sections.count("topics") + 3
    none = subscribe(seed_store, "zero@example.org", topics=("dropout",), max_papers=0)
    assert Composer(seed_store, engine, TODAY).compose(none).items == ()


def test_never_the_same_paper_twice(seed_store: Store, engine: SearchEngine) -> None:
    sub = subscribe(seed_store, "twice@example.org", topics=("machine unlearning",),
                    max_papers=8)  # fmt: skip
    first = Composer(seed_store, engine, TODAY).compose(sub)
    assert len(first.items) == 8
    assert seed_store.plan_delivery(sub.id, "digest", "2026-11-24", message_id="<m1@test>",
                                    plan=first.to_json(), now=NOW.timestamp(),
                                    send_by=NOW.timestamp() + 86400, seqs=first.seqs,
                                    last_day=first.until)  # fmt: skip
    again = replace(sub, last_day=None)  # as if the same days came round again
    second = Composer(seed_store, engine, TODAY).compose(again)
    assert second.items and not set(second.seqs) & set(first.seqs)
    assert second.items[0].section == "topics"  # the next unlearning papers


def test_same_inputs_same_plan_and_json_round_trip(seed_store: Store, engine: SearchEngine
                                                   ) -> None:  # fmt: skip
    user = seed_store.get_or_add_user("same@example.org", NOW)
    seed_store.set_reaction(user.id, seq_of(seed_store, SIMCSE), "save", True, NOW.timestamp())
    sub = subscribe(seed_store, "same@example.org", topics=("tabular data",), max_papers=15)
    plans = [Composer(seed_store, engine, TODAY).compose(sub) for _ in range(2)]
    assert plans[0] == plans[1]
    assert {i.section for i in plans[0].items} == {"topics", "library", "trending"}
    assert DigestPlan.from_json(plans[0].to_json()) == plans[0]
    assert plans[0].to_json()["since"] == "2026-11-24"


def test_a_composed_plan_renders(seed_store: Store, engine: SearchEngine) -> None:
    sub = subscribe(seed_store, "render@example.org", topics=("label noise",), max_papers=5)
    plan = Composer(seed_store, engine, TODAY).compose(sub)
    papers = seed_store.get_papers_by_seq(plan.seqs)
    links = Links(lambda p: f"https://pf.example/r/{p.id}?t=T", "https://pf.example/p",
                  "https://pf.example/u", "https://pf.example")  # fmt: skip
    subject, text, html = render_digest(sub, plan, papers, links, title_day=DAY)
    assert subject == "paperfeed: 5 new papers for you — 2026-11-24"
    for seq in plan.seqs:
        assert f"https://pf.example/r/{papers[seq].id}?t=T" in text
        assert f"https://pf.example/r/{papers[seq].id}?t=T" in html
    assert text.count("Why: matches your search 'label noise'") == text.count("Why: m")


@pytest.mark.parametrize("bad", [{}, {"items": [{"seq": "1", "why": "", "section": "topics"}]},
                                 {"items": [{"seq": 1, "why": "", "section": "other"}]},
                                 {"items": [], "since": 20261124}])  # fmt: skip
def test_from_json_refuses_what_to_json_does_not_write(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        DigestPlan.from_json(bad)


def test_shorten_cuts_at_a_word() -> None:
    assert shorten("short", 10) == "short"
    assert shorten("a title that is far too long for it", 20) == "a title that is far…"
    assert len(shorten("x" * 50, 20)) == 20


class _CountingEmbedder:
    """The real model, counting how queries reach it."""

    def __init__(self, real: Embedder) -> None:
        self.real, self.name, self.dim = real, real.name, real.dim
        self.one: list[str] = []
        self.batches: list[list[str]] = []

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        return self.real.embed_documents(texts)

    def embed_query(self, text: str) -> Vectors:
        self.one.append(text)
        return self.real.embed_query(text)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        self.batches.append(list(texts))
        return self.real.embed_queries(texts)


def test_prepare_embeds_the_searches_in_batches_and_plans_as_compose_alone(
    seed_store: Store, engine: SearchEngine, embedder: Embedder
) -> None:
    topics = [("dataset distillation", "machine unlearning"),
              ("making a trained model forget specific training examples", '"data augmentation"'),
              ("label noise -survey", "  Dataset   Distillation ", "the"),
              ("contrastive learning of sentence embeddings", "protein folding")]  # fmt: skip
    subs = [subscribe(seed_store, f"prep{i}@example.org", topics=t, include_trending=i % 2 == 0,
                      max_papers=8) for i, t in enumerate(topics)]  # fmt: skip
    lazy = Composer(seed_store, engine, TODAY)
    expected = [lazy.compose(sub) for sub in subs]
    counting = _CountingEmbedder(embedder)
    batched = SearchEngine(seed_store, engine.keyword.path.parent, counting)  # the same index:
    # BM25 ties are ordered by where the index put the papers, which differs between builds
    composer = Composer(seed_store, batched, TODAY)
    composer.prepare(subs)
    assert counting.one == [] and len(counting.batches) == 1
    assert sorted(counting.batches[0]) == sorted(composer._query_vectors)
    assert len(counting.batches[0]) == 9  # the distinct searches with words (case kept)
    assert [composer.compose(sub) for sub in subs] == expected
    assert counting.one == [] and len(counting.batches) == 1  # nothing embedded again
    assert any(plan.items for plan in expected)
