"""`copy_store`: an install moved between backends keeps every row, its store id and its keys;
a stopped copy resumes without duplicates; a foreign or changing database is refused."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest

from paperfeed.errors import StoreError
from paperfeed.ingest.files import import_file
from paperfeed.models import Paper
from paperfeed.store import (
    Announcement,
    EmbeddingRow,
    Signal,
    SQLiteStore,
    Store,
    SubscriberChange,
    TrendingRow,
    TrendingState,
    open_store,
)
from paperfeed.store.copy import TABLES, copy_store
from tests.conftest import SEED
from tests.store.conftest import BACKENDS, open_backend

NOW = 1_790_000_000.0


def _fill(store: Store) -> None:
    """A small install: the seed papers with vectors, a source, announcements and signals, a
    reader with a library, votes, trending, a subscriber with a delivery."""
    import_file(store, SEED)
    seqs = sorted(store.get_papers_by_seq(range(1, 300)))
    vectors = np.random.default_rng(1).random((len(seqs), 8), dtype=np.float32)
    store.put_embeddings("m", [EmbeddingRow(seq, 1, f"h{seq}", vectors[i].tobytes())
                               for i, seq in enumerate(seqs)])  # fmt: skip
    first = store.get_papers_by_seq([seqs[0]])[seqs[0]]
    day = date(2024, 10, 25)
    store.add_announcements([Announcement(first.id, "hf-daily", day, "featured")])
    store.record_signals([Signal(first.id, "hf_upvotes", 12)], datetime(2024, 10, 25, tzinfo=UTC),
                         "hf-daily")  # fmt: skip
    user = store.get_or_add_user("ann@example.org", datetime(2024, 10, 25, tzinfo=UTC))
    store.set_reaction(user.id, seqs[0], "save", True, NOW)
    store.set_tags(user.id, seqs[0], ["reading"])
    store.record_event(seqs[1], "view", NOW, client="c1", burst_s=60)
    store.replace_trending("day", TrendingState(NOW, NOW, day, day),
                           [TrendingRow(seqs[0], day, None, 2.5, {"hf_upvotes": 2.5})])  # fmt: skip
    sub = store.add_subscriber("bob@example.org", NOW, "web")
    store.update_subscriber(sub.id, SubscriberChange(state="confirmed", consent_at=NOW))
    store.plan_delivery(sub.id, "digest", "2024-10-25", message_id="m1", plan={"a": [1]},
                        now=NOW, send_by=NOW + 3600, seqs=seqs[:3])  # fmt: skip
    store.get_secret("links")


@pytest.fixture(params=BACKENDS)
def source(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s, _ = open_backend(request.param, tmp_path / "source")
    _fill(s)
    yield s
    s.close()


def _same(a: Store, b: Store) -> None:
    for table, _ in TABLES:
        assert a.count_rows(table) == b.count_rows(table), table
    assert (a.store_id(), a.last_change()) == (b.store_id(), b.last_change())
    seqs = range(1, 300)
    assert a.get_papers_by_seq(seqs) == b.get_papers_by_seq(seqs)
    assert a.get_vectors("m", seqs) == b.get_vectors("m", seqs)
    assert a.get_secret("links") == b.get_secret("links")
    user = b.get_user_by_email("ann@example.org")
    assert user is not None and [i.tags for i in b.list_library(user.id)] == [("reading",)]
    assert a.list_trending("day") == b.list_trending("day")
    assert a.list_deliveries() == b.list_deliveries()


@pytest.mark.parametrize("to", BACKENDS)
def test_a_copy_keeps_every_row_and_new_ids_follow_the_copied_ones(
    source: Store, to: str, tmp_path: Path
) -> None:
    target, url = open_backend(to, tmp_path / "target")
    report = copy_store(source, target, batch=50)
    assert not report.resumed and report.rows["papers"] == 227 and report.sampled == 200
    _same(source, target)
    # ids the target hands out next come after the copied ones
    old = source.get_subscriber_by_email("bob@example.org")
    new = target.add_subscriber("cy@example.org", NOW, "web")
    assert old is not None and new.id > old.id
    target.close()
    reopened = open_store(url)
    assert reopened.store_id() == source.store_id()
    reopened.close()


@pytest.mark.parametrize("to", BACKENDS)
def test_a_stopped_copy_resumes_without_duplicates(source: Store, to: str, tmp_path: Path
                                                   ) -> None:  # fmt: skip
    target, _ = open_backend(to, tmp_path / "target")
    copied = 0

    def stop_midway(n: int) -> None:
        nonlocal copied
        copied += n
        if copied > 120:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        copy_store(source, target, batch=50, on_rows=stop_midway)
    assert 0 < target.count_papers() < 227
    report = copy_store(source, target, batch=50)
    assert report.resumed
    _same(source, target)
    target.close()


def test_a_target_of_another_install_is_refused(source: Store, tmp_path: Path) -> None:
    target, _ = open_backend("sqlite", tmp_path / "target")
    target.upsert_papers([Paper(id="x1", title="Somebody else's paper")])
    with pytest.raises(StoreError, match="another paperfeed install"):
        copy_store(source, target)
    assert target.count_papers() == 1
    target.close()


def test_a_source_that_changes_while_copied_is_reported(source: Store, tmp_path: Path) -> None:
    target, _ = open_backend("sqlite", tmp_path / "target")

    def harvest_meanwhile(n: int) -> None:
        source.upsert_papers([Paper(id=f"new{source.count_papers()}", title="Arrived late")])

    with pytest.raises(StoreError, match="changed while it was copied"):
        copy_store(source, target, batch=100, on_rows=harvest_meanwhile)
    target.close()


def test_json_an_older_sqlite_kept_as_bytes_arrives_as_text(tmp_path: Path) -> None:
    """Versions before the PostgreSQL backend stored trending parts as a BLOB of JSON."""
    source = SQLiteStore(tmp_path / "old.db")
    _fill(source)
    source.conn.execute("UPDATE trending SET parts = CAST(parts AS BLOB)")
    assert source.conn.execute("SELECT typeof(parts) FROM trending").fetchone() == ("blob",)
    target, _ = open_backend("postgres", tmp_path / "target")
    copy_store(source, target)  # its check reads the ranking back through the store
    assert target.list_trending("day") == source.list_trending("day")
    target.close()
    source.close()
