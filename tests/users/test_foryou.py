"""The one recommender (users/foryou.py) over a real SQLite store of the seed papers embedded
with the real model: saves and upvotes move the ranking the way the method says, "not
interested" removes and demotes, every why names something of the reader's (a library paper,
a tag, a saved search, a followed category), the cold start, and the digest's library section
coming from it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from paperfeed.digest.compose import LIBRARY_MIN_COSINE, Composer, library_why
from paperfeed.errors import InputError
from paperfeed.models import Paper
from paperfeed.search.embed import Embedder
from paperfeed.search.engine import SearchEngine
from paperfeed.search.models import load_embedder
from paperfeed.store import Announcement, Preferences, Store, User, open_store
from paperfeed.users import foryou
from tests.conftest import copy_db

DAY = date(2026, 11, 24)
TODAY = date(2026, 11, 25)
NOW = datetime(2026, 11, 24, 18, tzinfo=UTC)
AT = NOW.timestamp()
SIMCSE = "SimCSE: Simple Contrastive Learning of Sentence Embeddings"
ESIMCSE = "ESimCSE: Enhanced Sample Building Method for Contrastive Learning of Unsupervised"
LOSSLESS = "Towards Lossless Dataset Distillation via Difficulty-Aligned Trajectory Matching"
NEW_CL = Paper(id="2611.00001", arxiv_id="2611.00001", title="A new parser for old languages",
               abstract="Parsing.", categories=("cs.CL",))  # fmt: skip
NEW_CV = Paper(id="2611.00002", arxiv_id="2611.00002", title="Seeing in the dark",
               abstract="Low-light images.", categories=("cs.CV", "eess.IV"))  # fmt: skip


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return load_embedder()


@pytest.fixture(scope="module")
def seed(embedded_seed_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded seed papers and two unembedded papers with categories, all on DAY."""
    path = tmp_path_factory.mktemp("foryou") / "seed.db"
    copy_db(embedded_seed_db, path)
    store = open_store(str(path))
    store.upsert_papers([NEW_CL, NEW_CV])
    papers = store.get_papers_by_seq(range(1, store.count_papers() + 1))
    store.add_announcements([Announcement(p.id, "arxiv:cs.LG", DAY, "new")
                             for p in papers.values()])  # fmt: skip
    store.close()
    return path


@pytest.fixture
def store(seed: Path, tmp_path: Path) -> Iterator[Store]:
    """A fresh copy per test: readers, saves and hides do not leak between tests."""
    path = tmp_path / "store.db"
    copy_db(seed, path)
    s = open_store(str(path))
    yield s
    s.close()


def seq_of(store: Store, title: str) -> int:
    papers = store.get_papers_by_seq(range(1, store.count_papers() + 1))
    [found] = [s for s, p in papers.items() if p.title.startswith(title)]
    return found


def all_seqs(store: Store) -> list[int]:
    return list(range(1, store.count_papers() + 1))


def ranked(
    store: Store, embedder: Embedder, user: User, **options: object
) -> list[foryou.Recommendation]:
    return foryou.recommend(store, embedder.name, embedder.dim, user, all_seqs(store), now=AT,
                            limit=options.pop("limit", 300), **options)  # type: ignore[arg-type]  # fmt: skip


def reader(store: Store, email: str = "reader@example.org") -> User:
    return store.get_or_add_user(email, NOW)


def save(store: Store, user: User, title: str, *tags: str, at: float = AT) -> int:
    seq = seq_of(store, title)
    store.set_reaction(user.id, seq, "save", True, at)
    if tags:
        store.set_tags(user.id, seq, list(tags))
    return seq


def most_like(store: Store, embedder: Embedder, title: str, exclude: set[int]) -> int:
    """The paper most similar (cosine) to the one titled `title`, outside `exclude`."""
    seqs = all_seqs(store)
    found = foryou.Candidates.load(store, embedder.name, embedder.dim, seqs)
    anchor = found.vectors[list(found.seqs).index(seq_of(store, title))]
    order = (found.vectors @ anchor).argsort()[::-1]
    return next(int(found.seqs[i]) for i in order if int(found.seqs[i]) not in exclude)


