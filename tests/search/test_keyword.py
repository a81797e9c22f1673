"""Keyword search over the real seed papers and small hand-made stores, through the engine
the CLI and web use: real SQLite, real tantivy index."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from paperfeed.errors import QueryError
from paperfeed.models import Paper
from paperfeed.search.engine import SearchEngine
from paperfeed.search.query import Filters, SearchRequest
from paperfeed.store import Store, open_store

BAD_QUERIES = [
    "covid-19",
    "state-of-the-art",
    "c++",
    "O(n^2)",
    "don't",
    '"unbalanced',
    "x<y",
    "a:b",
    "",
    "   ",
    "AND OR NOT",
    "title:foo^3 (bar",
    "*",
    "-",
    "--",
    '"',
    "\\",
    "NEAR(a b)",
    "🙂 émergence",
]


def search(engine: SearchEngine, text: str, limit: int = 10, **filters: object) -> list[str]:
    request = SearchRequest(text, Filters(**filters), limit=limit)  # type: ignore[arg-type]
    return [hit.paper.title for hit in engine.search(request)]


def test_dropout_papers_come_first(seed_engine: SearchEngine) -> None:
    titles = search(seed_engine, "dropout", limit=5)
    assert len(titles) == 5
    assert all("dropout" in t.lower() for t in titles[:4]), titles


@pytest.mark.parametrize("text", BAD_QUERIES)
def test_odd_queries_return_results_or_nothing_never_an_error(
    seed_engine: SearchEngine, text: str
) -> None:
    hits = seed_engine.search(SearchRequest(text, limit=5))
    assert len(hits) <= 5
    assert all(h.paper.title for h in hits)


def test_an_empty_query_lists_papers(seed_engine: SearchEngine) -> None:
    assert len(search(seed_engine, "", limit=7)) == 7


def test_hyphenated_words_match_as_a_phrase(seed_engine: SearchEngine) -> None:
    titles = search(seed_engine, "state-of-the-art", limit=50)
    assert titles  # the seed abstracts use the phrase
    for hit in seed_engine.search(SearchRequest("state-of-the-art", limit=50)):
        text = (hit.paper.title + " " + hit.paper.abstract).lower().replace("-", " ")
        assert "state of the art" in text  # the words in order, hyphenated or not


def test_quoted_phrase_is_required(seed_engine: SearchEngine) -> None:
    hits = seed_engine.search(SearchRequest('"neural networks" dropout', limit=50))
    assert hits
    for hit in hits:
        assert "neural network" in (hit.paper.title + " " + hit.paper.abstract).lower()


def test_excluded_words_are_excluded(seed_engine: SearchEngine) -> None:
    with_word = search(seed_engine, "dropout", limit=50)
    without = seed_engine.search(SearchRequest("dropout -gradient", limit=50))
    assert 0 < len(without) < len(with_word)
    for hit in without:
        assert "gradient" not in (hit.paper.title + " " + hit.paper.abstract).lower()


def test_bad_limits_and_dates_are_clear_errors(seed_engine: SearchEngine) -> None:
    with pytest.raises(QueryError, match="limit"):
        seed_engine.search(SearchRequest("x", limit=0))
    with pytest.raises(QueryError, match="start date"):
        seed_engine.search(
            SearchRequest("x", Filters(since=date(2024, 2, 1), until=date(2024, 1, 1)))
        )


# -- hand-made corpora ---------------------------------------------------------------------


def paper(pid: str, title: str, abstract: str, **kw: object) -> Paper:
    return Paper(id=pid, arxiv_id=pid, title=title, abstract=abstract, **kw)  # type: ignore[arg-type]


@pytest.fixture
def engine(store: Store, tmp_path: Path) -> SearchEngine:
    return SearchEngine(store, tmp_path / "index")


def test_title_hits_rank_above_abstract_hits(store: Store, engine: SearchEngine) -> None:
    store.upsert_papers(
        [
            paper("2401.00001", "A study of optimisers", "We analyse pruning of large networks."),
            paper("2401.00002", "Pruning large networks", "We analyse optimisers for training."),
        ]
    )
    assert search(engine, "pruning") == ["Pruning large networks", "A study of optimisers"]


def test_filters_by_category_author_and_date(store: Store, engine: SearchEngine) -> None:
    when = [datetime(2023, 5, 1, tzinfo=UTC), datetime(2024, 5, 1, tzinfo=UTC)]
    store.upsert_papers(
        [
            paper("2305.00001", "Graph learning one", "graphs", categories=("cs.LG",),
                  authors=("Ada Lovelace",), published=when[0]),
            paper("2405.00002", "Graph learning two", "graphs", categories=("math.CO",),
                  authors=("Émile Borel",), published=when[1]),
        ]
    )  # fmt: skip
    assert search(engine, "graph", categories=("cs",)) == ["Graph learning one"]
    assert search(engine, "graph", categories=("MATH.CO",)) == ["Graph learning two"]
    assert search(engine, "graph", author="emile borel") == ["Graph learning two"]
    assert search(engine, "graph", author="lovelace") == ["Graph learning one"]
    assert search(engine, "graph", since=date(2024, 1, 1)) == ["Graph learning two"]
    assert search(engine, "graph", until=date(2023, 5, 1)) == ["Graph learning one"]
    assert search(engine, "", categories=("cs.LG", "math.CO")) == [
        "Graph learning two",
        "Graph learning one",
    ]  # no words: newest first


def test_index_follows_updates_incrementally(store: Store, engine: SearchEngine) -> None:
    store.upsert_papers([paper("2401.00001", "Old title", "about zebras", version=1)])
    assert search(engine, "zebras") == ["Old title"]
    store.upsert_papers([paper("2401.00001", "New title", "about giraffes", version=2)])
    assert search(engine, "zebras") == []
    assert search(engine, "giraffes") == ["New title"]
    assert engine.keyword.num_docs() == 1


def test_a_search_during_a_catch_up_waits_for_it_and_finds_what_it_brings(
    store: Store, engine: SearchEngine
) -> None:
    """The pipeline catches the index up right after a harvest, on a thread of its own; a
    search meanwhile (a reader who saw the harvest end) waits for it instead of answering from
    the index as it was."""
    store.upsert_papers([paper("2401.00001", "Neutrino masses", "about neutrinos")])
    inside, finish = threading.Event(), threading.Event()

    def slow(done: int) -> None:
        inside.set()
        finish.wait(10)

    catching_up = threading.Thread(target=engine.sync, args=(slow,))
    catching_up.start()
    assert inside.wait(10)
    threading.Timer(0.3, finish.set).start()
    assert search(engine, "neutrino") == ["Neutrino masses"]
    catching_up.join()


def test_index_of_another_database_is_rebuilt(tmp_path: Path) -> None:
    index_dir = tmp_path / "shared-index"
    first = open_store(str(tmp_path / "one.db"))
    first.upsert_papers([paper("2401.00001", "Zebra stripes", "zebras")])
    assert search(SearchEngine(first, index_dir), "zebra") == ["Zebra stripes"]
    second = open_store(str(tmp_path / "two.db"))
    second.upsert_papers([paper("2401.00009", "Giraffe necks", "giraffes")])
    engine = SearchEngine(second, index_dir)
    assert search(engine, "zebra") == []
    assert search(engine, "giraffe") == ["Giraffe necks"]


def test_sync_resumes_after_a_crash_between_commit_and_mark(
    store: Store, engine: SearchEngine
) -> None:
    store.upsert_papers([paper("2401.00001", "Zebra stripes", "zebras")])
    engine.sync()
    state_file = engine.keyword.path / "paperfeed-sync.json"
    state_file.unlink()  # as if killed after tantivy committed but before the mark was saved
    store.upsert_papers([paper("2401.00002", "More zebras", "zebras")])
    engine.sync()
    assert sorted(search(engine, "zebras")) == ["More zebras", "Zebra stripes"]
    assert engine.keyword.num_docs() == 2


def test_a_damaged_index_folder_is_rebuilt(store: Store, tmp_path: Path) -> None:
    store.upsert_papers([paper("2401.00001", "Zebra stripes", "zebras")])
    (tmp_path / "index" / "keyword").mkdir(parents=True)
    (tmp_path / "index" / "keyword" / "meta.json").write_text("{not tantivy")
    assert search(SearchEngine(store, tmp_path / "index"), "zebra") == ["Zebra stripes"]
