"""What an operator asks of a running paperfeed: each source (last run, error, next run), the
embedding backlog, how far each index lags behind the store, deliveries by state, database and
index sizes (the database's of a SQLite file only: None for PostgreSQL). `paperfeed status`
prints it; `/metrics` exports the same figures. Read-only, and cheap enough to ask every few
seconds (counts over indexed columns; the indexes' own state files, never the indexes).
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any

from paperfeed.config import Settings, redact
from paperfeed.digest.sender import LEASE as SENDER_LEASE
from paperfeed.pipeline import EMBED_LEASE
from paperfeed.search.keyword import read_sync_state
from paperfeed.search.models import DEFAULT_MODEL
from paperfeed.search.vectors import read_vector_state, vector_index_dir
from paperfeed.store import SourceRow, Store, sqlite_path


def source_json(s: SourceRow, now: float | None = None) -> dict[str, Any]:
    """A source as `sources list --json` and `status --json` show it; `harvesting_now` is the
    process (`node:pid`) whose lease on it has not run out at `now`, if any."""
    now = time.time() if now is None else now
    leased = s.lease_until is not None and s.lease_until.timestamp() > now
    return {
        "name": s.name,
        "kind": s.kind,
        "config": dict(s.config),
        "interval_s": s.interval_s,
        "enabled": s.enabled,
        "last_run_at": s.last_run_at.isoformat() if s.last_run_at else None,
        "last_ok_at": s.last_ok_at.isoformat() if s.last_ok_at else None,
        "next_run_at": s.next_run_at.isoformat(),
        "last_added": s.last_added,
        "papers_added": s.papers_added,
        "last_error": s.last_error,
        "failures": s.failures,
        "cursor": dict(s.cursor),
        "harvesting_now": s.lease_owner if leased else None,
    }


def gather(settings: Settings, store: Store) -> dict[str, Any]:
    """Everything `paperfeed status --json` prints (see the README for each field)."""
    now = time.time()
    index_dir = Path(settings.index_dir)
    models = {name for name, _ in store.list_embedding_models()}
    if not settings.model:
        models.add(DEFAULT_MODEL)
    keyword = read_sync_state(index_dir / "keyword")
    embeddings = {}
    for model in sorted(models):
        vectors = read_vector_state(vector_index_dir(index_dir, model))
        embeddings[model] = {
            "embedded": store.count_embeddings(model),
            "backlog": store.count_embedding_todo(model),
            "index_lag": store.count_vector_changes(model, vectors.last_change),
        }
    return {
        "database": redact(settings.db),
        "papers": store.count_papers(),
        "sources": [source_json(s, now) for s in store.list_sources()],
        "embeddings": embeddings,
        "embedding_now": store.lease_owner(EMBED_LEASE, now),
        "keyword_index_lag": store.count_changes(keyword.last_change),
        "subscribers": store.count_subscribers(),
        "channels": store.count_channels(),
        "deliveries": store.count_deliveries(),
        "sending_now": store.lease_owner(SENDER_LEASE, now),
        "sizes": {
            "database_bytes": _database_bytes(settings.db),
            "index_bytes": _size(index_dir),
        },
    }


def _database_bytes(url: str) -> int | None:
    """A SQLite database's files (with its WAL and SHM); None for a server's database, whose
    size only SQL can tell."""
    path = sqlite_path(url)
    if path is None:
        return None
    return sum(_size(Path(path + end)) for end in ("", "-wal", "-shm"))


def _size(path: Path) -> int:
    """Bytes of a file, or of every file under a folder; 0 when it is not there."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):  # removed while we looked
                total += (Path(folder) / name).stat().st_size
    return total