def position(recs: list[foryou.Recommendation], seq: int) -> int:
    return [r.seq for r in recs].index(seq)


def test_an_empty_library_without_categories_gets_nothing(store: Store, embedder: Embedder) -> None:
    assert ranked(store, embedder, reader(store)) == []


def test_a_saved_paper_brings_the_papers_like_it(store: Store, embedder: Embedder) -> None:
    user = reader(store)
    saved = save(store, user, SIMCSE)
    recs = ranked(store, embedder, user, limit=5)
    assert recs[0].seq == seq_of(store, ESIMCSE)
    assert saved not in {r.seq for r in ranked(store, embedder, user)}  # never the save itself
    assert recs[0].why == f"Like “{SIMCSE}” in your library"
    assert [r.score for r in recs] == sorted((r.score for r in recs), reverse=True)


def test_a_new_save_raises_the_papers_like_it(store: Store, embedder: Embedder) -> None:
    user = reader(store)
    first = save(store, user, SIMCSE, at=AT - 86400)
    lossless = seq_of(store, LOSSLESS)
    like_it = most_like(store, embedder, LOSSLESS, {first, lossless})
    before = position(ranked(store, embedder, user), like_it)
    save(store, user, LOSSLESS)
    after = ranked(store, embedder, user)
    assert position(after, like_it) < before
    assert position(after, like_it) < 10
    assert after[position(after, like_it)].because.kind == "paper"


def test_an_upvote_is_more_like_this(store: Store, embedder: Embedder) -> None:
    user = reader(store)
    save(store, user, SIMCSE)
    lossless = seq_of(store, LOSSLESS)
    like_it = most_like(store, embedder, LOSSLESS, {lossless, seq_of(store, SIMCSE)})
    before = position(ranked(store, embedder, user), like_it)
    store.set_reaction(user.id, lossless, "upvote", True, AT)
    after = ranked(store, embedder, user)
    assert lossless not in {r.seq for r in after}
    assert position(after, like_it) < before


def test_not_interested_removes_and_demotes_its_like(store: Store, embedder: Embedder) -> None:
    user = reader(store)
    saved = save(store, user, SIMCSE)
    esimcse = seq_of(store, ESIMCSE)
    neighbour = most_like(store, embedder, ESIMCSE, {saved, esimcse})
    before = ranked(store, embedder, user)
    store.set_reaction(user.id, esimcse, "hide", True, AT)
    after = ranked(store, embedder, user)
    assert esimcse not in {r.seq for r in after}
    score, now = {r.seq: r.score for r in before}, {r.seq: r.score for r in after}
    assert now[neighbour] < score[neighbour]
    others = [r for r in before if r.seq != esimcse]  # its place among the papers left
    assert position(after, neighbour) > position(others, neighbour)
    far = before[-1].seq  # the least like the library: hardly like the hidden paper either
    assert score[far] - now[far] < score[neighbour] - now[neighbour]


def test_every_why_names_a_library_paper(store: Store, embedder: Embedder) -> None:
    user = reader(store)
    titles = {save(store, user, SIMCSE): SIMCSE, save(store, user, LOSSLESS): LOSSLESS}
    for rec in ranked(store, embedder, user, limit=40):
        assert rec.because.kind == "paper" and rec.because.seq in titles
        assert rec.why == f"Like “{titles[rec.because.seq]}” in your library"


