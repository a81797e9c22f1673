"""PostgreSQL's papers, embeddings and sources beyond the shared contract: several stores (nodes)
upserting into one database at once, the same rows and change numbers as SQLite for the same
history, and what a PostgreSQL store refuses."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from paperfeed.errors import StoreError
from paperfeed.models import Paper, title_hash_id
from paperfeed.store import Announcement, EmbeddingRow, Signal, SourceRow, Store, open_store
from tests import pg


@pytest.fixture
def url() -> Iterator[str]:
    found = pg.fresh_database()
    yield found
    pg.drop_database(found)


def _paper(n: int, version: int = 1) -> Paper:
    aid = f"2401.{n:05d}"
    return Paper(id=aid, arxiv_id=aid, version=version, title=f"Paper {n} v{version}",
                 updated=datetime(2024, 1, version, tzinfo=UTC))  # fmt: skip


def test_nodes_upserting_at_once_get_unique_rows_and_changes_in_commit_order(url: str) -> None:
    """Writers on two stores, with a reader catching up by "changed > mark" meanwhile: the
    reader misses no change, which holds only if change numbers follow commit order."""
    stores = [open_store(url) for _ in range(3)]
    writers, reader = stores[:2], stores[2]
    done = threading.Event()
    errors: list[BaseException] = []
    seen: dict[int, int] = {}  # seq -> the latest change number the reader saw

    def write(k: int) -> None:
        try:
            for batch in range(30):  # each paper twice: by this writer and, newer, by the other
                papers = [_paper(n, version=1 + k) for n in range(batch * 4, batch * 4 + 4)]
                writers[k].upsert_papers(papers)
        except BaseException as e:
            errors.append(e)

    def read() -> None:
        mark = 0
        try:
            while True:
                last = done.is_set()
                for change in reader.iter_changes(mark, batch_size=7):
                    assert change.changed > mark
                    seen[change.seq] = mark = change.changed
                if last:
                    return
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(2)]
    threads.append(threading.Thread(target=read))
    for t in threads:
        t.start()
    for t in threads[:2]:
        t.join()
    done.set()
    threads[2].join()
    try:
        assert not errors, errors[0]
        final = {c.seq: c.changed for c in reader.iter_changes(0)}
        assert reader.count_papers() == len(final) == 120
        assert seen == final
        assert all(c.paper.version == 2 for c in reader.iter_changes(0))  # the newer one won
    finally:
        for s in stores:
            s.close()


def _history(rng: random.Random) -> list[list[Paper]]:
    """Batches of papers that meet again by arXiv id, DOI and title, in a random order."""
    papers = []
    for n in range(60):
        title = f"On topic {n % 23} and method {n % 7}"
        doi = f"10.1/x{n % 17}" if n % 3 == 0 else None
        if n % 4 == 0:
            papers.append(
                Paper(id=title_hash_id(title), title=title, doi=doi, sources=("crossref",))
            )
            continue
        aid = f"2402.{n % 29:05d}"
        papers.append(Paper(id=aid, arxiv_id=aid, version=1 + n % 3, title=title, doi=doi,
                            abstract=f"Abstract {n % 5}", sources=(f"s{n % 2}",),
                            published=datetime(2024, 2, 1 + n % 9, tzinfo=UTC)))  # fmt: skip
    rng.shuffle(papers)
    return [papers[i : i + rng.randint(1, 9)] for i in range(0, len(papers), 5)]


def _replay(store: Store, batches: list[list[Paper]]) -> list[object]:
    out: list[object] = [store.upsert_papers(b) for b in batches]
    with store.transaction():  # two batches in one transaction, both with updates
        out += [store.upsert_papers(batches[0]), store.upsert_papers(batches[-1])]
    refs = [p.id for b in batches for p in b]
    out.append(store.add_announcements(
        [Announcement(r, "l", date(2024, 2, 1 + i % 5), "new") for i, r in enumerate(refs)]
    ))  # fmt: skip
    out.append(store.record_signals([Signal(r, "up", float(i % 4)) for i, r in enumerate(refs)],
                                    datetime(2024, 3, 1, tzinfo=UTC), "t"))  # fmt: skip
    todo = store.list_embedding_todo("m", 0, 1000)
    store.put_embeddings("m", [EmbeddingRow(t.seq, t.changed, "h", b"ab") for t in todo[::2]])
    out += [
        [(c.changed, c.seq, c.paper) for c in store.iter_changes(0, batch_size=4)],
        [(t.seq, t.changed) for t in store.list_embedding_todo("m", 0, 1000)],
        store.list_days(date(2024, 2, 1), date(2024, 2, 28), limit=100),
        store.list_days(date(2024, 2, 1), date(2024, 2, 28), by_signal="up", limit=100),
        store.list_newest(limit=100),
        store.latest_signals(refs),
        [store.find_seq(r) for r in refs],
    ]
    return out


def test_the_same_history_gives_the_same_rows_and_numbers_as_sqlite(url: str, tmp_path: Path
                                                                    ) -> None:  # fmt: skip
    batches = _history(random.Random(7))
    lite, post = open_store(str(tmp_path / "a.db")), open_store(url)
    try:
        assert _replay(post, batches) == _replay(lite, batches)
    finally:
        lite.close()
        post.close()


def test_read_only_refuses_writes_and_backup_names_pg_dump(url: str, tmp_path: Path) -> None:
    writer = open_store(url)
    writer.upsert_papers([_paper(1)])
    key = writer.get_secret("links")
    assert writer.get_secret("links") == key and len(key) == 32
    reader = open_store(url, readonly=True)
    try:
        assert reader.get_secret("links") == key
        with pytest.raises(StoreError):
            reader.get_secret("cookies")
        with pytest.raises(StoreError):
            reader.upsert_papers([_paper(2)])
        with pytest.raises(StoreError, match="pg_dump"):
            writer.backup(str(tmp_path / "copy.db"))
        assert reader.count_papers() == 1 and not (tmp_path / "copy.db").exists()
    finally:
        reader.close()
        writer.close()


def test_a_renamed_paper_and_an_updated_one_in_one_batch(url: str) -> None:
    store = open_store(url)
    try:
        seed = Paper(id=title_hash_id("Deep Sets"), title="Deep Sets")
        store.upsert_papers([seed, _paper(1)])
        result = store.upsert_papers([
            Paper(id="1703.06114", arxiv_id="1703.06114", title="Deep Sets"),
            _paper(1, version=2),
        ])  # fmt: skip
        assert (result.added, result.updated) == (0, 2)
        renamed = store.get_paper(seed.id)
        assert renamed is not None and renamed.id == "1703.06114"
        assert store.find_seq("1703.06114") == store.find_seq(seed.id)
        assert [c.changed for c in store.iter_changes(0)] == [3, 4]
        assert store.last_change() == 4 and store.count_papers() == 2
    finally:
        store.close()


def test_sources_keep_times_in_utc_text_that_sorts(url: str) -> None:
    store = open_store(url)
    try:
        plus2 = datetime(2024, 1, 1, 14, tzinfo=timezone(timedelta(hours=2)))
        store.add_source(SourceRow(name="a", kind="k", config={}, interval_s=60, next_run_at=plus2))
        got = store.get_source("a")
        assert got is not None and got.next_run_at == plus2 and got.next_run_at.tzinfo == UTC
        assert store.due_sources(datetime(2024, 1, 1, 12, tzinfo=UTC)) == ["a"]
        assert store.due_sources(datetime(2024, 1, 1, 11, 59, tzinfo=UTC)) == []
    finally:
        store.close()
