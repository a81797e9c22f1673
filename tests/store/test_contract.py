"""Contract tests for the Store protocol. Every backend passes all of them: the `backend`
fixture (tests/store/conftest.py) runs each test on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from paperfeed.errors import AlreadyExists
from paperfeed.models import Paper, title_hash_id
from paperfeed.store import Announcement, EmbeddingRow, Signal, SourceRow, Store


def day(n: int) -> datetime:
    return datetime(2024, 1, n, tzinfo=UTC)


def arxiv(aid: str = "2401.00001", version: int = 1, **kw: object) -> Paper:
    fields: dict[str, object] = {
        "title": "Attention Is All You Need",
        "abstract": "We propose the Transformer, $\\mathcal{O}(n^2)$ & <b>friends</b>.",
        "authors": ("Ashish Vaswani", "Noam Shazeer"),
        "categories": ("cs.CL", "cs.LG"),
        "published": day(1),
        "updated": day(version),
        "sources": ("arxiv-snapshot",),
        **kw,
    }
    return Paper(id=aid, arxiv_id=aid, version=version, **fields)  # type: ignore[arg-type]


def test_a_paper_comes_back_exactly_as_stored(backend: Store) -> None:
    paper = arxiv(extra={"upvotes": 3, "nested": {"a": [1, 2]}})
    result = backend.upsert_papers([paper])
    assert (result.added, result.updated, result.unchanged) == (1, 0, 0)
    assert backend.get_paper("2401.00001") == paper
    assert backend.count_papers() == 1


def test_the_same_batch_twice_changes_nothing(backend: Store) -> None:
    papers = [arxiv(), arxiv("2401.00002", title="Another one")]
    backend.upsert_papers(papers)
    mark = backend.last_change()
    result = backend.upsert_papers(papers)
    assert (result.added, result.updated, result.unchanged) == (0, 0, 2)
    assert backend.last_change() == mark
    assert backend.count_papers() == 2


def test_a_newer_version_replaces_the_older(backend: Store) -> None:
    backend.upsert_papers([arxiv(version=1)])
    result = backend.upsert_papers([arxiv(version=2, title="Attention Is All You Need (v2)")])
    assert result.updated == 1
    stored = backend.get_paper("2401.00001")
    assert stored is not None
    assert (stored.version, stored.title, stored.updated) == (
        2,
        "Attention Is All You Need (v2)",
        day(2),
    )


def test_an_older_version_does_not_overwrite_a_newer_one(backend: Store) -> None:
    backend.upsert_papers([arxiv(version=3, title="Final title")])
    backend.upsert_papers([arxiv(version=1, title="Draft title")])
    stored = backend.get_paper("2401.00001")
    assert stored is not None and stored.title == "Final title" and stored.version == 3


def test_versioned_and_prefixed_ids_find_the_paper(backend: Store) -> None:
    backend.upsert_papers([arxiv()])
    for ref in ("2401.00001v1", "arXiv:2401.00001", "https://arxiv.org/abs/2401.00001v3"):
        found = backend.get_paper(ref)
        assert found is not None and found.id == "2401.00001", ref
    assert backend.get_paper("2401.99999") is None


def test_many_refs_find_the_rows_one_ref_finds(backend: Store) -> None:
    backend.upsert_papers([arxiv(), arxiv("2401.00002", doi="10.1/xyz")])
    refs = ["2401.00001", "2401.00001v1", "arXiv:2401.00002", "10.1/XYZ", "2401.99999",
            "2401.00001"]  # fmt: skip
    found = backend.find_seqs(refs)
    assert found == {r: s for r in refs if (s := backend.find_seq(r)) is not None}
    assert set(found) == set(refs) - {"2401.99999"} and len(set(found.values())) == 2
    assert backend.find_seqs([]) == {}


def test_same_paper_by_doi_from_two_sources_is_one(backend: Store) -> None:
    journal = Paper(id="10.1/abc", doi="10.1/abc", title="Journal title", sources=("crossref",))
    backend.upsert_papers([journal])
    backend.upsert_papers([arxiv(doi="10.1/abc")])
    assert backend.count_papers() == 1
    merged = backend.get_paper("10.1/ABC")
    assert merged is not None
    assert merged.id == "2401.00001" and set(merged.sources) == {"crossref", "arxiv-snapshot"}


def test_same_paper_by_title_is_one_and_keeps_its_old_id(backend: Store) -> None:
    seed = Paper(id=title_hash_id("Attention is all you need!"), title="Attention is all you need!")
    backend.upsert_papers([seed])
    backend.upsert_papers([arxiv()])
    assert backend.count_papers() == 1
    by_old_id = backend.get_paper(seed.id)
    assert by_old_id is not None and by_old_id.id == "2401.00001"


def test_same_title_different_arxiv_ids_stay_two_papers(backend: Store) -> None:
    backend.upsert_papers([arxiv("2401.00001", title="Introduction")])
    backend.upsert_papers([arxiv("2401.00002", title="Introduction")])
    assert backend.count_papers() == 2


def test_duplicates_inside_one_batch_merge(backend: Store) -> None:
    result = backend.upsert_papers([arxiv(version=1), arxiv(version=2, title="v2 title")])
    assert backend.count_papers() == 1
    assert result.added == 1
    stored = backend.get_paper("2401.00001")
    assert stored is not None and stored.title == "v2 title"


def test_changes_come_in_order_and_only_after_the_mark(backend: Store) -> None:
    backend.upsert_papers([arxiv("2401.00001"), arxiv("2401.00002", title="B")])
    mark = backend.last_change()
    backend.upsert_papers([arxiv("2401.00003", title="C"), arxiv("2401.00001", version=2)])
    changes = list(backend.iter_changes(mark, batch_size=1))
    assert [c.paper.id for c in changes] == ["2401.00003", "2401.00001"]
    assert [c.changed for c in changes] == sorted(c.changed for c in changes)
    assert changes[-1].changed == backend.last_change()
    everything = list(backend.iter_changes(0))
    assert len(everything) == 3  # a paper appears once, at its latest change


def test_papers_by_row_number(backend: Store) -> None:
    backend.upsert_papers([arxiv("2401.00001"), arxiv("2401.00002", title="B")])
    seqs = {c.paper.id: c.seq for c in backend.iter_changes(0)}
    found = backend.get_papers_by_seq([seqs["2401.00002"], 999_999])
    assert list(found) == [seqs["2401.00002"]] and found[seqs["2401.00002"]].title == "B"


def test_a_failed_transaction_writes_nothing(backend: Store) -> None:
    with pytest.raises(RuntimeError), backend.transaction():
        backend.upsert_papers([arxiv()])
        raise RuntimeError("boom")
    assert backend.count_papers() == 0
    assert backend.last_change() == 0


def test_store_id_is_stable(backend: Store) -> None:
    assert backend.store_id() == backend.store_id() != ""


# -- embeddings ------------------------------------------------------------------------------


def _todo_ids(backend: Store, model: str = "m") -> list[str]:
    return [t.paper.id for t in backend.list_embedding_todo(model, 0, 100)]


def test_new_papers_need_embedding_and_stored_vectors_come_back(backend: Store) -> None:
    backend.upsert_papers([arxiv("2401.00001"), arxiv("2401.00002", title="B")])
    todo = backend.list_embedding_todo("m", 0, 100)
    assert [t.paper.id for t in todo] == ["2401.00001", "2401.00002"]
    assert all(t.text_hash is None for t in todo)
    rows = [EmbeddingRow(t.seq, t.changed, f"h{t.seq}", bytes([t.seq]) * 4) for t in todo]
    backend.put_embeddings("m", rows)
    assert _todo_ids(backend) == []
    assert _todo_ids(backend, "other-model") == ["2401.00001", "2401.00002"]
    assert backend.count_embeddings("m") == 2
    assert backend.get_vector("m", todo[1].seq) == bytes([todo[1].seq]) * 4
    assert backend.get_vector("m", 999) is None


def test_todo_pages_by_row_number(backend: Store) -> None:
    backend.upsert_papers([arxiv(f"2401.0000{i}", title=f"T{i}") for i in range(1, 6)])
    first = backend.list_embedding_todo("m", 0, 2)
    rest = backend.list_embedding_todo("m", first[-1].seq, 100)
    assert [t.paper.id for t in first + rest] == [f"2401.0000{i}" for i in range(1, 6)]


def test_a_changed_paper_is_checked_again_and_vector_changes_are_numbered(backend: Store) -> None:
    backend.upsert_papers([arxiv("2401.00001"), arxiv("2401.00002", title="B")])
    todo = backend.list_embedding_todo("m", 0, 100)
    backend.put_embeddings("m", [EmbeddingRow(t.seq, t.changed, "h", b"v1v1") for t in todo])
    mark = backend.last_vector_change("m")
    assert mark == 2
    backend.upsert_papers([arxiv("2401.00001", version=2, extra={"upvotes": 5})])
    [again] = backend.list_embedding_todo("m", 0, 100)
    assert again.paper.id == "2401.00001" and again.text_hash == "h"
    backend.put_embeddings("m", [EmbeddingRow(again.seq, again.changed, "h", None)])
    assert _todo_ids(backend) == []
    assert backend.last_vector_change("m") == mark  # checked, not rewritten
    backend.put_embeddings("m", [EmbeddingRow(again.seq, again.changed, "h2", b"v2v2")])
    changes = list(backend.iter_vector_changes("m", mark))
    assert [(c.seq, c.vector) for c in changes] == [(again.seq, b"v2v2")]
    assert len(list(backend.iter_vector_changes("m", 0, batch_size=1))) == 2


def test_embedding_models_are_listed_with_their_dimension(backend: Store) -> None:
    assert backend.list_embedding_models() == []
    backend.upsert_papers([arxiv()])
    [todo] = backend.list_embedding_todo("m", 0, 10)
    backend.put_embeddings("m", [EmbeddingRow(todo.seq, todo.changed, "h", b"\0\0" * 384)])
    assert backend.list_embedding_models() == [("m", 384)]


def test_generic_titles_with_different_abstracts_stay_apart(backend: Store) -> None:
    one = Paper(id="a", title="Summary", abstract="Sepsis outcomes in intensive care units.")
    two = Paper(id="b", title="Summary", abstract="Galaxy rotation curves and dark matter.")
    backend.upsert_papers([one, two])
    assert backend.count_papers() == 2
    v2 = Paper(id="c", title="SUMMARY.", abstract="Sepsis outcomes in intensive care units!")
    backend.upsert_papers([v2])
    assert backend.count_papers() == 2  # same abstract: the same paper again


def test_title_match_with_conflicting_dois_stays_apart(backend: Store) -> None:
    backend.upsert_papers([Paper(id="10.1/a", doi="10.1/a", title="Erratum")])
    backend.upsert_papers([Paper(id="10.1/b", doi="10.1/b", title="Erratum")])
    assert backend.count_papers() == 2


# -- sources, announcements, signals ---------------------------------------------------------


def source(name: str = "arxiv-cs.LG", due: int = 1) -> SourceRow:
    return SourceRow(name=name, kind="arxiv", config={"set": "cs:cs:LG"}, interval_s=3600,
                     next_run_at=day(due), created_at=day(1))  # fmt: skip


def test_sources_are_added_listed_and_removed(backend: Store) -> None:
    backend.add_source(source("b"))
    backend.add_source(source("a", due=3))
    with pytest.raises(AlreadyExists):
        backend.add_source(source("a"))
    assert [s.name for s in backend.list_sources()] == ["a", "b"]
    got = backend.get_source("a")
    assert got is not None and got.config == {"set": "cs:cs:LG"} and got.next_run_at == day(3)
    assert backend.due_sources(day(2)) == ["b"]
    assert backend.due_sources(day(5)) == ["b", "a"]  # most overdue first
    assert backend.remove_source("a") and not backend.remove_source("a")
    assert backend.get_source("a") is None


def test_a_lease_is_exclusive_until_it_runs_out_or_its_holder_is_dead(backend: Store) -> None:
    backend.add_source(source())
    assert backend.claim_source("arxiv-cs.LG", "p1", day(1), day(2))
    assert backend.claim_source("arxiv-cs.LG", "p1", day(1), day(2))  # renewing is fine
    assert not backend.claim_source("arxiv-cs.LG", "p2", day(1), day(2))
    assert backend.claim_source("arxiv-cs.LG", "p2", day(1), day(2), take_from="p1")
    assert not backend.claim_source("arxiv-cs.LG", "p3", day(1), day(4))
    assert backend.claim_source("arxiv-cs.LG", "p3", day(3), day(4))  # p2's lease ran out


def test_runs_count_failures_and_papers_and_release_the_lease(backend: Store) -> None:
    backend.add_source(source())
    backend.claim_source("arxiv-cs.LG", "p1", day(1), day(2))
    for n in (1, 2):
        backend.finish_source_run("arxiv-cs.LG", ran_at=day(n), next_run_at=day(n + 1),
                                  added=0, error="down")  # fmt: skip
    s = backend.get_source("arxiv-cs.LG")
    assert s is not None and (s.failures, s.last_error, s.last_ok_at) == (2, "down", None)
    assert s.lease_owner is None
    backend.finish_source_run("arxiv-cs.LG", ran_at=day(4), next_run_at=day(5), added=7,
                              error=None)  # fmt: skip
    backend.finish_source_run("arxiv-cs.LG", ran_at=day(5), next_run_at=day(6), added=2,
                              error=None)  # fmt: skip
    s = backend.get_source("arxiv-cs.LG")
    assert s is not None and (s.failures, s.last_error, s.last_ok_at) == (0, None, day(5))
    assert (s.last_added, s.papers_added, s.last_run_at) == (2, 9, day(5))


def test_a_cursor_commits_with_its_papers_or_not_at_all(backend: Store) -> None:
    backend.add_source(source())
    with pytest.raises(RuntimeError), backend.transaction():
        backend.upsert_papers([arxiv()])
        backend.save_cursor("arxiv-cs.LG", {"token": "t1"})
        raise RuntimeError("killed")
    s = backend.get_source("arxiv-cs.LG")
    assert s is not None and s.cursor == {} and backend.count_papers() == 0
    with backend.transaction():
        backend.upsert_papers([arxiv()])
        backend.save_cursor("arxiv-cs.LG", {"token": "t1"})
    s = backend.get_source("arxiv-cs.LG")
    assert s is not None and s.cursor == {"token": "t1"} and backend.count_papers() == 1


def test_announcements_are_recorded_once(backend: Store) -> None:
    backend.upsert_papers([arxiv()])
    item = Announcement("2401.00001v1", "arxiv:cs.LG", date(2024, 1, 2), "new")
    ghost = Announcement("2401.99999", "arxiv:cs.LG", date(2024, 1, 2), "new")
    assert backend.add_announcements([item, ghost]) == 1  # an unknown paper is ignored
    assert backend.add_announcements([item]) == 0
    assert backend.get_announcements("2401.00001") == [
        Announcement("2401.00001", "arxiv:cs.LG", date(2024, 1, 2), "new")
    ]


def test_signals_keep_a_time_series_of_changes_only(backend: Store) -> None:
    backend.upsert_papers([arxiv()])
    votes = [Signal("2401.00001", "hf_upvotes", 10.0), Signal("2401.00001", "github_stars", 3)]
    assert backend.record_signals(votes, day(1), "hf-daily") == 2
    assert backend.record_signals(votes, day(2), "hf-daily") == 0  # unchanged: nothing new
    more = [Signal("2401.00001", "hf_upvotes", 12.0)]
    assert backend.record_signals(more, day(3), "hf-daily") == 1
    points = [(p.name, p.observed_at, p.value) for p in backend.get_signals("2401.00001")]
    assert points == [("github_stars", day(1), 3.0), ("hf_upvotes", day(1), 10.0),
                      ("hf_upvotes", day(3), 12.0)]  # fmt: skip


def test_latest_signals_are_the_newest_value_of_each_name(backend: Store) -> None:
    backend.upsert_papers([arxiv()])
    backend.record_signals([Signal("2401.00001", "hf_upvotes", 10.0)], day(1), "hf-daily")
    backend.record_signals([Signal("2401.00001", "hf_upvotes", 7.0)], day(2), "hf-daily")
    backend.record_signals([Signal("2401.00001", "github_stars", 3.0)], day(1), "hf-daily")
    assert backend.latest_signals(["2401.00001v1", "2401.99999"]) == {
        "2401.00001v1": {"hf_upvotes": 7.0, "github_stars": 3.0}
    }


def _dated(n: int, published: datetime | None) -> Paper:
    return Paper(id=f"2410.0000{n}", arxiv_id=f"2410.0000{n}", title=f"Paper {n}",
                 published=published)  # fmt: skip


def test_days_list_announced_and_published_papers_newest_or_by_signal(backend: Store) -> None:
    at = lambda d, h=12: datetime(2024, 10, d, h, tzinfo=UTC)  # noqa: E731
    backend.upsert_papers([_dated(1, at(20)), _dated(2, at(22)), _dated(3, at(22, 18)),
                           _dated(4, None), _dated(5, at(1))])  # fmt: skip
    assert backend.add_announcements([
        Announcement("2410.00004", "hf-daily", date(2024, 10, 21), "featured"),
        Announcement("2410.00001", "hf-daily", date(2024, 10, 23), "featured"),
        Announcement("2410.00005", "arxiv:cs.LG", date(2024, 10, 22), "replace"),
    ]) == 3  # fmt: skip
    votes = [Signal("2410.00004", "hf_upvotes", 9.0), Signal("2410.00002", "hf_upvotes", 3.0)]
    backend.record_signals(votes, at(23), "hf-daily")
    assert backend.latest_day(date(2024, 10, 30)) == date(2024, 10, 23)
    assert backend.latest_day(date(2024, 10, 22)) == date(2024, 10, 22)
    assert backend.latest_day(date(2024, 9, 1)) is None
    week = backend.list_days(date(2024, 10, 17), date(2024, 10, 23))
    assert [(x.paper.id, x.day.day) for x in week] == [
        ("2410.00001", 23),
        ("2410.00003", 22),
        ("2410.00002", 22),
        ("2410.00004", 21),
    ]  # a replacement is not a new paper of its day; the later published first within a day
    ranked = backend.list_days(date(2024, 10, 17), date(2024, 10, 23), by_signal="hf_upvotes")
    assert [x.paper.id for x in ranked] == ["2410.00004", "2410.00002", "2410.00001", "2410.00003"]
    assert ranked[0].signals == {"hf_upvotes": 9.0}
    page2 = backend.list_days(date(2024, 10, 17), date(2024, 10, 23), limit=2, offset=2)
    assert [x.paper.id for x in page2] == ["2410.00002", "2410.00004"]
    assert backend.list_days(date(2024, 10, 22), date(2024, 10, 22), limit=1)[0].day == date(
        2024, 10, 22
    )