def test_a_saved_search_the_paper_matches_is_the_why(store: Store, embedder: Embedder) -> None:
    user = reader(store)
    save(store, user, SIMCSE)
    sub = store.add_subscriber(user.email, AT, "test")
    store.set_preferences(sub.id, Preferences(topics=("contrastive learning",)))
    recs = ranked(store, embedder, user, limit=10)
    by_search = [r for r in recs if r.because.kind == "search"]
    assert by_search and recs[0] in by_search
    found = store.get_papers_by_seq([r.seq for r in by_search])
    for r in by_search:
        assert r.why == "Matches your saved search “contrastive learning”"
        text = (found[r.seq].title + " " + found[r.seq].abstract).lower()
        assert "contrastive" in text and "learning" in text
    assert all(r.because.kind == "paper" for r in recs if r not in by_search)


def test_tag_recommendations_come_from_that_tags_papers(store: Store, embedder: Embedder) -> None:
    user = reader(store)
    nlp = save(store, user, SIMCSE, "sentence embeddings")
    save(store, user, LOSSLESS, "distillation")
    recs = ranked(store, embedder, user, tag="sentence embeddings", limit=10)
    assert recs[0].seq == seq_of(store, ESIMCSE)
    for r in recs:
        assert (r.because.kind, r.because.label, r.because.seq) == (
            "tag",
            "sentence embeddings",
            nlp,
        )
        assert r.why.startswith("Like your papers tagged “sentence embeddings”")
    other = ranked(store, embedder, user, tag="distillation", limit=3)
    assert other[0].seq != recs[0].seq
    assert ranked(store, embedder, user, tag="no such tag") == []


def test_cold_start_with_categories_gives_their_new_papers(
    store: Store, embedder: Embedder
) -> None:
    user = reader(store)
    foryou.follow_categories(store, user, "cs.CL, eess")
    recs = ranked(store, embedder, user)
    assert [r.seq for r in recs] == [store.find_seq(NEW_CV.id), store.find_seq(NEW_CL.id)]
    assert [r.why for r in recs] == ["New in eess, which you follow",
                                     "New in cs.CL, which you follow"]  # fmt: skip
    save(store, user, SIMCSE)  # once the library speaks, it ranks
    assert ranked(store, embedder, user)[0].because.kind == "paper"


@pytest.mark.parametrize("text", ["cs.LG; DROP", "<b>", "1cs", "x" * 50])
def test_bad_categories_get_one_sentence(text: str) -> None:
    with pytest.raises(InputError, match="is not an arXiv category"):
        foryou.parse_categories(text)


def test_categories_parse() -> None:
    assert foryou.parse_categories(" cs.LG  cs.CL,hep-th cs.LG math ") == [
        "cs.LG", "cs.CL", "hep-th", "math"]  # fmt: skip


def test_the_feed_key_rotates(store: Store) -> None:
    user = reader(store)
    first = foryou.rotate_feed_key(store, user)
    second = foryou.rotate_feed_key(store, user)
    assert first != second and foryou.is_feed_key(first) and foryou.is_feed_key(second)
    assert store.get_user_by_feed_key(first) is None
    assert store.get_user_by_feed_key(second) == user
    assert not foryou.is_feed_key("../etc") and not foryou.is_feed_key("")


def test_the_digest_library_section_is_the_recommender(store: Store, embedder: Embedder,
                                                       tmp_path: Path) -> None:  # fmt: skip
    user = reader(store)
    save(store, user, SIMCSE)
    save(store, user, LOSSLESS)
    sub = store.add_subscriber(user.email, AT, "test")
    store.set_preferences(sub.id, Preferences(include_trending=False, max_papers=5))
    found = store.get_subscriber(sub.id)
    assert found is not None
    engine = SearchEngine(store, str(tmp_path / "index"), embedder)
    plan = Composer(store, engine, TODAY, now=AT).compose(found)
    recs = [r for r in ranked(store, embedder, user, searches=(), categories=())
            if r.similarity >= LIBRARY_MIN_COSINE][:5]  # fmt: skip
    assert plan.items and all(i.section == "library" for i in plan.items)
    assert [i.seq for i in plan.items] == [r.seq for r in recs]
    assert [i.why for i in plan.items] == [library_why(r.because.label) for r in recs]
