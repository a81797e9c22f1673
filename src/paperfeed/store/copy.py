"""`paperfeed copy-store FROM TO`: move an install from one database to another (SQLite to
PostgreSQL, or back), table by table in primary-key order, a batch per transaction.

Resumable: a stopped copy starts again after the last row each table holds in the target, so
nothing is copied twice and nothing is left out. The target's first table is `meta`, which
carries the source's store id (the nodes' indexes, built from the same rows and change numbers,
stay valid) and its signing keys (mailed links and sign-in cookies keep working). The copy is
then checked: the same number of rows in every table, a sample of papers and their vectors the
same on both sides, and the source unchanged since the copy began (stop `paperfeed serve` on
the source first). Rate-limit hits and leases belong to the running processes and stay behind.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from paperfeed.errors import StoreError
from paperfeed.store.base import Store

# (table, primary key), parents before children.
TABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("meta", ("key",)),
    ("papers", ("seq",)),
    ("paper_keys", ("key",)),
    ("embeddings", ("model", "seq")),
    ("sources", ("name",)),
    ("announcements", ("list", "day", "seq")),
    ("signals", ("seq", "name", "observed_at")),
    ("users", ("id",)),
    ("sessions", ("token_hash",)),
    ("spent_tokens", ("nonce",)),
    ("reactions", ("user_id", "seq", "kind")),
    ("tags", ("user_id", "seq", "tag")),
    ("events", ("id",)),
    ("recent_clients", ("client", "seq", "signal")),
    ("trending", ("span", "seq")),
    ("trending_state", ("span",)),
    ("subscribers", ("id",)),
    ("deliveries", ("id",)),
    ("sent_papers", ("subscriber_id", "seq")),
)
SAMPLE = 200  # papers compared field by field, with their vectors, after the copy


@dataclass
class CopyReport:
    rows: dict[str, int] = field(default_factory=dict)  # copied now, per table
    resumed: bool = False
    sampled: int = 0


def rows_to_copy(source: Store) -> int:
    return sum(source.count_rows(table) for table, _ in TABLES)


def copy_store(source: Store, target: Store, *, batch: int = 5000,
               on_rows: Callable[[int], None] | None = None) -> CopyReport:  # fmt: skip
    """Copy every table of `source` into `target`, then check the copy (StoreError when a
    check fails, saying what differs)."""
    report = CopyReport(resumed=_check_target(source, target))
    started_at = source.last_change()
    for table, key in TABLES:
        columns = source.table_columns(table)
        if target.table_columns(table) != columns:
            raise StoreError(f"The table {table} has other columns in the target; run the "
                             "same paperfeed version on both sides.")  # fmt: skip
        after = None if table == "meta" else target.last_key(table, key)
        at = [columns.index(c) for c in key]
        copied = 0
        while rows := source.read_rows(table, key, after, batch):
            target.write_rows(table, columns, rows)
            copied += len(rows)
            after = tuple(rows[-1][i] for i in at)
            if on_rows:
                on_rows(len(rows))
        report.rows[table] = copied
    target.finish_rows()
    if source.last_change() != started_at:
        raise StoreError("The source database changed while it was copied (is paperfeed "
                         "serve still running on it?): stop everything that writes to it, "
                         "then copy again into an empty database.")  # fmt: skip
    report.sampled = verify_copy(source, target)
    return report


def _check_target(source: Store, target: Store) -> bool:
    """Whether the target holds an earlier, stopped copy of `source` (resume it); refuse a
    target that holds anything else."""
    if not any(target.count_rows(table) for table, _ in TABLES if table != "meta"):
        return False
    if target.store_id() == source.store_id():
        return True
    raise StoreError("The target database already holds papers or readers of another "
                     "paperfeed install; copy into an empty database.")  # fmt: skip


def verify_copy(source: Store, target: Store, sample: int = SAMPLE) -> int:
    """Check the same rows are on both sides (counts per table, store id, change number) and a
    random sample of papers and their vectors, and the top of each trending ranking read back
    through the store; returns how many papers were compared."""
    for table, _ in TABLES:
        a, b = source.count_rows(table), target.count_rows(table)
        if a > b or (a < b and table != "meta"):
            raise StoreError(f"The copy is incomplete: {table} has {a} rows in the source and "
                             f"{b} in the target; run copy-store again.")  # fmt: skip
    if (source.store_id(), source.last_change()) != (target.store_id(), target.last_change()):
        raise StoreError("The copy differs from the source (store id or change number); "
                         "run copy-store again.")  # fmt: skip
    seqs = _sample_seqs(source, sample)
    if source.get_papers_by_seq(seqs) != target.get_papers_by_seq(seqs):
        raise StoreError("Papers differ between the source and the copy; run copy-store again "
                         "into an empty database.")  # fmt: skip
    for model, _ in source.list_embedding_models():
        if source.get_vectors(model, seqs) != target.get_vectors(model, seqs):
            raise StoreError(f"Vectors of {model} differ between the source and the copy; run "
                             "copy-store again into an empty database.")  # fmt: skip
    for span, *_ in source.read_rows("trending_state", ("span",), None, 100):
        if source.list_trending(span, limit=sample) != target.list_trending(span, limit=sample):
            raise StoreError(f"The trending ranking {span!r} differs between the source and the "
                             "copy; run copy-store again into an empty database.")  # fmt: skip
    return len(seqs)


def _sample_seqs(store: Store, sample: int) -> Sequence[int]:
    last = store.last_key("papers", ("seq",))
    if last is None:
        return []
    top = int(last[0])
    return sorted(random.sample(range(1, top + 1), min(sample, top)))
